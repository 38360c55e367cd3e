"""Invoice references since a moment are asked newest first, and paging stops once the rest is older than the moment,
but only when the answer shows Bunny sorted them (UNVERIFIED whether it honours `sort`); otherwise every page is
read, as before. Against a scripted Bunny, pages of 3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from aiq_pipeline.bunny import BunnyQueryError
from aiq_pipeline.bunny.client import NEWEST_FIRST
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
    """A Bunny listing `refs` in their order (ids ascending), newest first when asked and `sorts`."""

    def answer(variables: dict[str, Any]) -> Any:
        listed = refs
        if sorts and variables.get("sort") == NEWEST_FIRST:
            listed = sorted(refs, key=lambda r: r["updatedAt"], reverse=True)
        return {"invoices": connection(listed, variables)}

    bunny = FakeBunny()
    bunny.handlers["InvoiceRefs"] = answer
    return bunny


def _read(bunny: FakeBunny, since: datetime | None = SINCE, newest_known: datetime | None = None) -> list[str]:
    with bunny.client(page_size=3) as client:
        return [r.id for r in client.iter_invoice_refs("1", updated_since=since, newest_known=newest_known)]


# Ids ascending, as a server ignoring the sort lists them: one old invoice changed recently (1), the day's invoices
# behind the moment in the order they were released (2-7), and new ones (8, 9).
DAY = [_ref(1, 5), *(_ref(i, -60 * (8 - i)) for i in range(2, 8)), _ref(8, 1), _ref(9, 2)]


def test_a_sorted_answer_is_paged_only_until_the_rest_is_older_than_the_moment() -> None:
    bunny = _bunny(DAY, sorts=True)
    assert _read(bunny) == ["1", "9", "8"]
    calls = bunny.calls("InvoiceRefs")
    assert [c.variables["sort"] for c in calls] == [NEWEST_FIRST] * 2  # 1 9 8 | 7 6 5 (older: stop) | 4 3 2
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
    assert len(bunny.calls("InvoiceRefs")) == 1
    unsorted = _bunny(list(reversed(refs)), sorts=False)  # oldest first: starts behind the known stamp
    assert _read(unsorted, newest_known=SINCE - timedelta(minutes=1)) == []
    assert len(unsorted.calls("InvoiceRefs")) == 2


def test_read_from_the_newest_known_stamp_paging_stops_at_the_first_page_that_reaches_it() -> None:
    # The sensor's quick look after a burst released in one second (ids 1-5 at -1 min): one newer invoice (6), and the
    # burst's stamp reached on the first page; the rest of the burst was seen.
    refs = [*(_ref(i, -1) for i in range(1, 6)), _ref(6, 0), _ref(7, -30)]
    bunny = _bunny(refs, sorts=True)
    known = SINCE - timedelta(minutes=1)
    assert _read(bunny, since=known, newest_known=known)[0] == "6"
    assert len(bunny.calls("InvoiceRefs")) == 1
    further = _bunny(refs, sorts=True)  # a sweep reads from further back: every page of the burst
    assert sorted(_read(further, since=known - timedelta(minutes=5), newest_known=known)) == [
        str(i) for i in range(1, 7)
    ]
    assert len(further.calls("InvoiceRefs")) == 3


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
    assert [c.variables["filter"] for c in calls[-2:]] == ["entityId = '1'"] * 2
    assert all(c.variables["sort"] == NEWEST_FIRST for c in calls)


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
    # Without what was learnt, the same answer passes for sorted: 7 waits for a read that reaches it (a sweep).
    assert _read(_bunny(burst_first, sorts=False), newest_known=SINCE - timedelta(minutes=1)) == []
