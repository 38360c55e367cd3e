"""Typed Bunny objects as the product reads them. Money is `Decimal` from here on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

# Invoices that are out of draft/preparing and not voided: the ones that belong in the ledger.
POSTABLE_INVOICE_STATES: frozenset[str] = frozenset({"NOT_DUE", "DUE", "UNPAID", "PROCESSING_PAYMENT", "PAID"})


@dataclass(frozen=True)
class Contact:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None

    @property
    def full_name(self) -> str | None:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or None


@dataclass(frozen=True)
class Account:
    """A Bunny account (the customer)."""

    id: str
    name: str
    code: str | None = None
    currency_code: str | None = None  # ISO 4217
    billing_street: str | None = None
    billing_city: str | None = None
    billing_state: str | None = None
    billing_zip: str | None = None
    billing_country: str | None = None
    tax_number: str | None = None
    billing_contact: Contact | None = None


@dataclass(frozen=True)
class InvoiceItem:
    id: str
    line_text: str | None
    quantity: int | None
    price: Decimal | None
    subtotal: Decimal
    amount: Decimal
    tax_amount: Decimal
    tax_rate: Decimal | None = None
    tax_code: str | None = None
    price_list_charge_id: str | None = None
    price_list_charge_code: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    discount: Decimal | None = None
    charge_type: str | None = None  # GraphQL type of the line's charge: SubscriptionCharge or QuoteCharge


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str | None
    state: str  # InvoiceState, e.g. NOT_DUE
    entity_id: str
    account_id: str
    currency_code: str  # ISO 4217 of the invoice
    issued_at: date | None
    due_at: date | None
    subtotal: Decimal
    tax_amount: Decimal
    amount: Decimal
    updated_at: datetime
    account: Account | None = None
    items: tuple[InvoiceItem, ...] = ()
    base_currency_code: str | None = None
    base_currency_total: Decimal | None = None
    url: str | None = None

    @property
    def is_postable(self) -> bool:
        return self.state in POSTABLE_INVOICE_STATES


@dataclass(frozen=True)
class InvoiceRef:
    """The little the sensor needs to know about an invoice."""

    id: str
    state: str
    updated_at: datetime
    issued_at: date | None = None
    entity_id: str | None = None


@dataclass(frozen=True)
class CreditNoteItem:
    invoice_item_id: str | None
    line_text: str | None
    subtotal: Decimal
    amount: Decimal
    tax_amount: Decimal
    tax_code: str | None = None


@dataclass(frozen=True)
class CreditNote:
    id: str
    number: str | None
    state: str
    kind: str | None
    entity_id: str | None
    account_id: str
    credited_invoice_id: str | None
    currency_code: str | None
    issued_at: date | None
    subtotal: Decimal
    tax_amount: Decimal
    amount: Decimal
    updated_at: datetime
    items: tuple[CreditNoteItem, ...] = ()


@dataclass(frozen=True)
class FinancialAccount:
    id: str
    code: str | None
    name: str | None
    account_type: str | None  # FinancialAccountType, lower_snake (earned_revenue)
    active: bool
    default_account: bool
    entity_id: str
    external_id: str | None = None
    source: str | None = None
    description: str | None = None
    price_list_charge_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PriceListCharge:
    id: str
    code: str | None
    name: str | None
    financial_account_id: str | None
    financial_account_code: str | None = None
    tax_code: str | None = None


@dataclass(frozen=True)
class Currency:
    id: str  # Bunny's id (not an ISO code in the emulator)
    iso_code: str  # ISO 4217
    name: str | None = None


@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    base_currency_code: str | None = None


@dataclass(frozen=True)
class FinancialAccountAttributes:
    """Input of financialAccountCreate/Update; None fields are not sent."""

    code: str | None = None
    name: str | None = None
    description: str | None = None
    account_type: str | None = None
    active: bool | None = None
    entity_id: str | None = None
    external_id: str | None = None
    source: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
