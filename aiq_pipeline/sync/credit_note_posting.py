"""Plan the AIQ sales credit note for a Bunny credit note, or for the reversal of a voided Bunny invoice.

Both credit an invoice that AIQ already holds, so every line must land where the invoice's line did. Rather than
repeat the invoice rules, the planner shows `plan_invoice_posting` a *credited view* of the invoice: its customer,
currency, entity and lines, but carrying the credited amounts and the credit note's date. Every invoice rule then
applies as it is (GL account from the line's charge or the entity default, the line's own tax code or the
configured default, tax rate, exchange rate, open period, totals to the cent), and the result is re-labelled as
a credit note.

Policies:

- Lines: each credit-note item names the credited invoice item (`invoice_item_id`); it posts to that item's GL
  account with that item's tax code, net = the item's `amount`, tax = its `tax_amount`, both positive (AIQ's
  credit-note lines are positive; the document type gives the sign). An item naming no invoice line, or a line
  the invoice does not have, fails (UNMATCHED_CREDIT_LINE): guessing an account would misstate revenue.
- Totals: the lines must add up to the credit note's subtotal, tax and amount to the cent (TOTALS_MISMATCH).
- Date: the credit note's issue date (its period must be open). A void reversal is dated like the invoice it
  reverses, so the invoice and its reversal cancel out in the same period, as the void does in Bunny. With the
  `first_open_day` closed-period policy, a date in a closed period moves to the first day of the next open
  period, exactly as for invoices (an invoice moved there and its reversal then land on the same day again), and
  the description keeps Bunny's date.
- Exchange rate: the credited invoice's (Bunny's conversion scaled to the credited amount, else the configured
  rate), so a full credit cancels the invoice in the base currency too.
- A void reversal is the invoice's own posting (same lines, same amounts) under the void's external reference.
- External references come from `identity`: `BUNNY-CN-<credit note id>` and `BUNNY-VOID-<invoice id>`.
- Partition keys (`CN-<credit note id>`, `VOID-<invoice id>`) are also derived here, so the sensor, the asset
  and the CLI agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aiq_pipeline.sync.customer import DesiredCustomer
from aiq_pipeline.sync.gl_mapping import GLMapping
from aiq_pipeline.sync.identity import credit_note_reference, invoice_reference, void_reference
from aiq_pipeline.sync.inputs import (
    AiqCustomer,
    BunnyAccount,
    BunnyCreditNote,
    BunnyInvoice,
    BunnyInvoiceItem,
)
from aiq_pipeline.sync.invoice_posting import (
    DESCRIPTION_LIMIT,
    LedgerSnapshot,
    PlannedInvoice,
    PlannedLine,
    PostingSettings,
    plan_invoice_posting,
)
from aiq_pipeline.sync.problems import PreflightFailed, Problem, ProblemCode

# Credit notes out of preparation/draft: the ones that belong in the ledger (Bunny's CreditNoteState).
ISSUED_CREDIT_NOTE_STATES: frozenset[str] = frozenset({"READY", "PARTIALLY_APPLIED", "APPLIED"})
CREDIT_NOTE_KEY_PREFIX = "CN-"
VOID_KEY_PREFIX = "VOID-"
KIND_CREDIT_NOTE = "credit_note"
KIND_VOID = "void"


# --- partition keys -----------------------------------------------------------------------------------


def credit_note_key(credit_note_id: str) -> str:
    return f"{CREDIT_NOTE_KEY_PREFIX}{credit_note_id}"


def void_key(invoice_id: str) -> str:
    return f"{VOID_KEY_PREFIX}{invoice_id}"


def parse_key(key: str) -> tuple[str, str]:
    """(`credit_note` | `void`, Bunny id) of a partition key; ValueError for anything else."""
    for prefix, kind in ((CREDIT_NOTE_KEY_PREFIX, KIND_CREDIT_NOTE), (VOID_KEY_PREFIX, KIND_VOID)):
        if key.startswith(prefix) and len(key) > len(prefix):
            return kind, key[len(prefix) :]
    raise ValueError(f"not a credit-note partition key: {key!r} (expected CN-<id> or VOID-<id>)")


# --- inputs -------------------------------------------------------------------------------------------


# --- the credited view of an invoice ------------------------------------------------------------------


@dataclass(frozen=True)
class _CreditedItem:
    """An invoice line as credited: the line's charge, tax code and rate with the credited amounts."""

    id: str
    line_text: str | None
    amount: Decimal
    tax_amount: Decimal
    tax_rate: Decimal | None
    tax_code: str | None
    price_list_charge_id: str | None
    price_list_charge_code: str | None


@dataclass(frozen=True)
class _CreditedInvoice:
    """Satisfies `BunnyInvoice`: the credited invoice's identity with the credited lines, totals and date."""

    id: str
    number: str | None
    state: str
    is_postable: bool
    entity_id: str
    account_id: str
    currency_code: str
    issued_at: date | None
    due_at: date | None
    subtotal: Decimal
    tax_amount: Decimal
    amount: Decimal
    account: BunnyAccount | None
    items: tuple[BunnyInvoiceItem, ...]
    base_currency_code: str | None
    base_currency_total: Decimal | None


def _credited_view(
    invoice: BunnyInvoice,
    items: tuple[BunnyInvoiceItem, ...],
    *,
    on: date | None,
    subtotal: Decimal,
    tax: Decimal,
    amount: Decimal,
) -> _CreditedInvoice:
    base_total = None
    if invoice.base_currency_total is not None and invoice.amount > 0:
        # Bunny's own conversion, scaled: the planner divides it by `amount` again, giving the invoice's rate.
        base_total = invoice.base_currency_total * amount / invoice.amount
    return _CreditedInvoice(
        id=invoice.id,
        number=invoice.number,
        state=invoice.state,
        # A voided invoice is still the right source of lines for its reversal or an earlier credit note;
        # whether the credit itself may post is decided by the caller, not by the invoice's state.
        is_postable=True,
        entity_id=invoice.entity_id,
        account_id=invoice.account_id,
        currency_code=invoice.currency_code,
        issued_at=on,
        due_at=None,
        subtotal=subtotal,
        tax_amount=tax,
        amount=amount,
        account=invoice.account,
        items=items,
        base_currency_code=invoice.base_currency_code,
        base_currency_total=base_total,
    )


# --- the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCreditNote:
    kind: str  # credit_note | void
    source_id: str  # Bunny credit note id, or the voided invoice's id
    number: str | None  # Bunny credit note number (a void has none)
    credited_invoice_id: str
    credited_invoice_reference: str  # the AIQ invoice this credits (allocation target)
    customer_code: str
    customer: DesiredCustomer | None
    currency_code: str
    credit_note_date: date
    external_reference: str
    description: str
    exchange_rate: Decimal
    lines: tuple[PlannedLine, ...]
    net: Decimal
    tax: Decimal
    gross: Decimal
    period_name: str | None
    financial_year: int
    bunny_issue_date: date | None = None  # the date Bunny gives the credit (the voided invoice's for a reversal)
    exchange_rate_source: str = "base"

    @property
    def posting_date_moved(self) -> bool:
        return self.bunny_issue_date is not None and self.bunny_issue_date != self.credit_note_date

    def batch_credit_note_fields(self) -> dict[str, object]:
        """Keyword arguments of AIQ's `BatchSalesCreditNote` except `lines` (build them from `batch_line_fields`)."""
        return {
            "customer_code": self.customer_code,
            "credit_note_date": self.credit_note_date,
            "external_reference": self.external_reference,
            "description": self.description,
            "exchange_rate": self.exchange_rate,
            "due_date": None,
        }


def _as_credit_note(
    plan: PlannedInvoice, *, kind: str, source_id: str, number: str | None, reference: str, description: str
) -> PlannedCreditNote:
    if plan.posting_date_moved and plan.bunny_issue_date is not None:
        description += f", issued {plan.bunny_issue_date.isoformat()} in Bunny"
    return PlannedCreditNote(
        kind=kind,
        source_id=source_id,
        number=number,
        credited_invoice_id=plan.invoice_id,
        credited_invoice_reference=invoice_reference(plan.invoice_id),
        customer_code=plan.customer_code,
        customer=plan.customer,
        currency_code=plan.currency_code,
        credit_note_date=plan.invoice_date,
        external_reference=reference,
        description=" ".join(description.split())[:DESCRIPTION_LIMIT],
        exchange_rate=plan.exchange_rate,
        lines=plan.lines,
        net=plan.net,
        tax=plan.tax,
        gross=plan.gross,
        period_name=plan.period_name,
        financial_year=plan.financial_year,
        bunny_issue_date=plan.bunny_issue_date,
        exchange_rate_source=plan.exchange_rate_source,
    )


def _note_label(note: BunnyCreditNote) -> str:
    return f"Bunny credit note {note.number} (id {note.id})" if note.number else f"Bunny credit note id {note.id}"


def _invoice_label(invoice: BunnyInvoice) -> str:
    return f"Bunny invoice {invoice.number or invoice.id}"


def plan_credit_note_posting(
    note: BunnyCreditNote,
    invoice: BunnyInvoice,
    *,
    mapping: GLMapping,
    ledger: LedgerSnapshot,
    settings: PostingSettings,
    existing_customer: AiqCustomer | None = None,
) -> PlannedCreditNote:
    """The AIQ credit note for `note`, which credits `invoice`; or `PreflightFailed` with every problem."""
    label = _note_label(note)
    problems: list[Problem] = []
    if note.state not in ISSUED_CREDIT_NOTE_STATES:
        problems.append(
            Problem(
                ProblemCode.NOT_POSTABLE,
                f"{label} is {note.state}; only issued credit notes are posted.",
                "Issue the credit note in Bunny, then retry.",
            )
        )
    if note.credited_invoice_id != invoice.id:
        problems.append(
            Problem(
                ProblemCode.NO_CREDITED_INVOICE,
                f"{label} credits invoice {note.credited_invoice_id or '(none)'}, not {_invoice_label(invoice)}.",
                "Check the credit note in Bunny: a credit note always credits one invoice.",
            )
        )
    by_id = {item.id: item for item in invoice.items}
    credited: list[BunnyInvoiceItem] = []
    for position, item in enumerate(note.items, start=1):
        source = by_id.get(item.invoice_item_id) if item.invoice_item_id else None
        if source is None:
            problems.append(
                Problem(
                    ProblemCode.UNMATCHED_CREDIT_LINE,
                    f"Line {position} of {label} credits invoice line {item.invoice_item_id or '(none)'}, which "
                    f"{_invoice_label(invoice)} does not have, so its revenue account and tax code are unknown.",
                    "Correct the credit note in Bunny (credit a line of its invoice), then retry.",
                )
            )
            continue
        credited.append(
            _CreditedItem(
                id=source.id,
                line_text=item.line_text or source.line_text,
                amount=item.amount,
                tax_amount=item.tax_amount,
                tax_rate=source.tax_rate,
                tax_code=source.tax_code,
                price_list_charge_id=source.price_list_charge_id,
                price_list_charge_code=source.price_list_charge_code,
            )
        )
    if not note.items:
        problems.append(
            Problem(
                ProblemCode.NO_LINES,
                f"{label} has no lines; AIQ cannot post a credit note without lines.",
                "Check the credit note in Bunny.",
            )
        )
    view = _credited_view(
        invoice, tuple(credited), on=note.issued_at, subtotal=note.subtotal, tax=note.tax_amount, amount=note.amount
    )
    try:
        plan = plan_invoice_posting(
            view, mapping=mapping, ledger=ledger, settings=settings, existing_customer=existing_customer
        )
    except PreflightFailed as exc:
        # The invoice rules name the invoice; say which credit note they were checked for.
        problems.extend(
            Problem(p.code, f"{label} (crediting {_invoice_label(invoice)}): {p.message}", p.fix)
            for p in exc.problems
            if not (p.code == ProblemCode.NO_LINES and not note.items)
        )
    if problems:
        raise PreflightFailed(list(dict.fromkeys(problems)))
    number = note.number or f"id {note.id}"
    return _as_credit_note(
        plan,
        kind=KIND_CREDIT_NOTE,
        source_id=note.id,
        number=note.number,
        reference=credit_note_reference(note.id),
        description=f"Bunny credit note {number} for invoice {invoice.number or invoice.id}",
    )


def plan_void_reversal(
    invoice: BunnyInvoice,
    *,
    mapping: GLMapping,
    ledger: LedgerSnapshot,
    settings: PostingSettings,
    existing_customer: AiqCustomer | None = None,
) -> PlannedCreditNote:
    """The AIQ credit note reversing the whole posted `invoice` (voided in Bunny), dated like the invoice."""
    problems: list[Problem] = []
    if invoice.state != "VOIDED":
        problems.append(
            Problem(
                ProblemCode.NOT_POSTABLE,
                f"{_invoice_label(invoice)} is {invoice.state}, not voided; only a voided invoice is reversed.",
                "Nothing to do unless the invoice is voided in Bunny.",
            )
        )
    view = _credited_view(
        invoice,
        tuple(invoice.items),
        on=invoice.issued_at,
        subtotal=invoice.subtotal,
        tax=invoice.tax_amount,
        amount=invoice.amount,
    )
    try:
        plan = plan_invoice_posting(
            view, mapping=mapping, ledger=ledger, settings=settings, existing_customer=existing_customer
        )
    except PreflightFailed as exc:
        problems.extend(
            Problem(p.code, f"Reversal of voided {_invoice_label(invoice)}: {p.message}", p.fix) for p in exc.problems
        )
    if problems:
        raise PreflightFailed(problems)
    return _as_credit_note(
        plan,
        kind=KIND_VOID,
        source_id=invoice.id,
        number=None,
        reference=void_reference(invoice.id),
        description=f"Reversal of voided Bunny invoice {invoice.number or invoice.id}",
    )
