"""Build strings in Bunny's `filter:` mini-language; they are sent as a GraphQL *variable*, never spliced.

The subset we emit (docs `developer/using-the-graphql-api/using-filters-in-queries`)::

    filter  := clause (" and " clause)*
    clause  := FIELD " = " quoted
             | FIELD " in [" quoted ("," quoted)* "]"
             | FIELD " is on or after " quoted          # quoted = 'YYYY-MM-DDTHH:MM:SS' (UTC)
    FIELD   := camelCase identifier ([A-Za-z][A-Za-z0-9_]*)
    quoted  := "'" (char | "\\'" | "\\\\")* "'"          # single quotes; backslash escapes ' and \

Values are quoted by `quote()`, which escapes the quote and the backslash and refuses control
characters, so no value can end its string early and inject another clause. Field names are checked
against the identifier pattern (they come from our code, never from data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def quote(value: str) -> str:
    """`value` as a single-quoted filter literal."""
    if _CONTROL.search(value):
        raise ValueError("filter values may not contain control characters")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _field(name: str) -> str:
    if not _FIELD.match(name):
        raise ValueError(f"not a filter field name: {name!r}")
    return name


def equals(field: str, value: str) -> str:
    return f"{_field(field)} = {quote(value)}"


def one_of(field: str, values: Iterable[str]) -> str:
    items = sorted(set(values))
    if not items:
        raise ValueError("one_of needs at least one value")
    return f"{_field(field)} in [{', '.join(quote(v) for v in items)}]"


def on_or_after(field: str, moment: datetime) -> str:
    """`field is on or after 'YYYY-MM-DDTHH:MM:SS'` in UTC, floored to the second (never later than `moment`)."""
    if moment.tzinfo is None:
        raise ValueError("on_or_after needs a timezone-aware datetime")
    text = moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat(timespec="seconds")
    return f"{_field(field)} is on or after {quote(text)}"


def all_of(*clauses: str | None) -> str | None:
    """Clauses joined with `and`; None when there are none (no filter at all)."""
    present = [c for c in clauses if c]
    return " and ".join(present) if present else None
