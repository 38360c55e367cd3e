"""Posting Bunny invoices to AIQ, exactly once.

AIQ has no idempotency key, so every invoice is looked up by its external reference (derived from the
Bunny invoice id alone) before anything is written, and again after any write whose outcome is unknown
(timeout, dropped connection) before writing again. No sequence of timeouts, retries, re-runs or
restarts can therefore leave two AIQ documents for one Bunny invoice, as long as AIQ answers lookups.

Reference data (chart of accounts, tax codes, periods, GL mapping) is read live once per batch, so a
retry after a fix in Bunny or AIQ (a mapping, a reopened period) sees the fix at once.

Exchange rate: when the plan fails only for want of a rate (NO_EXCHANGE_RATE: a foreign-currency invoice whose
Bunny conversion is missing and no rate is configured), AIQ's own rate for the day (GetCurrencyExchangeRate, read
once per currency per batch) is used and the plan is made again; the outcome says which source gave the rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from aiq_pipeline.accountsiq.errors import (
    AiqError,
    AiqThrottledError,
    AiqTransportError,
    AiqValidationError,
)
from aiq_pipeline.accountsiq.models import BatchLine, BatchSalesInvoice, TransactionSummary
from aiq_pipeline.bunny.errors import BunnyError
from aiq_pipeline.bunny.models import Invoice
from aiq_pipeline.service.document_poster import DocumentPoster, needs_aiq_rate
from aiq_pipeline.sync.customer import currency_problem
from aiq_pipeline.sync.identity import customer_code, invoice_reference
from aiq_pipeline.sync.invoice_posting import (
    PlannedInvoice,
    plan_invoice_posting,
)
from aiq_pipeline.sync.problems import PreflightFailed
from aiq_pipeline.sync.reconciliation import reconcile_invoice

POSTED = "posted"
ALREADY_POSTED = "already_posted"
SKIPPED = "skipped"
FAILED = "failed"

SALES_INVOICE_TYPES = frozenset({"SI", "SALESINVOICE", "SALESBATCHINVOICE"})


@dataclass(frozen=True)
class PostingOutcome:
    invoice_id: str
    outcome: str  # posted | already_posted | skipped | failed
    invoice_number: str | None = None
    customer_code: str | None = None
    external_reference: str | None = None
    transaction_id: int | None = None
    currency: str | None = None
    net: Decimal | None = None
    tax: Decimal | None = None
    gross: Decimal | None = None
    aiq_gross: Decimal | None = None
    totals_match: bool | None = None
    differences: tuple[str, ...] = ()
    duplicates: int = 0  # AIQ documents beyond the first with this reference (should always be 0)
    customer_created: bool = False
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


def plan_details(plan: PlannedInvoice) -> dict[str, object]:
    """The PostingOutcome fields that say how the plan dated and converted the document."""
    return {
        "posting_date": plan.invoice_date,
        "bunny_issue_date": plan.bunny_issue_date,
        "posting_date_moved": plan.posting_date_moved,
        "exchange_rate": plan.exchange_rate,
        "exchange_rate_source": plan.exchange_rate_source,
    }


def _transient(invoice_id: str, exc: Exception, where: str) -> PostingOutcome:
    return PostingOutcome(
        invoice_id=invoice_id,
        outcome=FAILED,
        reason_code="TRANSIENT",
        reason=f"{where} did not answer properly ({exc}).",
        fix="Nothing to fix in the data: retry later (the sync retries automatically a few times).",
        retryable=True,
    )


class InvoicePoster(DocumentPoster):
    def post(self, invoice_id: str) -> PostingOutcome:
        try:
            return self._post(invoice_id)
        except BunnyError as exc:
            if exc.retryable:
                return _transient(invoice_id, exc, "Bunny")
            return PostingOutcome(
                invoice_id,
                FAILED,
                reason_code="BUNNY_ERROR",
                reason=f"Bunny refused a read: {exc}",
                fix="Check the Bunny API client's scopes and the BUNNY_* settings (aiq-pipeline doctor).",
            )
        except (AiqThrottledError, AiqTransportError) as exc:
            return _transient(invoice_id, exc, "AccountsIQ")
        except AiqError as exc:
            return PostingOutcome(
                invoice_id,
                FAILED,
                reason_code=exc.code or "AIQ_ERROR",
                reason=f"AccountsIQ refused: {exc}",
                fix="Check the AIQ settings with `aiq-pipeline doctor`, then retry.",
            )

    def _post(self, invoice_id: str) -> PostingOutcome:
        invoice = self.bunny.get_invoice(invoice_id)
        if invoice is None:
            return PostingOutcome(
                invoice_id,
                FAILED,
                reason_code="NOT_FOUND",
                reason=f"Bunny has no invoice {invoice_id} (deleted?).",
                fix="Nothing to post. If it was removed on purpose, ignore this exception.",
            )
        reference = invoice_reference(invoice.id)
        base = {
            "invoice_id": invoice.id,
            "invoice_number": invoice.number,
            "customer_code": customer_code(invoice.account_id),
            "external_reference": reference,
            "currency": invoice.currency_code,
            "net": invoice.subtotal,
            "tax": invoice.tax_amount,
            "gross": invoice.amount,
        }

        existing = self._lookup(reference)
        if existing:
            return self._verified(invoice, existing, ALREADY_POSTED, base)
        if invoice.state == "VOIDED":
            return PostingOutcome(
                **base, outcome=SKIPPED, reason_code="VOIDED", reason="Voided in Bunny before it was posted."
            )

        ref = self.reference
        code = base["customer_code"]
        try:
            existing_customer = self._customer(code)
            try:
                plan = plan_invoice_posting(
                    invoice,
                    mapping=ref.mapping,
                    ledger=ref.ledger,
                    settings=self.settings,
                    existing_customer=existing_customer,
                )
            except PreflightFailed as first_try:
                with_rate = (
                    ref.with_aiq_rate(self.aiq, self.settings, invoice.currency_code)
                    if needs_aiq_rate(first_try)
                    else None
                )
                if with_rate is None:
                    raise
                plan = plan_invoice_posting(
                    invoice,
                    mapping=ref.mapping,
                    ledger=ref.ledger,
                    settings=with_rate,
                    existing_customer=existing_customer,
                )
            if existing_customer is not None:
                problem = currency_problem(
                    existing_customer, invoice_currency=plan.currency_code, invoice_id=invoice.id
                )
                if problem:
                    raise PreflightFailed([problem])
        except PreflightFailed as exc:
            first = exc.problems[0]
            return PostingOutcome(
                **base,
                outcome=FAILED,
                reason_code=str(first.code),
                reason=" ".join(p.message for p in exc.problems),
                fix=" ".join(dict.fromkeys(p.fix for p in exc.problems)),
            )

        created_customer = False
        if existing_customer is None:
            self._create_customer(invoice, plan)
            created_customer = True

        try:
            posted = self._write(plan)
        except AiqValidationError as exc:
            return PostingOutcome(
                **base,
                outcome=FAILED,
                reason_code=exc.code or "AIQ_VALIDATION",
                reason=f"AccountsIQ rejected the invoice: {exc.message}",
                customer_created=created_customer,
                fix="Correct the data named in AIQ's message (in Bunny or AIQ), then retry.",
                **plan_details(plan),  # type: ignore[arg-type]
            )
        outcome = self._verified(invoice, posted, POSTED, base)
        return replace(outcome, customer_created=created_customer, **plan_details(plan))  # type: ignore[arg-type]

    # -- steps -----------------------------------------------------------------------------------

    def _lookup(self, reference: str) -> list[TransactionSummary]:
        # An AIQ answer without a type is taken for a sales invoice (the reference says what it is).
        return self._lookup_documents(reference, SALES_INVOICE_TYPES, missing_type="SI")

    def _write(self, plan: PlannedInvoice) -> list[TransactionSummary]:
        document = BatchSalesInvoice(
            **plan.batch_invoice_fields(),  # type: ignore[arg-type]
            lines=tuple(BatchLine(**line.batch_line_fields()) for line in plan.lines),  # type: ignore[arg-type]
        )
        return self._write_exactly_once(
            lambda: self.aiq.create_batch_sales_invoice_get_back_transaction_id(document),
            lambda: self._lookup(plan.external_reference),
            what="invoice",
            operation="CreateBatchSalesInvoiceGetBackTransactionID",
        )

    def _verified(
        self, invoice: Invoice, found: list[TransactionSummary], outcome: str, base: dict[str, object]
    ) -> PostingOutcome:
        first = min(found, key=lambda t: t.transaction_id)
        check = reconcile_invoice(invoice, first)
        return PostingOutcome(
            **base,  # type: ignore[arg-type]
            outcome=outcome,
            transaction_id=first.transaction_id,
            aiq_gross=abs(first.control_amount),
            totals_match=check.matches,
            differences=tuple(str(d) for d in check.differences),
            duplicates=len(found) - 1,
        )
