"""The credit-note planners: refunds, write-offs and void reversals, as AIQ sales credit notes allocated to the
invoice they credit.

Each mirrors what the invoice actually posted in AIQ (its lines' accounts, tax codes and rates, its customer and
exchange rate, from the posting journal), not today's mapping: a reversal must land exactly where the invoice did.
For an invoice the journal does not know (booked by hand, or before the journal existed), the credited view of the
invoice is planned with today's rules instead (`draft_documents`), and the notes say so.

- Refund (CreditNote kind REFUND): per credited line, the invoice line's account and tax code, net = the item's
  `amount`, tax = its `tax_amount`, both positive. An item naming no invoice line fails (UNMATCHED_CREDIT_LINE):
  guessing an account would misstate revenue. Waits (INVOICE_NOT_POSTED, retryable) while AIQ lacks the invoice;
  one crediting an invoice voided before it was posted posts unallocated (the credit stands on the account).
- Write-off (kind WRITE_OFF): bad debt, not revenue. Per credited line, the configured bad-debt account; with VAT
  relief (`bad_debt.tax = relief`) each line keeps its tax code and tax (the output tax is reclaimed), without it
  the gross is the loss, at the configured 0 % code. No bad-debt account configured: NO_BAD_DEBT_ACCOUNT.
- Void reversal: the invoice's own posted lines under the void's reference, dated on the day of the void (Bunny's
  `updatedAt` of the voided invoice: UNVERIFIED as the void date), or the first open day. An invoice voided before
  it was posted has nothing to reverse (skipped). If its journal is unknown and AIQ holds another gross, a reversal
  would not cancel it: REVERSAL_MISMATCH.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from aiq_pipeline.sync.documents.context import PlanContext, PostedDocument
from aiq_pipeline.sync.documents.invoice import Draft, draft_documents
from aiq_pipeline.sync.documents.plan import (
    INVOICE_NOT_POSTED,
    AiqTarget,
    Decision,
    PlannedAllocation,
    PlannedDocument,
    PostingPlan,
    Skip,
    Wait,
)
from aiq_pipeline.sync.documents.refund import money_out, refund_allocations
from aiq_pipeline.sync.gl_mapping import account_problem
from aiq_pipeline.sync.identity import (
    KIND_CREDIT_NOTE,
    KIND_VOID,
    credit_note_reference,
    invoice_credit_reference,
    invoice_reference,
    void_credit_reference,
    void_reference,
)
from aiq_pipeline.sync.inputs import BunnyAccount, BunnyCreditNote, BunnyInvoice, BunnyInvoiceItem, BunnyPayment
from aiq_pipeline.sync.money import ZERO, to_cents
from aiq_pipeline.sync.problems import PreflightFailed, Problem, ProblemCode

# Credit notes out of preparation/draft: the ones that belong in the ledger (Bunny's CreditNoteState).
ISSUED_CREDIT_NOTE_STATES: frozenset[str] = frozenset({"READY", "PARTIALLY_APPLIED", "APPLIED"})
WRITE_OFF = "WRITE_OFF"


@dataclass(frozen=True)
class CreditNoteSource:
    """What the credit-note planner reads from Bunny: the note, the invoice it credits (None: Bunny lacks it) and,
    for a refund, the payments applied to that invoice (the money a refund pays back)."""

    note: BunnyCreditNote
    invoice: BunnyInvoice | None
    payments: tuple[BunnyPayment, ...] = ()


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
    vat_code: str | None
    subtotal: Decimal
    is_credit: bool = False
    is_coupon: bool = False


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
    updated_at: datetime
    credits: Decimal | None = None
    merged_to_invoice_id: str | None = None


def _credited_view(
    invoice: BunnyInvoice,
    items: tuple[BunnyInvoiceItem, ...],
    *,
    on: date | None,
    totals: tuple[Decimal, ...],
    credits: Decimal | None = None,
) -> _CreditedInvoice:
    subtotal, tax, amount = totals
    base_total = None
    if invoice.base_currency_total and invoice.amount:
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
        updated_at=invoice.updated_at,
        credits=credits,
    )


def _note_label(note: BunnyCreditNote) -> str:
    return f"Bunny credit note {note.number} (id {note.id})" if note.number else f"Bunny credit note id {note.id}"


def _invoice_label(invoice: BunnyInvoice) -> str:
    return f"Bunny invoice {invoice.number or invoice.id}"


def _one(code: ProblemCode, message: str, fix: str) -> PreflightFailed:
    return PreflightFailed([Problem(code, message, fix)])


# -- refunds and write-offs ----------------------------------------------------------------------------------


def plan_credit_note(source: CreditNoteSource, ctx: PlanContext) -> Decision:
    """The AIQ credit note for a Bunny credit note (called once the service knows AIQ does not hold it yet)."""
    note, invoice = source.note, source.invoice
    label = _note_label(note)
    if not note.credited_invoice_id:
        raise _one(
            ProblemCode.NO_CREDITED_INVOICE,
            f"{label} credits no invoice.",
            "A Bunny credit note always credits one invoice: check it in Bunny.",
        )
    if invoice is None:
        raise _one(
            ProblemCode.NOT_FOUND,
            f"Bunny has no invoice {note.credited_invoice_id}, which {label} credits.",
            "Check the credit note in Bunny.",
        )
    posted = ctx.holds(invoice_reference(invoice.id))
    if posted is None and invoice.state != "VOIDED":
        return Wait(
            INVOICE_NOT_POSTED,
            f"{label} credits invoice {invoice.number or invoice.id}, which is not in AccountsIQ yet; the credit "
            "note waits for it.",
            "Post the invoice first (see its own exception if it failed); this credit note then posts on the next "
            "retry.",
            {"credited_invoice_id": invoice.id},
        )
    draft = _credit_note_draft(note, invoice, _mirroring(ctx, posted))
    document = _mirrored(draft.main, posted, note)
    notes = draft.notes + _mirror_note(posted)
    if note.kind == WRITE_OFF:
        document, note_text = _bad_debt(document, ctx, label)
        notes += (note_text,)
    paid_back = money_out(note, document, source.payments, ctx, label)
    documents: tuple[PlannedDocument, ...] = (document,)
    allocations: tuple[PlannedAllocation, ...] = (
        PlannedAllocation(document.reference, invoice_reference(invoice.id), document.date),
    )
    if paid_back is not None:
        documents += (paid_back,)
        allocations = refund_allocations(document, paid_back, invoice.id)
        notes += (
            f"{paid_back.gross} paid back to the customer through bank account {paid_back.lines[0].gl_account_code}",
        )
    elif posted is None:
        allocations = ()
        notes += (
            "The credited invoice was voided before it was posted: the credit stands unallocated on the "
            "customer's account.",
        )
    return PostingPlan(
        kind=KIND_CREDIT_NOTE,
        source_id=note.id,
        customer_code=document.customer_code,
        customer=draft.customer,
        documents=documents,
        allocations=allocations,
        bunny_issue_date=note.issued_at,
        exchange_rate_source=_rate_source(draft, posted),
        notes=notes,
    )


def _mirroring(ctx: PlanContext, posted: PostedDocument | None) -> PlanContext:
    """The context a credit of `posted` plans in: the customer the invoice posted to."""
    if posted is None or posted.document is None:
        return ctx
    return replace(ctx, customer_code=posted.document.customer_code)


def _rate_source(draft: Draft, posted: PostedDocument | None) -> str:
    return "invoice" if posted is not None and posted.document is not None else draft.exchange_rate_source


def _mirror_note(posted: PostedDocument | None) -> tuple[str, ...]:
    if posted is not None and posted.document is None:
        return (
            "The credited invoice is not in this product's journal (booked by hand, or earlier): its lines' "
            "accounts and tax codes follow today's mapping",
        )
    return ()


def _mirrored(
    document: PlannedDocument | None, posted: PostedDocument | None, note: BunnyCreditNote
) -> PlannedDocument:
    """`document` with each line on the account, tax code and rate its invoice line posted with."""
    assert document is not None  # a credit note's lines are positive: they never fall on the other side
    if posted is None or posted.document is None:
        return document
    lines = []
    for line in document.lines:
        original = posted.document.for_item(line.item_id)
        if original is not None:
            line = replace(
                line, gl_account_code=original.gl_account_code, tax_code=original.tax_code, tax_rate=original.tax_rate
            )
        lines.append(line)
    return replace(document, lines=tuple(lines), exchange_rate=posted.document.exchange_rate)


def _bad_debt(document: PlannedDocument, ctx: PlanContext, label: str) -> tuple[PlannedDocument, str]:
    """A write-off's lines moved to the bad-debt account, with or without VAT relief."""
    bad_debt = ctx.settings.bad_debt
    if not bad_debt.account:
        raise _one(
            ProblemCode.NO_BAD_DEBT_ACCOUNT,
            f"{label} is a write-off (bad debt), and no bad-debt account is configured; it must not reduce revenue.",
            "Set AIQ_PIPELINE_BAD_DEBT_ACCOUNT to the AIQ expense account for bad debts (and "
            "AIQ_PIPELINE_BAD_DEBT_TAX), then retry.",
        )
    found = account_problem(bad_debt.account, ctx.ledger.accounts, used_by="AIQ_PIPELINE_BAD_DEBT_ACCOUNT")
    if found is not None:
        raise PreflightFailed([found])
    if bad_debt.tax == "relief":
        lines = tuple(replace(line, gl_account_code=bad_debt.account, gl_source="bad_debt") for line in document.lines)
        return replace(document, lines=lines), f"write-off to bad debt {bad_debt.account}, output tax reclaimed"
    code = bad_debt.tax_code or ""
    if code not in ctx.ledger.tax_codes or ctx.ledger.tax_rates.get(code, ZERO) != ZERO:
        raise _one(
            ProblemCode.UNKNOWN_TAX_CODE,
            f"{label} is a write-off without VAT relief, which needs a 0 % AIQ tax code; '{code or '(none)'}' is not "
            "one.",
            "Set AIQ_PIPELINE_BAD_DEBT_TAX_CODE to a 0 % tax code of the AIQ entity (e.g. V00), then retry.",
        )
    lines = tuple(
        replace(
            line,
            gl_account_code=bad_debt.account,
            gl_source="bad_debt",
            tax_code=code,
            tax_rate=ZERO,
            net_amount=line.net_amount + line.tax_amount,
            tax_amount=ZERO,
        )
        for line in document.lines
    )
    return replace(document, lines=lines), f"write-off to bad debt {bad_debt.account} at gross, no VAT relief ({code})"


def _credit_note_draft(note: BunnyCreditNote, invoice: BunnyInvoice, ctx: PlanContext) -> Draft:
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
    kind = "write-off" if note.kind == WRITE_OFF else "credit note"
    try:
        draft = draft_documents(
            view,
            ctx,
            target=AiqTarget.SALES_CREDIT_NOTE,
            reference=credit_note_reference(note.id),
            remainder_reference=None,
            description=f"Bunny {kind} {note.number or f'id {note.id}'} for invoice {invoice.number or invoice.id}",
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
                vat_code=source.vat_code,
                subtotal=item.amount,
            )
        )
    return credited, problems


# -- void reversals -----------------------------------------------------------------------------------------


def plan_void_reversal(invoice: BunnyInvoice, ctx: PlanContext) -> Decision:
    """The AIQ documents reversing the whole posted `invoice` (voided in Bunny)."""
    label = _invoice_label(invoice)
    if invoice.state != "VOIDED":
        raise _one(
            ProblemCode.NOT_VOIDED,
            f"{label} is {invoice.state}, not voided.",
            "Nothing to reverse: ignore this exception unless the invoice is voided in Bunny.",
        )
    posted = ctx.holds(invoice_reference(invoice.id))
    remainder = ctx.holds(invoice_credit_reference(invoice.id))
    if posted is None and remainder is None:
        return Skip("Voided in Bunny before it was posted: nothing to reverse.")
    draft = _reversal_draft(invoice, ctx, void_day(invoice), posted)
    if posted is not None and remainder is None and draft.remainder is not None:
        return _part_missing(invoice, label, f"its remainder credit note {invoice_credit_reference(invoice.id)}")
    if posted is None and remainder is not None and draft.main is not None:
        return _part_missing(invoice, label, f"the invoice itself ({invoice_reference(invoice.id)})")
    documents = _reversals(draft, posted, remainder)
    allocations = tuple(
        PlannedAllocation(*pair, documents[0].date)
        for pair in _reversal_allocations(documents, posted, remainder, invoice)
    )
    return PostingPlan(
        kind=KIND_VOID,
        source_id=invoice.id,
        customer_code=documents[0].customer_code,
        customer=draft.customer,
        documents=documents,
        allocations=allocations,
        bunny_issue_date=void_day(invoice),
        exchange_rate_source=_rate_source(draft, posted),
        notes=draft.notes + _mirror_note(posted),
    )


def _part_missing(invoice: BunnyInvoice, label: str, missing: str) -> Wait:
    """Part of the invoice is in AIQ but not the rest (its main document or its remainder credit note, whose write
    failed or is in doubt): reversing the whole now would reverse a document AIQ does not hold, so the reversal
    waits for the invoice's retry (which completes the voided invoice, see `plan_invoice`)."""
    return Wait(
        INVOICE_NOT_POSTED,
        f"{label} is only partly in AccountsIQ: {missing} is not; the reversal of the voided invoice waits for it.",
        f"Retry invoice {invoice.number or invoice.id} (see its own exception); the reversal then posts on the next "
        "retry.",
        {"credited_invoice_id": invoice.id},
    )


def void_day(invoice: BunnyInvoice) -> date:
    """The day a voided invoice's reversal is dated (before any closed-period move). Bunny has no void date: the
    voided invoice's last update (UNVERIFIED)."""
    return invoice.updated_at.date()


def _reversal_draft(invoice: BunnyInvoice, ctx: PlanContext, day: date | None, posted: PostedDocument | None) -> Draft:
    """The dating, customer and (for an invoice the journal does not know) lines of a reversal."""
    # The whole invoice, credits applied included: under the `less_credits` reading its amount is net of them.
    totals = (invoice.subtotal, invoice.tax_amount, invoice.amount)
    view = _credited_view(invoice, tuple(invoice.items), on=day, totals=totals, credits=invoice.credits)
    try:
        draft = draft_documents(
            view,
            _mirroring(ctx, posted),
            target=AiqTarget.SALES_CREDIT_NOTE,
            reference=void_reference(invoice.id),
            remainder_reference=void_credit_reference(invoice.id),
            description=f"Reversal of voided Bunny invoice {invoice.number or invoice.id}",
        )
    except PreflightFailed as exc:
        raise PreflightFailed(
            [Problem(p.code, f"Reversal of voided {_invoice_label(invoice)}: {p.message}", p.fix) for p in exc.problems]
        ) from None
    if posted is not None and posted.document is None and draft.main is not None:
        _check_cancels(invoice, draft.main, posted)
    return draft


def _check_cancels(invoice: BunnyInvoice, document: PlannedDocument, posted: PostedDocument) -> None:
    if document.gross != to_cents(posted.gross):
        raise _one(
            ProblemCode.REVERSAL_MISMATCH,
            f"AIQ holds invoice {invoice.number or invoice.id} at {to_cents(posted.gross)}, but Bunny's voided invoice "
            f"totals {document.gross}; a reversal would not cancel it exactly.",
            f"Reverse AIQ transaction {posted.transaction_id} by hand with External Reference "
            f"{void_reference(invoice.id)}, then retry.",
        )


def _reversals(
    draft: Draft, posted: PostedDocument | None, remainder: PostedDocument | None
) -> tuple[PlannedDocument, ...]:
    """A credit note mirroring the posted invoice and, if the invoice had a remainder credit note, an invoice
    mirroring that; from the journal's lines when known, else from the planned credited view."""
    documents: list[PlannedDocument] = []
    if draft.main is not None:
        documents.append(_exactly(draft.main, posted))
    if draft.remainder is not None:
        documents.append(_exactly(draft.remainder, remainder))
    return tuple(documents)


def _exactly(document: PlannedDocument, posted: PostedDocument | None) -> PlannedDocument:
    if posted is None or posted.document is None:
        return document
    return replace(
        document,
        lines=posted.document.lines,
        exchange_rate=posted.document.exchange_rate,
        customer_code=posted.document.customer_code,
    )


def _reversal_allocations(
    documents: tuple[PlannedDocument, ...],
    posted: PostedDocument | None,
    remainder: PostedDocument | None,
    invoice: BunnyInvoice,
) -> list[tuple[str, str]]:
    """(credit, debit) pairs: the reversal against the invoice, the remainder's reversal against the reversal."""
    credit = next((d for d in documents if d.target == AiqTarget.SALES_CREDIT_NOTE), None)
    debit = next((d for d in documents if d.target == AiqTarget.SALES_INVOICE), None)
    pairs: list[tuple[str, str]] = []
    if credit is not None and posted is not None:
        pairs.append((credit.reference, invoice_reference(invoice.id)))
    if credit is not None and debit is not None:
        pairs.append((credit.reference, debit.reference))
    if debit is not None and remainder is not None and credit is None:
        pairs.append((remainder.reference, debit.reference))
    return pairs
