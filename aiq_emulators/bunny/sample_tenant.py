"""The small, fixed sample tenant (Bunny half of docs/demo-tenant.md), seeded when the emulator starts without
a fixture. Tests and the CLI's `emulate` use it; every value is referenced by some test, so change it with care.

It is NOT the generated tenant of `make demo` (aiq_emulators/demo_tenant/, thousands of invoices), which builds
on this one's entities, API client, currencies, financial accounts and charges.
"""

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
    FinancialAccountTypeName,
    Invoice,
    InvoiceItem,
    InvoiceStateName,
    PriceListCharge,
    Tenant,
)

SAMPLE_CLIENT_ID = "demo-bunny-client"
SAMPLE_CLIENT_SECRET = "demo-bunny-secret"  # emulator-only value, not a secret of any real system
SAMPLE_SCOPES = ["standard:read", "standard:write", "billing:read", "billing:write", "product:read", "product:write"]

SUB_MONTHLY, PRO_SERVICES, API_USAGE, LEGACY_ADDON = "1", "2", "3", "4"

CREATED = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
IMPORTED = dt.datetime(2026, 2, 1, 9, tzinfo=dt.UTC)  # when the team imported its AIQ chart into Bunny
NOVEMBER = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def sample_tenant() -> Tenant:
    entities = _entities()
    financial_accounts = _financial_accounts()
    return Tenant(
        entities=entities,
        api_clients=[
            ApiClient(client_id=SAMPLE_CLIENT_ID, client_secret=SAMPLE_CLIENT_SECRET, scopes=list(SAMPLE_SCOPES))
        ],
        currencies=_currencies(),
        accounts=_accounts(),
        financial_accounts=financial_accounts,
        price_list_charges=_price_list_charges({fa.code: fa.id for fa in financial_accounts if fa.code}),
        invoices=_lifecycle_invoices() + _invoices_the_sync_must_flag() + _other_entity_invoices(),
        credit_notes=_credit_notes(entities[0]),
    )


# -- time and lines -----------------------------------------------------------------------------------------


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
    line_text: str | None = None,
    charge_kind: str = "subscription",
    discount: str = "0",
    period: tuple[dt.date, dt.date] | None = None,
) -> InvoiceItem:
    return InvoiceItem(
        id=item_id,
        price_list_charge_id=charge,
        charge_kind="quote" if charge_kind == "quote" else "subscription",
        quantity=quantity,
        price=Decimal(price),
        discount=Decimal(discount),
        tax_code=tax_code,
        tax_rate=Decimal(rate),
        line_text=line_text,
        start_date=period[0] if period else None,
        end_date=period[1] if period else None,
    )


def _invoice(
    invoice_id: str,
    state: InvoiceStateName,
    account: str,
    day: str,
    items: list[InvoiceItem],
    *,
    number: str | None,
    entity: str = "1",
    currency: str = "1",
    fx_rate: str = "1",
) -> Invoice:
    issued = dt.date.fromisoformat(day)
    draft = state == "DRAFT"
    for position, item in enumerate(items, start=1):
        item.position = position
    return Invoice(
        id=invoice_id,
        uuid=f"6f1c2a9e-0000-4000-8000-{int(invoice_id):012d}",
        state=state,
        number=number,
        entity_id=entity,
        account_id=account,
        currency_id=currency,
        fx_rate=Decimal(fx_rate),
        issued_at=None if draft else issued,
        due_at=None if draft else issued + dt.timedelta(days=30),
        paid_at=_ts(day, 15) + dt.timedelta(days=3) if state == "PAID" else None,
        created_at=_ts(day),
        updated_at=_ts(day, 10) + dt.timedelta(days=3 if state in ("PAID", "VOIDED") else 0),
        items=items,
    )


# -- reference data -------------------------------------------------------------------------------------------


def _entities() -> list[Entity]:
    return [
        Entity(
            id="1",
            name="Demo Trading Ltd",
            abbreviation="DTL",
            base_currency_id="1",
            is_default=True,
            invoice_number_prefix="INV-",
            invoice_number_seq=1009,
            credit_note_number_seq=2,
            billing_street="1 Grand Canal Square",
            billing_city="Dublin",
            billing_zip="D02 P820",
            billing_country="IE",
            tax_id="IE1234567T",
            tax_type="VAT",
            timezone="Europe/Dublin",
            created_at=CREATED,
            updated_at=CREATED,
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
            created_at=CREATED,
            updated_at=CREATED,
        ),
    ]


def _currencies() -> list[Currency]:
    return [
        Currency(id="1", iso_code="EUR", name="Euro", symbol="€"),
        Currency(id="2", iso_code="GBP", name="British Pound", symbol="£"),
        Currency(id="3", iso_code="USD", name="United States Dollar", symbol="$"),
    ]


def _account(
    account_id: str,
    code: str,
    name: str,
    contact: tuple[str, str, str],
    *,
    entity: str = "1",
    currency: str = "1",
    draft_invoices: bool = False,
    **address: str,
) -> Account:
    first, last, email = contact
    billing_contact = Contact(
        id=account_id, first_name=first, last_name=last, email=email, created_at=CREATED, updated_at=CREATED
    )
    return Account.model_validate(
        {
            "id": account_id,
            "code": code,
            "name": name,
            "entity_id": entity,
            "currency_id": currency,
            "billing_contact": billing_contact,
            "draft_invoices": draft_invoices,
            "created_at": CREATED,
            "updated_at": CREATED,
            **address,
        }
    )


def _accounts() -> list[Account]:
    return [
        _account(
            "1", "ACME", "Acme Software Ltd", ("Aoife", "Byrne", "ap@acme.example"), billing_street="12 Harcourt St",
            billing_city="Dublin", billing_zip="D02 X285", billing_country="IE", tax_number="IE9876543W",
        ),
        _account(
            "2", "SMITH-SONS", "Smith & <Sons>", ("John", "Smith", "accounts@smith-sons.example"),
            billing_street="4 Oliver Plunkett St", billing_city="Cork", billing_country="IE", draft_invoices=True,
        ),
        _account(
            "3", "BRITWIDGETS", "Brit Widgets plc", ("Emma", "Hughes", "finance@britwidgets.example"), currency="2",
            billing_street="221 Baker St", billing_city="London", billing_zip="NW1 6XE", billing_country="GB",
        ),
        _account(
            "4", "NORDIC", "Nordic Analytics AB", ("Lars", "Berg", "lars@nordic.example"),
            billing_street="Drottninggatan 5", billing_city="Stockholm", billing_country="SE", draft_invoices=True,
        ),
        _account(
            "5", "YANKEE", "Yankee Tools Inc", ("Mary", "Jones", "ap@yankee.example"), entity="2", currency="3",
            billing_street="500 5th Ave", billing_city="New York", billing_state="NY", billing_country="US",
        ),
    ]  # fmt: skip


def _financial_accounts() -> list[FinancialAccount]:
    builtin: list[tuple[FinancialAccountTypeName, str, bool]] = [
        ("earned_revenue", "Earned revenue", False),  # 4000 took over as the default earned-revenue account
        ("deferred_revenue", "Deferred revenue", True),
        ("accounts_receivable", "Accounts receivable", True),
        ("tax_payable", "Tax payable", True),
        ("payments", "Payments", True),
        ("conversion_gain", "Conversion gain", True),
        ("conversion_loss", "Conversion loss", True),
        ("banking_fees", "Banking fees", True),
    ]
    accounts: list[FinancialAccount] = []
    for entity_id in ("1", "2"):
        for account_type, name, default in builtin:
            accounts.append(
                FinancialAccount(
                    id=str(len(accounts) + 1),
                    entity_id=entity_id,
                    name=name,
                    account_type=account_type,
                    default_account=default or entity_id == "2",
                    source="bunny",
                    created_at=CREATED,
                    updated_at=CREATED,
                )
            )
    for code, name, default in (
        ("4000", "Subscription revenue", True),
        ("4010", "Professional services revenue", False),
        ("4900", "Revenue control", False),
    ):
        accounts.append(imported_revenue_account(str(len(accounts) + 1), "1", code, name, default=default))
    return accounts


def imported_revenue_account(
    account_id: str, entity_id: str, code: str, name: str, *, default: bool
) -> FinancialAccount:
    """An earned-revenue account of the AIQ chart, as Bunny's "Sync financial accounts" imported it."""
    return FinancialAccount(
        id=account_id,
        entity_id=entity_id,
        code=code,
        name=name,
        account_type="earned_revenue",
        default_account=default,
        external_id=code,
        source="accountsiq",
        created_at=IMPORTED,
        updated_at=IMPORTED,
    )


def _price_list_charges(account_by_code: dict[str | None, str]) -> list[PriceListCharge]:
    def charge(
        charge_id: str, code: str, name: str, kind: str, period: str, price: str, gl: str | None
    ) -> PriceListCharge:
        return PriceListCharge.model_validate(
            {
                "id": charge_id,
                "code": code,
                "name": name,
                "charge_type": kind,
                "billing_period": period,
                "price": Decimal(price),
                "financial_account_id": account_by_code[gl] if gl else None,
                "created_at": CREATED,
                "updated_at": IMPORTED if gl else CREATED,
            }
        )

    return [
        charge(SUB_MONTHLY, "SUB-MONTHLY", "Monthly subscription", "RECURRING", "MONTHLY", "49.00", None),
        charge(PRO_SERVICES, "PRO-SERVICES", "Professional services (day)", "ONE_TIME", "ONCE", "150.00", "4010"),
        charge(API_USAGE, "API-USAGE", "API calls", "USAGE", "MONTHLY", "0.05", None),
        charge(LEGACY_ADDON, "LEGACY-ADDON", "Legacy add-on", "RECURRING", "MONTHLY", "10.00", "4900"),
    ]


# -- documents ------------------------------------------------------------------------------------------------


def _lifecycle_invoices() -> list[Invoice]:
    """Entity 1's ordinary lifecycle: paid (two lines, one a quote charge), not due, draft, voided, GBP."""
    return [
        _invoice(
            "1", "PAID", "1", "2026-06-02",
            [
                _item("1", SUB_MONTHLY, 1, "49.00", line_text="Monthly subscription"),
                _item("2", PRO_SERVICES, 2, "150.00", charge_kind="quote", line_text="Onboarding (2 days)"),
            ],
            number="INV-1001",
        ),
        _invoice(
            "2", "NOT_DUE", "1", "2026-11-02",
            [_item("3", SUB_MONTHLY, 1, "49.00", line_text="Monthly subscription", period=NOVEMBER)],
            number="INV-1002",
        ),
        _invoice("3", "DRAFT", "4", "2026-11-20", [_item("4", SUB_MONTHLY, 3, "49.00", period=NOVEMBER)], number=None),
        _invoice("4", "VOIDED", "1", "2026-06-05", [_item("5", SUB_MONTHLY, 1, "49.00")], number="INV-1003"),
        _invoice(
            "5", "NOT_DUE", "3", "2026-11-03",
            [_item("6", SUB_MONTHLY, 1, "42.00", tax_code="V00", rate="0", line_text="Monthly subscription")],
            number="INV-1004", currency="2", fx_rate="1.17",
        ),
    ]  # fmt: skip


def _invoices_the_sync_must_flag() -> list[Invoice]:
    """Entity 1's awkward cases: unknown tax code V99, an invoice in a closed period (May), a line on the
    non-posting control account 4900, a discounted line for an XML-hostile customer name, a second draft."""
    return [
        _invoice(
            "6", "NOT_DUE", "1", "2026-11-04",
            [_item("7", API_USAGE, 1000, "0.05", tax_code="V99", line_text="API calls (1000)", period=NOVEMBER)],
            number="INV-1005",
        ),
        _invoice(
            "7", "PAID", "4", "2026-05-15",
            [_item("8", SUB_MONTHLY, 1, "49.00", tax_code=None, line_text="Monthly subscription")],
            number="INV-1006",
        ),
        _invoice(
            "8", "NOT_DUE", "4", "2026-11-05",
            [
                _item("9", SUB_MONTHLY, 1, "49.00", period=NOVEMBER),
                _item("10", LEGACY_ADDON, 1, "10.00", line_text="Legacy add-on", period=NOVEMBER),
            ],
            number="INV-1007",
        ),
        _invoice(
            "9", "DUE", "2", "2026-10-01",
            [_item("11", PRO_SERVICES, 1, "150.00", charge_kind="quote", discount="15.00")],
            number="INV-1008",
        ),
        _invoice(
            "10", "DRAFT", "2", "2026-11-21", [_item("12", SUB_MONTHLY, 2, "49.00", period=NOVEMBER)], number=None
        ),
    ]  # fmt: skip


def _other_entity_invoices() -> list[Invoice]:
    """Entity 2 (USD, no tax): invoices the entity-1 sync must never touch."""
    return [
        _invoice(
            "11", "NOT_DUE", "5", "2026-11-02", [_item("13", SUB_MONTHLY, 5, "55.00", tax_code=None, rate="0")],
            number="US-2001", entity="2", currency="3",
        ),
        _invoice(
            "12", "PAID", "5", "2026-10-02", [_item("14", SUB_MONTHLY, 5, "55.00", tax_code=None, rate="0")],
            number="US-2002", entity="2", currency="3",
        ),
    ]  # fmt: skip


def _credit_notes(entity: Entity) -> list[CreditNote]:
    """One refund of one onboarding day of invoice 1 (the entity's credit-note sequence is then at 2)."""
    issued = dt.date(2026, 6, 10)
    return [
        CreditNote(
            id="1",
            uuid="8a7d5c3b-0000-4000-8000-000000000001",
            number=f"{entity.credit_note_number_prefix}0001",
            kind="REFUND",
            state="READY",
            entity_id=entity.id,
            account_id="1",
            currency_id="1",
            credited_invoice_id="1",
            issued_at=issued,
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
