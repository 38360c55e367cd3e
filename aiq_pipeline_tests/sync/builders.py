"""The demo tenant (docs/demo-tenant.md) built from the clients' real dataclasses."""

from __future__ import annotations

import calendar
import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiq_pipeline.accountsiq import models as aiq
from aiq_pipeline.bunny import models as bunny
from aiq_pipeline.sync.documents.context import LedgerSnapshot, PlanContext, PostedDocument, PostingSettings
from aiq_pipeline.sync.gl_mapping import GLMapping, resolve_gl_mapping, validate_gl_mapping

D = Decimal

CHART = (
    aiq.GLAccount("4000", "Subscription revenue", "Posting", True, False),
    aiq.GLAccount("4010", "Professional services revenue", "Posting", True, False),
    aiq.GLAccount("4020", "Usage revenue", "Posting", True, False),
    aiq.GLAccount("4030", "Regional revenue", "Posting", True, True),
    aiq.GLAccount("4099", "Legacy revenue", "Posting", False, False),
    aiq.GLAccount("4900", "Revenue control", "Control", True, False),
    aiq.GLAccount("1100", "Debtors control", "Control", True, False),
    aiq.GLAccount("1200", "Bank current account", "Bank", True, False),
    aiq.GLAccount("2200", "VAT on sales", "VAT", True, False),
    aiq.GLAccount("8000", "Sundry expenses", "Posting", True, False),
)
TAX_CODES = (
    aiq.TaxCode(1, "V01", "Standard", D(23), True),
    aiq.TaxCode(2, "V02", "Reduced", D("13.5")),
    aiq.TaxCode(3, "V00", "Zero", D(0)),
    aiq.TaxCode(4, "EX", "Exempt", D(0)),
)


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


PERIODS = tuple(
    aiq.Period(
        period_id=(year - 2025) * 12 + month,
        period_number=month,
        period_name=date(year, month, 1).strftime("%b %Y"),
        financial_year=year,
        start_date=date(year, month, 1),
        end_date=_month_end(year, month),
        sales_ledger_closed=_month_end(year, month) < date(2026, 6, 1),
    )
    for year in (2025, 2026, 2027)
    for month in range(1, 13)
)

BUNNY_ACCOUNTS = (
    bunny.FinancialAccount("b1", None, "Earned revenue", "earned_revenue", True, True, "1", source="bunny"),
    bunny.FinancialAccount("b2", None, "Accounts receivable", "accounts_receivable", True, True, "1", source="bunny"),
    bunny.FinancialAccount(
        "10", "4000", "Subscription revenue", "earned_revenue", True, True, "1", source="accountsiq"
    ),
    bunny.FinancialAccount("11", "4010", "Professional services revenue", "earned_revenue", True, False, "1"),
    bunny.FinancialAccount("12", "4900", "Revenue control", "earned_revenue", True, False, "1"),
)
CHARGES = (
    bunny.PriceListCharge("1", "SUB-MONTHLY", "Monthly subscription", None),
    bunny.PriceListCharge("2", "PRO-SERVICES", "Professional services", "11", "4010"),
    bunny.PriceListCharge("3", "API-USAGE", "API usage", None),
    bunny.PriceListCharge("4", "LEGACY-ADDON", "Legacy add-on", "12", "4900"),
)


def ledger(**overrides: Any) -> LedgerSnapshot:
    kwargs: dict[str, Any] = {
        "chart": CHART,
        "tax_codes": TAX_CODES,
        "periods": PERIODS,
        "base_currency": "EUR",
        "currencies": ("EUR", "GBP", "USD"),
    }
    kwargs.update(overrides)
    return LedgerSnapshot.of(**kwargs)


def mapping(charges: tuple[bunny.PriceListCharge, ...] = CHARGES, accounts=BUNNY_ACCOUNTS) -> GLMapping:
    return validate_gl_mapping(resolve_gl_mapping(charges, accounts, entity_id="1"), CHART)


SETTINGS = PostingSettings(bunny_entity_id="1", default_tax_code="v01", exchange_rates={"GBP": D("1.17")})

ACCOUNT = bunny.Account(
    id="42",
    name="Acme Widgets Ltd",
    code="ACME",
    currency_code="EUR",
    billing_street="Unit 5\nHarbour Park\nEast Wall Road",
    billing_city="Dublin",
    billing_state="Co. Dublin",
    billing_zip="D03 X2Y4",
    billing_country="IE",
    tax_number="IE1234567T",
    billing_contact=bunny.Contact("Ann", "Lee", "ann@acme.example", "+353 1 555 0100"),
)


def item(item_id: str = "i1", *, charge: str | None = "1", amount: str = "49.00", tax: str = "11.27", **kw: Any):
    code = next((c.code for c in CHARGES if c.id == charge), None)
    fields: dict[str, Any] = {
        "id": item_id,
        "line_text": f"Line {item_id}",
        "quantity": 1,
        "price": D(amount),
        "subtotal": D(amount),
        "amount": D(amount),
        "tax_amount": D(tax),
        "tax_rate": None,
        "tax_code": None,
        "price_list_charge_id": charge,
        "price_list_charge_code": code,
    }
    fields.update(kw)
    return bunny.InvoiceItem(**fields)


def invoice(*items: bunny.InvoiceItem, **kw: Any) -> bunny.Invoice:
    items = items or (item(),)
    subtotal = sum((i.amount for i in items), D("0.00"))
    tax = sum((i.tax_amount for i in items), D("0.00"))
    fields: dict[str, Any] = {
        "id": "1001",
        "number": "INV-1001",
        "state": "NOT_DUE",
        "entity_id": "1",
        "account_id": ACCOUNT.id,
        "currency_code": "EUR",
        "issued_at": date(2026, 6, 2),
        "due_at": date(2026, 7, 2),
        "subtotal": subtotal,
        "tax_amount": tax,
        "amount": subtotal + tax,
        "updated_at": datetime(2026, 6, 2, 9, 0),
        "account": ACCOUNT,
        "items": tuple(items),
        "base_currency_code": "EUR",
        "base_currency_total": subtotal + tax,
    }
    fields.update(kw)
    return bunny.Invoice(**fields)


def replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)


def context(
    *,
    mapping: GLMapping | None = None,
    ledger: LedgerSnapshot | None = None,
    settings: PostingSettings = SETTINGS,
    existing_customer: Any = None,
    posted: dict[str, PostedDocument] | None = None,
) -> PlanContext:
    """What the posting service gives a planner, built from the demo tenant's reference data."""
    return PlanContext(
        mapping=mapping if mapping is not None else globals()["mapping"](),
        ledger=ledger if ledger is not None else globals()["ledger"](),
        settings=settings,
        existing_customer=existing_customer,
        posted=posted or {},
    )
