"""The filter strings the client builds: documented grammar, values quoted so they cannot inject clauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from aiq_pipeline.bunny import filters


def test_quote_escapes_quote_and_backslash() -> None:
    assert filters.quote("O'Brien") == r"'O\'Brien'"
    assert filters.quote("a\\b") == r"'a\\b'"


def test_a_hostile_value_stays_inside_its_literal() -> None:
    clause = filters.equals("entityId", "1' or entityId = '2")
    assert clause == r"entityId = '1\' or entityId = \'2'"
    # Exactly one unescaped quote pair: the value's own.
    unescaped = [i for i, ch in enumerate(clause) if ch == "'" and clause[i - 1] != "\\"]
    assert len(unescaped) == 2


def test_control_characters_are_refused() -> None:
    with pytest.raises(ValueError):
        filters.quote("1\n or x")


@pytest.mark.parametrize("name", ["entity id", "x'", "", "1abc", "a;b"])
def test_field_names_must_be_identifiers(name: str) -> None:
    with pytest.raises(ValueError):
        filters.equals(name, "1")


def test_one_of_is_sorted_and_deduplicated() -> None:
    assert filters.one_of("state", ["PAID", "DUE", "PAID"]) == "state in ['DUE', 'PAID']"
    with pytest.raises(ValueError):
        filters.one_of("state", [])


def test_on_or_after_is_utc_and_never_later_than_the_moment() -> None:
    moment = datetime(2026, 6, 1, 12, 30, 15, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert filters.on_or_after("updatedAt", moment) == "updatedAt is on or after '2026-06-01T10:30:15'"
    with pytest.raises(ValueError):
        filters.on_or_after("updatedAt", datetime(2026, 6, 1))  # naive


def test_all_of_skips_missing_clauses() -> None:
    assert filters.all_of(None, None) is None
    assert filters.all_of("a = '1'", None, "b = '2'") == "a = '1' and b = '2'"
    assert filters.on_or_after("updatedAt", datetime(2026, 1, 1, tzinfo=UTC)).endswith("'2026-01-01T00:00:00'")
