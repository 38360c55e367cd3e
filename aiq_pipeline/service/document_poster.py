"""What posting invoices and credit notes to AIQ share: settings, reference data read once per batch, customers,
and the exactly-once write.

AIQ has no idempotency key, so a document is looked up by its external reference (derived from the Bunny document
alone) before anything is written, and again after any write whose outcome is unknown (timeout, dropped
connection) before writing again; a document AIQ said it created is never written again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Protocol

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import (
    AiqNotFoundError,
    AiqThrottledError,
    AiqTransportError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
)
from aiq_pipeline.accountsiq.models import CreatedTransaction, Customer, TransactionSummary
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.models import Invoice
from aiq_pipeline.service.customers import ensure_customer
from aiq_pipeline.sync.customer import DesiredCustomer, desired_customer
from aiq_pipeline.sync.gl_mapping import GLMapping, resolve_gl_mapping, validate_gl_mapping
from aiq_pipeline.sync.invoice_posting import CLOSED_PERIOD_FAIL, LedgerSnapshot, PostingSettings
from aiq_pipeline.sync.problems import PreflightFailed, ProblemCode

# Look up a far window: AIQ requires FromDate/ToDate; the reference alone identifies the document.
LOOKUP_FROM = date(2000, 1, 1)
LOOKUP_TO = date(2100, 1, 1)


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


class PlannedDocument(Protocol):
    @property
    def customer(self) -> DesiredCustomer | None: ...
    @property
    def customer_code(self) -> str: ...
    @property
    def currency_code(self) -> str: ...


class DocumentPoster:
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

    def _lookup_documents(
        self, reference: str, types: Iterable[str], *, missing_type: str = ""
    ) -> list[TransactionSummary]:
        """The live (not reversed) AIQ documents of these types carrying exactly this external reference."""
        wanted = frozenset(types)
        found = self.aiq.get_transactions_by_external_reference(reference, from_date=LOOKUP_FROM, to_date=LOOKUP_TO)
        return [
            t
            for t in found
            if (t.external_reference or "").upper() == reference.upper()
            and (t.transaction_type or missing_type).replace(" ", "").upper() in wanted
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

    def _create_customer(self, invoice: Invoice, plan: PlannedDocument) -> None:
        desired = plan.customer or desired_customer(invoice.account, currency_code=plan.currency_code)  # type: ignore[arg-type]
        self.reference.customers[plan.customer_code] = ensure_customer(self.aiq, plan.customer_code, desired)

    def _write_exactly_once(
        self,
        create: Callable[[], CreatedTransaction],
        lookup: Callable[[], list[TransactionSummary]],
        *,
        what: str,
        operation: str,
    ) -> list[TransactionSummary]:
        """Create the document; after an unknown outcome, look before writing again. Never write twice."""
        for attempt in range(1, self.max_write_attempts + 1):
            try:
                created = create()
            except AiqWriteOutcomeUnknown:
                found = lookup()
                if found:
                    return found
            except AiqThrottledError:
                pass  # AIQ refused the call before doing anything: safe to send again after a pause
            else:
                found = lookup()
                if found:
                    return found
                # AIQ said it created the document: never write again, even if the read-back lags.
                raise AiqTransportError(
                    f"AIQ created transaction {created.transaction_id} but does not return it by its reference yet",
                    operation="GetTransactionsByExternalReference",
                )
            self._sleep(min(self.backoff_base * 2.0**attempt, 30.0))
        raise AiqTransportError(
            f"no answer after {self.max_write_attempts} attempts, and the {what} is not in AIQ", operation=operation
        )
