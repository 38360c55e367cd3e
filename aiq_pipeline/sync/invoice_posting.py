"""Plan the AIQ batch sales invoice for one Bunny invoice, or say exactly why it cannot be posted.

`plan_invoice_posting` raises `PreflightFailed` carrying *every* problem found (not a result union): a plan
that exists is always postable, the caller cannot forget to check a flag, and the Dagster layer turns the
exception into the partition's failure reason as it is.

Policies (each a finance decision, fail rather than post something that differs from Bunny):

- Amounts: line net = item `amount` (after discount), line tax = item `tax_amount`, both Decimal cents sent
  explicitly, so AIQ never recomputes tax. The plan's net, tax and gross must equal Bunny's invoice
  `subtotal`, `tax_amount` and `amount` to the cent, else TOTALS_MISMATCH (e.g. credits applied on the invoice).
- Negative lines (credit or discount lines): AIQ batch invoice lines must be >= 0, and netting them into other
  lines would post revenue Bunny did not book on that line. So NEGATIVE_LINE fails the invoice; credits
  belong in credit notes.
- Tax code: the item's own `tax_code` when AIQ knows it (case-insensitive, sent upper case), else the
  configured default. An explicit code AIQ does NOT know fails (UNKNOWN_TAX_CODE) instead of falling back to the
  default: a finance team would rather fix a code than post at the wrong rate.
- TaxRate (AIQ: a fraction 0..1, informational since TaxAmount is explicit): Bunny's item `taxRate` is a
  percentage (23 = 23 %, as the Bunny emulator computes tax = amount x taxRate / 100), so it is divided by 100;
  without it, tax / net (0 when net is 0). Rounded to 6 places.
- Exchange rate: AIQ base-currency units per 1 unit of the invoice currency. 1 when the invoice is in AIQ's base
  currency; else Bunny's own conversion (baseCurrencyTotal / amount) when Bunny's base currency is AIQ's base
  currency; else the rate configured in `PostingSettings.exchange_rates`. Must be > 0. (AIQ documents the
  field as customer-currency <-> base; the direction is UNVERIFIED on a real tenant: protocol-notes §4.9.)
  Last, AIQ's own rate for the day (`PostingSettings.aiq_rates`, which the poster fills from
  GetCurrencyExchangeRate only after a plan failed with NO_EXCHANGE_RATE). AIQ's rate is passed through as it is:
  it has the meaning AIQ gives its own ExchangeRate field, whatever the direction. `exchange_rate_source` says
  which one was used: base | bunny | configured | aiq.
- Period: the invoice date must fall in an AIQ period whose sales ledger (and financial year) is open. With
  `closed_period_policy="first_open_day"` (off by default) a date in a *closed* period posts on the first day of
  the next open period instead; the description keeps Bunny's date ("issued 2026-05-15 in Bunny"). A date no
  period covers, or a closed one with no open period after it, still fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from aiq_pipeline.sync.customer import DesiredCustomer, currency_problem, customer_problems, desired_customer
from aiq_pipeline.sync.gl_mapping import GLMapping, account_problem, chart_by_code
from aiq_pipeline.sync.identity import customer_code, invoice_reference
from aiq_pipeline.sync.inputs import AiqCustomer, AiqGLAccount, AiqPeriod, AiqTaxCode, BunnyInvoice, BunnyInvoiceItem
from aiq_pipeline.sync.money import ZERO, money_sum, to_cents
from aiq_pipeline.sync.problems import PreflightFailed, Problem, ProblemCode

DESCRIPTION_LIMIT = 500  # AIQ: header and line Description not null, <= 500 (protocol-notes §4.5)
RATE_PLACES = Decimal("0.000001")
ONE = Decimal(1)
HUNDRED = Decimal(100)

CLOSED_PERIOD_FAIL = "fail"
CLOSED_PERIOD_FIRST_OPEN_DAY = "first_open_day"
CLOSED_PERIOD_POLICIES = (CLOSED_PERIOD_FAIL, CLOSED_PERIOD_FIRST_OPEN_DAY)

RATE_BASE = "base"
RATE_BUNNY = "bunny"
RATE_CONFIGURED = "configured"
RATE_AIQ = "aiq"


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
    bunny_entity_id: str  # only invoices of this Bunny entity are posted
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
class PlannedLine:
    gl_account_code: str
    tax_code: str
    description: str
    net_amount: Decimal
    tax_rate: Decimal  # fraction, 0..1
    tax_amount: Decimal
    item_id: str
    gl_source: str  # "charge" | "default"

    def batch_line_fields(self) -> dict[str, object]:
        """Exactly the keyword arguments of AIQ's `BatchLine`."""
        return {
            "gl_account_code": self.gl_account_code,
            "tax_code": self.tax_code,
            "description": self.description,
            "net_amount": self.net_amount,
            "tax_rate": self.tax_rate,
            "tax_amount": self.tax_amount,
            "department_id": None,
        }


@dataclass(frozen=True)
class PlannedInvoice:
    invoice_id: str
    invoice_number: str | None
    customer_code: str
    customer: DesiredCustomer | None  # what AIQ's customer should hold (None: the invoice came without account)
    currency_code: str
    invoice_date: date  # the AIQ posting date: Bunny's issue date unless it was moved out of a closed period
    due_date: date | None
    external_reference: str
    description: str
    exchange_rate: Decimal
    lines: tuple[PlannedLine, ...]
    net: Decimal
    tax: Decimal
    gross: Decimal
    period_name: str | None
    financial_year: int
    bunny_issue_date: date | None = None
    exchange_rate_source: str = RATE_BASE  # base | bunny | configured | aiq

    @property
    def posting_date_moved(self) -> bool:
        return self.bunny_issue_date is not None and self.bunny_issue_date != self.invoice_date

    def batch_invoice_fields(self) -> dict[str, object]:
        """Keyword arguments of AIQ's `BatchSalesInvoice` except `lines` (build those from `batch_line_fields`)."""
        return {
            "customer_code": self.customer_code,
            "invoice_date": self.invoice_date,
            "external_reference": self.external_reference,
            "description": self.description,
            "exchange_rate": self.exchange_rate,
            "due_date": self.due_date,
        }


def _single_line(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    return " ".join(text.split())[:limit].rstrip()


def _invoice_label(invoice: BunnyInvoice) -> str:
    return f"Bunny invoice {invoice.number} (id {invoice.id})" if invoice.number else f"Bunny invoice id {invoice.id}"


def _line_label(invoice: BunnyInvoice, item: BunnyInvoiceItem) -> str:
    what = f" '{_single_line(item.line_text, 60)}'" if item.line_text else ""
    return f"line {item.id}{what} of {_invoice_label(invoice)}"


def _first_open_day_after(day: date, periods: tuple[AiqPeriod, ...]) -> AiqPeriod | None:
    later = [
        p
        for p in periods
        if p.start_date and p.end_date and p.start_date > day and not p.sales_ledger_closed
        and not p.financial_year_closed
    ]  # fmt: skip
    return min(later, key=lambda p: p.start_date or day, default=None)


def posting_day(
    day: date, periods: tuple[AiqPeriod, ...], policy: str = CLOSED_PERIOD_FAIL
) -> tuple[date, AiqPeriod] | None:
    """The AIQ date and period a document issued on `day` posts in, or None when it cannot post.

    `day` itself when an open period covers it; with the `first_open_day` policy and a *closed* period covering it,
    the first day of the next open period. Never moved when no period covers `day` (a missing year is a setup gap).
    """
    containing = [p for p in periods if p.start_date and p.end_date and p.start_date <= day <= p.end_date]
    open_ = [p for p in containing if not p.sales_ledger_closed and not p.financial_year_closed]
    if open_:
        return day, open_[0]
    if containing and policy == CLOSED_PERIOD_FIRST_OPEN_DAY:
        later = _first_open_day_after(day, periods)
        if later is not None and later.start_date is not None:
            return later.start_date, later
    return None


def _period_problem(
    invoice: BunnyInvoice, day: date, periods: tuple[AiqPeriod, ...], policy: str = CLOSED_PERIOD_FAIL
) -> tuple[tuple[date, AiqPeriod] | None, list[Problem]]:
    found = posting_day(day, periods, policy)
    if found is not None:
        return found, []
    containing = [p for p in periods if p.start_date and p.end_date and p.start_date <= day <= p.end_date]
    if not containing:
        return None, [
            Problem(
                ProblemCode.NO_OPEN_PERIOD,
                f"{_invoice_label(invoice)} is dated {day.isoformat()}, and no AIQ period covers that date.",
                "Create the financial year covering that date in AIQ (Period Manager), then retry.",
            )
        ]
    period = containing[0]
    if policy == CLOSED_PERIOD_FIRST_OPEN_DAY:
        message_tail = "; no later AIQ period is open to post it on its first day instead"
        fix = "Reopen the period's sales ledger, or open a later period, in AIQ; then retry."
    else:
        message_tail = ""
        fix = (
            "Reopen the period's sales ledger in AIQ, then retry (or set AIQ_PIPELINE_CLOSED_PERIOD_POLICY="
            "first_open_day to post such documents on the first day of the next open period)."
        )
    return None, [
        Problem(
            ProblemCode.CLOSED_PERIOD,
            f"{_invoice_label(invoice)} is dated {day.isoformat()}, in AIQ period {period.period_name or '?'} of "
            f"financial year {period.financial_year}, whose sales ledger is closed{message_tail}.",
            fix,
        )
    ]


def _exchange_rate(
    invoice: BunnyInvoice, ledger: LedgerSnapshot, settings: PostingSettings
) -> tuple[Decimal | None, str]:
    """(rate, source): base units per 1 unit of the invoice currency, and where it came from."""
    currency = invoice.currency_code.strip().upper()
    if currency == ledger.base_currency:
        return ONE, RATE_BASE
    bunny_base = (invoice.base_currency_code or "").strip().upper()
    if bunny_base == ledger.base_currency and invoice.base_currency_total is not None and invoice.amount > 0:
        rate = (invoice.base_currency_total / invoice.amount).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
        return rate, RATE_BUNNY
    configured = settings.exchange_rates.get(currency)
    if configured is not None:
        return Decimal(configured), RATE_CONFIGURED
    from_aiq = settings.aiq_rates.get(currency)
    if from_aiq is not None:
        return Decimal(from_aiq), RATE_AIQ
    return None, ""


def _tax_rate(item: BunnyInvoiceItem, net: Decimal, tax: Decimal) -> Decimal:
    if item.tax_rate is not None:
        rate = Decimal(item.tax_rate) / HUNDRED
    elif net == ZERO:
        rate = ZERO
    else:
        rate = tax / net
    return rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def plan_invoice_posting(
    invoice: BunnyInvoice,
    *,
    mapping: GLMapping,
    ledger: LedgerSnapshot,
    settings: PostingSettings,
    existing_customer: AiqCustomer | None = None,
) -> PlannedInvoice:
    """The AIQ posting of `invoice`, or `PreflightFailed` with every problem.

    `mapping` should come from `validate_gl_mapping` (its AIQ verdicts are reused). `existing_customer` is the AIQ
    customer already holding `customer_code(invoice.account_id)`, if any; without one the customer will be
    created from the invoice's account, which must then be complete enough.
    """
    label = _invoice_label(invoice)
    problems: list[Problem] = []

    if invoice.entity_id != settings.bunny_entity_id:
        problems.append(
            Problem(
                ProblemCode.WRONG_ENTITY,
                f"{label} belongs to Bunny entity {invoice.entity_id}; this sync posts entity "
                f"{settings.bunny_entity_id} only.",
                "Nothing to post: invoices of other entities go to their own AIQ company. Check BUNNY_ENTITY_ID "
                "if this invoice should be synced here.",
            )
        )
    if not invoice.is_postable:
        problems.append(
            Problem(
                ProblemCode.NOT_POSTABLE,
                f"{label} is {invoice.state}; only issued invoices (not due, due, unpaid, paid) are posted.",
                "Release the invoice in Bunny (a voided invoice is never posted); then retry.",
            )
        )
    if invoice.issued_at is None:
        problems.append(
            Problem(
                ProblemCode.NOT_POSTABLE,
                f"{label} has no issue date, which AIQ needs as the invoice date.",
                "Release the invoice in Bunny so it gets an issue date; then retry.",
            )
        )
    if not invoice.items:
        problems.append(
            Problem(
                ProblemCode.NO_LINES,
                f"{label} has no lines; AIQ cannot post an invoice without lines.",
                "Check the invoice in Bunny; an empty invoice has nothing to post (void it there).",
            )
        )

    # Customer
    currency = invoice.currency_code.strip().upper()
    customer: DesiredCustomer | None = None
    if existing_customer is not None:
        mismatch = currency_problem(existing_customer, invoice_currency=currency, invoice_id=invoice.id)
        if mismatch:
            problems.append(mismatch)
    else:
        problems.extend(customer_problems(invoice.account, invoice_id=invoice.id))
    if invoice.account is not None and (invoice.account.name or "").strip():
        customer = desired_customer(invoice.account, currency_code=currency)

    # Currency
    if ledger.currencies is not None and currency not in ledger.currencies:
        problems.append(
            Problem(
                ProblemCode.UNKNOWN_CURRENCY,
                f"{label} is in {currency}, a currency the AIQ company does not have.",
                f"Add {currency} to the currencies of the AIQ company, then retry.",
            )
        )
    rate, rate_source = _exchange_rate(invoice, ledger, settings)
    if rate is None or rate <= 0:
        problems.append(
            Problem(
                ProblemCode.NO_EXCHANGE_RATE,
                f"{label} is in {currency}, not AIQ's base currency {ledger.base_currency}, and no usable exchange "
                f"rate is known ({'none given' if rate is None else f'got {rate}'}).",
                f"Set the {currency} rate in AIQ (Currencies), or configure the {currency} -> {ledger.base_currency} "
                "rate for the sync, then retry.",
            )
        )

    # Period
    posting: tuple[date, AiqPeriod] | None = None
    if invoice.issued_at is not None:
        posting, found = _period_problem(invoice, invoice.issued_at, ledger.periods, settings.closed_period_policy)
        problems.extend(found)

    # Tax code default, checked once
    default_tax = settings.default_tax_code.strip().upper()
    default_tax_known = default_tax in ledger.tax_codes
    default_tax_reported = False

    # Lines
    lines: list[PlannedLine] = []
    for item in invoice.items:
        line = _line_label(invoice, item)
        net, tax = to_cents(item.amount), to_cents(item.tax_amount)
        if net < 0 or tax < 0:
            problems.append(
                Problem(
                    ProblemCode.NEGATIVE_LINE,
                    f"{line} has net {net} and tax {tax}; AIQ batch invoices accept no negative lines.",
                    "Credits belong in a Bunny credit note: void and reissue the invoice without the credit line, "
                    f"or post it by hand in AIQ with External Reference {invoice_reference(invoice.id)}.",
                )
            )
        gl_code: str | None = None
        gl_source = ""
        if item.price_list_charge_id is not None:
            row = mapping.for_charge(item.price_list_charge_id)
            if row is None:
                problems.append(
                    Problem(
                        ProblemCode.UNMAPPED_CHARGE,
                        f"{line} uses price-list charge {item.price_list_charge_code or item.price_list_charge_id}, "
                        "which is not in the GL mapping snapshot.",
                        "Refresh the GL mapping (materialize it again), then retry.",
                    )
                )
            elif row.problem is not None:
                problems.append(row.problem)
            else:
                gl_code, gl_source = row.account_code, row.source or ""
        elif mapping.default_problem is not None:
            problems.append(mapping.default_problem)
        else:
            gl_code, gl_source = mapping.default_account_code, "default"
            # the default is checked by validate_gl_mapping; check again in case the mapping was not validated
            if gl_code is not None and (found := account_problem(gl_code, ledger.accounts, used_by=line)):
                problems.append(found)
                gl_code = None

        own_tax = (item.tax_code or "").strip().upper()
        tax_code = own_tax or default_tax
        if own_tax and own_tax not in ledger.tax_codes:
            problems.append(
                Problem(
                    ProblemCode.UNKNOWN_TAX_CODE,
                    f"{line} carries tax code {own_tax}, which AIQ does not know (the default is not used in its "
                    "place, so nothing posts at the wrong rate).",
                    f"Create tax code {own_tax} in AIQ (Setup > Codes Maintenance > Taxes) or correct the tax code "
                    "in Bunny; then retry.",
                )
            )
        elif not own_tax and not default_tax_known and not default_tax_reported:
            default_tax_reported = True
            problems.append(
                Problem(
                    ProblemCode.UNKNOWN_TAX_CODE,
                    f"The configured default tax code '{default_tax}' (used by {line}, which has none) does not "
                    "exist in AIQ.",
                    "Set AIQ_DEFAULT_TAX_CODE to a code from AIQ's Taxes list (e.g. V01), then retry.",
                )
            )

        tax_rate = _tax_rate(item, net, tax)
        if not ZERO <= tax_rate <= ONE:
            problems.append(
                Problem(
                    ProblemCode.INVALID_TAX_RATE,
                    f"{line} has tax rate {tax_rate * HUNDRED}%, outside AIQ's 0-100%.",
                    "Correct the line's tax in Bunny, then retry.",
                )
            )
        text = item.line_text or item.price_list_charge_code or f"Bunny invoice line {item.id}"
        lines.append(
            PlannedLine(
                gl_account_code=gl_code or "",
                tax_code=tax_code,
                description=_single_line(text) or f"Bunny invoice line {item.id}",
                net_amount=net,
                tax_rate=tax_rate,
                tax_amount=tax,
                item_id=item.id,
                gl_source=gl_source,
            )
        )

    # Totals: never post a document that does not match Bunny's
    net_total = money_sum(line.net_amount for line in lines)
    tax_total = money_sum(line.tax_amount for line in lines)
    gross_total = net_total + tax_total
    expected = {
        "net": to_cents(invoice.subtotal),
        "tax": to_cents(invoice.tax_amount),
        "gross": to_cents(invoice.amount),
    }
    actual = {"net": net_total, "tax": tax_total, "gross": gross_total}
    differing = [name for name in expected if expected[name] != actual[name]]
    if lines and differing:
        detail = ", ".join(f"{name} {actual[name]} vs Bunny {expected[name]}" for name in differing)
        problems.append(
            Problem(
                ProblemCode.TOTALS_MISMATCH,
                f"The lines of {label} do not add up to its totals ({detail}), e.g. because credits were applied "
                "on the invoice.",
                "Check the invoice in Bunny; post it by hand in AIQ with External Reference "
                f"{invoice_reference(invoice.id)} if it is right.",
            )
        )

    if problems:
        raise PreflightFailed(_unique(problems))
    assert invoice.issued_at is not None and posting is not None and rate is not None
    posting_date, period = posting
    number = invoice.number or f"id {invoice.id}"
    description = f"Bunny invoice {number}"
    if posting_date != invoice.issued_at:
        description += f", issued {invoice.issued_at.isoformat()} in Bunny"
    return PlannedInvoice(
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        customer_code=customer_code(invoice.account_id),
        customer=customer,
        currency_code=currency,
        invoice_date=posting_date,
        due_date=invoice.due_at,
        external_reference=invoice_reference(invoice.id),
        description=_single_line(description),
        exchange_rate=rate,
        lines=tuple(lines),
        net=net_total,
        tax=tax_total,
        gross=gross_total,
        period_name=period.period_name,
        financial_year=period.financial_year,
        bunny_issue_date=invoice.issued_at,
        exchange_rate_source=rate_source,
    )


def _unique(problems: list[Problem]) -> list[Problem]:
    """Drop repeats (e.g. one unmapped charge on several lines), keeping first-seen order."""
    return list(dict.fromkeys(problems))
