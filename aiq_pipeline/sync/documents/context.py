"""What every planner is given: the AIQ ledger it checks against, the GL mapping, the settings, the customer AIQ
already holds, and the AIQ documents the plan depends on (read by the posting service before planning)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from aiq_pipeline.sync.documents.plan import PlannedLine
from aiq_pipeline.sync.gl_mapping import GLMapping, chart_by_code
from aiq_pipeline.sync.inputs import AiqCustomer, AiqGLAccount, AiqPeriod, AiqTaxCode
from aiq_pipeline.sync.tax import TaxMapping, known_rates

CLOSED_PERIOD_FAIL = "fail"
CLOSED_PERIOD_FIRST_OPEN_DAY = "first_open_day"
CLOSED_PERIOD_POLICIES = (CLOSED_PERIOD_FAIL, CLOSED_PERIOD_FIRST_OPEN_DAY)


@dataclass(frozen=True)
class LedgerSnapshot:
    """The AIQ side a plan is checked against. Build it with `LedgerSnapshot.of(...)`."""

    accounts: Mapping[str, AiqGLAccount]  # by upper-case code
    tax_codes: frozenset[str]  # upper case
    tax_rates: Mapping[str, Decimal]  # upper-case code -> rate in percent
    periods: tuple[AiqPeriod, ...]
    base_currency: str
    currencies: frozenset[str] | None = None  # None: not known, not checked
    banks: Mapping[str, str | None] | None = None  # upper-case bank GL code -> the bank's currency; None: not read

    @classmethod
    def of(
        cls,
        *,
        chart: Iterable[AiqGLAccount],
        tax_codes: Iterable[AiqTaxCode],
        periods: Iterable[AiqPeriod],
        base_currency: str,
        currencies: Iterable[str] | None = None,
        tax_rate_units: str = "percent",
        banks: Iterable[tuple[str, str | None]] | None = None,
    ) -> LedgerSnapshot:
        """`tax_rate_units`: how AIQ states its tax codes' rates (percent, or fraction: UNVERIFIED which)."""
        codes = list(tax_codes)
        return cls(
            accounts=chart_by_code(chart),
            tax_codes=frozenset(t.code.strip().upper() for t in codes),
            tax_rates=known_rates(((t.code, t.rate) for t in codes), units=tax_rate_units),
            periods=tuple(periods),
            base_currency=base_currency.strip().upper(),
            currencies=None if currencies is None else frozenset(c.strip().upper() for c in currencies),
            banks=None if banks is None else {code.strip().upper(): currency for code, currency in banks},
        )


@dataclass(frozen=True)
class BunnyReadings:
    """How this tenant's Bunny money reads (aiq_pipeline/bunny/MONEY.md; `doctor --probe` settles each)."""

    tax_rate_units: str = "percent"  # item taxRate: percent (23) or fraction (0.23)
    subtotal: str = "after_discount"  # Invoice.subtotal: sum of line amounts after discounts, or before_discount
    amount: str = "full"  # Invoice.amount: the full value, or less_credits (after credit applied)
    payment_amount: str = "gross"  # Payment.amount: what the customer paid (fees inside), or net_of_fees

    def document_totals(
        self, net: Decimal | None, tax: Decimal | None, gross: Decimal | None, credits: Decimal | None = None
    ) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """A Bunny document's net, tax and gross as its value, read this tenant's way (what AIQ holds of it):
        under `less_credits` the gross has the credit applied back; under `before_discount` the net is the gross
        less the tax."""
        if gross is not None and self.amount == "less_credits":
            gross += credits or 0
        if gross is not None and tax is not None and self.subtotal == "before_discount":
            net = gross - tax
        return net, tax, gross


@dataclass(frozen=True)
class BadDebt:
    """Where a Bunny write-off posts: a bad-debt (expense) account, with or without VAT relief."""

    account: str | None = None
    tax: str = "relief"  # relief: the lines keep their tax codes (output tax reclaimed); none: gross at tax_code
    tax_code: str | None = None  # a 0 % code, for tax "none"


ANY = "*"


@dataclass(frozen=True)
class PaymentAccounts:
    """Where money posts: the AIQ bank account per payment processor and currency, the processor-fees account, and
    the account that account credit applied to invoices comes from."""

    banks: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (processor lower | *, CURRENCY | *) -> code
    fees_account: str | None = None
    account_credit_account: str | None = None

    def bank_for(self, processor: str | None, currency: str) -> str | None:
        """The mapped bank account; an exact processor and currency first, then the `*` entries. None: unmapped."""
        name, code = (processor or "").strip().lower(), currency.strip().upper()
        for key in ((name, code), (name, ANY), (ANY, code), (ANY, ANY)):
            if key in self.banks:
                return self.banks[key]
        return None


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
    tax_mapping: TaxMapping = field(default_factory=TaxMapping)
    readings: BunnyReadings = field(default_factory=BunnyReadings)
    rounding_tolerance: Decimal = Decimal("0.02")  # document tax rounding absorbed up to this, per document
    rounding_account: str | None = None  # where a rounding line posts; None: the largest line absorbs it
    bad_debt: BadDebt = field(default_factory=BadDebt)
    post_zero_value: bool = False  # a zero-value invoice (trial, 100 % coupon): post an empty document, or nothing
    payments: PaymentAccounts = field(default_factory=PaymentAccounts)

    def __post_init__(self) -> None:
        if self.closed_period_policy not in CLOSED_PERIOD_POLICIES:
            raise ValueError(
                f"closed_period_policy must be one of {', '.join(CLOSED_PERIOD_POLICIES)}, "
                f"not {self.closed_period_policy!r}"
            )


@dataclass(frozen=True)
class PostedLines:
    """How this product posted a document (from the posting journal): what a reversal or credit note mirrors."""

    customer_code: str
    exchange_rate: Decimal
    lines: tuple[PlannedLine, ...]

    def for_item(self, item_id: str) -> PlannedLine | None:
        """The AIQ line that carries Bunny item `item_id` (netting may have merged several items into one)."""
        return next((line for line in self.lines if item_id in (line.source_items or (line.item_id,))), None)


@dataclass(frozen=True)
class PostedDocument:
    """A document AIQ holds, as the posting service found it (journal or AIQ look-up)."""

    reference: str
    transaction_id: int
    gross: Decimal  # magnitude, in the document's currency
    outstanding: Decimal | None = None  # magnitude still unallocated; None when AIQ did not say
    document: PostedLines | None = None  # how this product posted it (from the journal); None: posted elsewhere
    customer_code: str | None = None  # the AIQ customer it was posted to, when known

    @property
    def customer(self) -> str | None:
        return self.document.customer_code if self.document is not None else self.customer_code


@dataclass(frozen=True)
class PlanContext:
    mapping: GLMapping  # from `validate_gl_mapping`: its AIQ verdicts are reused
    ledger: LedgerSnapshot
    settings: PostingSettings
    existing_customer: AiqCustomer | None = None  # the AIQ customer the document's account maps to, if any
    customer_code: str | None = None  # that customer's code when it is not the derived one (a matched customer)
    posted: Mapping[str, PostedDocument] = field(default_factory=dict)  # reference -> what AIQ holds

    def holds(self, reference: str) -> PostedDocument | None:
        return self.posted.get(reference)
