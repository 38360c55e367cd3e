"""Relay connections over the emulator's lists: Bunny's `filter:` and `sort:` strings, cursors and paging.

The filter columns say, per listed type, which fields the filter language may name and how to read them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from graphql import GraphQLError

from aiq_emulators.bunny.filters import Column, Kind, MalformedFilter, compile_filter, sort_key
from aiq_emulators.bunny.money import shown_state
from aiq_emulators.bunny.store import TenantStore

DEFAULT_PAGE = 25
MAX_PAGE = 100

View = dict[str, Any]


# -- filter columns ----------------------------------------------------------------------------------


def _col(kind: Kind, attr: str) -> Column:
    return Column(kind, lambda obj: getattr(obj, attr))


_STAMPS = {"createdAt": _col("datetime", "created_at"), "updatedAt": _col("datetime", "updated_at")}


def invoice_columns(store: TenantStore) -> dict[str, Column]:
    """Invoice filter columns; `state`, `amount`, `subtotal` and `credits` read what GraphQL shows under the options."""
    return {
        "id": _col("id", "id"),
        "number": _col("str", "number"),
        "state": Column("str", lambda invoice: shown_state(invoice, store.options)),
        "entityId": _col("id", "entity_id"),
        "accountId": _col("id", "account_id"),
        "currencyId": _col("id", "currency_id"),
        "issuedAt": _col("date", "issued_at"),
        "dueAt": _col("date", "due_at"),
        "paidAt": _col("datetime", "paid_at"),
        "amount": Column("num", lambda invoice: store.figures(invoice).amount),
        "subtotal": Column("num", lambda invoice: store.figures(invoice).subtotal),
        "credits": Column("num", lambda invoice: store.figures(invoice).credits),  # UNVERIFIED as a filter field
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
PAYMENT_COLUMNS: dict[str, Column] = {
    "id": _col("id", "id"),
    "accountId": _col("id", "account_id"),
    # Payment has `entity` but no `entityId` field; the filter naming the column is an UNVERIFIED reading.
    "entityId": _col("id", "entity_id"),
    "currencyId": _col("id", "currency_id"),
    "processingState": _col("str", "processing_state"),
    "paymentProcessor": _col("str", "payment_processor"),
    "amount": _col("num", "amount"),
    "receivedAt": _col("datetime", "received_at"),
    "completedAt": _col("datetime", "completed_at"),
    **_STAMPS,
}
PAYMENT_APPLICATION_COLUMNS: dict[str, Column] = {
    "id": _col("id", "id"),
    "paymentId": _col("id", "payment_id"),
    "invoiceId": _col("id", "invoice_id"),
    "currencyId": _col("id", "currency_id"),
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


def filter_sort(
    store: TenantStore, items: list[Any], columns: Mapping[str, Column], filter_text: str | None, sort: str | None
) -> list[Any]:
    # UNVERIFIED whether Bunny filters on `number` and `credits`: options; a refused field is an unknown one.
    refused = {
        name
        for name, option in (("number", store.options.number_filter), ("credits", store.options.credits_filter))
        if option == "refused"
    }
    columns = {name: column for name, column in columns.items() if name not in refused}
    try:
        predicate = compile_filter(filter_text, columns, store.today(), store.options.filter_grammar)
    except MalformedFilter as exc:
        raise GraphQLError("Malformed filter") from exc
    if sort and store.options.sort_honoured == "refused":  # UNVERIFIED, an option
        raise GraphQLError("Invalid sort")
    rows = sorted((i for i in items if predicate is None or predicate(i)), key=_id_key)
    order = sort_key(sort, columns) if store.options.sort_honoured == "yes" else None  # UNVERIFIED, an option
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
    rows = filter_sort(store, items, columns, filter, sort)
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
