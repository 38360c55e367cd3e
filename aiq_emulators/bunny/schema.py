"""Bunny's real SDL (vendored in `contract/schema.graphql`) made executable.

The schema object is `build_schema` of the vendored file, loaded once; nothing about types, fields,
arguments, nullability or enum spellings is written by hand. This module only adds behaviour:
custom scalar (de)serialisation as graphql-ruby does it, union type resolution for `Charge`, the
per-root-field scopes parsed from the `[REQUIRED_SCOPES:...]` docstrings, and a default field resolver
that reads the emulator's view dicts and refuses to invent values for fields it does not model.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    StringValueNode,
    build_schema,
    is_non_null_type,
)

SDL_PATH = Path(__file__).with_name("contract") / "schema.graphql"
_SCOPES = re.compile(r"\[REQUIRED_SCOPES:([^\]]*)\]")


def format_datetime(value: dt.datetime) -> str:
    # graphql-ruby's ISO8601DateTime: whole seconds, UTC written as "Z".
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _serialize_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        raise GraphQLError(f"ISO8601Date cannot represent {value!r}")
    return value.isoformat()


def _serialize_datetime(value: Any) -> str:
    if not isinstance(value, dt.datetime):
        raise GraphQLError(f"ISO8601DateTime cannot represent {value!r}")
    return format_datetime(value)


def _parse_date(value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise GraphQLError(f"{value!r} is not a valid ISO8601Date") from exc


def _parse_datetime(value: Any) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise GraphQLError(f"{value!r} is not a valid ISO8601DateTime") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _serialize_big_decimal(value: Any) -> str:
    # graphql-ruby's BigDecimal scalar answers a string ("49.0"-style), never a JSON number.
    text = format(Decimal(str(value)).normalize(), "f")
    return text if "." in text else f"{text}.0"  # Ruby's BigDecimal#to_s("F"): "49.0"


def _parse_big_decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise GraphQLError(f"{value!r} is not a valid BigDecimal") from exc


def _literal(parse: Any) -> Any:
    def parse_literal(node: Any, _variables: Any = None) -> Any:
        if not isinstance(node, StringValueNode):
            raise GraphQLError("expected a string literal")
        return parse(node.value)

    return parse_literal


def _configure_scalar(scalar: GraphQLScalarType, serialize: Any, parse: Any) -> None:
    scalar.serialize = serialize  # type: ignore[method-assign]
    scalar.parse_value = parse  # type: ignore[method-assign]
    scalar.parse_literal = _literal(parse)  # type: ignore[method-assign]


@functools.cache
def sdl_text() -> str:
    return SDL_PATH.read_text(encoding="utf-8")


@functools.cache
def bunny_schema() -> GraphQLSchema:
    """The executable schema: the vendored SDL plus scalar behaviour and resolvers (built once)."""
    from aiq_emulators.bunny.resolvers import attach_resolvers

    schema = build_schema(sdl_text())
    _configure_scalar(schema.type_map["ISO8601Date"], _serialize_date, _parse_date)  # type: ignore[arg-type]
    _configure_scalar(schema.type_map["ISO8601DateTime"], _serialize_datetime, _parse_datetime)  # type: ignore[arg-type]
    _configure_scalar(schema.type_map["BigDecimal"], _serialize_big_decimal, _parse_big_decimal)  # type: ignore[arg-type]
    schema.type_map["Charge"].resolve_type = lambda value, _info, _type: value["__typename"]  # type: ignore[attr-defined]
    attach_resolvers(schema)
    return schema


def _scopes_of(root: GraphQLObjectType | None) -> dict[str, tuple[str, ...]]:
    scopes: dict[str, tuple[str, ...]] = {}
    for name, field in (root.fields if root else {}).items():
        match = _SCOPES.search(field.description or "")
        if match:
            scopes[name] = tuple(match.group(1).split())
    return scopes


@functools.cache
def required_scopes() -> dict[str, dict[str, tuple[str, ...]]]:
    """`{"query": {field: scopes}, "mutation": {field: scopes}}` read from the SDL docstrings."""
    schema = bunny_schema()
    return {"query": _scopes_of(schema.query_type), "mutation": _scopes_of(schema.mutation_type)}


def resolve_view_field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Default resolver: read the view dict; a callable value is a lazy relation taking the field's args.

    A field the emulator does not model answers null, or, when the SDL makes it non-null, a clear error
    instead of an invented value.
    """
    name = info.field_name
    if isinstance(source, Mapping):
        if name in source:
            value = source[name]
            return value(**args) if callable(value) else value
    elif hasattr(source, name):
        return getattr(source, name)
    if is_non_null_type(info.return_type):
        raise GraphQLError(f"{info.parent_type.name}.{name} is not supported by the Bunny emulator")
    return None
