"""The demo tenant's invoices, before ids and numbers: their lines (subscription, API usage, services), their
state as of AS_OF, and the handful planted to fail for one explained reason each.

Draws come from the generator's one seeded random, in a fixed order (see customers.py).
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from aiq_emulators.bunny.models import InvoiceItem, InvoiceStateName, cents
from aiq_emulators.bunny.sample_tenant import API_USAGE, LEGACY_ADDON, PRO_SERVICES, SUB_MONTHLY
from aiq_emulators.demo_tenant.customers import Customer, Customers, stamp
from aiq_emulators.demo_tenant.vocabulary import (
    AS_OF,
    CALL_PRICE,
    CLOSED_PERIOD,
    CLOSED_PERIOD_DAYS,
    CURRENCY_MISMATCH,
    DAY_RATE,
    EUR,
    FIRST_ISSUE_DAY,
    LAST_ISSUE_DAY,
    NEGATIVE_LINE,
    NOT_POSTING_ACCOUNT,
    PLANS,
    UNKNOWN_TAX_CODE,
)

Lines = Callable[[Customer, dt.date], list[InvoiceItem]]


@dataclass
class Draft:
    """An invoice before ids and numbers are assigned (they follow creation and issue order)."""

    customer: Customer
    state: InvoiceStateName
    issued: dt.date
    created: dt.datetime
    updated: dt.datetime
    items: list[InvoiceItem]
    due: dt.date | None = None
    paid_at: dt.datetime | None = None
    failure: str | None = None
    notes: list[str] = field(default_factory=list)


def money(value: str | Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _month(day: dt.date) -> tuple[dt.date, dt.date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


class InvoiceMaker:
    def __init__(self, rng: random.Random, total: int) -> None:
        self.rng = rng
        self.total = total

    def invoices(self, customers: Customers) -> list[Draft]:
        """The planted failures first, then regular released invoices, voided ones, drafts (late November)
        and entity 2's; a few big customers get most invoices."""
        rng = self.rng
        weights = [min(rng.paretovariate(1.5), 12.0) for _ in customers.main]

        def pick() -> Customer:
            return rng.choices(customers.main, weights)[0]

        drafts = self._planted(customers)
        remaining = self.total - len(drafts)
        n_other = max(2, remaining // 25)
        n_draft = max(2, remaining * 3 // 100)
        n_void = max(1, remaining * 3 // 200)
        for _ in range(remaining - n_other - n_draft - n_void):
            customer, day = pick(), self._day()
            drafts.append(self._released(customer, day, self._lines(customer, day)))
        drafts += [self._voided(pick()) for _ in range(n_void)]
        drafts += [self._draft(pick()) for _ in range(n_draft)]
        for _ in range(n_other):
            customer, day = rng.choice(customers.other), self._day()
            drafts.append(self._released(customer, day, self._lines(customer, day)))
        return drafts

    # -- the planted failures: one problem each, so the reason code is predictable ------------------------

    def _planted(self, customers: Customers) -> list[Draft]:
        eur_main = [c for c in customers.main if c.account.currency_id == EUR and c.tax == "standard"]
        drafts: list[Draft] = []

        def planted(reason: str, lines: Lines, day: dt.date | None = None, customer: Customer | None = None) -> None:
            customer = customer or self.rng.choice(eur_main)
            day = day or self._day(dt.date(2026, 9, 1))
            drafts.append(self._released(customer, day, lines(customer, day), failure=reason))

        planted(NOT_POSTING_ACCOUNT, self._legacy_addon(with_subscription=True))
        planted(NOT_POSTING_ACCOUNT, self._legacy_addon(with_subscription=False))
        planted(UNKNOWN_TAX_CODE, self._unknown_tax_code)
        planted(UNKNOWN_TAX_CODE, self._unknown_tax_code)
        for day in CLOSED_PERIOD_DAYS:
            planted(CLOSED_PERIOD, self._subscription_only, day=day)
        planted(CURRENCY_MISMATCH, self._subscription_only, customer=customers.mismatch)
        planted(NEGATIVE_LINE, self._goodwill_credit)
        return drafts

    def _legacy_addon(self, *, with_subscription: bool) -> Lines:
        def lines(customer: Customer, day: dt.date) -> list[InvoiceItem]:
            addon = self._item(customer, LEGACY_ADDON, 1, money("10.00"), "Legacy add-on (reporting pack)")
            return ([self._subscription(customer, day)] if with_subscription else []) + [addon]

        return lines

    def _unknown_tax_code(self, customer: Customer, day: dt.date) -> list[InvoiceItem]:
        usage = self._usage(customer, day)
        usage.tax_code = "V99"  # a code someone typed in Bunny; AIQ has no such tax code
        return [self._subscription(customer, day), usage]

    def _subscription_only(self, customer: Customer, day: dt.date) -> list[InvoiceItem]:
        return [self._subscription(customer, day)]

    def _goodwill_credit(self, customer: Customer, day: dt.date) -> list[InvoiceItem]:
        """A goodwill credit whose tax was keyed with the wrong sign: net -20.00, tax +4.60. The sync nets a credit
        line against the charges on its account and tax code, but no AIQ line carries a net and a tax of opposite
        signs."""
        goodwill = self._item(customer, SUB_MONTHLY, 1, money("-20.00"), "Goodwill credit (service outage)")
        assert goodwill.tax_amount is not None
        goodwill.tax_amount = abs(goodwill.tax_amount)
        return [self._subscription(customer, day), goodwill]

    # -- states ---------------------------------------------------------------------------------------------

    def _day(self, start: dt.date = FIRST_ISSUE_DAY, end: dt.date = LAST_ISSUE_DAY) -> dt.date:
        return start + dt.timedelta(days=self.rng.randrange((end - start).days + 1))

    def _released(
        self, customer: Customer, day: dt.date, items: list[InvoiceItem], failure: str | None = None
    ) -> Draft:
        """A released invoice whose state follows its due date and payment as of AS_OF."""
        rng = self.rng
        created = stamp(day, rng.randrange(0, 180))
        due = day + dt.timedelta(days=customer.account.net_payment_days)
        as_of = AS_OF.date()
        paid_at = None
        state: InvoiceStateName
        if due > as_of:
            state = "PAID" if rng.random() < 0.25 else "NOT_DUE"
        else:
            state = "PAID" if rng.random() < 0.86 else "DUE"
        if state == "PAID":
            paid_day = min(day + dt.timedelta(days=rng.randint(2, customer.account.net_payment_days + 10)), as_of)
            paid_at = min(stamp(paid_day, rng.randrange(60, 600)), AS_OF)
            paid_at = max(paid_at, created + dt.timedelta(minutes=5))
        updated = paid_at or created + dt.timedelta(minutes=rng.randrange(1, 30))
        return Draft(customer, state, day, created, updated, items, due=due, paid_at=paid_at, failure=failure)

    def _voided(self, customer: Customer) -> Draft:
        """Released, then voided one to three days later."""
        day = self._day()
        draft = self._released(customer, day, self._lines(customer, day))
        draft.state, draft.paid_at = "VOIDED", None
        draft.updated = draft.created + dt.timedelta(days=self.rng.randint(1, 3), minutes=self.rng.randrange(600))
        draft.updated = min(draft.updated, AS_OF)
        return draft

    def _draft(self, customer: Customer) -> Draft:
        """Not released yet, carrying its planned issue date in the last days before AS_OF."""
        day = self._day(AS_OF.date() - dt.timedelta(days=3))
        created = min(stamp(day, self.rng.randrange(0, 600)), AS_OF)
        return Draft(customer, "DRAFT", day, created, created, self._lines(customer, day))

    # -- lines ----------------------------------------------------------------------------------------------

    def _lines(self, customer: Customer, day: dt.date) -> list[InvoiceItem]:
        rng = self.rng
        items: list[InvoiceItem] = []
        if rng.random() < 0.9:
            items.append(self._subscription(customer, day))
        if customer.uses_api and rng.random() < 0.9:
            items.append(self._usage(customer, day))
        if rng.random() < 0.18 or not items:
            items.append(self._services(customer))
        return items

    def _subscription(self, customer: Customer, day: dt.date) -> InvoiceItem:
        name, price = PLANS[customer.account.currency_id][customer.plan]
        price_d = money(price)
        discount = cents(price_d * customer.seats * customer.discount)
        text = f"{name} plan, {customer.seats} seat{'s' if customer.seats > 1 else ''} ({day:%B %Y})"
        return self._item(customer, SUB_MONTHLY, customer.seats, price_d, text, discount=discount, period=_month(day))

    def _usage(self, customer: Customer, day: dt.date) -> InvoiceItem:
        calls = self.rng.randrange(1, 400) * 250
        price = money(CALL_PRICE[customer.account.currency_id])
        return self._item(customer, API_USAGE, calls, price, f"API calls ({calls:,})", period=_month(day))

    def _services(self, customer: Customer) -> InvoiceItem:
        days = self.rng.randint(1, 6)
        price = money(DAY_RATE[customer.account.currency_id])
        discount = cents(price * days * Decimal("0.10")) if days >= 5 else Decimal("0")
        what = self.rng.choice(("Onboarding", "Data migration", "Integration workshop", "Custom reporting"))
        text = f"{what} ({days} day{'s' if days > 1 else ''})"
        return self._item(customer, PRO_SERVICES, days, price, text, discount=discount, kind="quote")

    def _item(
        self,
        customer: Customer,
        charge: str,
        quantity: int,
        price: Decimal,
        text: str,
        *,
        discount: Decimal = Decimal("0"),
        kind: Literal["subscription", "quote"] = "subscription",
        period: tuple[dt.date, dt.date] | None = None,
    ) -> InvoiceItem:
        code, rate = _tax(customer, charge)
        net = cents(price * quantity) - discount
        return InvoiceItem(
            id="0",  # numbered later
            price_list_charge_id=charge,
            charge_kind=kind,
            line_text=text,
            quantity=quantity,
            price=price,
            discount=discount,
            tax_code=code,
            tax_rate=rate,
            tax_amount=cents(net * rate / 100),
            start_date=period[0] if period else None,
            end_date=period[1] if period else None,
        )


def _tax(customer: Customer, charge: str) -> tuple[str | None, Decimal]:
    """(tax code, rate in percent) of a line, from the customer's tax treatment."""
    kind = customer.tax
    if kind == "standard":
        return "V01", Decimal("23")
    if kind == "hotel":
        return ("V02", Decimal("13.5")) if charge == PRO_SERVICES else ("V01", Decimal("23"))
    if kind == "charity":
        return "EX", Decimal("0")
    if kind == "nocode":
        return None, Decimal("23")  # no code on the line: the sync uses its default (V01, 23 %)
    if kind == "none":
        return None, Decimal("0")  # entity 2 (US): no sales tax modelled
    return "V00", Decimal("0")  # reverse charge (EU B2B) or zero-rated export
