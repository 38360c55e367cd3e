"""The Bunny emulator's tenant data: fixture format and persisted state (pydantic models).

A fixture is one JSON object (a `Tenant`); the persisted state file (`<state_dir>/bunny-state.json`) is
the same object plus the issued tokens. Keys are snake_case; ids are numeric strings; money is a JSON
number or a decimal string (kept as `Decimal`); dates are ``YYYY-MM-DD``; timestamps ISO 8601 (naive = UTC).

```json
{
  "entities": [{"id": "1", "name": "Demo Trading Ltd", "abbreviation": "DTL", "base_currency_id": "1",
                "invoice_number_prefix": "INV-", "invoice_number_seq": 1001, "billing_country": "IE"}],
  "api_clients": [{"client_id": "demo-bunny-client", "client_secret": "demo-bunny-secret",
                   "scopes": ["standard:read", "billing:read"], "access_token_expires_in": 7200,
                   "client_credentials_enabled": true, "entity_id": null}],
  "currencies": [{"id": "1", "iso_code": "EUR", "name": "Euro", "symbol": "€"}],
  "accounts": [{"id": "1", "code": "ACME", "name": "Acme", "entity_id": "1", "currency_id": "1",
                "billing_street": "1 Main St", "billing_city": "Dublin", "billing_country": "IE",
                "billing_contact": {"id": "1", "first_name": "Ann", "last_name": "Lee", "email": "a@x.ie"}}],
  "financial_accounts": [{"id": "1", "entity_id": "1", "code": "4000", "name": "Subscription revenue",
                          "account_type": "earned_revenue", "default_account": true, "source": "accountsiq"}],
  "price_list_charges": [{"id": "1", "code": "SUB-MONTHLY", "name": "Monthly subscription",
                          "charge_type": "RECURRING", "price": "49.00", "financial_account_id": null}],
  "invoices": [{"id": "1", "entity_id": "1", "account_id": "1", "currency_id": "1", "state": "PAID",
                "number": "INV-1001", "issued_at": "2026-06-02", "due_at": "2026-07-02",
                "items": [{"id": "1", "price_list_charge_id": "1", "charge_kind": "subscription",
                           "quantity": 1, "price": "49.00", "discount": "0", "tax_rate": "23",
                           "tax_amount": "11.27", "tax_code": "V01"}]}],
  "credit_notes": [{"id": "1", "kind": "REFUND", "state": "READY", "entity_id": "1", "account_id": "1",
                    "currency_id": "1", "credited_invoice_id": "1",
                    "items": [{"id": "1", "invoice_item_id": "1", "quantity": 1, "price": "49.00",
                               "tax_amount": "11.27"}]}]
}
```

What is stored are the economic facts of each document (quantity, unit price, discount, tax rate as a
percentage, credit applied, amounts paid). What GraphQL shows is computed from them in `money.py`, following the
money table `aiq_pipeline/bunny/MONEY.md` and the emulator's `options` (one value per UNVERIFIED reading). The
properties below are those facts: item `subtotal` = quantity x price, `net` (= `amount`) = subtotal - discount,
`tax` = the given tax amount, else net x tax_rate / 100 rounded half-up; invoice `subtotal` = sum of item nets,
`tax_amount` = sum of item taxes, `amount` (the gross value) = subtotal + tax_amount.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CENT = Decimal("0.01")
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

InvoiceStateName = Literal[
    "PREPARING",
    "FAILED",
    "DRAFT",
    "READY",
    "NOT_DUE",
    "DUE",
    "UNPAID",
    "PROCESSING_PAYMENT",
    "PAID",
    "VOIDED",
    "QUEUED",
    "CONSOLIDATED",
    "MERGED",
]
QuoteChangeKindName = Literal[
    "ACTIVATE",
    "ADJUSTMENT",
    "COUPON",
    "CREDIT",
    "DISCOUNT",
    "FREE_PERIOD_DISCOUNT",
    "PRICE_UPDATE",
    "QUANTITY_UPDATE",
    "REINSTATE",
    "RENEW",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "UPDATE",
]
FinancialAccountTypeName = Literal[
    "accounts_payable",
    "accounts_receivable",
    "bad_debt",
    "banking_fees",
    "conversion_gain",
    "conversion_loss",
    "cpca",
    "customer_advances",
    "deferred_revenue",
    "earned_revenue",
    "payments",
    "tax_payable",
]


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _utc(value: dt.datetime) -> dt.datetime:
    # Bunny exposes whole seconds; storing whole seconds keeps filters and what clients see in agreement.
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _Stamped(_Model):
    created_at: dt.datetime = EPOCH
    updated_at: dt.datetime = EPOCH

    @field_validator("created_at", "updated_at")
    @classmethod
    def _whole_seconds_utc(cls, value: dt.datetime) -> dt.datetime:
        return _utc(value)


class EmulatorOptions(_Model):
    """One value per UNVERIFIED reading of Bunny's money and state fields (aiq_pipeline/bunny/MONEY.md).

    The defaults are the readings the product chose; every other value is a reading a real tenant might follow.
    Set at start (fixture `options`, `create_app(options=...)`) or at run time (`POST /_emulator/options`).
    """

    # Invoice.subtotal: the sum of the lines after their discounts, or before them ("total without discount").
    subtotal_semantics: Literal["after_discount", "before_discount"] = "after_discount"
    # InvoiceItem.amount: the line after its discount (subtotal - discount), or the same as its subtotal.
    item_amount_semantics: Literal["after_discount", "before_discount"] = "after_discount"
    # Invoice.amount: the full value (credits applied later reduce amountDue only), or already less `credits`.
    amount_includes_credits: bool = False
    # isCredit lines: ordinary lines summed into `subtotal`, or left out of it and reported in `credits`.
    credit_lines: Literal["in_subtotal", "in_credits"] = "in_subtotal"
    # Invoice.taxAmount: the sum of the lines' rounded taxes, or each rate's tax rounded once on the document
    # (then it can differ from the sum of the lines by a cent or two).
    tax_rounding: Literal["per_line", "per_document"] = "per_line"
    # taxRate on lines and invoices: 23.0 (percent) or 0.23 (fraction).
    tax_rate_units: Literal["percent", "fraction"] = "percent"
    # InvoiceItem.prorationRate: 50.0 ("Proration percentage", the SDL's docstring elsewhere) or 0.5.
    proration_rate_units: Literal["percent", "fraction"] = "percent"
    # A coupon: its own negative line (isCoupon, couponId), or spread into the discounted lines' `discount`.
    coupon_shape: Literal["line", "discount"] = "line"
    # Consolidated billing: the queued invoices become CONSOLIDATED and the new combined invoice is an ordinary
    # invoice (Bunny's docs), or the queued ones become MERGED and the combined one is CONSOLIDATED.
    consolidation: Literal["components_consolidated", "combined_consolidated"] = "components_consolidated"
    # InvoiceItem.taxCode: what the document was given (a VAT code), or the price-list charge's tax code (the tax
    # engine's product code, as with Avalara).
    tax_code_source: Literal["given", "charge"] = "given"
    # Account/Entity billingCountry and shippingCountry: "IE" or "Ireland".
    country_format: Literal["alpha2", "name"] = "alpha2"
    # A released invoice worth nothing: PAID at once, or NOT_DUE/DUE like any other.
    zero_invoice_state: Literal["paid", "normal"] = "paid"
    # Payment.amount: what the customer paid (the processor's fees are in `fees`), or what reached the bank.
    payment_amount: Literal["gross", "net_of_fees"] = "gross"
    # The `filter:` language: the documented grammar (api-notes §3.2: `=`, `in [..]`, dates, `and`/`or`...), or one
    # `field = 'value'` clause only (Bunny's agent skills report `>=`, `AND`, `OR` give `Malformed filter`).
    filter_grammar: Literal["documented", "single_equals"] = "documented"
    # `number` in a `filter:` on invoices and credit notes: accepted like any string field, or an unknown field
    # (`Malformed filter`). No source shows Bunny filtering on `number` (api-notes E5 only lists it as needed).
    number_filter: Literal["accepted", "refused"] = "accepted"
    # `credits` in a `filter:` on invoices (how the payments sensor finds account credit): accepted like any number
    # field, or an unknown field (`Malformed filter`). UNVERIFIED: no source shows Bunny filtering on `credits`.
    credits_filter: Literal["accepted", "refused"] = "accepted"
    # `sort:` on connections (how the client asks for invoice references newest first): honoured, ignored (the
    # default order, ids ascending, kept), or refused with an error (`Invalid sort`, text unknown). UNVERIFIED: the
    # SDL takes `sort: String` but shows no form beyond `webhookEvents`' default `created_at DESC` (api-notes §3.3).
    sort_honoured: Literal["yes", "ignored", "refused"] = "yes"
    # A query selecting several root fields (how the client reads a posting run's currencies, financial accounts and
    # price-list charges in one request): run, as GraphQL and graphql-ruby do, or refused before running with
    # graphql-ruby's `max_complexity` error. UNVERIFIED: no source shows Bunny's complexity or depth limits.
    combined_reads: Literal["accepted", "refused"] = "accepted"
    # Connection cursors: a row's position (graphql-ruby's default: url-safe base64 of the 1-based offset, so a row
    # leaving the list between two pages moves every later row up one place), or stable keyset cursors (the row's
    # sort key: nothing shifts). UNVERIFIED which Bunny uses: its cursors are opaque.
    cursors: Literal["position", "stable"] = "position"
    # A refund (a REFUND credit note on an invoice, or a payment's refund): at most what was paid on the invoice,
    # its amountPaid less earlier refunds, a larger one refused (Bunny's docs: a refund is "up to the paid
    # amount"); or no bound, so an invoice nobody paid can be refunded and stays due. UNVERIFIED: the docs say so,
    # no tenant was seen refusing (or allowing) a larger refund.
    refund_bound: Literal["paid", "none"] = "paid"


class Entity(_Stamped):
    id: str
    name: str
    abbreviation: str = ""
    base_currency_id: str
    is_default: bool = False
    invoice_number_prefix: str = "INV-"
    invoice_number_seq: int = 1
    credit_note_number_prefix: str = "CN-"
    credit_note_number_seq: int = 1
    billing_street: str | None = None
    billing_city: str | None = None
    billing_state: str | None = None
    billing_zip: str | None = None
    billing_country: str | None = None
    tax_id: str | None = None
    tax_type: Literal["EIN", "GENERIC", "GST", "VAT"] | None = None
    fiscal_year_start_month: int = 0
    timezone: str = "UTC"


class ApiClient(_Model):
    client_id: str
    client_secret: str = Field(repr=False)
    scopes: list[str]
    access_token_expires_in: int = 7200
    client_credentials_enabled: bool = True
    entity_id: str | None = None


class Currency(_Model):
    id: str
    iso_code: str
    name: str
    symbol: str | None = None


class Contact(_Stamped):
    id: str
    first_name: str
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None


class Account(_Stamped):
    id: str
    code: str | None = None
    name: str
    entity_id: str
    currency_id: str
    billing_street: str | None = None
    billing_city: str | None = None
    billing_state: str | None = None
    billing_zip: str | None = None
    billing_country: str | None = None
    billing_contact: Contact | None = None
    tax_number: str | None = None
    tax_number_validated: bool | None = None
    net_payment_days: int = 30
    draft_invoices: bool = False


class FinancialAccount(_Stamped):
    id: str
    entity_id: str
    code: str | None = None
    name: str
    description: str | None = None
    account_number: str | None = None
    account_type: FinancialAccountTypeName
    active: bool = True
    default_account: bool = False
    external_id: str | None = None
    source: str | None = None
    plugin_id: str | None = None


class PriceListCharge(_Stamped):
    id: str
    code: str | None = None
    name: str
    charge_type: Literal["ONE_TIME", "RECURRING", "USAGE"] = "RECURRING"
    billing_period: Literal["ANNUAL", "MONTHLY", "ONCE", "QUARTERLY", "SEMI_ANNUAL"] | None = None
    pricing_model: Literal["BANDS", "FLAT", "TIERED", "VOLUME"] = "FLAT"
    price: Decimal = Decimal("0")
    financial_account_id: str | None = None
    tax_code: str | None = None
    accounting_code: str | None = None
    price_list_id: str = "1"
    product_id: str = "1"


class InvoiceItem(_Model):
    id: str
    position: int = 1
    line_text: str | None = None
    price_list_charge_id: str
    # Which member of the `Charge` union the line's charge is.
    charge_kind: Literal["subscription", "quote"] = "subscription"
    quantity: int = 1
    price: Decimal  # negative on credit, coupon and proration-credit lines
    discount: Decimal = Decimal("0")
    tax_rate: Decimal | None = None  # always a percentage here; GraphQL shows it per `tax_rate_units`
    tax_amount: Decimal | None = None
    tax_code: str | None = None
    vat_code: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    is_credit: bool = False
    is_coupon: bool = False
    coupon_id: str | None = None
    kind: QuoteChangeKindName | None = None
    proration_rate: Decimal | None = None  # a fraction here (0.5); GraphQL shows it per `proration_rate_units`
    credited_item_id: str | None = None  # the invoice item a credit line credits (InvoiceItem.creditedItem)
    comment: str | None = None

    @property
    def subtotal(self) -> Decimal:
        return cents(self.price * self.quantity)

    @property
    def net(self) -> Decimal:
        return cents(self.subtotal - self.discount)

    @property
    def amount(self) -> Decimal:
        return self.net

    @property
    def tax(self) -> Decimal:
        if self.tax_amount is not None:
            return cents(self.tax_amount)
        if self.tax_rate is not None:
            return cents(self.net * self.tax_rate / 100)
        return Decimal("0.00")


class Invoice(_Stamped):
    id: str
    uuid: str = ""
    number: str | None = None
    state: InvoiceStateName = "DRAFT"
    entity_id: str
    account_id: str
    currency_id: str
    # invoice currency -> entity base currency, for baseCurrencyTotal
    fx_rate: Decimal = Decimal("1")
    issued_at: dt.date | None = None
    due_at: dt.date | None = None
    paid_at: dt.datetime | None = None
    net_payment_days: int = 30
    description: str = ""
    notes: str | None = None
    internal_notes: str | None = None
    po_number: str | None = None
    items: list[InvoiceItem] = []
    # Account credit applied to the invoice (a settlement, Invoice.credits); never more than its gross.
    credits_applied: Decimal = Decimal("0")
    # Money received against it; None: derived from the state (PAID means paid in full), as fixtures write it.
    amount_paid: Decimal | None = None
    # Consolidated billing: the combined invoice lists its components; each component names the combined one.
    merged_invoice_ids: list[str] = []
    merged_to_invoice_id: str | None = None

    @property
    def subtotal(self) -> Decimal:
        return sum((item.net for item in self.items), Decimal("0.00"))

    @property
    def tax_amount(self) -> Decimal:
        return sum((item.tax for item in self.items), Decimal("0.00"))

    @property
    def amount(self) -> Decimal:
        return self.subtotal + self.tax_amount


class CreditNoteItem(_Model):
    id: str
    invoice_item_id: str | None = None
    position: int = 1
    line_text: str | None = None
    quantity: int = 1
    price: Decimal
    tax_amount: Decimal = Decimal("0")
    tax_code: str | None = None
    vat_code: str | None = None

    @property
    def subtotal(self) -> Decimal:
        return cents(self.price * self.quantity)


class CreditNote(_Stamped):
    id: str
    uuid: str = ""
    number: str | None = None
    kind: Literal["CREDIT", "REFUND", "WRITE_OFF"] = "REFUND"
    state: Literal["PREPARING", "DRAFT", "READY", "PARTIALLY_APPLIED", "APPLIED"] = "READY"
    entity_id: str
    account_id: str
    currency_id: str
    credited_invoice_id: str | None = None
    dispute_reason_id: str | None = None
    issued_at: dt.date | None = None
    description: str = ""
    items: list[CreditNoteItem] = []

    @property
    def subtotal(self) -> Decimal:
        return sum((item.subtotal for item in self.items), Decimal("0.00"))

    @property
    def tax_amount(self) -> Decimal:
        return sum((cents(item.tax_amount) for item in self.items), Decimal("0.00"))

    @property
    def amount(self) -> Decimal:
        return self.subtotal + self.tax_amount


class Payment(_Stamped):
    """Money received (or being collected) from a customer. `amount` is what the customer paid; the processor
    keeps `fees`. Applications to invoices are `PaymentApplication`s; the state follows from them."""

    id: str
    entity_id: str
    account_id: str
    currency_id: str
    amount: Decimal
    fees: Decimal = Decimal("0")
    processing_state: Literal["PENDING", "PROCESSING", "SUCCEEDED", "FAILED", "DISPUTED"] = "SUCCEEDED"
    payment_processor: str | None = None
    payment_type: str | None = None  # how it was paid: card, wire transfer, ACH, manual (Bunny's docs)
    received_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    remote_transaction_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    memo: str = ""
    description: str = ""
    # Invoices to settle once the payment succeeds (a pending payment is applied when it completes).
    intended_invoice_ids: list[str] = []


class PaymentApplication(_Stamped):
    """One payment's amount applied to one invoice."""

    id: str
    payment_id: str
    invoice_id: str
    amount: Decimal
    currency_id: str
    payment_type: str | None = None
    memo: str | None = None


class IssuedToken(_Model):
    # Only a SHA-256 digest of the token is kept, so a state file never holds a usable secret.
    digest: str
    client_id: str
    scopes: list[str]
    expires_at: dt.datetime


class Tenant(_Model):
    """A whole tenant: the fixture format, and (with `tokens`) the persisted state."""

    entities: list[Entity] = []
    api_clients: list[ApiClient] = []
    currencies: list[Currency] = []
    accounts: list[Account] = []
    financial_accounts: list[FinancialAccount] = []
    price_list_charges: list[PriceListCharge] = []
    invoices: list[Invoice] = []
    credit_notes: list[CreditNote] = []
    payments: list[Payment] = []
    payment_applications: list[PaymentApplication] = []
    tokens: list[IssuedToken] = []
    options: EmulatorOptions = Field(default_factory=EmulatorOptions)
