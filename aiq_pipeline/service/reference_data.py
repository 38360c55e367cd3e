"""What a posting batch needs from both sides, read once: the AIQ ledger, the GL mapping and AIQ's rates.

Read live (not from the store), so a retry after a fix in Bunny or AIQ (a mapping, a reopened period) sees it at
once; the store's snapshots are the audit trail and the UI's view.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import AiqValidationError
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.sync.documents.context import LedgerSnapshot, PostingSettings
from aiq_pipeline.sync.gl_mapping import GLMapping, resolve_gl_mapping, validate_gl_mapping


@dataclass
class ReferenceData:
    ledger: LedgerSnapshot
    mapping: GLMapping
    aiq_rates: dict[str, Decimal | None] = field(default_factory=dict)  # AIQ's rate by currency; None = none

    @classmethod
    def load(
        cls,
        aiq: AccountsIQClient,
        bunny: BunnyClient,
        *,
        bunny_entity_id: str,
        tax_rate_units: str = "percent",
        concurrency: int = 1,
    ) -> ReferenceData:
        """`tax_rate_units`: how AIQ states its tax codes' rates (AIQ_PIPELINE_AIQ_TAX_RATE_UNITS; UNVERIFIED).

        The six reads do not depend on each other, so up to `concurrency` run at once (AIQ_PIPELINE_CONCURRENCY):
        across a WAN each is a round trip. A failure raises as it would have in this order.
        """
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            chart = pool.submit(aiq.get_chart_of_accounts)
            tax_codes = pool.submit(aiq.get_tax_codes)
            periods = pool.submit(aiq.get_periods)
            company = pool.submit(aiq.get_company_information)
            banks = pool.submit(_banks, aiq)
            # One Bunny request for all three lists, currencies included: decoding the batch then asks for none.
            lists = pool.submit(bunny.reference_lists, bunny_entity_id)
        ledger = LedgerSnapshot.of(
            chart=chart.result(),
            tax_codes=tax_codes.result(),
            periods=periods.result(),
            base_currency=company.result().base_currency_code,
            tax_rate_units=tax_rate_units,
            banks=banks.result(),
        )
        found = lists.result()
        mapping = resolve_gl_mapping(found.price_list_charges, found.financial_accounts, entity_id=bunny_entity_id)
        return cls(ledger=ledger, mapping=validate_gl_mapping(mapping, chart.result()))

    def with_aiq_rate(self, aiq: AccountsIQClient, settings: PostingSettings, currency: str) -> PostingSettings | None:
        """`settings` plus AIQ's rate for the day for `currency` (read once per batch); None when AIQ has none."""
        currency = currency.strip().upper()
        if currency not in self.aiq_rates:
            try:
                rate: Decimal | None = aiq.get_currency_exchange_rate(currency)
            except AiqValidationError:  # e.g. CURRENCY_CODE_DOES_NOT_EXIST: the plan's own problem stands
                rate = None
            self.aiq_rates[currency] = rate if rate is not None and rate > 0 else None
        found = self.aiq_rates[currency]
        if found is None:
            return None
        return replace(settings, aiq_rates={**settings.aiq_rates, currency: found})


def _banks(aiq: AccountsIQClient) -> list[tuple[str, str | None]] | None:
    """Each bank account's GL code and currency (GetBankList); None when AIQ refuses the list."""
    try:
        return [(bank.gl_account_code, bank.currency_code) for bank in aiq.get_bank_list()]
    except AiqValidationError:
        return None
