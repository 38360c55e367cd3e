"""Relay connections over the emulator's lists: Bunny's `filter:` and `sort:` strings, cursors and paging.

The filter columns say, per listed type, which fields the filter language may name and how to read them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
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


def _key_of_id(text: str) -> tuple[int, str]:
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
    order = _order(store, sort, columns)  # UNVERIFIED whether Bunny sorts: an option
    return sorted((i for i in items if predicate is None or predicate(i)), key=lambda row: _row_key(order, row))


def _sortable(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# -- stable cursors (the `cursors: "stable"` reading) ---------------------------------------------------


@functools.total_ordering
class _Descending:
    """A value that sorts the other way round (a `desc` column in a keyset key)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.value < self.value)


def _row_key(order: tuple[Column, bool] | None, row: Any) -> tuple[Any, ...]:
    return _position_key(order, order[0].get(row) if order is not None else None, str(row.id))


def _position_key(order: tuple[Column, bool] | None, value: Any, row_id: str) -> tuple[Any, ...]:
    """Where a row with this sort value and id stands in a list (`filter_sort`'s order, and a stable cursor's place
    in it): ids ascending; sorted, rows with a value first (ascending or descending), then rows without one, ties by
    id ascending."""
    id_key = _key_of_id(row_id)
    if order is None:
        return (id_key,)
    if value is None:
        return (1, 0, id_key)
    sortable = _sortable(value)
    return (0, _Descending(sortable) if order[1] else sortable, id_key)


def _encode_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return ["datetime", value.isoformat()]
    if isinstance(value, date):
        return ["date", value.isoformat()]
    if isinstance(value, Decimal | int | float):
        return ["num", str(value)]
    return ["str", str(value)]


def _decode_value(tagged: Any) -> Any:
    if tagged is None:
        return None
    kind, text = tagged
    return _DECODERS[kind](text)


_DECODERS: dict[str, Callable[[str], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "num": Decimal,
    "str": str,
}


def encode_stable_cursor(order: tuple[Column, bool] | None, row: Any) -> str:
    """The row's id and its sort value when the page was served (a keyset cursor): a row removed or moved since
    shifts nothing, because the next page starts after this key, not after a count of rows."""
    value = order[0].get(row) if order is not None else None
    text = json.dumps({"id": str(row.id), "v": _encode_value(value)})
    return "k" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _stable_key(order: tuple[Column, bool] | None, cursor: str) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(cursor[1:] + "=" * (-len(cursor[1:]) % 4)).decode()
        data = json.loads(raw)
        return _position_key(order, _decode_value(data["v"]), str(data["id"]))
    except (binascii.Error, UnicodeDecodeError, ValueError, ArithmeticError, KeyError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor: {cursor!r}") from exc


def _rows_before(rows: list[Any], order: tuple[Column, bool] | None, key: tuple[Any, ...], *, inclusive: bool) -> int:
    """How many of `rows` (in `filter_sort`'s order) stand before `key` (`inclusive`: or at it)."""
    keys = [_row_key(order, r) for r in rows]
    return sum(1 for k in keys if k < key or (inclusive and k == key))


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
    stable = store.options.cursors == "stable"  # UNVERIFIED, an option
    order = _order(store, sort, columns)
    start = _boundary(rows, order, after, stable, after=True) if after else 0  # number of rows before the window
    end = _boundary(rows, order, before, stable, after=False) if before else len(rows)
    start, end = max(0, min(start, len(rows))), max(0, min(end, len(rows)))
    end = max(start, end)
    if first is None and last is None:
        first = DEFAULT_PAGE
    if first is not None:
        end = min(end, start + min(first, MAX_PAGE))
    if last is not None:
        start = max(start, end - min(last, MAX_PAGE))
    window = rows[start:end]
    edges = [
        {"cursor": encode_stable_cursor(order, row) if stable else encode_cursor(start + n + 1), "node": view(row)}
        for n, row in enumerate(window)
    ]
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


def _order(store: TenantStore, sort: str | None, columns: Mapping[str, Column]) -> tuple[Column, bool] | None:
    return sort_key(sort, columns) if store.options.sort_honoured == "yes" else None


def _boundary(rows: list[Any], order: tuple[Column, bool] | None, cursor: str, stable: bool, *, after: bool) -> int:
    """Rows before the window's edge: `after` a cursor, the rows up to and including it; `before`, those before it.
    A position cursor counts rows (graphql-ruby's default); a stable one finds its key among today's rows."""
    if stable:
        if not cursor.startswith("k"):
            raise GraphQLError(f"Invalid cursor: {cursor!r}")
        return _rows_before(rows, order, _stable_key(order, cursor), inclusive=after)
    return decode_cursor(cursor) if after else decode_cursor(cursor) - 1
