"""The demo tenant of docs/demo-tenant.md (Bunny half), seeded when the emulator starts without a fixture."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aiq_emulators.bunny.models import (
    Account,
    ApiClient,
    Contact,
    CreditNote,
    CreditNoteItem,
    Currency,
    Entity,
    FinancialAccount,
    Invoice,
    InvoiceItem,
    PriceListCharge,
    Tenant,
)

DEMO_CLIENT_ID = "demo-bunny-client"
DEMO_CLIENT_SECRET = "demo-bunny-secret"  # emulator-only value, not a secret of any real system
DEMO_SCOPES = ["standard:read", "standard:write", "billing:read", "billing:write", "product:read", "product:write"]

SUB_MONTHLY, PRO_SERVICES, API_USAGE, LEGACY_ADDON = "1", "2", "3", "4"


def _ts(day: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def _item(
    item_id: str,
    charge: str,
    quantity: int,
    price: str,
    *,
    tax_code: str | None = "V01",
    rate: str = "23",
    **kw: object,
) -> InvoiceItem:
    return InvoiceItem(
        id=item_id,
        price_list_charge_id=charge,
        quantity=quantity,
        price=Decimal(price),
        tax_code=tax_code,
        tax_rate=Decimal(rate),
        **kw,  # type: ignore[arg-type]
    )


def _invoice(
    invoice_id: str,
    state: str,
    account: str,
    day: str,
    items: list[InvoiceItem],
    *,
    number: str | None,
    entity: str = "1",
    currency: str = "1",
    **kw: object,
) -> Invoice:
    issued = dt.date.fromisoformat(day)
    draft = state == "DRAFT"
    for position, item in enumerate(items, start=1):
        item.position = position
    return Invoice(
        id=invoice_id,
        uuid=f"6f1c2a9e-0000-4000-8000-{int(invoice_id):012d}",
        state=state,  # type: ignore[arg-type]
        number=number,
        entity_id=entity,
        account_id=account,
        currency_id=currency,
        issued_at=None if draft else issued,
        due_at=None if draft else issued + dt.timedelta(days=30),
        paid_at=_ts(day, 15) + dt.timedelta(days=3) if state == "PAID" else None,
        created_at=_ts(day),
        updated_at=_ts(day, 10) + dt.timedelta(days=3 if state in ("PAID", "VOIDED") else 0),
        items=items,
        **kw,  # type: ignore[arg-type]
    )


def demo_tenant() -> Tenant:
    created = _ts("2026-01-05")
    entities = [
        Entity(
            id="1",
            name="Demo Trading Ltd",
            abbreviation="DTL",
            base_currency_id="1",
            is_default=True,
            invoice_number_prefix="INV-",
            invoice_number_seq=1009,
            billing_street="1 Grand Canal Square",
            billing_city="Dublin",
            billing_zip="D02 P820",
            billing_country="IE",
            tax_id="IE1234567T",
            tax_type="VAT",
            timezone="Europe/Dublin",
            created_at=created,
            updated_at=created,
        ),
        Entity(
            id="2",
            name="Demo US Inc",
            abbreviation="DUS",
            base_currency_id="3",
            invoice_number_prefix="US-",
            invoice_number_seq=2003,
            billing_street="100 Market St",
            billing_city="San Francisco",
            billing_state="CA",
            billing_zip="94105",
            billing_country="US",
            tax_type="EIN",
            timezone="America/Los_Angeles",
            created_at=created,
            updated_at=created,
        ),
    ]
    currencies = [
        Currency(id="1", iso_code="EUR", name="Euro", symbol="€"),
        Currency(id="2", iso_code="GBP", name="British Pound", symbol="£"),
        Currency(id="3", iso_code="USD", name="United States Dollar", symbol="$"),
    ]

    def contact(cid: str, first: str, last: str, email: str) -> Contact:
        return Contact(id=cid, first_name=first, last_name=last, email=email, created_at=created, updated_at=created)

    accounts = [
        Account(
            id="1",
            code="ACME",
            name="Acme Software Ltd",
            entity_id="1",
            currency_id="1",
            billing_street="12 Harcourt St",
            billing_city="Dublin",
            billing_zip="D02 X285",
            billing_country="IE",
            billing_contact=contact("1", "Aoife", "Byrne", "ap@acme.example"),
            tax_number="IE9876543W",
            created_at=created,
            updated_at=created,
        ),
        Account(
            id="2",
            code="SMITH-SONS",
            name="Smith & <Sons>",
            entity_id="1",
            currency_id="1",
            billing_street="4 Oliver Plunkett St",
            billing_city="Cork",
            billing_country="IE",
            billing_contact=contact("2", "John", "Smith", "accounts@smith-sons.example"),
            draft_invoices=True,
            created_at=created,
            updated_at=created,
        ),
        Account(
            id="3",
            code="BRITWIDGETS",
            name="Brit Widgets plc",
            entity_id="1",
            currency_id="2",
            billing_street="221 Baker St",
            billing_city="London",
            billing_zip="NW1 6XE",
            billing_country="GB",
            billing_contact=contact("3", "Emma", "Hughes", "finance@britwidgets.example"),
            created_at=created,
            updated_at=created,
        ),
        Account(
            id="4",
            code="NORDIC",
            name="Nordic Analytics AB",
            entity_id="1",
            currency_id="1",
            billing_street="Drottninggatan 5",
            billing_city="Stockholm",
            billing_country="SE",
            billing_contact=contact("4", "Lars", "Berg", "lars@nordic.example"),
            draft_invoices=True,
            created_at=created,
            updated_at=created,
        ),
        Account(
            id="5",
            code="YANKEE",
            name="Yankee Tools Inc",
            entity_id="2",
            currency_id="3",
            billing_street="500 5th Ave",
            billing_city="New York",
            billing_state="NY",
            billing_country="US",
            billing_contact=contact("5", "Mary", "Jones", "ap@yankee.example"),
            created_at=created,
            updated_at=created,
        ),
    ]

    builtin = [
        ("earned_revenue", "Earned revenue", False),  # 4000 took over as the default earned-revenue account
        ("deferred_revenue", "Deferred revenue", True),
        ("accounts_receivable", "Accounts receivable", True),
        ("tax_payable", "Tax payable", True),
        ("payments", "Payments", True),
        ("conversion_gain", "Conversion gain", True),
        ("conversion_loss", "Conversion loss", True),
        ("banking_fees", "Banking fees", True),
    ]
    financial_accounts: list[FinancialAccount] = []
    for entity_id in ("1", "2"):
        for account_type, name, default in builtin:
            financial_accounts.append(
                FinancialAccount(
                    id=str(len(financial_accounts) + 1),
                    entity_id=entity_id,
                    name=name,
                    account_type=account_type,  # type: ignore[arg-type]
                    default_account=default or entity_id == "2",
                    source="bunny",
                    created_at=created,
                    updated_at=created,
                )
            )
    imported = _ts("2026-02-01")
    for code, name, default in (
        ("4000", "Subscription revenue", True),
        ("4010", "Professional services revenue", False),
        ("4900", "Revenue control", False),
    ):
        financial_accounts.append(
            FinancialAccount(
                id=str(len(financial_accounts) + 1),
                entity_id="1",
                code=code,
                name=name,
                account_type="earned_revenue",
                default_account=default,
                external_id=code,
                source="accountsiq",
                created_at=imported,
                updated_at=imported,
            )
        )
    fa_by_code = {fa.code: fa.id for fa in financial_accounts if fa.code}

    charges = [
        PriceListCharge(
            id=SUB_MONTHLY,
            code="SUB-MONTHLY",
            name="Monthly subscription",
            charge_type="RECURRING",
            billing_period="MONTHLY",
            price=Decimal("49.00"),
            created_at=created,
            updated_at=created,
        ),
        PriceListCharge(
            id=PRO_SERVICES,
            code="PRO-SERVICES",
            name="Professional services (day)",
            charge_type="ONE_TIME",
            billing_period="ONCE",
            price=Decimal("150.00"),
            financial_account_id=fa_by_code["4010"],
            created_at=created,
            updated_at=imported,
        ),
        PriceListCharge(
            id=API_USAGE,
            code="API-USAGE",
            name="API calls",
            charge_type="USAGE",
            billing_period="MONTHLY",
            price=Decimal("0.05"),
            created_at=created,
            updated_at=created,
        ),
        PriceListCharge(
            id=LEGACY_ADDON,
            code="LEGACY-ADDON",
            name="Legacy add-on",
            charge_type="RECURRING",
            billing_period="MONTHLY",
            price=Decimal("10.00"),
            financial_account_id=fa_by_code["4900"],
            created_at=created,
            updated_at=imported,
        ),
    ]

    d = dt.date.fromisoformat
    period = {"start_date": d("2026-11-01"), "end_date": d("2026-11-30")}
    invoices = [
        _invoice(
            "1",
            "PAID",
            "1",
            "2026-06-02",
            [
                _item("1", SUB_MONTHLY, 1, "49.00", line_text="Monthly subscription"),
                _item("2", PRO_SERVICES, 2, "150.00", charge_kind="quote", line_text="Onboarding (2 days)"),
            ],
            number="INV-1001",
        ),
        _invoice(
            "2",
            "NOT_DUE",
            "1",
            "2026-11-02",
            [_item("3", SUB_MONTHLY, 1, "49.00", line_text="Monthly subscription", **period)],
            number="INV-1002",
        ),
        _invoice("3", "DRAFT", "4", "2026-11-20", [_item("4", SUB_MONTHLY, 3, "49.00", **period)], number=None),
        _invoice("4", "VOIDED", "1", "2026-06-05", [_item("5", SUB_MONTHLY, 1, "49.00")], number="INV-1003"),
        _invoice(
            "5",
            "NOT_DUE",
            "3",
            "2026-11-03",
            [_item("6", SUB_MONTHLY, 1, "42.00", tax_code="V00", rate="0", line_text="Monthly subscription")],
            number="INV-1004",
            currency="2",
            fx_rate=Decimal("1.17"),
        ),
        _invoice(
            "6",
            "NOT_DUE",
            "1",
            "2026-11-04",
            [_item("7", API_USAGE, 1000, "0.05", tax_code="V99", line_text="API calls (1000)", **period)],
            number="INV-1005",
        ),
        _invoice(
            "7",
            "PAID",
            "4",
            "2026-05-15",
            [_item("8", SUB_MONTHLY, 1, "49.00", tax_code=None, line_text="Monthly subscription")],
            number="INV-1006",
        ),
        _invoice(
            "8",
            "NOT_DUE",
            "4",
            "2026-11-05",
            [
                _item("9", SUB_MONTHLY, 1, "49.00", **period),
                _item("10", LEGACY_ADDON, 1, "10.00", line_text="Legacy add-on", **period),
            ],
            number="INV-1007",
        ),
        _invoice(
            "9",
            "DUE",
            "2",
            "2026-10-01",
            [_item("11", PRO_SERVICES, 1, "150.00", charge_kind="quote", discount=Decimal("15.00"))],
            number="INV-1008",
        ),
        _invoice("10", "DRAFT", "2", "2026-11-21", [_item("12", SUB_MONTHLY, 2, "49.00", **period)], number=None),
        _invoice(
            "11",
            "NOT_DUE",
            "5",
            "2026-11-02",
            [_item("13", SUB_MONTHLY, 5, "55.00", tax_code=None, rate="0")],
            number="US-2001",
            entity="2",
            currency="3",
        ),
        _invoice(
            "12",
            "PAID",
            "5",
            "2026-10-02",
            [_item("14", SUB_MONTHLY, 5, "55.00", tax_code=None, rate="0")],
            number="US-2002",
            entity="2",
            currency="3",
        ),
    ]
    credit_notes = [
        CreditNote(
            id="1",
            uuid="8a7d5c3b-0000-4000-8000-000000000001",
            number="CN-0001",
            kind="REFUND",
            state="READY",
            entity_id="1",
            account_id="1",
            currency_id="1",
            credited_invoice_id="1",
            issued_at=d("2026-06-10"),
            items=[
                CreditNoteItem(
                    id="1",
                    invoice_item_id="2",
                    line_text="Onboarding (1 day refunded)",
                    quantity=1,
                    price=Decimal("150.00"),
                    tax_amount=Decimal("34.50"),
                    tax_code="V01",
                )
            ],
            created_at=_ts("2026-06-10"),
            updated_at=_ts("2026-06-10"),
        )
    ]
    entities[0].credit_note_number_seq = 2
    return Tenant(
        entities=entities,
        api_clients=[ApiClient(client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, scopes=list(DEMO_SCOPES))],
        currencies=currencies,
        accounts=accounts,
        financial_accounts=financial_accounts,
        price_list_charges=charges,
        invoices=invoices,
        credit_notes=credit_notes,
    )
