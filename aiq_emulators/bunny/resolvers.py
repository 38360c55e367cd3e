"""Resolvers for the subset of Bunny's schema the product uses: views of stored objects, connections,
root queries and mutations, and scope enforcement per root field.

Every resolver reads `info.context`: `{"store": TenantStore, "scopes": set[str], "base_url": str}`.
Views are dicts keyed by the SDL's field names; relations are lambdas so nested selections resolve lazily.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from aiq_emulators.bunny.filters import Column, MalformedFilter, camel, compile_filter, sort_key
from aiq_emulators.bunny.models import (
    Account,
    CreditNote,
    CreditNoteItem,
    Currency,
    Entity,
    FinancialAccount,
    Invoice,
    InvoiceItem,
    PriceListCharge,
    cents,
)
from aiq_emulators.bunny.store import RuleViolation, TenantStore

DEFAULT_PAGE = 25
MAX_PAGE = 100

View = dict[str, Any]
Resolver = Callable[..., Any]


def money(value: Decimal | None) -> float | None:
    return None if value is None else float(cents(value))


def _store(info: GraphQLResolveInfo) -> TenantStore:
    return info.context["store"]


# -- views -------------------------------------------------------------------------------------------


def currency_view(currency: Currency) -> View:
    return {
        "id": currency.id,
        "isoCode": currency.iso_code,
        "name": currency.name,
        "symbol": currency.symbol,
        "enabled": True,
        "priority": int(currency.id),
    }


def entity_view(entity: Entity) -> View:
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
        "billingCountry": entity.billing_country,
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
        return entity_view(entity) if entity else None

    return resolve


def account_view(store: TenantStore, account: Account) -> View:
    contact = account.billing_contact
    contact_view = (
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
        return [invoice_view(store, inv) for inv in _filter_sort(store, own, INVOICE_COLUMNS, filter, sort)]

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
        "billingCountry": account.billing_country,
        "billingContactId": contact.id if contact else None,
        "billingContact": contact_view,
        "contacts": [contact_view] if contact_view else [],
        "secondaryBillingContacts": [],
        "secondaryBillingContactIds": [],
        "taxNumber": account.tax_number,
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


def _charge_view(store: TenantStore, invoice: Invoice, item: InvoiceItem) -> View:
    charge = store.find("price_list_charges", item.price_list_charge_id)
    common: View = {
        "id": item.id,
        "priceListChargeId": item.price_list_charge_id,
        "priceListCharge": (lambda: price_list_charge_view(store, charge)) if charge else None,
        "name": charge.name if charge else None,
        "chargeType": charge.charge_type if charge else None,
        "quantity": item.quantity,
        "discount": money(item.discount),
        "amount": money(item.amount),
        "subtotal": money(item.subtotal),
        "taxAmount": money(item.tax),
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


def invoice_item_view(store: TenantStore, invoice: Invoice, item: InvoiceItem) -> View:
    return {
        "id": item.id,
        "invoiceId": invoice.id,
        "invoice": lambda: invoice_view(store, invoice),
        "position": item.position,
        "lineText": item.line_text,
        "quantity": item.quantity,
        "price": money(item.price),
        "priceDecimals": 2,
        "subtotal": money(item.subtotal),
        "discount": money(item.discount),
        "amount": money(item.amount),
        "taxAmount": money(item.tax),
        "taxRate": float(item.tax_rate) if item.tax_rate is not None else None,
        "taxCode": item.tax_code,
        "vatCode": item.vat_code,
        "startDate": item.start_date,
        "endDate": item.end_date,
        "currencyId": invoice.currency_id,
        "isCredit": False,
        "isCoupon": False,
        "charge": lambda: _charge_view(store, invoice, item),
    }


_OPERATIONS = {
    "DRAFT": ["release", "edit", "delete"],
    "NOT_DUE": ["void", "pay", "refund", "write_off"],
    "DUE": ["void", "pay", "refund", "write_off"],
    "UNPAID": ["void", "pay", "refund", "write_off"],
    "PAID": ["refund"],
    "VOIDED": ["reissue"],
}


def invoice_view(store: TenantStore, invoice: Invoice) -> View:
    amount = invoice.amount
    paid = amount if invoice.state == "PAID" else Decimal("0")
    entity = store.entity(invoice.entity_id)
    return {
        "id": invoice.id,
        "uuid": invoice.uuid or invoice.id,
        "number": invoice.number,
        "state": invoice.state,
        "issuedAt": invoice.issued_at,
        "dueAt": invoice.due_at,
        "paidAt": invoice.paid_at,
        "createdAt": invoice.created_at,
        "updatedAt": invoice.updated_at,
        "currencyId": invoice.currency_id,
        "baseCurrencyId": entity.base_currency_id if entity else invoice.currency_id,
        "baseCurrencyTotal": money(amount * invoice.fx_rate),
        "subtotal": money(invoice.subtotal),
        "taxAmount": money(invoice.tax_amount),
        "amount": money(amount),
        "credits": 0.0,
        "amountPaid": money(paid),
        "amountDue": money(Decimal("0") if invoice.state == "VOIDED" else amount - paid),
        "netPaymentDays": invoice.net_payment_days,
        "description": invoice.description,
        "notes": invoice.notes,
        "internalNotes": invoice.internal_notes,
        "poNumber": invoice.po_number,
        "accountId": invoice.account_id,
        "account": lambda: _account_ref(store, invoice.account_id),
        "entity": _entity_ref(store, invoice.entity_id),
        "invoiceItems": lambda: [invoice_item_view(store, invoice, item) for item in invoice.items],
        "creditNotes": lambda: [
            credit_note_view(store, cn) for cn in store.tenant.credit_notes if cn.credited_invoice_id == invoice.id
        ],
        "isLegacy": False,
        "couponApplied": False,
        "operations": _OPERATIONS.get(invoice.state, []),
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
        for line in invoice.items if invoice else []:
            if line.id == item.invoice_item_id:
                return invoice_item_view(store, invoice, line)
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


# -- filter columns ----------------------------------------------------------------------------------


def _col(kind: str, attr: str) -> Column:
    return Column(kind, lambda obj: getattr(obj, attr))  # type: ignore[arg-type]


_STAMPS = {"createdAt": _col("datetime", "created_at"), "updatedAt": _col("datetime", "updated_at")}
INVOICE_COLUMNS: dict[str, Column] = {
    "id": _col("id", "id"),
    "number": _col("str", "number"),
    "state": _col("str", "state"),
    "entityId": _col("id", "entity_id"),
    "accountId": _col("id", "account_id"),
    "currencyId": _col("id", "currency_id"),
    "issuedAt": _col("date", "issued_at"),
    "dueAt": _col("date", "due_at"),
    "paidAt": _col("datetime", "paid_at"),
    "amount": _col("num", "amount"),
    "subtotal": _col("num", "subtotal"),
    "poNumber": _col("str", "po_number"),
    **_STAMPS,
}
CREDIT_NOTE_COLUMNS: dict[str, Column] = {
    "id": _col("id", "id"),
    "number": _col("str", "number"),
    "state": _col("str", "state"),
    "kind": _col("str", "kind"),
    "entityId": _col("id", "entity_id"),
    "accountId": _col("id", "account_id"),
    "creditedInvoiceId": _col("id", "credited_invoice_id"),
    "issuedAt": _col("date", "issued_at"),
    **_STAMPS,
}
ACCOUNT_COLUMNS: dict[str, Column] = {
    "id": _col("id", "id"),
    "code": _col("str", "code"),
    "name": _col("str", "name"),
    "entityId": _col("id", "entity_id"),
    "currencyId": _col("id", "currency_id"),
    "billingCountry": _col("str", "billing_country"),
    "billingState": _col("str", "billing_state"),
    **_STAMPS,
}
ENTITY_COLUMNS: dict[str, Column] = {"id": _col("id", "id"), "name": _col("str", "name"), **_STAMPS}
FINANCIAL_ACCOUNT_COLUMNS: dict[str, Column] = {
    "id": _col("id", "id"),
    "code": _col("str", "code"),
    "name": _col("str", "name"),
    "accountType": _col("str", "account_type"),
    "entityId": _col("id", "entity_id"),
    "active": _col("bool", "active"),
    "defaultAccount": _col("bool", "default_account"),
    "externalId": _col("str", "external_id"),
    "source": _col("str", "source"),
    **_STAMPS,
}
PRICE_LIST_CHARGE_COLUMNS: dict[str, Column] = {
    "id": _col("id", "id"),
    "code": _col("str", "code"),
    "name": _col("str", "name"),
    "chargeType": _col("str", "charge_type"),
    "financialAccountId": _col("id", "financial_account_id"),
    "taxCode": _col("str", "tax_code"),
    **_STAMPS,
}
CURRENCY_COLUMNS: dict[str, Column] = {
    "id": _col("id", "id"),
    "isoCode": _col("str", "iso_code"),
    "name": _col("str", "name"),
}


# -- connections ----------------------------------------------------------------------------------


def encode_cursor(position: int) -> str:
    # graphql-ruby style: url-safe base64 of the 1-based offset, no padding. Clients must treat it as opaque.
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise GraphQLError(f"Invalid cursor: {cursor!r}") from exc


def _id_key(obj: Any) -> tuple[int, str]:
    text = str(obj.id)
    return (int(text), text) if text.isdigit() else (1 << 62, text)


def _filter_sort(
    store: TenantStore, items: list[Any], columns: Mapping[str, Column], filter_text: str | None, sort: str | None
) -> list[Any]:
    try:
        predicate = compile_filter(filter_text, columns, store.today())
    except MalformedFilter as exc:
        raise GraphQLError("Malformed filter") from exc
    rows = sorted((i for i in items if predicate is None or predicate(i)), key=_id_key)
    order = sort_key(sort, columns)
    if order is not None:
        column, descending = order
        present = [r for r in rows if column.get(r) is not None]
        absent = [r for r in rows if column.get(r) is None]
        present.sort(key=lambda r: _sortable(column.get(r)), reverse=descending)
        rows = present + absent
    return rows


def _sortable(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def connection(
    store: TenantStore,
    items: list[Any],
    columns: Mapping[str, Column],
    view: Callable[[Any], View],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    filter: str | None = None,
    sort: str | None = None,
    **_ignored: Any,
) -> View:
    rows = _filter_sort(store, items, columns, filter, sort)
    for name, value in (("first", first), ("last", last)):
        if value is not None and value < 0:
            raise GraphQLError(f"Argument '{name}' must be non-negative")
    start = decode_cursor(after) if after else 0  # number of rows before the window
    end = decode_cursor(before) - 1 if before else len(rows)
    start, end = max(0, min(start, len(rows))), max(0, min(end, len(rows)))
    end = max(start, end)
    if first is None and last is None:
        first = DEFAULT_PAGE
    if first is not None:
        end = min(end, start + min(first, MAX_PAGE))
    if last is not None:
        start = max(start, end - min(last, MAX_PAGE))
    window = rows[start:end]
    edges = [{"cursor": encode_cursor(start + n + 1), "node": view(row)} for n, row in enumerate(window)]
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "totalCount": len(rows),
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": end < len(rows),
            "hasPreviousPage": start > 0,
        },
    }


# -- root resolvers -------------------------------------------------------------------------------


def _lookup(store: TenantStore, collection: str, id: str | None, code: str | None) -> Any:
    if id is not None:
        return store.find(collection, str(id))
    if code is not None:
        return store.find(collection, code=code)
    return None


def _query_resolvers() -> dict[str, Resolver]:
    def listing(collection: str, columns: Mapping[str, Column], make: Callable[[TenantStore, Any], View]) -> Resolver:
        def resolve(_root: Any, info: GraphQLResolveInfo, **args: Any) -> View:
            store = _store(info)
            items = list(getattr(store.tenant, collection))
            return connection(store, items, columns, lambda obj: make(store, obj), **args)

        return resolve

    def single(collection: str, make: Callable[[TenantStore, Any], View]) -> Resolver:
        def resolve(_root: Any, info: GraphQLResolveInfo, id: Any = None, code: Any = None, **_: Any) -> Any:
            store = _store(info)
            found = _lookup(store, collection, id, code)
            return make(store, found) if found else None

        return resolve

    def current_user(_root: Any, info: GraphQLResolveInfo) -> View:
        context = info.context
        return {
            "scopes": sorted(context["scopes"]),
            "entityId": context.get("entity_id"),
            "user": {"id": "1", "firstName": "API", "lastName": "Client", "fullName": "API Client", "name": "API"},
        }

    return {
        "invoices": listing("invoices", INVOICE_COLUMNS, invoice_view),
        "invoice": single("invoices", invoice_view),
        "creditNotes": listing("credit_notes", CREDIT_NOTE_COLUMNS, credit_note_view),
        "creditNote": single("credit_notes", credit_note_view),
        "accounts": listing("accounts", ACCOUNT_COLUMNS, account_view),
        "account": single("accounts", account_view),
        "entities": listing("entities", ENTITY_COLUMNS, lambda _s, e: entity_view(e)),
        "entity": single("entities", lambda _s, e: entity_view(e)),
        "financialAccounts": listing("financial_accounts", FINANCIAL_ACCOUNT_COLUMNS, financial_account_view),
        "financialAccount": single("financial_accounts", financial_account_view),
        "priceListCharges": listing("price_list_charges", PRICE_LIST_CHARGE_COLUMNS, price_list_charge_view),
        "priceListCharge": single("price_list_charges", price_list_charge_view),
        "currencies": listing("currencies", CURRENCY_COLUMNS, lambda _s, c: currency_view(c)),
        "currentUser": current_user,
    }


def snake_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """GraphQL input keys (camelCase) -> model attribute names (snake_case)."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        out[snake] = value
    return out


def _mutation_resolvers() -> dict[str, tuple[str, Resolver]]:
    """field -> (payload resource key, resolver)."""

    def run(action: Callable[[], View]) -> View:
        try:
            return action()
        except RuleViolation as exc:
            raise GraphQLError(str(exc)) from exc

    def fa_create(_root: Any, info: GraphQLResolveInfo, attributes: dict[str, Any]) -> View:
        store = _store(info)
        return run(
            lambda: {
                "errors": None,
                "financialAccount": financial_account_view(
                    store, store.create_financial_account(snake_attributes(attributes))
                ),
            }
        )

    def fa_update(_root: Any, info: GraphQLResolveInfo, id: str, attributes: dict[str, Any]) -> View:
        store = _store(info)
        return run(
            lambda: {
                "errors": None,
                "financialAccount": financial_account_view(
                    store, store.update_financial_account(id, snake_attributes(attributes))
                ),
            }
        )

    def fa_delete(_root: Any, info: GraphQLResolveInfo, id: str) -> View:
        store = _store(info)
        return run(
            lambda: {
                "errors": None,
                "financialAccount": financial_account_view(store, store.delete_financial_account(id)),
            }
        )

    def charge_update(_root: Any, info: GraphQLResolveInfo, id: str, attributes: dict[str, Any]) -> View:
        store = _store(info)
        return run(
            lambda: {
                "errors": None,
                "priceListCharge": price_list_charge_view(
                    store, store.update_price_list_charge(id, snake_attributes(attributes))
                ),
            }
        )

    def invoice_action(method: str) -> Resolver:
        def resolve(_root: Any, info: GraphQLResolveInfo, id: str) -> View:
            store = _store(info)
            return run(lambda: {"errors": None, "invoice": invoice_view(store, getattr(store, method)(id))})

        return resolve

    def invoice_update(_root: Any, info: GraphQLResolveInfo, id: str, attributes: dict[str, Any]) -> View:
        store = _store(info)
        return run(
            lambda: {
                "errors": None,
                "invoice": invoice_view(store, store.update_invoice(id, snake_attributes(attributes))),
            }
        )

    def invoice_refund(
        _root: Any, info: GraphQLResolveInfo, invoiceId: str, disputeReasonId: str | None = None
    ) -> View:
        store = _store(info)
        return run(
            lambda: {
                "errors": None,
                "creditNote": credit_note_view(store, store.refund_invoice(invoiceId, disputeReasonId)),
            }
        )

    return {
        "financialAccountCreate": ("financialAccount", fa_create),
        "financialAccountUpdate": ("financialAccount", fa_update),
        "financialAccountDelete": ("financialAccount", fa_delete),
        "priceListChargeUpdate": ("priceListCharge", charge_update),
        "invoiceRelease": ("invoice", invoice_action("release_invoice")),
        "invoiceVoid": ("invoice", invoice_action("void_invoice")),
        "invoiceUpdate": ("invoice", invoice_update),
        "invoiceRefund": ("creditNote", invoice_refund),
    }


# -- scopes ---------------------------------------------------------------------------------------


def _missing(info: GraphQLResolveInfo, needed: tuple[str, ...]) -> list[str]:
    granted: set[str] = info.context["scopes"]
    return [scope for scope in needed if scope not in granted]


def _guard_query(name: str, needed: tuple[str, ...], resolve: Resolver) -> Resolver:
    def guarded(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        missing = _missing(info, needed)
        if missing:
            raise GraphQLError(f"Missing required permission: {' '.join(missing)}, can't access field {name}")
        return resolve(root, info, **args)

    return guarded


def _guard_mutation(name: str, needed: tuple[str, ...], resource: str, resolve: Resolver) -> Resolver:
    mutation_class = name[:1].upper() + name[1:]

    def guarded(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        if _missing(info, needed):
            # Bunny's permission channel: payload errors next to a null resource (api-notes E2).
            return {
                "errors": [f"Missing required permission: write, can't access mutation {mutation_class}"],
                resource: None,
            }
        return resolve(root, info, **args)

    return guarded


def attach_resolvers(schema: GraphQLSchema) -> None:
    from aiq_emulators.bunny.schema import _scopes_of

    assert schema.query_type is not None and schema.mutation_type is not None
    query_scopes = _scopes_of(schema.query_type)
    mutation_scopes = _scopes_of(schema.mutation_type)
    for name, resolve in _query_resolvers().items():
        schema.query_type.fields[name].resolve = _guard_query(name, query_scopes.get(name, ()), resolve)
    for name, (resource, resolve) in _mutation_resolvers().items():
        schema.mutation_type.fields[name].resolve = _guard_mutation(
            name, mutation_scopes.get(name, ()), resource, resolve
        )
    # Root fields the emulator does not model: refuse clearly (after the scope check) instead of nulls.
    for root, scopes in ((schema.query_type, query_scopes), (schema.mutation_type, mutation_scopes)):
        for name, field in root.fields.items():
            if field.resolve is None:
                field.resolve = _guard_query(name, scopes.get(name, ()), _unsupported(name))


def _unsupported(name: str) -> Resolver:
    def resolve(_root: Any, _info: GraphQLResolveInfo, **_args: Any) -> Any:
        raise GraphQLError(f"{name} is not supported by the Bunny emulator")

    return resolve


__all__ = ["attach_resolvers", "camel", "connection", "decode_cursor", "encode_cursor", "invoice_view"]
