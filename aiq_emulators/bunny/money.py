"""What the emulator shows for Bunny's money and state fields, computed from the money table.

The table is `aiq_pipeline/bunny/MONEY.md`. The stored documents hold economic facts (`models.py`): quantities,
unit prices, discounts, tax rates as percentages, credit applied, money received. This module turns them into
the SDL's fields under `EmulatorOptions`, one value per UNVERIFIED reading, so that a test can run the product
against every reading a real tenant might follow. The row of the table each rule implements is named beside it.
Nothing here depends on what the product's client expects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aiq_emulators.bunny.models import CENT, EmulatorOptions, Invoice, InvoiceItem, cents

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

# Bunny stores a country as free text ("Country for billing"); these are the names shown under
# country_format="name" for the codes the emulator's tenants use. Any other code is shown as given.
COUNTRY_NAMES = {
    "AT": "Austria", "AU": "Australia", "BE": "Belgium", "BG": "Bulgaria", "CA": "Canada", "CH": "Switzerland",
    "CY": "Cyprus", "CZ": "Czech Republic", "DE": "Germany", "DK": "Denmark", "EE": "Estonia", "ES": "Spain",
    "FI": "Finland", "FR": "France", "GB": "United Kingdom", "GR": "Greece", "HR": "Croatia", "HU": "Hungary",
    "IE": "Ireland", "IT": "Italy", "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia", "MT": "Malta",
    "NL": "Netherlands", "NO": "Norway", "NZ": "New Zealand", "PL": "Poland", "PT": "Portugal", "RO": "Romania",
    "SE": "Sweden", "SI": "Slovenia", "SK": "Slovakia", "US": "United States",
}  # fmt: skip


@dataclass(frozen=True)
class ShownItem:
    """One invoice line as GraphQL shows it."""

    item: InvoiceItem  # the stored line: ids, texts, flags
    subtotal: Decimal  # InvoiceItem.subtotal: quantity x price, before discount
    discount: Decimal  # InvoiceItem.discount
    net: Decimal  # subtotal - discount (the economic value of the line, whatever `amount` shows)
    amount: Decimal  # InvoiceItem.amount, per `item_amount_semantics`
    tax: Decimal  # InvoiceItem.taxAmount
    tax_rate: Decimal | None  # InvoiceItem.taxRate, per `tax_rate_units`
    tax_code: str | None  # InvoiceItem.taxCode, per `tax_code_source`
    proration_rate: Decimal | None  # InvoiceItem.prorationRate, per `proration_rate_units`


@dataclass(frozen=True)
class ShownInvoice:
    """An invoice's money and state fields as GraphQL shows them."""

    state: str
    items: tuple[ShownItem, ...]
    subtotal: Decimal
    tax_amount: Decimal
    amount: Decimal
    credits: Decimal
    amount_paid: Decimal
    amount_due: Decimal
    tax_rate: Decimal | None
    coupon_applied: bool
    gross: Decimal  # what the customer owes before credit applied: every line's net plus tax


def shown_rate(percent: Decimal | None, units: str) -> Decimal | None:
    """A percentage (23) as Bunny shows it: 23 under "percent", 0.23 under "fraction" (rows taxRate)."""
    if percent is None:
        return None
    return percent if units == "percent" else percent / HUNDRED


def shown_country(code: str | None, options: EmulatorOptions) -> str | None:
    """Row Account.billingCountry: the stored ISO code, or its English name under country_format="name"."""
    if code is None or options.country_format == "alpha2":
        return code
    return COUNTRY_NAMES.get(code.upper(), code)


def _coupon_spread(items: Sequence[InvoiceItem]) -> dict[str, Decimal]:
    """coupon_shape="discount": each coupon line's value moves into the discount of the positive lines, in
    proportion to their nets (largest line takes the rounding). item id -> extra discount."""
    coupons = [i for i in items if i.is_coupon]
    targets = [i for i in items if not i.is_coupon and i.net > 0]
    extra: dict[str, Decimal] = {}
    if not coupons or not targets:
        return extra
    value = -sum((c.net for c in coupons), ZERO)
    base = sum((t.net for t in targets), ZERO)
    value = min(value, base)  # a coupon worth more than the purchase leaves zero, the rest is discarded
    for target in targets:
        extra[target.id] = cents(value * target.net / base)
    largest = max(targets, key=lambda t: t.net)
    extra[largest.id] += value - sum(extra.values(), ZERO)
    return extra


def _line_tax(item: InvoiceItem, net: Decimal) -> Decimal:
    if item.tax_amount is not None:
        return item.tax if net == item.net or item.net == 0 else cents(item.tax * net / item.net)
    if item.tax_rate is not None:
        return cents(net * item.tax_rate / HUNDRED)
    return ZERO


def shown_items(
    invoice: Invoice, options: EmulatorOptions, charge_tax_code: Callable[[str], str | None]
) -> tuple[ShownItem, ...]:
    """Rows InvoiceItem.subtotal / discount / amount / taxAmount / taxRate / taxCode / prorationRate / isCoupon."""
    spread = _coupon_spread(invoice.items) if options.coupon_shape == "discount" else {}
    shown: list[ShownItem] = []
    for item in invoice.items:
        if item.is_coupon and options.coupon_shape == "discount":
            continue  # its value now sits in the other lines' discounts
        discount = cents(item.discount + spread.get(item.id, ZERO))
        net = cents(item.subtotal - discount)
        shown.append(
            ShownItem(
                item=item,
                subtotal=item.subtotal,
                discount=discount,
                net=net,
                amount=net if options.item_amount_semantics == "after_discount" else item.subtotal,
                tax=_line_tax(item, net),
                tax_rate=shown_rate(item.tax_rate, options.tax_rate_units),
                tax_code=charge_tax_code(item.price_list_charge_id)
                if options.tax_code_source == "charge"
                else item.tax_code,
                proration_rate=None
                if item.proration_rate is None
                else item.proration_rate * (HUNDRED if options.proration_rate_units == "percent" else 1),
            )
        )
    return tuple(shown)


def _common_rate(items: Sequence[ShownItem]) -> Decimal | None:
    """Row Invoice.taxRate: the one rate every taxed line shares; null when lines differ or none is taxed."""
    rates = {i.tax_rate for i in items if i.tax_rate is not None and i.net != 0}
    return rates.pop() if len(rates) == 1 else None


def _document_tax(items: Sequence[ShownItem]) -> Decimal:
    """Row Invoice.taxAmount under tax_rounding="per_document": the net at each rate taxed and rounded once; a
    line with a given tax amount (a tax engine's) keeps it."""
    by_rate: dict[Decimal, Decimal] = {}
    given = ZERO
    for line in items:
        if line.item.tax_amount is None and line.item.tax_rate is not None:
            by_rate[line.item.tax_rate] = by_rate.get(line.item.tax_rate, ZERO) + line.net
        else:
            given += line.tax
    return given + sum((cents(net * rate / HUNDRED) for rate, net in by_rate.items()), ZERO)


def shown_state(invoice: Invoice, options: EmulatorOptions) -> str:
    """Row Invoice.state under consolidation: components are stored CONSOLIDATED, the combined invoice in its
    own lifecycle state; under "combined_consolidated" components show MERGED and the combined one CONSOLIDATED
    until it is paid or voided."""
    if options.consolidation == "components_consolidated":
        return invoice.state
    if invoice.merged_to_invoice_id is not None and invoice.state == "CONSOLIDATED":
        return "MERGED"
    if invoice.merged_invoice_ids and invoice.state not in ("PAID", "VOIDED"):
        return "CONSOLIDATED"
    return invoice.state


def invoice_figures(
    invoice: Invoice,
    options: EmulatorOptions,
    *,
    written_off: Decimal = ZERO,
    charge_tax_code: Callable[[str], str | None] = lambda _charge: None,
) -> ShownInvoice:
    """Rows Invoice.subtotal / taxAmount / amount / credits / amountPaid / amountDue / taxRate / couponApplied."""
    items = shown_items(invoice, options, charge_tax_code)
    credit_lines = [i for i in items if i.item.is_credit] if options.credit_lines == "in_credits" else []
    counted = [i for i in items if i not in credit_lines]
    before_discount = options.subtotal_semantics == "before_discount"
    subtotal = sum((i.subtotal if before_discount else i.net for i in counted), ZERO)
    tax_amount = _document_tax(items) if options.tax_rounding == "per_document" else sum((i.tax for i in items), ZERO)
    gross = sum((i.net for i in items), ZERO) + tax_amount
    applied = cents(invoice.credits_applied)
    credits = applied - sum((i.net for i in credit_lines), ZERO)
    amount = gross - applied if options.amount_includes_credits else gross
    paid = amount_paid(invoice, gross, written_off)
    due = ZERO
    if invoice.state != "VOIDED" and invoice.merged_to_invoice_id is None:
        due = max(ZERO, gross - applied - paid - written_off)
    return ShownInvoice(
        state=shown_state(invoice, options),
        items=items,
        subtotal=subtotal,
        tax_amount=tax_amount,
        amount=amount,
        credits=credits,
        amount_paid=paid,
        amount_due=due,
        tax_rate=_common_rate(items),
        coupon_applied=any(i.is_coupon for i in invoice.items),
        gross=gross,
    )


def amount_paid(invoice: Invoice, gross: Decimal, written_off: Decimal = ZERO) -> Decimal:
    """Row Invoice.amountPaid: money received; a fixture's PAID invoice without figures was paid in full."""
    if invoice.amount_paid is not None:
        return cents(invoice.amount_paid)
    if invoice.state == "PAID":
        return max(ZERO, gross - cents(invoice.credits_applied) - written_off)
    return ZERO


def allocate(lines: Sequence[tuple[str, Decimal, Decimal]], target: Decimal) -> list[tuple[str, Decimal, Decimal]]:
    """Split `target` (a gross amount) over the positive lines `(item id, net, tax)` in one proportion, so each
    line keeps its own tax rate; rounding goes to the largest line, and the shares add up to `target` exactly.

    Credit notes are written per invoice line (Bunny's docs, credit notes page); this is how the emulator picks
    the lines for a write-off of "the total unpaid amount" or a refund without amounts per line."""
    positive = [(item_id, net, tax) for item_id, net, tax in lines if net > 0]
    base = sum((net + tax for _id, net, tax in positive), ZERO)
    if target <= 0 or base <= 0:
        return []
    ratio = min(Decimal(1), target / base)
    shares = [(item_id, cents(net * ratio), cents(tax * ratio)) for item_id, net, tax in positive]
    rest = target.quantize(CENT) - sum((n + t for _id, n, t in shares), ZERO)
    if rest:
        index = max(range(len(shares)), key=lambda n: shares[n][1])
        item_id, net, tax = shares[index]
        shares[index] = (item_id, net + rest, tax)
    return [share for share in shares if share[1] + share[2] != 0]
