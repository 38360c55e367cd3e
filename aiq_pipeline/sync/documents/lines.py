"""Invoice lines as AIQ sees them: each Bunny line's amounts, revenue account and tax code, or why not.

- Amounts: line net = item `amount` (after its discount), line tax = item `tax_amount`, both Decimal cents sent
  explicitly, so AIQ never recomputes tax. Negative lines (proration credits, coupons, goodwill credits) are kept
  signed here; `netting` decides how they reach AIQ, whose lines must be >= 0.
- Account: the line's price-list charge's account from the GL mapping, else the entity default.
- Tax code: from the finance team's tax mapping (`sync.tax`), else the line's own code when AIQ knows it, else the
  configured default when the line has no code and its rate is the default's. The line's rate must then equal the
  AIQ code's rate (TAX_RATE_MISMATCH otherwise): a line never posts at a rate Bunny did not charge.
- Text: XML-safe, single-line, within AIQ's limits (`sync.text`); every change is a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from aiq_pipeline.sync.documents.context import PlanContext
from aiq_pipeline.sync.gl_mapping import account_problem
from aiq_pipeline.sync.inputs import BunnyInvoice, BunnyInvoiceItem
from aiq_pipeline.sync.money import CENT, ZERO, to_cents
from aiq_pipeline.sync.problems import Problem, ProblemCode
from aiq_pipeline.sync.tax import HUNDRED, percent, rates_agree
from aiq_pipeline.sync.text import clean_text

DESCRIPTION_LIMIT = 500  # AIQ: header and line Description not null, <= 500 (protocol-notes §4.5)
RATE_PLACES = Decimal("0.000001")


def single_line(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    return clean_text(text, limit).value


def invoice_label(invoice: BunnyInvoice) -> str:
    return f"Bunny invoice {invoice.number} (id {invoice.id})" if invoice.number else f"Bunny invoice id {invoice.id}"


def line_label(invoice: BunnyInvoice, item: BunnyInvoiceItem) -> str:
    what = f" '{single_line(item.line_text, 60)}'" if item.line_text else ""
    return f"line {item.id}{what} of {invoice_label(invoice)}"


@dataclass(frozen=True)
class ResolvedLine:
    """One Bunny line with its AIQ account and tax code; amounts signed as Bunny has them."""

    item_id: str
    description: str
    net: Decimal
    tax: Decimal
    gl_account_code: str
    gl_source: str  # charge | default
    tax_code: str
    tax_rate: Decimal  # fraction, 0..1
    notes: tuple[str, ...] = ()


def resolve_lines(invoice: BunnyInvoice, ctx: PlanContext) -> tuple[list[ResolvedLine], list[Problem]]:
    """Every line of `invoice` with its account and tax code, and every problem found on the way."""
    lines: list[ResolvedLine] = []
    problems: list[Problem] = []
    default_tax = _DefaultTax(ctx)
    for item in invoice.items:
        label = line_label(invoice, item)
        net, tax = to_cents(item.amount), to_cents(item.tax_amount)
        if (net < 0) != (tax < 0) and net != 0 and tax != 0:
            problems.append(_mixed_signs(label, net, tax))
        gl_code, gl_source, found = _account(item, label, ctx)
        problems += found
        tax_code, rate, found = _tax(invoice, item, label, ctx, default_tax, net, tax)
        problems += found
        text = clean_text(
            item.line_text or item.price_list_charge_code or f"Bunny invoice line {item.id}", DESCRIPTION_LIMIT
        )
        note = text.note(f"line {item.id} description")
        lines.append(
            ResolvedLine(
                item_id=item.id,
                description=text.value or f"Bunny invoice line {item.id}",
                net=net,
                tax=tax,
                gl_account_code=gl_code or "",
                gl_source=gl_source,
                tax_code=tax_code,
                tax_rate=rate,
                notes=(note,) if note else (),
            )
        )
    return lines, problems


def _mixed_signs(label: str, net: Decimal, tax: Decimal) -> Problem:
    return Problem(
        ProblemCode.NEGATIVE_LINE,
        f"{label} has net {net} and tax {tax}, of opposite signs; no AIQ line can carry that.",
        "Correct the line's tax in Bunny, then retry.",
    )


def _account(item: BunnyInvoiceItem, label: str, ctx: PlanContext) -> tuple[str | None, str, list[Problem]]:
    """(AIQ account code, where it came from, problems) for one line."""
    mapping = ctx.mapping
    if item.price_list_charge_id is not None:
        row = mapping.for_charge(item.price_list_charge_id)
        if row is None:
            return (
                None,
                "",
                [
                    Problem(
                        ProblemCode.UNMAPPED_CHARGE,
                        f"{label} uses price-list charge {item.price_list_charge_code or item.price_list_charge_id}, "
                        "which is not in the GL mapping snapshot.",
                        "Refresh the GL mapping (materialize it again), then retry.",
                    )
                ],
            )
        if row.problem is not None:
            return None, "", [row.problem]
        return row.account_code, row.source or "", []
    if mapping.default_problem is not None:
        return None, "", [mapping.default_problem]
    code = mapping.default_account_code
    # validate_gl_mapping checked the default already; check again in case the mapping was not validated
    if code is not None and (found := account_problem(code, ctx.ledger.accounts, used_by=label)):
        return None, "", [found]
    return code, "default", []


class _DefaultTax:
    """The configured default tax code, reported once per document when AIQ does not know it."""

    def __init__(self, ctx: PlanContext) -> None:
        self.code = ctx.settings.default_tax_code.strip().upper()
        self.known = self.code in ctx.ledger.tax_codes
        self.reported = False

    def problem(self, label: str) -> list[Problem]:
        if self.known or self.reported:
            return []
        self.reported = True
        return [
            Problem(
                ProblemCode.UNKNOWN_TAX_CODE,
                f"The configured default tax code '{self.code}' (used by {label}, which has none) does not exist in "
                "AIQ.",
                "Set AIQ_DEFAULT_TAX_CODE to a code from AIQ's Taxes list (e.g. V01), then retry.",
            )
        ]


def _bunny_percent(item: BunnyInvoiceItem, ctx: PlanContext) -> Decimal | None:
    if item.tax_rate is None:
        return None
    return percent(Decimal(item.tax_rate), units=ctx.settings.readings.tax_rate_units)


def _charges_rate(net: Decimal, tax: Decimal, rate_percent: Decimal) -> bool:
    """Whether `tax` is `net` at `rate_percent`, to the cent (a line's tax is rounded on its own)."""
    expected = (abs(net) * rate_percent / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
    return abs(expected - abs(tax)) <= CENT


def _tax(
    invoice: BunnyInvoice,
    item: BunnyInvoiceItem,
    label: str,
    ctx: PlanContext,
    default: _DefaultTax,
    net: Decimal,
    tax: Decimal,
) -> tuple[str, Decimal, list[Problem]]:
    """(AIQ tax code, rate as a fraction, problems) for one line."""
    bunny_percent = _bunny_percent(item, ctx)

    def line_rate_is(rate_percent: Decimal) -> bool:
        if bunny_percent is not None:
            return rates_agree(bunny_percent, rate_percent)
        return net != ZERO and _charges_rate(net, tax, rate_percent)

    country = invoice.account.billing_country if invoice.account else None
    rule = ctx.settings.tax_mapping.resolve(
        tax_code=item.tax_code, vat_code=item.vat_code, rate_matches=line_rate_is, country=country
    )
    own = (item.tax_code or "").strip().upper()
    if rule is not None:
        code = rule.aiq_tax_code
    elif own and own in ctx.ledger.tax_codes:
        code = own
    elif own:
        return own, ZERO, [_unmapped_code(label, own, bunny_percent)]
    else:
        code = default.code
        if not default.known:
            return code, ZERO, default.problem(label)  # reported once per document
    aiq_percent = ctx.ledger.tax_rates.get(code)
    if code not in ctx.ledger.tax_codes or aiq_percent is None:
        return code, ZERO, [_unknown_mapped_code(label, code)]
    rate = (aiq_percent / HUNDRED).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    if (net != ZERO or bunny_percent is not None) and not line_rate_is(aiq_percent):
        return code, rate, [_rate_mismatch(label, code, aiq_percent, bunny_percent, net, tax, via_default=not own)]
    return code, rate, []


def _unmapped_code(label: str, code: str, bunny_percent: Decimal | None) -> Problem:
    rate = f" (rate {bunny_percent}%)" if bunny_percent is not None else ""
    return Problem(
        ProblemCode.UNKNOWN_TAX_CODE,
        f"{label} carries Bunny tax code {code}{rate}, which no rule of the tax mapping maps and which AIQ does not "
        "know (the default is not used in its place, so nothing posts at the wrong rate).",
        f"Add a rule for Bunny tax code {code} to the tax mapping (AIQ_PIPELINE_TAX_MAPPING), or create tax code "
        f"{code} in AIQ (Setup > Codes Maintenance > Taxes); then retry.",
    )


def _unknown_mapped_code(label: str, code: str) -> Problem:
    return Problem(
        ProblemCode.UNKNOWN_TAX_CODE,
        f"{label} maps to AIQ tax code {code}, which AIQ does not know.",
        f"Create tax code {code} in AIQ (Setup > Codes Maintenance > Taxes), or correct the tax mapping; then retry.",
    )


def _rate_mismatch(
    label: str,
    code: str,
    aiq_percent: Decimal,
    bunny_percent: Decimal | None,
    net: Decimal,
    tax: Decimal,
    *,
    via_default: bool,
) -> Problem:
    bunny = f"{bunny_percent}%" if bunny_percent is not None else f"tax {tax} on net {net}"
    how = "the default tax code, for a line without one," if via_default else "its AIQ tax code"
    return Problem(
        ProblemCode.TAX_RATE_MISMATCH,
        f"{label} is taxed at {bunny} in Bunny, but {how} {code} is {aiq_percent}% in AIQ.",
        "Add a tax-mapping rule (AIQ_PIPELINE_TAX_MAPPING) sending this line's tax code or rate to an AIQ code at "
        "the same rate (e.g. a 0 % code for export or reverse-charge lines), or correct the line in Bunny; then "
        "retry.",
    )
