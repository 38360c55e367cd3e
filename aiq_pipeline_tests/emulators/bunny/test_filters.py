"""The filter compiler on its own (no server): grammar corners not covered through GraphQL."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from aiq_emulators.bunny.filters import Column, MalformedFilter, compile_filter, sort_key

COLUMNS = {
    "name": Column("str", lambda o: o.name),
    "active": Column("bool", lambda o: o.active),
    "amount": Column("num", lambda o: o.amount),
    "id": Column("id", lambda o: o.id),
    "issuedAt": Column("date", lambda o: o.issued_at),
    "updatedAt": Column("datetime", lambda o: o.updated_at),
}
TODAY = dt.date(2026, 11, 23)
ROWS = [
    SimpleNamespace(
        id="1",
        name="O'Brien & Co",
        active=True,
        amount=10,
        issued_at=TODAY,
        updated_at=dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC),
    ),
    SimpleNamespace(
        id="2",
        name="acme",
        active=False,
        amount=250.5,
        issued_at=dt.date(2026, 11, 22),
        updated_at=dt.datetime(2026, 11, 22, 23, 59, 59, tzinfo=dt.UTC),
    ),
    SimpleNamespace(id="10", name="", active=True, amount=None, issued_at=None, updated_at=None),
]


def ids(text: str) -> list[str]:
    predicate = compile_filter(text, COLUMNS, TODAY)
    assert predicate is not None
    return [r.id for r in ROWS if predicate(r)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"name = 'O\'Brien & Co'", ["1"]),
        ('name = "ACME"', ["2"]),
        ("name begins_with 'o'", ["1"]),
        ("name ends_with 'ME'", ["2"]),
        ("name contains_not 'acme'", ["1", "10"]),
        ("name is blank", ["10"]),
        ("active is true", ["1", "10"]),
        ("active is_not true", ["2"]),
        ("amount > 100", ["2"]),
        ("amount <= 10", ["1"]),
        ("id > 1", ["2", "10"]),
        ("issuedAt is today", ["1"]),
        ("issuedAt is yesterday", ["2"]),
        ("updatedAt is before 2026-11-23T00:00:00Z", ["2"]),
        ("updated_at is on 2026-11-22", ["2"]),
        ("name = 'acme' OR (active IS TRUE AND amount IS NOT BLANK)", ["1", "2"]),
    ],
)
def test_grammar(text, expected):
    assert ids(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "name",
        "name = ",
        "name in 'a'",
        "amount contains 1",
        "active is maybe",
        "amount = abc",
        "name = 'a' or",
        "((name = 'a')",
        "name = 'a' name = 'b'",
        "x = 1",
    ],
)
def test_malformed(text):
    with pytest.raises(MalformedFilter):
        compile_filter(text, COLUMNS, TODAY)


def test_blank_filter_means_no_filter_and_sort_parsing():
    assert compile_filter("  ", COLUMNS, TODAY) is None
    assert sort_key("updated_at DESC", COLUMNS) == (COLUMNS["updatedAt"], True)
    assert sort_key("nosuch asc", COLUMNS) is None
