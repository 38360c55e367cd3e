"""Invoice references since a moment are asked newest first, and paging stops once the rest is older than the moment,
but only when the answer is in that order and Bunny, asked once for a row of the whole list each way, showed it
sorts at all (UNVERIFIED whether it honours `sort`); otherwise every page is read, as before. Against a scripted
Bunny, pages of 3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from aiq_pipeline.bunny import BunnyQueryError
from aiq_pipeline.bunny.client import NEWEST_FIRST, OLDEST_FIRST
from aiq_pipeline_tests.bunny.fake_bunny import BASE_URL, FakeBunny, connection

SINCE = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


def _ref(invoice_id: int, minutes: int) -> dict[str, Any]:
    """Invoice `invoice_id`, updated `minutes` after SINCE (before it when negative)."""
    updated = (SINCE + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    return {
        "id": str(invoice_id),
        "state": "DUE",
        "updatedAt": updated,
        "issuedAt": "2026-06-02",
        "entity": {"id": "1"},
    }


def _bunny(refs: list[dict[str, Any]], *, sorts: bool) -> FakeBunny:
    """A Bunny listing `refs` in their order (ids ascending), newest or oldest first when asked and `sorts`."""

    def answer(variables: dict[str, Any]) -> Any:
        listed = refs
        if sorts and variables.get("sort") in (NEWEST_FIRST, OLDEST_FIRST):
            listed = sorted(refs, key=lambda r: r["updatedAt"], reverse=variables["sort"] == NEWEST_FIRST)
        return {"invoices": connection(listed, variables)}

    bunny = FakeBunny()
    bunny.handlers["InvoiceRefs"] = answer
    return bunny


PROBE = ["oldest", "newest"]  # Bunny asked whether it sorts: one row of the whole list each way, once a process


def _asks(bunny: FakeBunny) -> list[str]:
    """Each request for invoice references: "page" (of 3, newest first), "unsorted" (a page without the sort), or
    one row of the whole list, "oldest" or "newest" first."""
    named = {NEWEST_FIRST: "newest", OLDEST_FIRST: "oldest"}
    asks = []
    for call in bunny.calls("InvoiceRefs"):
        sort, first = call.variables.get("sort"), call.variables["first"]
        asks.append("unsorted" if sort is None else "page" if first == 3 else named[sort])
        assert first == 3 or call.variables["filter"] is None
    return asks


def _read(bunny: FakeBunny, since: datetime | None = SINCE, newest_known: datetime | None = None) -> list[str]:
    with bunny.client(page_size=3) as client:
        return [r.id for r in client.iter_invoice_refs("1", updated_since=since, newest_known=newest_known)]


# Ids ascending, as a server ignoring the sort lists them: one old invoice changed recently (1), the day's invoices
# behind the moment in the order they were released (2-7), and new ones (8, 9).
DAY = [_ref(1, 5), *(_ref(i, -60 * (8 - i)) for i in range(2, 8)), _ref(8, 1), _ref(9, 2)]


def test_a_sorted_answer_is_paged_only_until_the_rest_is_older_than_the_moment() -> None:
    bunny = _bunny(DAY, sorts=True)
    assert _read(bunny) == ["1", "9", "8"]
    # 1 9 8 | 7 6 5 (older: stop, once Bunny showed it sorts: 2 oldest, 9 newest) | 4 3 2
    assert _asks(bunny) == ["page", "page", *PROBE]
    calls = bunny.calls("InvoiceRefs")
    assert calls[0].variables["filter"].startswith("entityId = '1' and updatedAt is on or after '2026-06-01T22:00:00'")


def test_an_answer_in_an_order_of_its_own_is_read_to_the_end() -> None:
    bunny = _bunny(DAY, sorts=False)  # 1 2 3 | 4 5 6 | 7 8 9: down past the moment, then up (2 before 3)
    assert sorted(_read(bunny)) == ["1", "8", "9"]
    assert len(bunny.calls("InvoiceRefs")) == 3


def test_a_run_of_equal_stamps_behind_the_moment_is_not_taken_for_the_order() -> None:
    # A burst released in one second, listed first by a server ignoring the sort: non-increasing, but it starts
    # behind the moment, which a newest-first answer never does while anything is newer.
    burst = [_ref(i, -30) for i in range(1, 6)]
    bunny = _bunny([*burst, _ref(6, 1)], sorts=False)
    assert _read(bunny) == ["6"]
    assert len(bunny.calls("InvoiceRefs")) == 2


def test_nothing_newer_than_the_moment_costs_every_page() -> None:
    # The price of the check above: a sorted answer that starts behind the moment proves nothing either.
    bunny = _bunny([_ref(i, -i) for i in range(1, 6)], sorts=True)
    assert _read(bunny) == []
    assert len(bunny.calls("InvoiceRefs")) == 2


def test_a_stamp_known_to_be_in_the_list_shows_the_order_when_nothing_is_newer() -> None:
    # The sensor's quick look: nothing newer than its watermark (the newest stamp it saw, here -1 min).
    refs = [_ref(i, -i) for i in range(1, 6)]
    bunny = _bunny(refs, sorts=True)
    assert _read(bunny, newest_known=SINCE - timedelta(minutes=1)) == []
    assert _asks(bunny) == ["page", *PROBE]
    unsorted = _bunny(list(reversed(refs)), sorts=False)  # oldest first: starts behind the known stamp
    assert _read(unsorted, newest_known=SINCE - timedelta(minutes=1)) == []
    assert len(unsorted.calls("InvoiceRefs")) == 2


def test_read_from_the_newest_known_stamp_paging_stops_at_the_first_page_that_reaches_it() -> None:
    # The sensor's quick look after a burst released in one second (ids 1-5 at -1 min): one newer invoice (6), and the
    # burst's stamp reached on the first page; the rest of the burst was seen.
    refs = [*(_ref(i, -1) for i in range(1, 6)), _ref(6, 0), _ref(7, -30)]
    bunny = _bunny(refs, sorts=True)
    known = SINCE - timedelta(minutes=1)
    with bunny.client(page_size=3) as client:
        for _ in range(2):
            ids = [r.id for r in client.iter_invoice_refs("1", updated_since=known, newest_known=known)]
            assert ids[0] == "6"
    assert _asks(bunny) == ["page", *PROBE, "page"]
    further = _bunny(refs, sorts=True)  # a sweep reads from further back: every page of the burst
    assert sorted(_read(further, since=known - timedelta(minutes=5), newest_known=known)) == [
        str(i) for i in range(1, 7)
    ]
    assert _asks(further) == ["page"] * 3 + PROBE  # another process: asked (the last page, as it happens)


def test_a_known_stamp_does_not_stop_the_read_before_what_is_newer() -> None:
    bunny = _bunny(DAY, sorts=True)
    assert _read(bunny, newest_known=SINCE + timedelta(minutes=2)) == ["1", "9", "8"]
    unsorted = _bunny(DAY, sorts=False)
    assert sorted(_read(unsorted, newest_known=SINCE + timedelta(minutes=2))) == ["1", "8", "9"]
    assert len(unsorted.calls("InvoiceRefs")) == 3


def test_without_a_moment_nothing_is_sorted_and_every_page_is_read() -> None:
    bunny = _bunny(DAY, sorts=True)
    assert _read(bunny, since=None) == [str(i) for i in range(1, 10)]
    calls = bunny.calls("InvoiceRefs")
    assert len(calls) == 3 and all(c.variables.get("sort") is None for c in calls)


def test_a_simpler_filter_after_a_refusal_is_still_asked_newest_first() -> None:
    sorted_day = _bunny(DAY, sorts=True).handlers["InvoiceRefs"]

    def refusing_two_clauses(variables: dict[str, Any]) -> Any:
        if " and " in (variables.get("filter") or ""):
            return httpx.Response(200, json={"data": {"invoices": None}, "errors": [{"message": "Malformed filter"}]})
        return sorted_day(variables)

    bunny = FakeBunny()
    bunny.handlers["InvoiceRefs"] = refusing_two_clauses
    assert _read(bunny) == ["1", "9", "8"]
    calls = bunny.calls("InvoiceRefs")
    assert [c.variables["filter"] for c in calls[1:3]] == ["entityId = '1'"] * 2
    assert _asks(bunny) == ["page"] * 3 + PROBE


def test_a_bunny_that_answers_the_sort_with_an_error_is_read_without_it_from_then_on() -> None:
    """A third reading: Bunny refuses an unknown sort string instead of ignoring it (its error text unknown)."""
    unsorted = _bunny(DAY, sorts=False).handlers["InvoiceRefs"]

    def refusing_sort(variables: dict[str, Any]) -> Any:
        if variables.get("sort") is not None:
            return httpx.Response(200, json={"data": {"invoices": None}, "errors": [{"message": "Invalid sort"}]})
        return unsorted(variables)

    bunny = FakeBunny()
    bunny.handlers["InvoiceRefs"] = refusing_sort
    with bunny.client(page_size=3) as client:
        for _ in range(2):  # two ticks of one code server
            assert {r.id for r in client.iter_invoice_refs("1", updated_since=SINCE)} == {"1", "8", "9"}
    sorted_asks = [c for c in bunny.calls("InvoiceRefs") if c.variables.get("sort") is not None]
    assert len(sorted_asks) == 1  # asked once; every page read without it since


def test_an_error_that_is_not_the_sorts_still_fails_the_read() -> None:
    bunny = FakeBunny()
    bunny.handlers["InvoiceRefs"] = lambda _: httpx.Response(
        200, json={"data": {"invoices": None}, "errors": [{"message": "Internal error"}]}
    )
    with bunny.client(page_size=3) as client, pytest.raises(BunnyQueryError, match="Internal error"):
        list(client.iter_invoice_refs("1", updated_since=SINCE))


def test_once_an_answer_steps_up_every_later_read_sharing_what_was_learnt_reads_every_page() -> None:
    # A burst in one second listed first by a server ignoring the sort looks sorted on its own (the 1st read here
    # proves otherwise: 1 2 3 steps up to 8); a later read must not stop after such a page.
    burst_first = [*(_ref(i, -1) for i in range(1, 4)), *(_ref(i, -30) for i in range(4, 7)), _ref(7, 1)]
    learnt: set[tuple[str, str]] = set()
    bunny = _bunny(DAY, sorts=False)
    with bunny.client(page_size=3, unsorted_lists=learnt) as client:
        assert sorted(r.id for r in client.iter_invoice_refs("1", updated_since=SINCE)) == ["1", "8", "9"]
    assert learnt == {(BASE_URL, "InvoiceRefs")}
    later = _bunny(burst_first, sorts=False)
    with later.client(page_size=3, unsorted_lists=learnt) as client:
        known = SINCE - timedelta(minutes=1)
        assert [r.id for r in client.iter_invoice_refs("1", updated_since=SINCE, newest_known=known)] == ["7"]
    assert [c.variables.get("sort") for c in later.calls("InvoiceRefs")] == [None] * 3
    # Without what was learnt, the same first page looks sorted; asked oldest first, Bunny shows nothing (it lists 1
    # first, of page 1's one stamp), so every page is read.
    assert _read(_bunny(burst_first, sorts=False), newest_known=SINCE - timedelta(minutes=1)) == ["7"]


def test_a_page_that_merely_looks_sorted_is_not_taken_for_the_order() -> None:
    # Ids ascending: two invoices of one second, then an older one, look newest first; 4, newer, is on page 2.
    refs = [_ref(1, 1), _ref(2, 1), _ref(3, -30), _ref(4, 2)]
    learnt: set[tuple[str, str]] = set()
    bunny = _bunny(refs, sorts=False)
    with bunny.client(page_size=3, unsorted_lists=learnt) as client:
        assert [r.id for r in client.iter_invoice_refs("1", updated_since=SINCE)] == ["1", "2", "4"]
    # Asked for one row oldest first and one newest first, Bunny answers 1 both times: its order is not shown.
    assert _asks(bunny) == ["page", *PROBE, "page"]
    assert learnt == {(BASE_URL, "InvoiceRefs")}  # 2 to 4 steps up


def test_once_bunny_showed_it_sorts_each_read_stops_without_asking_again() -> None:
    shown: set[tuple[str, str]] = set()
    bunny = _bunny(DAY, sorts=True)
    for _ in range(2):  # two ticks' clients of one process
        with bunny.client(page_size=3, sorted_lists=shown) as client:
            assert [r.id for r in client.iter_invoice_refs("1", updated_since=SINCE)] == ["1", "9", "8"]
    assert shown == {(BASE_URL, "InvoiceRefs")}
    assert _asks(bunny) == ["page", "page", *PROBE, "page", "page"]


def test_a_bunny_that_cannot_answer_oldest_first_is_read_to_the_end_from_then_on() -> None:
    sorted_day = _bunny(DAY, sorts=True).handlers["InvoiceRefs"]

    def refusing_oldest_first(variables: dict[str, Any]) -> Any:
        if variables.get("sort") == OLDEST_FIRST:
            return httpx.Response(200, json={"data": {"invoices": None}, "errors": [{"message": "Invalid sort"}]})
        return sorted_day(variables)

    bunny = FakeBunny()
    bunny.handlers["InvoiceRefs"] = refusing_oldest_first
    learnt: set[tuple[str, str]] = set()
    with bunny.client(page_size=3, unsorted_lists=learnt) as client:
        assert [r.id for r in client.iter_invoice_refs("1", updated_since=SINCE)] == ["1", "9", "8"]
    assert _asks(bunny) == ["page", "page", "oldest", "page"]
    assert learnt == {(BASE_URL, "InvoiceRefs")}
