"""Posting Bunny credit notes and void reversals to AIQ as sales credit notes, exactly once, allocated.

One partition key is one AIQ credit note:

- `CN-<credit note id>`: the Bunny credit note (refund or write-off), with `BUNNY-CN-<id>` as its reference;
- `VOID-<invoice id>`: the reversal of a Bunny invoice voided after it was posted, `BUNNY-VOID-<id>`, for the
  invoice's full amount on its own lines (AIQ cannot delete a posted document).

Exactly once, as for invoices: the credit note is looked up by its external reference before anything is
written and again after any write whose outcome is unknown, and it is never written twice in one attempt.

Ordering: a credit note waits (FAILED, reason INVOICE_NOT_POSTED, retryable) while AIQ does not hold the
invoice it credits, so it is never posted against nothing; a retry after the invoice is posted clears it. Two
cases post without waiting, because Bunny's balance needs them and AIQ will never hold the invoice: a credit note
on an invoice that was voided before it was posted posts unallocated (the credit stands on the customer's
account, as in Bunny), and a void reversal of an invoice AIQ never held is SKIPPED (nothing to reverse).

Allocation: AIQ has no key for allocations, so they are idempotent by design instead. The credit note is only
ever allocated against its own invoice, for min(credit note outstanding, invoice outstanding), read fresh from
`GetTransactionsByExternalReference` (`OutstandingAmount`) just before. Once allocated, the credit note (or the
invoice) has nothing outstanding, so any retry, re-run or repeat after an unknown outcome allocates 0 and skips.

Dates and rates follow the invoice rules (`PostingSettings`): with the `first_open_day` closed-period policy a
credit note (or a reversal, dated like its invoice) dated in a closed period posts on the first open day; and
when no rate is known (NO_EXCHANGE_RATE), AIQ's rate for the day is used, as for invoices. That rate is today's,
not necessarily the one the credited invoice posted with (AIQ's transaction summary does not say it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import (
    AiqError,
    AiqThrottledError,
    AiqTransportError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
)
from aiq_pipeline.accountsiq.models import BatchLine, BatchSalesCreditNote, TransactionSummary
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.errors import BunnyError
from aiq_pipeline.bunny.models import CreditNote
from aiq_pipeline.service.document_poster import DocumentPoster, needs_aiq_rate
from aiq_pipeline.service.invoice_poster import SALES_INVOICE_TYPES
from aiq_pipeline.sync.credit_note_posting import (
    KIND_CREDIT_NOTE,
    PlannedCreditNote,
    parse_key,
    plan_credit_note_posting,
    plan_void_reversal,
)
from aiq_pipeline.sync.identity import credit_note_reference, customer_code, invoice_reference, void_reference
from aiq_pipeline.sync.invoice_posting import PostingSettings
from aiq_pipeline.sync.money import to_cents
from aiq_pipeline.sync.problems import PreflightFailed
from aiq_pipeline.sync.reconciliation import totals_from_summary

POSTED = "posted"
ALREADY_POSTED = "already_posted"
SKIPPED = "skipped"
FAILED = "failed"

INVOICE_NOT_POSTED = "INVOICE_NOT_POSTED"
SALES_CREDIT_NOTE_TYPES = frozenset({"SN", "SALESCREDITNOTE", "SALESBATCHCREDITNOTE"})
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class CreditNoteOutcome:
    key: str  # the partition key, CN-<id> or VOID-<id>
    kind: str  # credit_note | void
    outcome: str  # posted | already_posted | skipped | failed
    source_id: str = ""
    number: str | None = None
    credited_invoice_id: str | None = None
    customer_code: str | None = None
    external_reference: str | None = None
    transaction_id: int | None = None
    invoice_transaction_id: int | None = None
    net: Decimal | None = None
    tax: Decimal | None = None
    gross: Decimal | None = None
    aiq_gross: Decimal | None = None
    totals_match: bool | None = None
    allocated: Decimal | None = None  # allocated against the invoice by this attempt (0: nothing outstanding)
    duplicates: int = 0
    reason_code: str | None = None
    reason: str | None = None
    fix: str | None = None
    retryable: bool = False
    # what this attempt posted with (None when nothing was planned, e.g. already posted)
    posting_date: date | None = None
    bunny_issue_date: date | None = None
    posting_date_moved: bool = False
    exchange_rate: Decimal | None = None
    exchange_rate_source: str | None = None  # base | bunny | configured | aiq

    @property
    def ok(self) -> bool:
        return self.outcome != FAILED


def _plan_details(plan: PlannedCreditNote) -> dict[str, object]:
    return {
        "posting_date": plan.credit_note_date,
        "bunny_issue_date": plan.bunny_issue_date,
        "posting_date_moved": plan.posting_date_moved,
        "exchange_rate": plan.exchange_rate,
        "exchange_rate_source": plan.exchange_rate_source,
    }


class CreditNotePoster(DocumentPoster):
    def __init__(self, aiq: AccountsIQClient, bunny: BunnyClient, **settings: Any) -> None:
        super().__init__(aiq, bunny, **settings)
        self._notes: dict[str, CreditNote] | None = None

    def post(self, key: str) -> CreditNoteOutcome:
        try:
            kind, source_id = parse_key(key)
        except ValueError as exc:
            return CreditNoteOutcome(key, "unknown", FAILED, reason_code="BAD_KEY", reason=str(exc))
        base = CreditNoteOutcome(key, kind, FAILED, source_id=source_id)
        try:
            return self._post_note(base) if kind == KIND_CREDIT_NOTE else self._post_void(base)
        except BunnyError as exc:
            if exc.retryable:
                return _transient(base, exc, "Bunny")
            return replace(
                base,
                reason_code="BUNNY_ERROR",
                reason=f"Bunny refused a read: {exc}",
                fix="Check the Bunny API client's scopes and the BUNNY_* settings (aiq-pipeline doctor).",
            )
        except (AiqThrottledError, AiqTransportError) as exc:
            return _transient(base, exc, "AccountsIQ")
        except AiqError as exc:
            return replace(
                base,
                reason_code=exc.code or "AIQ_ERROR",
                reason=f"AccountsIQ refused: {exc}",
                fix="Check the AIQ settings with `aiq-pipeline doctor`, then retry.",
            )

    def _post_note(self, base: CreditNoteOutcome) -> CreditNoteOutcome:
        note = self._credit_note(base.source_id)
        if note is None:
            return replace(
                base,
                reason_code="NOT_FOUND",
                reason=f"Bunny has no credit note {base.source_id} in entity {self.settings.bunny_entity_id}.",
                fix="Nothing to post. If it was removed on purpose, ignore this exception.",
            )
        reference = credit_note_reference(note.id)
        base = replace(
            base,
            number=note.number,
            credited_invoice_id=note.credited_invoice_id,
            customer_code=customer_code(note.account_id),
            external_reference=reference,
            net=note.subtotal,
            tax=note.tax_amount,
            gross=note.amount,
        )
        if not note.credited_invoice_id:
            return replace(
                base,
                reason_code="NO_CREDITED_INVOICE",
                reason=f"Bunny credit note {note.number or note.id} credits no invoice.",
                fix="A Bunny credit note always credits one invoice: check it in Bunny.",
            )
        invoice = self.bunny.get_invoice(note.credited_invoice_id)
        if invoice is None:
            return replace(
                base,
                reason_code="NOT_FOUND",
                reason=f"Bunny has no invoice {note.credited_invoice_id}, which credit note "
                f"{note.number or note.id} credits.",
                fix="Check the credit note in Bunny.",
            )
        existing = self._lookup(reference, SALES_CREDIT_NOTE_TYPES)
        invoice_txn = self._first(self._lookup(invoice_reference(invoice.id), SALES_INVOICE_TYPES))
        if existing:
            return self._finish(base, existing, invoice_txn, ALREADY_POSTED, note.issued_at)
        if invoice_txn is None and invoice.state != "VOIDED":
            return replace(
                base,
                reason_code=INVOICE_NOT_POSTED,
                reason=f"Bunny credit note {note.number or note.id} credits invoice {invoice.number or invoice.id}, "
                "which is not in AccountsIQ yet; the credit note waits for it.",
                fix="Post the invoice first (see its own exception if it failed); this credit note then posts on "
                "the next retry.",
                retryable=True,
            )
        try:
            customer = self._customer(base.customer_code or "")
            plan = self._planned(
                lambda settings: plan_credit_note_posting(
                    note,
                    invoice,
                    mapping=self.reference.mapping,
                    ledger=self.reference.ledger,
                    settings=settings,
                    existing_customer=customer,
                ),
                invoice.currency_code,
            )
        except PreflightFailed as exc:
            return _preflight(base, exc)
        if customer is None:
            self._create_customer(invoice, plan)
        return self._write_and_finish(base, plan, invoice_txn)

    def _post_void(self, base: CreditNoteOutcome) -> CreditNoteOutcome:
        invoice = self.bunny.get_invoice(base.source_id)
        if invoice is None:
            return replace(
                base,
                reason_code="NOT_FOUND",
                reason=f"Bunny has no invoice {base.source_id} (deleted?).",
                fix="Nothing to reverse. If it was removed on purpose, ignore this exception.",
            )
        reference = void_reference(invoice.id)
        base = replace(
            base,
            number=invoice.number,
            credited_invoice_id=invoice.id,
            customer_code=customer_code(invoice.account_id),
            external_reference=reference,
            net=invoice.subtotal,
            tax=invoice.tax_amount,
            gross=invoice.amount,
        )
        existing = self._lookup(reference, SALES_CREDIT_NOTE_TYPES)
        invoice_txn = self._first(self._lookup(invoice_reference(invoice.id), SALES_INVOICE_TYPES))
        if existing:
            return self._finish(base, existing, invoice_txn, ALREADY_POSTED, invoice.issued_at)
        if invoice.state != "VOIDED":
            return replace(
                base,
                reason_code="NOT_VOIDED",
                reason=f"Bunny invoice {invoice.number or invoice.id} is {invoice.state}, not voided.",
                fix="Nothing to reverse: ignore this exception unless the invoice is voided in Bunny.",
            )
        if invoice_txn is None:
            return replace(base, outcome=SKIPPED, reason="Voided in Bunny before it was posted: nothing to reverse.")
        try:
            customer = self._customer(base.customer_code or "")
            plan = self._planned(
                lambda settings: plan_void_reversal(
                    invoice,
                    mapping=self.reference.mapping,
                    ledger=self.reference.ledger,
                    settings=settings,
                    existing_customer=customer,
                ),
                invoice.currency_code,
            )
        except PreflightFailed as exc:
            return _preflight(base, exc)
        posted_gross = abs(to_cents(invoice_txn.control_amount))
        if plan.gross != posted_gross:
            return replace(
                base,
                reason_code="REVERSAL_MISMATCH",
                reason=f"AIQ holds invoice {invoice.number or invoice.id} at {posted_gross}, but Bunny's voided "
                f"invoice totals {plan.gross}; a reversal would not cancel it exactly.",
                fix=f"Reverse AIQ transaction {invoice_txn.transaction_id} by hand with External Reference "
                f"{reference}, then retry.",
            )
        return self._write_and_finish(base, plan, invoice_txn)

    # -- steps -----------------------------------------------------------------------------------

    def _planned(self, plan: Callable[[PostingSettings], PlannedCreditNote], currency: str) -> PlannedCreditNote:
        """`plan(settings)`; after NO_EXCHANGE_RATE, once more with AIQ's rate for the day (if AIQ has one)."""
        try:
            return plan(self.settings)
        except PreflightFailed as exc:
            with_rate = self.reference.with_aiq_rate(self.aiq, self.settings, currency) if needs_aiq_rate(exc) else None
            if with_rate is None:
                raise
            return plan(with_rate)

    def _credit_note(self, credit_note_id: str) -> CreditNote | None:
        # Bunny's client reads credit notes as a list; read it once per batch, and again on a miss (a new one).
        if self._notes is None or credit_note_id not in self._notes:
            self._notes = {n.id: n for n in self.bunny.iter_credit_notes(self.settings.bunny_entity_id)}
        return self._notes.get(credit_note_id)

    def _lookup(self, reference: str, types: frozenset[str]) -> list[TransactionSummary]:
        return self._lookup_documents(reference, types)

    @staticmethod
    def _first(found: list[TransactionSummary]) -> TransactionSummary | None:
        return min(found, key=lambda t: t.transaction_id) if found else None

    def _write_and_finish(
        self, base: CreditNoteOutcome, plan: PlannedCreditNote, invoice_txn: TransactionSummary | None
    ) -> CreditNoteOutcome:
        try:
            posted = self._write(plan)
        except AiqValidationError as exc:
            return replace(
                base,
                reason_code=exc.code or "AIQ_VALIDATION",
                reason=f"AccountsIQ rejected the credit note: {exc.message}",
                fix="Correct the data named in AIQ's message (in Bunny or AIQ), then retry.",
            )
        base = replace(base, **_plan_details(plan))  # type: ignore[arg-type]
        return self._finish(base, posted, invoice_txn, POSTED, plan.credit_note_date)

    def _write(self, plan: PlannedCreditNote) -> list[TransactionSummary]:
        document = BatchSalesCreditNote(
            **plan.batch_credit_note_fields(),  # type: ignore[arg-type]
            lines=tuple(BatchLine(**line.batch_line_fields()) for line in plan.lines),  # type: ignore[arg-type]
        )
        return self._write_exactly_once(
            lambda: self.aiq.create_batch_sales_credit_note_get_back_transaction_id(document),
            lambda: self._lookup(plan.external_reference, SALES_CREDIT_NOTE_TYPES),
            what="credit note",
            operation="CreateBatchSalesCreditNoteGetBackTransactionID",
        )

    def _allocate(
        self, note: TransactionSummary, invoice: TransactionSummary, on: date | None, reference: str
    ) -> Decimal:
        """Allocate what is still outstanding on both; 0 when either has nothing left (already allocated)."""
        for _ in range(self.max_write_attempts):
            fresh_note = self._first(self._lookup(reference, SALES_CREDIT_NOTE_TYPES)) or note
            fresh_invoice = self._first(self._lookup(invoice.external_reference or "", SALES_INVOICE_TYPES)) or invoice
            if fresh_note.outstanding_amount is None or fresh_invoice.outstanding_amount is None:
                return ZERO  # AIQ did not say what is outstanding: allocating blind could double-allocate
            amount = min(abs(fresh_note.outstanding_amount), abs(fresh_invoice.outstanding_amount))
            if amount <= 0:
                return ZERO
            try:
                self.aiq.allocate_transactions(
                    fresh_invoice.transaction_id,
                    fresh_note.transaction_id,
                    amount=to_cents(amount),
                    allocation_date=on or date.today(),
                    reference=reference,
                )
            except AiqWriteOutcomeUnknown:
                continue  # re-read the outstanding amounts: they say whether it was applied
            return to_cents(amount)
        raise AiqTransportError("the allocation's outcome stayed unknown", operation="AllocateTransactions")

    def _finish(
        self,
        base: CreditNoteOutcome,
        found: list[TransactionSummary],
        invoice_txn: TransactionSummary | None,
        outcome: str,
        on: date | None,
    ) -> CreditNoteOutcome:
        first = self._first(found)
        assert first is not None
        posted = totals_from_summary(first)
        differences = [
            f"{name}: Bunny {bunny}, AIQ {aiq}"
            for name, bunny, aiq in (
                ("net", base.net, posted.net),
                ("tax", base.tax, posted.tax),
                ("gross", base.gross, posted.gross),
            )
            if bunny is not None and to_cents(bunny) != aiq
        ]
        result = replace(
            base,
            outcome=outcome,
            transaction_id=first.transaction_id,
            invoice_transaction_id=invoice_txn.transaction_id if invoice_txn else None,
            aiq_gross=posted.gross,
            totals_match=not differences,
            duplicates=len(found) - 1,
            reason="; ".join(differences) or None,
        )
        if invoice_txn is None:
            return replace(
                result,
                allocated=ZERO,
                reason=result.reason
                or "The credited invoice was voided before it was posted: the credit stands unallocated on the "
                "customer's account.",
            )
        try:
            allocated = self._allocate(first, invoice_txn, on, base.external_reference or "")
        except AiqValidationError as exc:
            return replace(
                result,
                outcome=FAILED,
                reason_code=exc.code or "ALLOCATION_FAILED",
                reason=f"The credit note is in AIQ (transaction {first.transaction_id}) but AIQ refused to "
                f"allocate it against invoice transaction {invoice_txn.transaction_id}: {exc.message}",
                fix="Allocate it by hand in AIQ, or fix the cause and retry (a retry never posts it again).",
            )
        return replace(result, allocated=allocated)


def _transient(base: CreditNoteOutcome, exc: Exception, where: str) -> CreditNoteOutcome:
    return replace(
        base,
        outcome=FAILED,
        reason_code="TRANSIENT",
        reason=f"{where} did not answer properly ({exc}).",
        fix="Nothing to fix in the data: retry later (the sync retries automatically a few times).",
        retryable=True,
    )


def _preflight(base: CreditNoteOutcome, exc: PreflightFailed) -> CreditNoteOutcome:
    return replace(
        base,
        outcome=FAILED,
        reason_code=str(exc.problems[0].code),
        reason=" ".join(p.message for p in exc.problems),
        fix=" ".join(dict.fromkeys(p.fix for p in exc.problems)),
    )
