"""The credit-note and void-reversal planners: AIQ sales credit notes that credit an invoice AIQ already holds.

Both must land where the invoice's lines did, so rather than repeat the invoice rules the planner shows
`invoice_document` a *credited view* of the invoice: its customer, currency, entity and lines, carrying the credited
amounts and the credit's date. Every invoice rule then applies as it is (GL account from the line's charge or the
entity default, the line's own tax code or the configured default, tax rate, exchange rate, open period, totals to
the cent), and the result is an AIQ credit note.

- Lines: each credit-note item names the credited invoice item (`invoice_item_id`); it posts to that item's account
  with that item's tax code, net = the item's `amount`, tax = its `tax_amount`, both positive. An item naming no
  invoice line, or a line the invoice does not have, fails (UNMATCHED_CREDIT_LINE): guessing an account would
  misstate revenue.
- Order: a credit note waits (INVOICE_NOT_POSTED, retryable) while AIQ does not hold its invoice, so it is never
  posted against nothing; one crediting an invoice voided before it was posted posts unallocated (the credit stands
  on the customer's account, as in Bunny), since AIQ will never hold that invoice.
- Allocation: against the credited invoice, for what both still have outstanding (idempotent by design).
- A void reversal is the invoice's own posting (same lines, same amounts) under the void's reference, dated like the
  invoice so the pair cancels in the same period; AIQ cannot delete a posted document. An invoice voided before it
  was posted has nothing to reverse (skipped). If AIQ holds the invoice at another gross, a reversal would not
  cancel it exactly: REVERSAL_MISMATCH, for a person.
- Exchange rate: the credited invoice's (Bunny's conversion scaled to the credited amount, else the configured
  rate), so a full credit cancels the invoice in the base currency too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aiq_pipeline.sync.documents.context import PlanContext
from aiq_pipeline.sync.documents.invoice import DocumentDraft, invoice_document
from aiq_pipeline.sync.documents.plan import AiqTarget, Decision, PlannedAllocation, PostingPlan, Skip, Wait
from aiq_pipeline.sync.identity import (
    KIND_CREDIT_NOTE,
    KIND_VOID,
    credit_note_reference,
    invoice_reference,
    void_reference,
)
from aiq_pipeline.sync.inputs import BunnyAccount, BunnyCreditNote, BunnyInvoice, BunnyInvoiceItem
from aiq_pipeline.sync.money import to_cents
from aiq_pipeline.sync.problems import PreflightFailed, Problem, ProblemCode

# Credit notes out of preparation/draft: the ones that belong in the ledger (Bunny's CreditNoteState).
ISSUED_CREDIT_NOTE_STATES: frozenset[str] = frozenset({"READY", "PARTIALLY_APPLIED", "APPLIED"})
INVOICE_NOT_POSTED = "INVOICE_NOT_POSTED"


@dataclass(frozen=True)
class CreditNoteSource:
    """What the credit-note planner reads from Bunny: the note and the invoice it credits (None: Bunny lacks it)."""

    note: BunnyCreditNote
    invoice: BunnyInvoice | None


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
    invoice: BunnyInvoice, items: tuple[BunnyInvoiceItem, ...], *, on: date | None, totals: tuple[Decimal, ...]
) -> _CreditedInvoice:
    subtotal, tax, amount = totals
    base_total = None
    if invoice.base_currency_total is not None and invoice.amount > 0:
        # Bunny's own conversion, scaled: the planner divides it by `amount` again, giving the invoice's rate.
        base_total = invoice.base_currency_total * amount / invoice.amount
    return _CreditedInvoice(
        id=invoice.id,
        number=invoice.number,
        state=invoice.state,
        # A voided invoice is still the right source of lines for its reversal or an earlier credit note;
        # whether the credit itself may post is decided here, not by the invoice's state.
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


def _note_label(note: BunnyCreditNote) -> str:
    return f"Bunny credit note {note.number} (id {note.id})" if note.number else f"Bunny credit note id {note.id}"


def _invoice_label(invoice: BunnyInvoice) -> str:
    return f"Bunny invoice {invoice.number or invoice.id}"


def plan_credit_note(source: CreditNoteSource, ctx: PlanContext) -> Decision:
    """The AIQ credit note for a Bunny credit note (called once the service knows AIQ does not hold it yet)."""
    note, invoice = source.note, source.invoice
    label = _note_label(note)
    if not note.credited_invoice_id:
        raise PreflightFailed(
            [
                Problem(
                    ProblemCode.NO_CREDITED_INVOICE,
                    f"{label} credits no invoice.",
                    "A Bunny credit note always credits one invoice: check it in Bunny.",
                )
            ]
        )
    if invoice is None:
        raise PreflightFailed(
            [
                Problem(
                    ProblemCode.NOT_FOUND,
                    f"Bunny has no invoice {note.credited_invoice_id}, which {label} credits.",
                    "Check the credit note in Bunny.",
                )
            ]
        )
    invoice_posted = ctx.holds(invoice_reference(invoice.id))
    if invoice_posted is None and invoice.state != "VOIDED":
        return Wait(
            INVOICE_NOT_POSTED,
            f"{label} credits invoice {invoice.number or invoice.id}, which is not in AccountsIQ yet; the credit "
            "note waits for it.",
            "Post the invoice first (see its own exception if it failed); this credit note then posts on the next "
            "retry.",
            {"credited_invoice_id": invoice.id},
        )
    draft = _credit_note_draft(note, invoice, ctx)
    reference = draft.document.reference
    allocations = (PlannedAllocation(reference, invoice_reference(invoice.id), draft.document.date),)
    notes: tuple[str, ...] = ()
    if invoice_posted is None:
        allocations = ()
        notes = (
            "The credited invoice was voided before it was posted: the credit stands unallocated on the "
            "customer's account.",
        )
    return PostingPlan(
        kind=KIND_CREDIT_NOTE,
        source_id=note.id,
        customer_code=draft.document.customer_code,
        customer=draft.customer,
        documents=(draft.document,),
        allocations=allocations,
        bunny_issue_date=note.issued_at,
        exchange_rate_source=draft.exchange_rate_source,
        notes=notes,
    )


def _credit_note_draft(note: BunnyCreditNote, invoice: BunnyInvoice, ctx: PlanContext) -> DocumentDraft:
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
    credited, found = _credited_items(note, invoice)
    problems += found
    if not note.items:
        problems.append(
            Problem(
                ProblemCode.NO_LINES,
                f"{label} has no lines; AIQ cannot post a credit note without lines.",
                "Check the credit note in Bunny.",
            )
        )
    view = _credited_view(
        invoice, tuple(credited), on=note.issued_at, totals=(note.subtotal, note.tax_amount, note.amount)
    )
    number = note.number or f"id {note.id}"
    try:
        draft = invoice_document(
            view,
            ctx,
            target=AiqTarget.SALES_CREDIT_NOTE,
            reference=credit_note_reference(note.id),
            description=f"Bunny credit note {number} for invoice {invoice.number or invoice.id}",
        )
    except PreflightFailed as exc:
        # The invoice rules name the invoice; say which credit note they were checked for.
        problems += [
            Problem(p.code, f"{label} (crediting {_invoice_label(invoice)}): {p.message}", p.fix)
            for p in exc.problems
            if not (p.code == ProblemCode.NO_LINES and not note.items)
        ]
    if problems:
        raise PreflightFailed(list(dict.fromkeys(problems)))
    return draft


def _credited_items(note: BunnyCreditNote, invoice: BunnyInvoice) -> tuple[list[BunnyInvoiceItem], list[Problem]]:
    by_id = {item.id: item for item in invoice.items}
    credited: list[BunnyInvoiceItem] = []
    problems: list[Problem] = []
    for position, item in enumerate(note.items, start=1):
        source = by_id.get(item.invoice_item_id) if item.invoice_item_id else None
        if source is None:
            problems.append(
                Problem(
                    ProblemCode.UNMATCHED_CREDIT_LINE,
                    f"Line {position} of {_note_label(note)} credits invoice line {item.invoice_item_id or '(none)'}, "
                    f"which {_invoice_label(invoice)} does not have, so its revenue account and tax code are unknown.",
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
    return credited, problems


def plan_void_reversal(invoice: BunnyInvoice, ctx: PlanContext) -> Decision:
    """The AIQ credit note reversing the whole posted `invoice` (voided in Bunny), dated like the invoice."""
    label = _invoice_label(invoice)
    if invoice.state != "VOIDED":
        raise PreflightFailed(
            [
                Problem(
                    ProblemCode.NOT_VOIDED,
                    f"{label} is {invoice.state}, not voided.",
                    "Nothing to reverse: ignore this exception unless the invoice is voided in Bunny.",
                )
            ]
        )
    posted = ctx.holds(invoice_reference(invoice.id))
    if posted is None:
        return Skip("Voided in Bunny before it was posted: nothing to reverse.")
    view = _credited_view(
        invoice,
        tuple(invoice.items),
        on=invoice.issued_at,
        totals=(invoice.subtotal, invoice.tax_amount, invoice.amount),
    )
    try:
        draft = invoice_document(
            view,
            ctx,
            target=AiqTarget.SALES_CREDIT_NOTE,
            reference=void_reference(invoice.id),
            description=f"Reversal of voided Bunny invoice {invoice.number or invoice.id}",
        )
    except PreflightFailed as exc:
        raise PreflightFailed(
            [Problem(p.code, f"Reversal of voided {label}: {p.message}", p.fix) for p in exc.problems]
        ) from None
    if draft.document.gross != to_cents(posted.gross):
        raise PreflightFailed(
            [
                Problem(
                    ProblemCode.REVERSAL_MISMATCH,
                    f"AIQ holds invoice {invoice.number or invoice.id} at {to_cents(posted.gross)}, but Bunny's voided "
                    f"invoice totals {draft.document.gross}; a reversal would not cancel it exactly.",
                    f"Reverse AIQ transaction {posted.transaction_id} by hand with External Reference "
                    f"{void_reference(invoice.id)}, then retry.",
                )
            ]
        )
    return PostingPlan(
        kind=KIND_VOID,
        source_id=invoice.id,
        customer_code=draft.document.customer_code,
        customer=draft.customer,
        documents=(draft.document,),
        allocations=(PlannedAllocation(draft.document.reference, posted.reference, draft.document.date),),
        bunny_issue_date=invoice.issued_at,
        exchange_rate_source=draft.exchange_rate_source,
    )
