"""Root resolvers for the subset of Bunny's schema the product uses, and scope enforcement per root field.

Every resolver reads `info.context`: `{"store": TenantStore, "scopes": set[str], "entity_id": str | None}`.
Object views live in `views.py`, connections (filter, sort, paging) in `connections.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from aiq_emulators.bunny.connections import (
    ACCOUNT_COLUMNS,
    CREDIT_NOTE_COLUMNS,
    CURRENCY_COLUMNS,
    ENTITY_COLUMNS,
    FINANCIAL_ACCOUNT_COLUMNS,
    PAYMENT_APPLICATION_COLUMNS,
    PAYMENT_COLUMNS,
    PRICE_LIST_CHARGE_COLUMNS,
    connection,
    invoice_columns,
)
from aiq_emulators.bunny.filters import Column
from aiq_emulators.bunny.schema import scopes_of
from aiq_emulators.bunny.store import RuleViolation, TenantStore
from aiq_emulators.bunny.views import (
    View,
    account_view,
    credit_note_view,
    currency_view,
    entity_view,
    financial_account_view,
    invoice_view,
    payment_application_view,
    payment_view,
    price_list_charge_view,
)

Resolver = Callable[..., Any]
Columns = Mapping[str, Column] | Callable[[TenantStore], Mapping[str, Column]]


def _store(info: GraphQLResolveInfo) -> TenantStore:
    store: TenantStore = info.context["store"]
    return store


# -- root resolvers -------------------------------------------------------------------------------


def _lookup(store: TenantStore, collection: str, id: str | None, code: str | None) -> Any:
    if id is not None:
        return store.find(collection, str(id))
    if code is not None:
        return store.find(collection, code=code)
    return None


def _query_resolvers() -> dict[str, Resolver]:
    def listing(collection: str, columns: Columns, make: Callable[[TenantStore, Any], View]) -> Resolver:
        def resolve(_root: Any, info: GraphQLResolveInfo, **args: Any) -> View:
            store = _store(info)
            items = list(getattr(store.tenant, collection))
            fields = columns(store) if callable(columns) else columns
            return connection(store, items, fields, lambda obj: make(store, obj), **args)

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
        "invoices": listing("invoices", invoice_columns, invoice_view),
        "invoice": single("invoices", invoice_view),
        "creditNotes": listing("credit_notes", CREDIT_NOTE_COLUMNS, credit_note_view),
        "creditNote": single("credit_notes", credit_note_view),
        "accounts": listing("accounts", ACCOUNT_COLUMNS, account_view),
        "account": single("accounts", account_view),
        "entities": listing("entities", ENTITY_COLUMNS, lambda s, e: entity_view(e, s.options)),
        "entity": single("entities", lambda s, e: entity_view(e, s.options)),
        "financialAccounts": listing("financial_accounts", FINANCIAL_ACCOUNT_COLUMNS, financial_account_view),
        "financialAccount": single("financial_accounts", financial_account_view),
        "priceListCharges": listing("price_list_charges", PRICE_LIST_CHARGE_COLUMNS, price_list_charge_view),
        "priceListCharge": single("price_list_charges", price_list_charge_view),
        "currencies": listing("currencies", CURRENCY_COLUMNS, lambda _s, c: currency_view(c)),
        "payments": listing("payments", PAYMENT_COLUMNS, payment_view),
        "payment": single("payments", payment_view),
        "paymentApplications": listing("payment_applications", PAYMENT_APPLICATION_COLUMNS, payment_application_view),
        "paymentApplication": single("payment_applications", payment_application_view),
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

    def invoice_write_off(
        _root: Any, info: GraphQLResolveInfo, invoiceId: str, disputeReasonId: str | None = None
    ) -> View:
        # The SDL types InvoiceWriteOffPayload.creditNote as an `Invoice`: it answers the written-off invoice.
        store = _store(info)

        def write_off() -> View:
            note = store.write_off_invoice(invoiceId, disputeReasonId)
            return {"errors": None, "creditNote": invoice_view(store, store._invoice(str(note.credited_invoice_id)))}

        return run(write_off)

    return {
        "financialAccountCreate": ("financialAccount", fa_create),
        "financialAccountUpdate": ("financialAccount", fa_update),
        "financialAccountDelete": ("financialAccount", fa_delete),
        "priceListChargeUpdate": ("priceListCharge", charge_update),
        "invoiceRelease": ("invoice", invoice_action("release_invoice")),
        "invoiceVoid": ("invoice", invoice_action("void_invoice")),
        "invoiceUpdate": ("invoice", invoice_update),
        "invoiceRefund": ("creditNote", invoice_refund),
        "invoiceWriteOff": ("creditNote", invoice_write_off),
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
    assert schema.query_type is not None and schema.mutation_type is not None
    query_scopes = scopes_of(schema.query_type)
    mutation_scopes = scopes_of(schema.mutation_type)
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
