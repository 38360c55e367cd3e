"""Which reading of Bunny's money makes every invoice add up (aiq_pipeline/bunny/MONEY.md), from released invoices.

Four readings decide whether an invoice's totals follow from its lines, so they are judged together: every
combination is tried on every invoice, and the combinations that fit the most invoices say what the tenant shows.

- line amount: `InvoiceItem.amount` after the line's `discount` (subtotal - discount), or before it (= subtotal);
- credit lines: `isCredit` lines counted in `subtotal`, or left out of it and added to `credits`;
- subtotal (AIQ_PIPELINE_BUNNY_SUBTOTAL): the sum of the line nets (after discounts), or of the line subtotals;
- amount (AIQ_PIPELINE_BUNNY_AMOUNT): the full value (line nets + taxAmount), or that less the credit applied.

A reading is shown when every best combination agrees on it; when no invoice tells two readings apart (no
discount, no credit applied, no credit line), it is undetermined. Two more are judged line by line or document by
document: the units of `taxRate` (percent or fraction, from taxAmount / net) and whether `taxAmount` is the sum of
the lines' taxes (the product absorbs a difference up to AIQ_PIPELINE_ROUNDING_TOLERANCE). Money is Decimal and
compared in cents, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import product

from aiq_pipeline.bunny.models import Invoice, InvoiceItem
from aiq_pipeline.service.probe.findings import Finding, Verdict, examples, fixed_finding, setting_finding
from aiq_pipeline.settings import PostingRules

CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)

AFTER, BEFORE = "after_discount", "before_discount"
IN_SUBTOTAL, IN_CREDITS = "in_subtotal", "in_credits"
FULL, LESS_CREDITS = "full", "less_credits"
PERCENT, FRACTION = "percent", "fraction"

LINE, CREDIT_LINES, SUBTOTAL, AMOUNT = "line amount", "credit lines", "subtotal", "amount"
DIMENSIONS: tuple[tuple[str, tuple[str, str]], ...] = (
    (LINE, (AFTER, BEFORE)),
    (CREDIT_LINES, (IN_SUBTOTAL, IN_CREDITS)),
    (SUBTOTAL, (AFTER, BEFORE)),
    (AMOUNT, (FULL, LESS_CREDITS)),
)
Combination = tuple[str, str, str, str]  # one value per dimension, in DIMENSIONS order


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _discount(item: InvoiceItem) -> Decimal:
    return item.discount or ZERO


def line_net(item: InvoiceItem, line_reading: str | None) -> Decimal:
    """The line's net under a line-amount reading (the product's, after discount, when it is undetermined)."""
    return cents(item.subtotal - _discount(item)) if line_reading == BEFORE else cents(item.amount)


def adds_up(invoice: Invoice, combination: Combination) -> bool:
    """Whether `invoice`'s lines and totals agree under one combination of the four readings."""
    line, credit_lines, subtotal, amount = combination
    items = invoice.items
    for item in items:
        shown = cents(item.amount)
        expected = cents(item.subtotal - _discount(item)) if line == AFTER else cents(item.subtotal)
        if shown != expected:
            return False
    nets = {item.id: line_net(item, line) for item in items}
    counted = [i for i in items if credit_lines == IN_SUBTOTAL or not i.is_credit]
    credit_net = sum((nets[i.id] for i in items if i.is_credit), ZERO)
    applied = cents(invoice.credits or ZERO)
    if credit_lines == IN_CREDITS:
        applied += credit_net  # credits = applied - (the credit lines' nets, negative)
        if applied < ZERO:
            return False
    wanted_subtotal = sum((nets[i.id] if subtotal == AFTER else cents(i.subtotal) for i in counted), ZERO)
    if cents(invoice.subtotal) != wanted_subtotal:
        return False
    gross = sum(nets.values(), ZERO) + cents(invoice.tax_amount)
    return cents(invoice.amount) == (gross if amount == FULL else gross - applied)


@dataclass(frozen=True)
class DimensionFit:
    """One reading of the four: what the invoices show, and how many add up under each value."""

    name: str
    readings: tuple[str, str]
    shown: str | None  # None: undetermined
    fits: dict[str, int]  # value -> invoices adding up under it (with the best values of the other readings)


@dataclass(frozen=True)
class MoneyFit:
    total: int
    dimensions: dict[str, DimensionFit]
    fit_none: tuple[str, ...]  # invoices that add up under no combination
    off_best: tuple[str, ...]  # invoices that add up, but not under the combination most invoices follow


def money_fit(invoices: Sequence[Invoice]) -> MoneyFit:
    combinations: list[Combination] = list(product(*(values for _name, values in DIMENSIONS)))  # type: ignore[arg-type]
    fitting = {c: frozenset(inv.id for inv in invoices if adds_up(inv, c)) for c in combinations}
    best_count = max(len(ids) for ids in fitting.values())
    best = [c for c in combinations if len(fitting[c]) == best_count]
    union = frozenset().union(*fitting.values())
    common = frozenset.intersection(*(fitting[c] for c in best)) if best else frozenset()
    order = [inv.id for inv in invoices]
    dimensions: dict[str, DimensionFit] = {}
    for index, (name, values) in enumerate(DIMENSIONS):
        seen = {c[index] for c in best}
        shown = next(iter(seen)) if len(seen) == 1 and best_count > 0 else None
        fits = {v: max(len(fitting[c]) for c in combinations if c[index] == v) for v in values}
        dimensions[name] = DimensionFit(name, values, shown, fits)
    return MoneyFit(
        total=len(invoices),
        dimensions=dimensions,
        fit_none=tuple(i for i in order if i not in union),
        off_best=tuple(i for i in order if i in union and i not in common),
    )


def _fit_evidence(fit: MoneyFit, dimension: DimensionFit) -> str:
    counts = ", ".join(f"{value} adds up {dimension.fits[value]}" for value in dimension.readings)
    text = f"{fit.total} invoices: {counts}"
    if dimension.shown is None and fit.total:
        text += " (no invoice tells them apart)" if any(dimension.fits.values()) else " (no reading fits any)"
    if fit.fit_none:
        text += f"; no reading fits {len(fit.fit_none)}: {examples(fit.fit_none)}"
    if fit.off_best:
        text += f"; {len(fit.off_best)} follow another reading: {examples(fit.off_best)}"
    return text


# -- tax rate units ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitsFit:
    shown: str | None
    only: dict[str, int]  # invoices only this unit explains
    both: int  # invoices either explains (no taxed line, or rates of 0)
    fit_none: tuple[str, ...]
    lines: int  # taxed lines checked


def _tax_fits(net: Decimal, rate: Decimal, tax: Decimal, scale: Decimal) -> bool:
    return abs(cents(net * rate / scale) - cents(tax)) <= CENT


def tax_rate_units(invoices: Sequence[Invoice], line_reading: str | None) -> UnitsFit:
    """Percent (23) or fraction (0.23): the unit in which every taxed line's taxAmount / net equals its taxRate."""
    only = {PERCENT: 0, FRACTION: 0}
    both = lines = 0
    none: list[str] = []
    for invoice in invoices:
        percent = fraction = True
        for item in invoice.items:
            net = line_net(item, line_reading)
            if item.tax_rate is None or item.tax_rate == 0 or net == 0:
                continue
            lines += 1
            percent &= _tax_fits(net, item.tax_rate, item.tax_amount, HUNDRED)
            fraction &= _tax_fits(net, item.tax_rate, item.tax_amount, Decimal(1))
        if percent and fraction:
            both += 1
        elif percent or fraction:
            only[PERCENT if percent else FRACTION] += 1
        else:
            none.append(invoice.id)
    shown = None
    if only[PERCENT] and not only[FRACTION]:
        shown = PERCENT
    elif only[FRACTION] and not only[PERCENT]:
        shown = FRACTION
    return UnitsFit(shown, only, both, tuple(none), lines)


# -- document tax -----------------------------------------------------------------------------------------------


def tax_differences(invoices: Sequence[Invoice]) -> dict[str, Decimal]:
    """Invoice id -> taxAmount less the sum of its lines' taxes, for the invoices where it is not zero."""
    found: dict[str, Decimal] = {}
    for invoice in invoices:
        difference = cents(invoice.tax_amount) - sum((cents(i.tax_amount) for i in invoice.items), ZERO)
        if difference:
            found[invoice.id] = difference
    return found


# -- findings ---------------------------------------------------------------------------------------------------


def money_findings(invoices: Sequence[Invoice], rules: PostingRules) -> list[Finding]:
    """The six money findings over these invoices, judged against the product's settings."""
    fit = money_fit(invoices)
    dims = fit.dimensions
    line = dims[LINE]
    findings = [
        fixed_finding(
            "Bunny line amount",
            line.shown,
            _fit_evidence(fit, line),
            AFTER,
            fix="no setting covers this: the product posts InvoiceItem.amount as the line's net, which here is before "
            "the line's discount (the totals check stops most such invoices, not all); do not switch the sensor on, "
            "and report it to the maintainers",
        ),
        fixed_finding(
            "Bunny credit lines",
            dims[CREDIT_LINES].shown,
            _fit_evidence(fit, dims[CREDIT_LINES]),
            IN_SUBTOTAL,
            fix="no setting covers this: invoices with credit lines will stop as TOTALS_MISMATCH (nothing posts "
            "wrongly); report it to the maintainers",
        ),
        setting_finding(
            "Bunny subtotal",
            dims[SUBTOTAL].shown,
            _fit_evidence(fit, dims[SUBTOTAL]),
            "AIQ_PIPELINE_BUNNY_SUBTOTAL",
            rules.bunny_subtotal,
        ),
        setting_finding(
            "Bunny amount",
            dims[AMOUNT].shown,
            _fit_evidence(fit, dims[AMOUNT]),
            "AIQ_PIPELINE_BUNNY_AMOUNT",
            rules.bunny_amount,
        ),
    ]
    findings.append(_units_finding(invoices, line.shown, rules))
    findings.append(_rounding_finding(invoices, rules))
    return findings


def _units_finding(invoices: Sequence[Invoice], line_reading: str | None, rules: PostingRules) -> Finding:
    units = tax_rate_units(invoices, line_reading)
    evidence = (
        f"{len(invoices)} invoices, {units.lines} taxed lines: only percent explains {units.only[PERCENT]}, "
        f"only fraction {units.only[FRACTION]}, either {units.both}"
    )
    if units.fit_none:
        evidence += f"; neither fits {len(units.fit_none)}: {examples(units.fit_none)}"
    variable = "AIQ_PIPELINE_BUNNY_TAX_RATE_UNITS"
    return setting_finding("Bunny taxRate units", units.shown, evidence, variable, rules.bunny_tax_rate_units)


def _rounding_finding(invoices: Sequence[Invoice], rules: PostingRules) -> Finding:
    """Agrees while every difference between taxAmount and the lines' taxes is within the rounding tolerance."""
    reading, variable = "Bunny document tax", "AIQ_PIPELINE_ROUNDING_TOLERANCE"
    tolerance = rules.rounding_tolerance
    setting = f"{variable}={tolerance}"
    differences = tax_differences(invoices)
    if not differences:
        evidence = f"{len(invoices)} invoices: taxAmount is the sum of the lines' taxes in every one"
        return Finding(reading, "sum of lines", evidence, setting, Verdict.AGREES)
    largest = max(abs(d) for d in differences.values())
    evidence = (
        f"{len(invoices)} invoices: taxAmount differs from the sum of the lines' taxes in {len(differences)} "
        f"(largest {largest}): {examples(differences)}"
    )
    shows = "rounded per document"
    if largest <= tolerance:
        return Finding(reading, shows, evidence, setting, Verdict.AGREES)
    if largest <= Decimal(1):  # the most the setting allows
        return Finding(reading, shows, evidence, setting, Verdict.CONTRADICTS, variable=variable, wanted=str(largest))
    fix = f"a difference of {largest} is more than rounding: check those invoices' tax in Bunny"
    return Finding(reading, "differs", evidence, setting, Verdict.CONTRADICTS, fix=fix)
