"""What every planner is given: the AIQ ledger it checks against, the GL mapping, the settings, the customer AIQ
already holds, and the AIQ documents the plan depends on (read by the posting service before planning)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from aiq_pipeline.sync.gl_mapping import GLMapping, chart_by_code
from aiq_pipeline.sync.inputs import AiqCustomer, AiqGLAccount, AiqPeriod, AiqTaxCode

CLOSED_PERIOD_FAIL = "fail"
CLOSED_PERIOD_FIRST_OPEN_DAY = "first_open_day"
CLOSED_PERIOD_POLICIES = (CLOSED_PERIOD_FAIL, CLOSED_PERIOD_FIRST_OPEN_DAY)


@dataclass(frozen=True)
class LedgerSnapshot:
    """The AIQ side a plan is checked against. Build it with `LedgerSnapshot.of(...)`."""

    accounts: Mapping[str, AiqGLAccount]  # by upper-case code
    tax_codes: frozenset[str]  # upper case
    periods: tuple[AiqPeriod, ...]
    base_currency: str
    currencies: frozenset[str] | None = None  # None: not known, not checked

    @classmethod
    def of(
        cls,
        *,
        chart: Iterable[AiqGLAccount],
        tax_codes: Iterable[AiqTaxCode],
        periods: Iterable[AiqPeriod],
        base_currency: str,
        currencies: Iterable[str] | None = None,
    ) -> LedgerSnapshot:
        return cls(
            accounts=chart_by_code(chart),
            tax_codes=frozenset(t.code.strip().upper() for t in tax_codes),
            periods=tuple(periods),
            base_currency=base_currency.strip().upper(),
            currencies=None if currencies is None else frozenset(c.strip().upper() for c in currencies),
        )


@dataclass(frozen=True)
class PostingSettings:
    bunny_entity_id: str  # only documents of this Bunny entity are posted
    default_tax_code: str  # AIQ tax code for lines without one (the seed guide's "Default tax code")
    # currency -> AIQ base-currency units per 1 unit of it; used when Bunny gives no usable conversion
    exchange_rates: Mapping[str, Decimal] = field(default_factory=dict)
    # "fail" (default): a date in a closed period is an exception; "first_open_day": post on the first open day
    closed_period_policy: str = CLOSED_PERIOD_FAIL
    # currency -> AIQ's own rate for the day; last resort, filled by the poster from GetCurrencyExchangeRate
    aiq_rates: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.closed_period_policy not in CLOSED_PERIOD_POLICIES:
            raise ValueError(
                f"closed_period_policy must be one of {', '.join(CLOSED_PERIOD_POLICIES)}, "
                f"not {self.closed_period_policy!r}"
            )


@dataclass(frozen=True)
class PostedDocument:
    """A document AIQ holds, as the posting service found it (journal or AIQ look-up)."""

    reference: str
    transaction_id: int
    gross: Decimal  # magnitude, in the document's currency
    outstanding: Decimal | None = None  # magnitude still unallocated; None when AIQ did not say


@dataclass(frozen=True)
class PlanContext:
    mapping: GLMapping  # from `validate_gl_mapping`: its AIQ verdicts are reused
    ledger: LedgerSnapshot
    settings: PostingSettings
    existing_customer: AiqCustomer | None = None  # the AIQ customer the document's account maps to, if any
    posted: Mapping[str, PostedDocument] = field(default_factory=dict)  # reference -> what AIQ holds

    def holds(self, reference: str) -> PostedDocument | None:
        return self.posted.get(reference)
