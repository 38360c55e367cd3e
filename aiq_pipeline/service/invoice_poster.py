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

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import (
    AiqError,
    AiqNotFoundError,
    AiqThrottledError,
    AiqTransportError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
)
from aiq_pipeline.accountsiq.models import BatchLine, BatchSalesInvoice, Customer, TransactionSummary
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.errors import BunnyError
from aiq_pipeline.bunny.models import Invoice
from aiq_pipeline.service.customers import ensure_customer
from aiq_pipeline.sync.customer import currency_problem, desired_customer
from aiq_pipeline.sync.gl_mapping import GLMapping, resolve_gl_mapping, validate_gl_mapping
from aiq_pipeline.sync.identity import customer_code, invoice_reference
from aiq_pipeline.sync.invoice_posting import (
    CLOSED_PERIOD_FAIL,
    LedgerSnapshot,
    PlannedInvoice,
    PostingSettings,
    plan_invoice_posting,
)
from aiq_pipeline.sync.problems import PreflightFailed, ProblemCode
from aiq_pipeline.sync.reconciliation import reconcile_invoice

POSTED = "posted"
ALREADY_POSTED = "already_posted"
SKIPPED = "skipped"
FAILED = "failed"

SALES_INVOICE_TYPES = frozenset({"SI", "SALESINVOICE", "SALESBATCHINVOICE"})
# Look up a far window: AIQ requires FromDate/ToDate; the reference alone identifies the document.
LOOKUP_FROM = date(2000, 1, 1)
LOOKUP_TO = date(2100, 1, 1)


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


def needs_aiq_rate(exc: PreflightFailed) -> bool:
    return any(p.code == ProblemCode.NO_EXCHANGE_RATE for p in exc.problems)


@dataclass
class ReferenceData:
    """What a batch needs from both sides, read once."""

    ledger: LedgerSnapshot
    mapping: GLMapping
    customers: dict[str, Customer | None] = field(default_factory=dict)  # cache by code; None = absent
    aiq_rates: dict[str, Decimal | None] = field(default_factory=dict)  # AIQ's rate by currency; None = none

    def aiq_rate(self, aiq: AccountsIQClient, currency: str) -> Decimal | None:
        """AIQ's rate for the day, read once per currency per batch; None when AIQ has no usable one."""
        currency = currency.strip().upper()
        if currency not in self.aiq_rates:
            try:
                rate: Decimal | None = aiq.get_currency_exchange_rate(currency)
            except AiqValidationError:  # e.g. CURRENCY_CODE_DOES_NOT_EXIST: the plan's own problem stands
                rate = None
            self.aiq_rates[currency] = rate if rate is not None and rate > 0 else None
        return self.aiq_rates[currency]

    def with_aiq_rate(self, aiq: AccountsIQClient, settings: PostingSettings, currency: str) -> PostingSettings | None:
        """`settings` plus AIQ's rate for `currency`, or None when AIQ has none (nothing to try again with)."""
        rate = self.aiq_rate(aiq, currency)
        if rate is None:
            return None
        return replace(settings, aiq_rates={**settings.aiq_rates, currency.strip().upper(): rate})

    @classmethod
    def load(cls, aiq: AccountsIQClient, bunny: BunnyClient, *, bunny_entity_id: str) -> ReferenceData:
        chart = aiq.get_chart_of_accounts()
        company = aiq.get_company_information()
        ledger = LedgerSnapshot.of(
            chart=chart,
            tax_codes=aiq.get_tax_codes(),
            periods=aiq.get_periods(),
            base_currency=company.base_currency_code,
        )
        mapping = resolve_gl_mapping(
            bunny.iter_price_list_charges(), bunny.iter_financial_accounts(bunny_entity_id), entity_id=bunny_entity_id
        )
        return cls(ledger=ledger, mapping=validate_gl_mapping(mapping, chart))


def _transient(invoice_id: str, exc: Exception, where: str) -> PostingOutcome:
    return PostingOutcome(
        invoice_id=invoice_id,
        outcome=FAILED,
        reason_code="TRANSIENT",
        reason=f"{where} did not answer properly ({exc}).",
        fix="Nothing to fix in the data: retry later (the sync retries automatically a few times).",
        retryable=True,
    )


class InvoicePoster:
    def __init__(
        self,
        aiq: AccountsIQClient,
        bunny: BunnyClient,
        *,
        bunny_entity_id: str,
        default_tax_code: str,
        exchange_rates: dict[str, Decimal] | None = None,
        closed_period_policy: str = CLOSED_PERIOD_FAIL,
        max_write_attempts: int = 3,
        backoff_base: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.aiq = aiq
        self.bunny = bunny
        self.settings = PostingSettings(
            bunny_entity_id=bunny_entity_id,
            default_tax_code=default_tax_code,
            exchange_rates=exchange_rates or {},
            closed_period_policy=closed_period_policy,
        )
        self.max_write_attempts = max_write_attempts
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._reference: ReferenceData | None = None

    @property
    def reference(self) -> ReferenceData:
        if self._reference is None:
            self._reference = ReferenceData.load(self.aiq, self.bunny, bunny_entity_id=self.settings.bunny_entity_id)
        return self._reference

    # -- one invoice -----------------------------------------------------------------------------

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
        found = self.aiq.get_transactions_by_external_reference(reference, from_date=LOOKUP_FROM, to_date=LOOKUP_TO)
        return [
            t
            for t in found
            if (t.external_reference or "").upper() == reference.upper()
            and (t.transaction_type or "SI").replace(" ", "").upper() in SALES_INVOICE_TYPES
            and not t.is_reversed
        ]

    def _customer(self, code: str) -> Customer | None:
        cache = self.reference.customers
        if code not in cache:
            try:
                cache[code] = self.aiq.get_customer(code)
            except AiqNotFoundError:
                cache[code] = None
        return cache[code]

    def _create_customer(self, invoice: Invoice, plan: PlannedInvoice) -> None:
        desired = plan.customer or desired_customer(invoice.account, currency_code=plan.currency_code)  # type: ignore[arg-type]
        self.reference.customers[plan.customer_code] = ensure_customer(self.aiq, plan.customer_code, desired)

    def _write(self, plan: PlannedInvoice) -> list[TransactionSummary]:
        """Create the invoice; after an unknown outcome, look before writing again. Never write twice."""
        document = BatchSalesInvoice(
            **plan.batch_invoice_fields(),  # type: ignore[arg-type]
            lines=tuple(BatchLine(**line.batch_line_fields()) for line in plan.lines),  # type: ignore[arg-type]
        )
        for attempt in range(1, self.max_write_attempts + 1):
            try:
                created = self.aiq.create_batch_sales_invoice_get_back_transaction_id(document)
            except AiqWriteOutcomeUnknown:
                found = self._lookup(plan.external_reference)
                if found:
                    return found
            except AiqThrottledError:
                pass  # AIQ refused the call before doing anything: safe to send again after a pause
            else:
                found = self._lookup(plan.external_reference)
                if found:
                    return found
                # AIQ said it created the document: never write again, even if the read-back lags.
                raise AiqTransportError(
                    f"AIQ created transaction {created.transaction_id} but does not return it by its reference yet",
                    operation="GetTransactionsByExternalReference",
                )
            self._sleep(min(self.backoff_base * 2.0**attempt, 30.0))
        raise AiqTransportError(
            f"no answer after {self.max_write_attempts} attempts, and the invoice is not in AIQ",
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
