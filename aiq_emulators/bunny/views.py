"""GraphQL views of the emulator's stored objects: dicts keyed by the SDL's field names.

Relations are lambdas so nested selections resolve lazily (the default field resolver calls them with the
field's arguments). Money leaves here as JSON numbers rounded to cents, as Bunny's `Float` fields do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from aiq_emulators.bunny.connections import PAYMENT_COLUMNS, connection, filter_sort, invoice_columns
from aiq_emulators.bunny.models import (
    Account,
    CreditNote,
    CreditNoteItem,
    Currency,
    EmulatorOptions,
    Entity,
    FinancialAccount,
    Invoice,
    Payment,
    PaymentApplication,
    PriceListCharge,
    cents,
)
from aiq_emulators.bunny.money import ShownItem, shown_country
from aiq_emulators.bunny.store import TenantStore

View = dict[str, Any]


def money(value: Decimal | None) -> float | None:
    return None if value is None else float(cents(value))


def rate(value: Decimal | None) -> float | None:
    """A rate as a JSON number, unrounded (13.5, 0.135)."""
    return None if value is None else float(value)


# -- objects -------------------------------------------------------------------------------------------


def currency_view(currency: Currency) -> View:
    return {
        "id": currency.id,
        "isoCode": currency.iso_code,
        "name": currency.name,
        "symbol": currency.symbol,
        "enabled": True,
        "priority": int(currency.id),
    }


def entity_view(entity: Entity, options: EmulatorOptions | None = None) -> View:
    return {
        "id": entity.id,
        "name": entity.name,
        "abbreviation": entity.abbreviation,
        "baseCurrencyId": entity.base_currency_id,
        "isDefault": entity.is_default,
        "invoiceNumberPrefix": entity.invoice_number_prefix,
        "invoiceNumberSeq": entity.invoice_number_seq,
        "billingStreet": entity.billing_street,
        "billingCity": entity.billing_city,
        "billingState": entity.billing_state,
        "billingZip": entity.billing_zip,
        "billingCountry": shown_country(entity.billing_country, options or EmulatorOptions()),
        "taxId": entity.tax_id,
        "taxType": entity.tax_type,
        "fiscalYearStartMonth": entity.fiscal_year_start_month,
        "timezone": entity.timezone,
        "createdAt": entity.created_at,
        "updatedAt": entity.updated_at,
    }


def _entity_ref(store: TenantStore, entity_id: str) -> Callable[[], View | None]:
    def resolve() -> View | None:
        entity = store.entity(entity_id)
        return entity_view(entity, store.options) if entity else None

    return resolve


def account_view(store: TenantStore, account: Account) -> View:
    contact = account.billing_contact
    contact_view: View | None = (
        {
            "id": contact.id,
            "firstName": contact.first_name,
            "lastName": contact.last_name,
            "fullName": " ".join(p for p in (contact.first_name, contact.last_name) if p),
            "email": contact.email,
            "phone": contact.phone,
            "accountId": account.id,
            "entityId": account.entity_id,
            "campaigns": [],
            "createdAt": contact.created_at,
            "updatedAt": contact.updated_at,
        }
        if contact
        else None
    )

    def invoices(filter: str | None = None, sort: str | None = None) -> list[View]:
        own = [inv for inv in store.tenant.invoices if inv.account_id == account.id]
        return [invoice_view(store, inv) for inv in filter_sort(store, own, invoice_columns(store), filter, sort)]

    currency = store.find("currencies", account.currency_id)
    return {
        "id": account.id,
        "code": account.code,
        "name": account.name,
        "entityId": account.entity_id,
        "entity": _entity_ref(store, account.entity_id),
        "currencyId": account.currency_id,
        "currency": currency_view(currency) if currency else None,
        "billingStreet": account.billing_street,
        "billingCity": account.billing_city,
        "billingState": account.billing_state,
        "billingZip": account.billing_zip,
        "billingCountry": shown_country(account.billing_country, store.options),
        "billingContactId": contact.id if contact else None,
        "billingContact": contact_view,
        "contacts": [contact_view] if contact_view else [],
        "secondaryBillingContacts": [],
        "secondaryBillingContactIds": [],
        "taxNumber": account.tax_number,
        "taxNumberValidated": account.tax_number_validated,
        "netPaymentDays": account.net_payment_days,
        "draftInvoices": account.draft_invoices,
        "consolidatedBilling": False,
        "invoices": invoices,
        "createdAt": account.created_at,
        "updatedAt": account.updated_at,
    }


def financial_account_view(store: TenantStore, account: FinancialAccount) -> View:
    label = account.account_type.replace("_", " ").capitalize() if account.account_type != "cpca" else "CPCA"
    return {
        "id": account.id,
        "code": account.code,
        "name": account.name,
        "longName": f"{account.code} - {account.name}" if account.code else account.name,
        "description": account.description,
        "accountNumber": account.account_number,
        "accountType": account.account_type,
        "accountTypeLabel": label,
        "active": account.active,
        "defaultAccount": account.default_account,
        "entityId": account.entity_id,
        "entity": _entity_ref(store, account.entity_id),
        "externalId": account.external_id,
        "source": account.source,
        "pluginId": account.plugin_id,
        "priceListChargeIds": [c.id for c in store.tenant.price_list_charges if c.financial_account_id == account.id],
        "createdAt": account.created_at,
        "updatedAt": account.updated_at,
    }


def price_list_charge_view(store: TenantStore, charge: PriceListCharge) -> View:
    def financial_account() -> View | None:
        target = store.find("financial_accounts", charge.financial_account_id) if charge.financial_account_id else None
        return financial_account_view(store, target) if target else None

    return {
        "id": charge.id,
        "code": charge.code,
        "name": charge.name,
        "longName": charge.name,
        "chargeType": charge.charge_type,
        "billingPeriod": charge.billing_period,
        "pricingModel": charge.pricing_model,
        "price": charge.price,
        "basePrice": money(charge.price),
        "priceDecimals": 2,
        "financialAccountId": charge.financial_account_id,
        "financialAccount": financial_account,
        "taxCode": charge.tax_code,
        "accountingCode": charge.accounting_code,
        "priceListId": charge.price_list_id,
        "productId": charge.product_id,
        "hidePeriodsOnInvoice": False,
        "createdAt": charge.created_at,
        "updatedAt": charge.updated_at,
    }


def _charge_view(store: TenantStore, invoice: Invoice, line: ShownItem) -> View:
    item = line.item
    charge = store.find("price_list_charges", item.price_list_charge_id)
    common: View = {
        "id": item.id,
        "priceListChargeId": item.price_list_charge_id,
        "priceListCharge": (lambda: price_list_charge_view(store, charge)) if charge else None,
        "name": charge.name if charge else None,
        "chargeType": charge.charge_type if charge else None,
        "quantity": item.quantity,
        "discount": money(line.discount),
        "amount": money(line.amount),
        "subtotal": money(line.subtotal),
        "taxAmount": money(line.tax),
        "createdAt": invoice.created_at,
        "updatedAt": invoice.updated_at,
    }
    if item.start_date:
        common["startDate"] = item.start_date
    if item.end_date:
        common["endDate"] = item.end_date
    if item.charge_kind == "quote":
        return {**common, "__typename": "QuoteCharge", "price": money(item.price), "currencyId": invoice.currency_id}
    return {**common, "__typename": "SubscriptionCharge", "price": str(cents(item.price))}


def invoice_item_view(store: TenantStore, invoice: Invoice, line: ShownItem, lines: Sequence[ShownItem]) -> View:
    """An InvoiceItem; its money comes from `money.shown_items` (the money table under the current options)."""
    item = line.item

    def credited_item() -> View | None:
        credited = next((other for other in lines if other.item.id == item.credited_item_id), None)
        return invoice_item_view(store, invoice, credited, lines) if credited else None

    return {
        "id": item.id,
        "invoiceId": invoice.id,
        "invoice": lambda: invoice_view(store, invoice),
        "position": item.position,
        "lineText": item.line_text,
        "quantity": item.quantity,
        "price": money(item.price),
        "priceDecimals": 2,
        "subtotal": money(line.subtotal),
        "discount": money(line.discount),
        "amount": money(line.amount),
        "taxAmount": money(line.tax),
        "taxRate": rate(line.tax_rate),
        "taxCode": line.tax_code,
        "vatCode": item.vat_code,
        "startDate": item.start_date,
        "endDate": item.end_date,
        "currencyId": invoice.currency_id,
        "isCredit": item.is_credit,
        "isCoupon": item.is_coupon,
        "couponId": item.coupon_id,
        "kind": item.kind,
        "prorationRate": rate(line.proration_rate),
        "comment": item.comment,
        "creditedItem": credited_item,
        "charge": lambda: _charge_view(store, invoice, line),
    }


_OPERATIONS = {
    "DRAFT": ["release", "edit", "delete"],
    "NOT_DUE": ["void", "pay", "refund", "write_off"],
    "DUE": ["void", "pay", "refund", "write_off"],
    "UNPAID": ["void", "pay", "refund", "write_off"],
    "PAID": ["refund"],
    "VOIDED": ["reissue"],
    "QUEUED": ["dequeue"],
}


def invoice_view(store: TenantStore, invoice: Invoice) -> View:
    """An Invoice; money and state come from `money.invoice_figures` (the money table under the options)."""
    shown = store.figures(invoice)
    entity = store.entity(invoice.entity_id)
    lines = shown.items

    def items() -> list[View]:
        return [invoice_item_view(store, invoice, line, lines) for line in lines]

    def credit_item() -> View | None:
        line = next((line for line in lines if line.item.is_credit), None)
        return invoice_item_view(store, invoice, line, lines) if line else None

    def invoice_ref(invoice_id: str | None) -> View | None:
        other = store.find("invoices", invoice_id) if invoice_id else None
        return invoice_view(store, other) if other else None

    return {
        "id": invoice.id,
        "uuid": invoice.uuid or invoice.id,
        "number": invoice.number,
        "state": shown.state,
        "issuedAt": invoice.issued_at,
        "dueAt": invoice.due_at,
        "paidAt": invoice.paid_at,
        "createdAt": invoice.created_at,
        "updatedAt": invoice.updated_at,
        "currencyId": invoice.currency_id,
        "baseCurrencyId": entity.base_currency_id if entity else invoice.currency_id,
        "baseCurrencyTotal": money(shown.amount * invoice.fx_rate),
        "subtotal": money(shown.subtotal),
        "taxAmount": money(shown.tax_amount),
        "taxRate": rate(shown.tax_rate),
        "amount": money(shown.amount),
        "credits": money(shown.credits),
        "amountPaid": money(shown.amount_paid),
        "amountDue": money(shown.amount_due),
        "netPaymentDays": invoice.net_payment_days,
        "description": invoice.description,
        "notes": invoice.notes,
        "internalNotes": invoice.internal_notes,
        "poNumber": invoice.po_number,
        "accountId": invoice.account_id,
        "account": lambda: _account_ref(store, invoice.account_id),
        "entity": _entity_ref(store, invoice.entity_id),
        "invoiceItems": items,
        "creditItem": credit_item,
        "creditNotes": lambda: [
            credit_note_view(store, cn) for cn in store.tenant.credit_notes if cn.credited_invoice_id == invoice.id
        ],
        "mergedInvoices": lambda: [v for v in (invoice_ref(i) for i in invoice.merged_invoice_ids) if v],
        "paymentApplications": lambda: [payment_application_view(store, a) for a in store.applications_to(invoice.id)],
        "payments": lambda **args: connection(
            store,
            [p for p in store.tenant.payments if any(a.invoice_id == invoice.id for a in store.applications_of(p.id))],
            PAYMENT_COLUMNS,
            lambda payment: payment_view(store, payment),
            **args,
        ),
        "mergedToInvoice": lambda: invoice_ref(invoice.merged_to_invoice_id),
        "isLegacy": False,
        "couponApplied": shown.coupon_applied,
        "operations": _OPERATIONS.get(shown.state, []),
        "url": f"{store_base_url(store)}/app/invoices/{invoice.uuid or invoice.id}",
        "portalUrl": f"{store_base_url(store)}/portal/invoices/{invoice.uuid or invoice.id}",
    }


def store_base_url(store: TenantStore) -> str:
    return store.public_url


def _account_ref(store: TenantStore, account_id: str) -> View | None:
    account = store.find("accounts", account_id)
    return account_view(store, account) if account else None


def credit_note_item_view(store: TenantStore, note: CreditNote, item: CreditNoteItem) -> View:
    def invoice_item() -> View | None:
        invoice = store.find("invoices", note.credited_invoice_id) if note.credited_invoice_id else None
        if invoice is None:
            return None
        lines = store.figures(invoice).items
        for line in lines:
            if line.item.id == item.invoice_item_id:
                return invoice_item_view(store, invoice, line, lines)
        return None

    return {
        "id": item.id,
        "invoiceItemId": item.invoice_item_id,
        "invoiceItem": invoice_item,
        "position": item.position,
        "lineText": item.line_text,
        "quantity": item.quantity,
        "price": money(item.price),
        "priceDecimals": 2,
        "subtotal": money(item.subtotal),
        "amount": money(item.subtotal),
        "taxAmount": money(item.tax_amount),
        "taxCode": item.tax_code,
        "vatCode": item.vat_code,
        "currencyId": note.currency_id,
    }


def credit_note_view(store: TenantStore, note: CreditNote) -> View:
    applied = note.amount if note.state == "APPLIED" else Decimal("0")

    def credited_invoice() -> View | None:
        invoice = store.find("invoices", note.credited_invoice_id) if note.credited_invoice_id else None
        return invoice_view(store, invoice) if invoice else None

    return {
        "id": note.id,
        "uuid": note.uuid or note.id,
        "number": note.number,
        "kind": note.kind,
        "state": note.state,
        "issuedAt": note.issued_at,
        "amount": money(note.amount),
        "subtotal": money(note.subtotal),
        "taxAmount": money(note.tax_amount),
        "amountApplied": money(applied),
        "amountUnapplied": money(note.amount - applied),
        "currencyId": note.currency_id,
        "accountId": note.account_id,
        "account": lambda: _account_ref(store, note.account_id),
        "entityId": note.entity_id,
        "entity": _entity_ref(store, note.entity_id),
        "creditedInvoiceId": note.credited_invoice_id,
        "creditedInvoice": credited_invoice,
        "disputeReasonId": note.dispute_reason_id,
        "creditNoteItems": lambda: [credit_note_item_view(store, note, item) for item in note.items],
        "description": note.description,
        "isCredit": note.kind == "CREDIT",
        "isLegacy": False,
        "operations": [],
        "createdAt": note.created_at,
        "updatedAt": note.updated_at,
    }


def payment_view(store: TenantStore, payment: Payment) -> View:
    """A Payment; `amount` per the `payment_amount` reading (MONEY.md), the state from its applications."""
    amount = payment.amount - payment.fees if store.options.payment_amount == "net_of_fees" else payment.amount
    entity = store.entity(payment.entity_id)

    def applied_to(**args: Any) -> View:
        ids = {a.invoice_id for a in store.applications_of(payment.id)}
        invoices = [i for i in store.tenant.invoices if i.id in ids]
        return connection(store, invoices, invoice_columns(store), lambda i: invoice_view(store, i), **args)

    return {
        "id": payment.id,
        "amount": money(amount),
        "fees": money(payment.fees),
        "amountUnapplied": money(store.unapplied(payment)),
        "state": store.payment_state(payment),
        "processingState": payment.processing_state,
        "currencyId": payment.currency_id,
        "baseCurrencyId": entity.base_currency_id if entity else None,
        "accountId": payment.account_id,
        "account": lambda: _account_ref(store, payment.account_id),
        "entity": _entity_ref(store, payment.entity_id),
        "paymentProcessor": payment.payment_processor,
        "receivedAt": payment.received_at,
        "completedAt": payment.completed_at,
        "startedAt": payment.received_at,
        "remoteTransactionId": payment.remote_transaction_id,
        "errorCode": payment.error_code,
        "errorMessage": payment.error_message,
        "memo": payment.memo,
        "description": payment.description,
        "isLegacy": False,
        "appliedToInvoices": applied_to,
        "createdAt": payment.created_at,
        "updatedAt": payment.updated_at,
    }


def payment_application_view(store: TenantStore, application: PaymentApplication) -> View:
    def invoice() -> View | None:
        found = store.find("invoices", application.invoice_id)
        return invoice_view(store, found) if found else None

    payment = store.find("payments", application.payment_id)
    return {
        "id": application.id,
        "paymentId": application.payment_id,
        "invoiceId": application.invoice_id,
        "invoice": invoice,
        "amount": money(application.amount),
        "currencyId": application.currency_id,
        "paymentType": application.payment_type,
        "memo": application.memo,
        "account": (lambda: _account_ref(store, payment.account_id)) if payment else None,
        "createdAt": application.created_at,
        "updatedAt": application.updated_at,
    }
