"""Fixture format of the AccountsIQ emulator, and the demo tenant it seeds without one.

A fixture is a JSON document (field names as below; unknown fields are rejected):

```json
{
  "clients": [
    {"client_id": "demo-aiq-client", "client_secret": "demo-aiq-secret", "entities": ["DEMO01"]}
  ],
  "entities": [
    {
      "entity_id": "DEMO01", "name": "Demo Trading Ltd", "base_currency": "EUR",
      "currencies": ["EUR", "GBP", "USD"],
      "exchange_rates": {"GBP": "1.17", "USD": "0.92"},
      "debtors_control_gl": "1100", "sales_vat_gl": "2200",
      "gl_accounts": [
        {"code": "4000", "description": "Subscription revenue", "account_type": "Posting"},
        {"code": "4030", "description": "Regional revenue", "account_type": "Posting", "is_departmental": true},
        {"code": "4099", "description": "Legacy revenue", "account_type": "Posting", "is_active": false},
        {"code": "1100", "description": "Debtors control", "account_type": "Control"}
      ],
      "tax_codes": [{"code": "V01", "description": "Standard", "rate": "23", "is_default": true}],
      "financial_years": [2025, 2026, 2027],
      "sales_ledger_closed_before": "2026-06-01",
      "customers": [{"code": "EXISTING-001", "name": "Existing Customer One", "currency_code": "EUR",
                     "email": "ap@one.example", "vat_registration_number": "IE1234567T", "country_code": "IE"}]
    }
  ]
}
```

- `account_type` is one of `Posting`, `Control`, `Bank`, `VAT`; only active `Posting` accounts take invoice lines;
  receipts and refunds move money through an active `Bank` account, whose `currency_code` (one of `currencies`)
  defaults to the base currency.
- Tax `rate` is a percentage, as AIQ stores it (`23` means 23 %); batch invoice lines carry their own fraction.
- `financial_years` are calendar years split into twelve monthly periods; every period that ends before
  `sales_ledger_closed_before` has its sales ledger closed (omit it to leave all periods open).
- `exchange_rates`: AIQ's current rate per non-base currency, in base-currency units per 1 unit of it (what
  GetCurrencyExchangeRate answers under the default `multiply` direction); every key must be one of `currencies`
  and > 0. A listed currency without a rate answers `CURRENCYHISTORY_EXCHANGE_RATE_IS_INVALID` (an emulator
  choice: AIQ's behaviour for a currency with no rate is not documented).
- A customer may carry `email`, `vat_registration_number`, `country_code` and `country` (what issue 11 matches
  existing customers on) and `is_active` (false: left out of GetActiveCustomerList).
- Codes (entity, GL, tax, customer, currency) must be upper case, as AIQ requires; a customer's
  `currency_code` defaults to the entity's base currency and must be one of `currencies`.

Loading a fixture with a mistake raises `FixtureError` whose message names the offending field, e.g.
``entities.0.gl_accounts.2.code: Value error, must be upper case``.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

GLAccountType = Literal["Posting", "Control", "Bank", "VAT"]


class FixtureError(ValueError):
    """A fixture file that cannot be used; the message names the field."""


def _upper(value: str) -> str:
    if not value or value != value.upper() or value != value.strip():
        raise ValueError("must be a non-empty upper-case code without surrounding spaces")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GLAccountFixture(_Strict):
    code: str = Field(max_length=50)
    description: str
    account_type: GLAccountType
    is_departmental: bool = False
    is_active: bool = True
    currency_code: str | None = Field(default=None, description="a Bank account's currency (default: base)")

    check_code = field_validator("code")(_upper)


class TaxCodeFixture(_Strict):
    code: str = Field(max_length=10)
    description: str
    rate: Decimal = Field(ge=0, le=100, description="percentage, as AIQ stores it")
    is_default: bool = False

    check_code = field_validator("code")(_upper)


class CustomerFixture(_Strict):
    code: str = Field(max_length=50)
    name: str = Field(max_length=100)
    currency_code: str | None = None
    email: str | None = None
    is_active: bool = True
    vat_registration_number: str | None = None
    country_code: str | None = Field(default=None, description="ISO 3166 alpha-2, as AIQ's CountryCode")
    country: str | None = None

    check_code = field_validator("code")(_upper)


class ClientFixture(_Strict):
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    entities: list[str] = Field(description="entity ids this integration application may access")


class EntityFixture(_Strict):
    entity_id: str
    name: str
    base_currency: str = Field(min_length=3, max_length=3)
    currencies: list[str]
    exchange_rates: dict[str, Decimal] = {}
    debtors_control_gl: str
    sales_vat_gl: str
    gl_accounts: list[GLAccountFixture]
    tax_codes: list[TaxCodeFixture]
    financial_years: list[int] = Field(min_length=1)
    sales_ledger_closed_before: date | None = None
    customers: list[CustomerFixture] = []

    check_codes = field_validator("entity_id", "base_currency", "debtors_control_gl", "sales_vat_gl")(_upper)

    @field_validator("currencies")
    @classmethod
    def _currencies_upper(cls, value: list[str]) -> list[str]:
        return [_upper(code) for code in value]

    @model_validator(mode="after")
    def _consistent(self) -> EntityFixture:
        if self.base_currency not in self.currencies:
            raise ValueError(f"base_currency {self.base_currency} is not listed in currencies")
        for code, rate in self.exchange_rates.items():
            if code not in self.currencies:
                raise ValueError(f"exchange_rates.{code}: not one of currencies")
            if rate <= 0:
                raise ValueError(f"exchange_rates.{code}: must be > 0")
        gl = {account.code: account for account in self.gl_accounts}
        if len(gl) != len(self.gl_accounts):
            raise ValueError("gl_accounts: duplicate code")
        for account in self.gl_accounts:
            if account.currency_code is not None and account.currency_code not in self.currencies:
                raise ValueError(f"gl_accounts {account.code}: currency_code {account.currency_code} not in currencies")
        for field, wanted in (("debtors_control_gl", "Control"), ("sales_vat_gl", "VAT")):
            code = getattr(self, field)
            if code not in gl or gl[code].account_type != wanted:
                raise ValueError(f"{field} {code} must be a {wanted} account listed in gl_accounts")
        if len({tax.code for tax in self.tax_codes}) != len(self.tax_codes):
            raise ValueError("tax_codes: duplicate code")
        if sum(tax.is_default for tax in self.tax_codes) > 1:
            raise ValueError("tax_codes: more than one is_default")
        if len({c.code for c in self.customers}) != len(self.customers):
            raise ValueError("customers: duplicate code")
        for index, customer in enumerate(self.customers):
            if customer.currency_code is not None and customer.currency_code not in self.currencies:
                raise ValueError(f"customers.{index}.currency_code {customer.currency_code} is not in currencies")
        return self


class EmulatorFixture(_Strict):
    clients: list[ClientFixture]
    entities: list[EntityFixture] = Field(min_length=1)

    @model_validator(mode="after")
    def _grants_exist(self) -> EmulatorFixture:
        known = {entity.entity_id for entity in self.entities}
        if len(known) != len(self.entities):
            raise ValueError("entities: duplicate entity_id")
        for index, client in enumerate(self.clients):
            missing = [entity for entity in client.entities if entity not in known]
            if missing:
                raise ValueError(f"clients.{index}.entities: unknown entity ids {missing}")
        return self


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(fixture)"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def parse_fixture(data: object, source: str = "fixture") -> EmulatorFixture:
    try:
        return EmulatorFixture.model_validate(data)
    except ValidationError as exc:
        raise FixtureError(f"{source}: {_describe(exc)}") from None


def load_fixture(path: Path) -> EmulatorFixture:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FixtureError(f"{path}: cannot read fixture JSON: {exc}") from None
    return parse_fixture(data, str(path))


def demo_fixture() -> EmulatorFixture:
    """The AccountsIQ side of docs/demo-tenant.md, exactly."""

    def gl(
        code: str, description: str, kind: GLAccountType, *, is_active: bool = True, is_departmental: bool = False
    ) -> GLAccountFixture:
        return GLAccountFixture(
            code=code, description=description, account_type=kind, is_active=is_active, is_departmental=is_departmental
        )

    demo01 = EntityFixture(
        entity_id="DEMO01",
        name="Demo Trading Ltd",
        base_currency="EUR",
        currencies=["EUR", "GBP", "USD"],
        exchange_rates={"GBP": Decimal("1.17"), "USD": Decimal("0.92")},
        debtors_control_gl="1100",
        sales_vat_gl="2200",
        gl_accounts=[
            gl("4000", "Subscription revenue", "Posting"),
            gl("4010", "Professional services revenue", "Posting"),
            gl("4020", "Usage revenue", "Posting"),
            gl("4030", "Regional revenue", "Posting", is_departmental=True),
            gl("4099", "Legacy revenue", "Posting", is_active=False),
            gl("4900", "Revenue control", "Control"),
            gl("1100", "Debtors control", "Control"),
            gl("1200", "Bank current account", "Bank"),
            gl("2200", "VAT on sales", "VAT"),
            gl("8000", "Sundry expenses", "Posting"),
        ],
        tax_codes=[
            TaxCodeFixture(code="V01", description="Standard", rate=Decimal("23"), is_default=True),
            TaxCodeFixture(code="V02", description="Reduced", rate=Decimal("13.5")),
            TaxCodeFixture(code="V00", description="Zero", rate=Decimal("0")),
            TaxCodeFixture(code="EX", description="Exempt", rate=Decimal("0")),
        ],
        financial_years=[2025, 2026, 2027],
        sales_ledger_closed_before=date(2026, 6, 1),
        customers=[
            CustomerFixture(code="EXISTING-001", name="Existing Customer One", email="accounts@existing-one.example"),
            CustomerFixture(code="EXISTING-002", name="Existing Customer Two", currency_code="GBP"),
            CustomerFixture(code="EXISTING-003", name="Existing Customer Three", currency_code="USD"),
        ],
    )
    demo02 = EntityFixture(
        entity_id="DEMO02",
        name="Demo Holdings",
        base_currency="GBP",
        currencies=["GBP", "EUR"],
        exchange_rates={"EUR": Decimal("0.855")},
        debtors_control_gl="1100",
        sales_vat_gl="2200",
        gl_accounts=[
            gl("4000", "Revenue", "Posting"),
            gl("1100", "Debtors control", "Control"),
            gl("2200", "VAT on sales", "VAT"),
        ],
        tax_codes=[TaxCodeFixture(code="S", description="Standard", rate=Decimal("20"), is_default=True)],
        financial_years=[2025, 2026, 2027],
    )
    return EmulatorFixture(
        clients=[
            ClientFixture(client_id="demo-aiq-client", client_secret=SecretStr("demo-aiq-secret"), entities=["DEMO01"])
        ],
        entities=[demo01, demo02],
    )


def payments_demo_fixture() -> EmulatorFixture:
    """The demo tenant plus what payments need: a bank account per currency, a processor clearing account, a
    bank-charges account and a customer-credits account (issue 12). Kept apart from `demo_fixture`, whose chart
    docs/demo-tenant.md fixes.

    DEMO01 gains `1210` Bank GBP account (Bank, GBP), `1220` Bank USD account (Bank, USD), `1230` Card processor
    clearing (Bank, EUR), `6900` Bank charges (Posting: a payment's fees, debited by a sales credit journal) and
    `2150` Customer credits (Posting: account credit applied to an invoice, debited by a sales credit journal);
    `1200` stays the EUR current account.
    """
    demo = demo_fixture()
    first, *others = demo.entities
    extra = [
        GLAccountFixture(code="1210", description="Bank GBP account", account_type="Bank", currency_code="GBP"),
        GLAccountFixture(code="1220", description="Bank USD account", account_type="Bank", currency_code="USD"),
        GLAccountFixture(code="1230", description="Card processor clearing", account_type="Bank"),
        GLAccountFixture(code="6900", description="Bank charges", account_type="Posting"),
        GLAccountFixture(code="2150", description="Customer credits", account_type="Posting"),
    ]
    entity = EntityFixture.model_validate(first.model_dump() | {"gl_accounts": [*first.gl_accounts, *extra]})
    holdings = [_holdings_ledger(other) if other.entity_id == HOLDINGS_ENTITY else other for other in others]
    return EmulatorFixture(clients=[*demo.clients, HOLDINGS_CLIENT], entities=[entity, *holdings])


HOLDINGS_ENTITY = "DEMO02"
# The second pair's integration application (emulator-only values, not secrets of any real system).
HOLDINGS_CLIENT = ClientFixture(
    client_id="demo-aiq-client-2", client_secret=SecretStr("demo-aiq-secret-2"), entities=[HOLDINGS_ENTITY]
)


def _holdings_ledger(demo02: EntityFixture) -> EntityFixture:
    """DEMO02 as the demo's second pair needs it: Bunny entity 2 ("Demo US Inc") invoices US customers in USD
    without sales tax and takes their card payments through stripe. GBP stays the base; USD is added with AIQ's
    rate, a zero-rated tax code `Z`, the revenue accounts Bunny entity 2's charges map to after "Sync financial
    accounts", a USD bank account, bank charges and customer credits."""
    extra = [
        GLAccountFixture(code="4010", description="Professional services revenue", account_type="Posting"),
        GLAccountFixture(code="4020", description="Usage revenue", account_type="Posting"),
        GLAccountFixture(code="1200", description="Bank current account", account_type="Bank"),
        GLAccountFixture(code="1220", description="Bank USD account", account_type="Bank", currency_code="USD"),
        GLAccountFixture(code="6900", description="Bank charges", account_type="Posting"),
        GLAccountFixture(code="2150", description="Customer credits", account_type="Posting"),
    ]
    return EntityFixture.model_validate(
        demo02.model_dump()
        | {
            "currencies": [*demo02.currencies, "USD"],
            "exchange_rates": {**demo02.exchange_rates, "USD": Decimal("0.79")},
            "gl_accounts": [*demo02.gl_accounts, *extra],
            "tax_codes": [*demo02.tax_codes, TaxCodeFixture(code="Z", description="Zero rated", rate=Decimal("0"))],
        }
    )
