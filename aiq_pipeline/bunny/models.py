"""Typed Bunny objects as the product reads them. Money is `Decimal` from here on.

Every money and state field is read as Bunny sends it, without interpretation: what each one means, and which
readings are unverified, is the table in MONEY.md beside this file. Rates (`tax_rate`, `proration_rate`) are
Bunny's numbers as sent, in whatever unit the tenant uses (MONEY.md: percent is the product's reading).
"""

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
    entity_id: str | None = None
    tax_number_validated: bool | None = None

    @property
    def email(self) -> str | None:
        """The billing contact's e-mail (Bunny keeps e-mail on contacts, not on the account)."""
        return self.billing_contact.email if self.billing_contact else None


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
    position: int | None = None
    vat_code: str | None = None
    is_credit: bool = False  # a credit line (negative), e.g. a proration or goodwill credit
    is_coupon: bool = False  # a coupon line (negative), see coupon_id
    coupon_id: str | None = None
    kind: str | None = None  # QuoteChangeKind of the change that produced the line (SUBSCRIBE, UPDATE, COUPON...)
    proration_rate: Decimal | None = None  # as sent; informational (the line's money is already prorated)
    credited_item_id: str | None = None  # the invoice item this credit line credits (creditedItem)


@dataclass(frozen=True)
class PaymentApplication:
    """One payment's amount applied to one invoice (MONEY.md: payments)."""

    id: str
    payment_id: str | None
    invoice_id: str | None
    amount: Decimal | None
    currency_code: str | None = None
    payment_type: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


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
    credits: Decimal | None = None  # credit applied to the invoice (MONEY.md: a settlement, not in `amount`)
    amount_due: Decimal | None = None
    amount_paid: Decimal | None = None
    tax_rate: Decimal | None = None  # the invoice-level rate, as sent (null when lines differ); not used to post
    coupon_applied: bool = False
    paid_at: datetime | None = None
    merged_to_invoice_id: str | None = None  # set on a component of a consolidated (or merged) invoice
    merged_invoice_ids: tuple[str, ...] = ()  # set on the combined invoice of a consolidation or merge
    payment_applications: tuple[PaymentApplication, ...] = ()  # payments applied to it, with their amounts

    @property
    def is_postable(self) -> bool:
        return self.state in POSTABLE_INVOICE_STATES

    @property
    def is_consolidation_component(self) -> bool:
        """Its lines were billed again on the combined invoice `merged_to_invoice_id` (MONEY.md, consolidation):
        posting both would count the revenue twice."""
        return self.merged_to_invoice_id is not None


@dataclass(frozen=True)
class NumberedDocument:
    """An invoice or credit note as its number names it: the id, the number, its state and entity."""

    id: str
    number: str
    state: str
    entity_id: str | None = None


@dataclass(frozen=True)
class InvoiceRef:
    """The little the sensor needs to know about an invoice."""

    id: str
    state: str
    updated_at: datetime
    issued_at: date | None = None
    entity_id: str | None = None
    merged_to_invoice_id: str | None = None
    credits: Decimal | None = None  # account credit applied to it (MONEY.md), for the account-credit sync


@dataclass(frozen=True)
class CreditNoteItem:
    invoice_item_id: str | None
    line_text: str | None
    subtotal: Decimal
    amount: Decimal
    tax_amount: Decimal
    tax_code: str | None = None
    id: str | None = None
    quantity: int | None = None
    price: Decimal | None = None
    vat_code: str | None = None


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
    amount_applied: Decimal | None = None
    amount_unapplied: Decimal | None = None

    @property
    def is_write_off(self) -> bool:
        """Bad debt written off (CreditNoteKind WRITE_OFF), as opposed to a REFUND of money paid."""
        return self.kind == "WRITE_OFF"


@dataclass(frozen=True)
class Payment:
    """Money received from a customer (MONEY.md: payments). `amount` is what the customer paid (product's reading);
    the processor keeps `fees`; `applications` are its amounts applied to invoices; the rest is unapplied."""

    id: str
    entity_id: str | None
    account_id: str | None
    currency_code: str | None
    amount: Decimal
    fees: Decimal | None
    amount_unapplied: Decimal | None
    state: str  # PaymentState: APPLIED, PARTIALLY_APPLIED, UNAPPLIED
    processing_state: str  # PaymentProcessingState: PENDING, PROCESSING, SUCCEEDED, FAILED, DISPUTED
    payment_processor: str | None
    received_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    created_at: datetime | None = None
    remote_transaction_id: str | None = None
    applications: tuple[PaymentApplication, ...] = ()
    account: Account | None = None  # the paying customer, for matching the AIQ customer

    @property
    def is_succeeded(self) -> bool:
        """Only a SUCCEEDED payment is money received; pending and failed ones are not."""
        return self.processing_state == "SUCCEEDED"


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
class ReferenceLists:
    """What a posting run reads of Bunny once (`BunnyClient.reference_lists`): every currency, the entity's
    financial accounts and every price-list charge, each list whole."""

    currencies: tuple[Currency, ...]
    financial_accounts: tuple[FinancialAccount, ...]
    price_list_charges: tuple[PriceListCharge, ...]


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
