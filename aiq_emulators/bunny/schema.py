"""Bunny's real SDL (vendored in `contract/schema.graphql`) with the behaviour graphql-ruby gives it.

The schema object is `build_schema` of the vendored file; nothing about types, fields, arguments,
nullability or enum spellings is written by hand. This module only adds behaviour: custom scalar
(de)serialisation as graphql-ruby does it, union type resolution for `Charge`, the per-root-field scopes
parsed from the `[REQUIRED_SCOPES:...]` docstrings, and a default field resolver that reads the emulator's
view dicts and refuses to invent values for fields it does not model.

It imports nothing else of the emulator: `resolvers` builds on it, and `executable` joins the two.
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
    GraphQLUnionType,
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
    # graphql-core types these as methods of the scalar class; setting them on the instance is how its docs
    # customise a scalar built from SDL, which mypy reads as assigning to a method.
    scalar.serialize = serialize  # type: ignore[method-assign]
    scalar.parse_value = parse  # type: ignore[method-assign]
    scalar.parse_literal = _literal(parse)  # type: ignore[method-assign]


def _scalar(schema: GraphQLSchema, name: str) -> GraphQLScalarType:
    scalar = schema.type_map[name]
    assert isinstance(scalar, GraphQLScalarType), name
    return scalar


@functools.cache
def sdl_text() -> str:
    return SDL_PATH.read_text(encoding="utf-8")


def build_sdl_schema() -> GraphQLSchema:
    """A fresh schema from the vendored SDL with graphql-ruby's scalar behaviour and the `Charge` union's type
    resolution; no root resolvers (those are attached by `resolvers.attach_resolvers`, see `executable.py`)."""
    schema = build_schema(sdl_text())
    _configure_scalar(_scalar(schema, "ISO8601Date"), _serialize_date, _parse_date)
    _configure_scalar(_scalar(schema, "ISO8601DateTime"), _serialize_datetime, _parse_datetime)
    _configure_scalar(_scalar(schema, "BigDecimal"), _serialize_big_decimal, _parse_big_decimal)
    charge = schema.type_map["Charge"]
    assert isinstance(charge, GraphQLUnionType)
    charge.resolve_type = lambda value, _info, _type: value["__typename"]
    return schema


def scopes_of(root: GraphQLObjectType | None) -> dict[str, tuple[str, ...]]:
    """Root field -> the scopes its `[REQUIRED_SCOPES:...]` docstring lists (all of them are required)."""
    scopes: dict[str, tuple[str, ...]] = {}
    for name, field in (root.fields if root else {}).items():
        match = _SCOPES.search(field.description or "")
        if match:
            scopes[name] = tuple(match.group(1).split())
    return scopes


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
