"""The journal's batch operations (one statement for a batch's claims, write-aheads, ids and outcomes) keep every
rule of the one-document operations, on both stores; and concurrent batches on PostgreSQL never deadlock."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from aiq_pipeline.store import Store
from aiq_pipeline.store.journal import (
    ROWS_PER_STATEMENT,
    ClaimLost,
    FoundBy,
    PlannedWrite,
    Posted,
    PostingJournal,
    WriteState,
)

LEASE = timedelta(minutes=10)
LIVE = "host/1/1"
DEAD = "host/2/2"


def is_dead(process: str) -> bool:
    return process == DEAD


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "duckdb":
        return Store(tmp_path / "aiq.duckdb")
    return Store(request.getfixturevalue("pg_url"))


def write(key: str) -> PlannedWrite:
    return PlannedWrite(f"BUNNY-INV-{key}", key, "invoice", "SI", "EUR", summary=f"invoice {key}")


def test_claim_many_takes_free_expired_and_dead_claims_and_refuses_live_ones(store: Store) -> None:
    clock = [datetime(2026, 12, 1, 9, 0)]
    with store.session() as session:
        journal = PostingJournal(session, "E1", clock=lambda: clock[0])
        journal.claim("B", "run-live", process=LIVE, lease=LEASE, is_dead=is_dead)
        journal.claim("C", "run-expired", process=LIVE, lease=timedelta(minutes=1), is_dead=is_dead)
        journal.claim("D", "run-dead", process=DEAD, lease=LEASE, is_dead=lambda _p: False)
        clock[0] += timedelta(minutes=5)

        taken = journal.claim_many(["D", "A", "B", "C", "A"], "run-new", process=LIVE, lease=LEASE, is_dead=is_dead)

        assert list(taken) == ["D", "A", "B", "C"]  # the keys in the order asked, once each
        assert taken["A"] is None and taken["C"] is None and taken["D"] is None
        held = taken["B"]
        assert held is not None and held.owner == "run-live"
        assert {k: journal.holder(k).owner for k in "ABCD"} == {  # type: ignore[union-attr]
            "A": "run-new",
            "B": "run-live",
            "C": "run-new",
            "D": "run-new",
        }
        journal.release_many(["A", "B", "C", "D"], "run-new")
        assert {k: journal.holder(k) is not None for k in "ABCD"} == {"A": False, "B": True, "C": False, "D": False}


def test_begin_writes_checks_each_claim_and_records_each_write(store: Store) -> None:
    with store.session() as session:
        journal = PostingJournal(session, "E1")
        journal.claim_many(["1", "2"], "run-a", process=LIVE, lease=LEASE, is_dead=is_dead)
        journal.claim("3", "run-b", process=LIVE, lease=LEASE, is_dead=is_dead)

        begun = journal.begin_writes([write("1"), write("2"), write("3")], "run-a")

        lost = begun["BUNNY-INV-3"]
        assert isinstance(lost, ClaimLost)
        assert journal.entry("BUNNY-INV-3") is None  # nothing recorded for a write whose claim is not ours
        for key in ("1", "2"):
            entry = begun[f"BUNNY-INV-{key}"]
            assert not isinstance(entry, ClaimLost)
            assert (entry.state, entry.attempts, entry.sent_by) == (WriteState.SENDING, 1, "run-a")
            assert entry.sent_summary == f"invoice {key}"

        journal.record_posted_many([Posted(write("1"), 101, FoundBy.ANSWER), Posted(write("2"), 102, FoundBy.LOOKUP)])
        posted = journal.entries_by_reference(["BUNNY-INV-1", "BUNNY-INV-2", "BUNNY-INV-9"])
        assert {r: (e.state, e.aiq_id, e.found_by) for r, e in posted.items()} == {
            "BUNNY-INV-1": (WriteState.POSTED, 101, "answer"),
            "BUNNY-INV-2": (WriteState.POSTED, 102, "lookup"),
        }

        journal.claim("4", "run-a", process=LIVE, lease=LEASE, is_dead=is_dead)
        again = journal.begin_writes([write("4"), write("1")], "run-a")
        already = again["BUNNY-INV-1"]  # answered as it is, never moved back to sending; the rest goes on
        assert not isinstance(already, ClaimLost) and (already.state, already.aiq_id) == (WriteState.POSTED, 101)
        fourth = again["BUNNY-INV-4"]
        assert not isinstance(fourth, ClaimLost) and fourth.state == WriteState.SENDING
        with pytest.raises(ValueError, match="BUNNY-INV-1 is already posted as AIQ 101"):
            journal.begin_write(write("1"), "run-a")


def test_a_second_write_ahead_counts_an_attempt_and_keeps_what_was_sent(store: Store) -> None:
    with store.session() as session:
        journal = PostingJournal(session, "E1")
        journal.claim("1", "run-a", process=LIVE, lease=LEASE, is_dead=is_dead)
        journal.begin_writes([write("1")], "run-a")
        journal.record_rejected(write("1"), "AIQ said no")
        again = journal.begin_writes([PlannedWrite("BUNNY-INV-1", "1", "invoice", "SI")], "run-a")["BUNNY-INV-1"]
        assert not isinstance(again, ClaimLost)
        assert (again.state, again.attempts, again.currency, again.last_error) == (
            WriteState.SENDING,
            2,
            "EUR",  # not sent this time: the row keeps what it knew
            "AIQ said no",
        )


def test_batches_larger_than_one_statement_are_split(store: Store) -> None:
    keys = [f"{n:05d}" for n in range(ROWS_PER_STATEMENT + 7)]
    with store.session() as session:
        journal = PostingJournal(session, "E1")
        taken = journal.claim_many(keys, "run-a", process=LIVE, lease=LEASE, is_dead=is_dead)
        assert all(holder is None for holder in taken.values())
        begun = journal.begin_writes([write(k) for k in keys], "run-a")
        assert len(begun) == len(keys) and not any(isinstance(e, ClaimLost) for e in begun.values())
        journal.record_posted_many([Posted(write(k), n + 1, FoundBy.ANSWER) for n, k in enumerate(keys)])
        entries = journal.entries_by_reference([f"BUNNY-INV-{k}" for k in keys])
        assert sorted(e.aiq_id or 0 for e in entries.values()) == list(range(1, len(keys) + 1))


@pytest.mark.postgres
def test_concurrent_batches_over_the_same_documents_never_deadlock_and_never_share_a_claim(pg_url: str) -> None:
    """Runs claiming overlapping batches in different orders (as sensors and retries do), then writing ahead:
    PostgreSQL never reports a deadlock, and every document is held by exactly one run at a time."""
    store = Store(pg_url)
    keys = [str(n) for n in range(60)]
    errors: list[BaseException] = []
    won: dict[str, list[str]] = {key: [] for key in keys}
    lock = threading.Lock()

    def run(owner: str, order: list[str]) -> None:
        try:
            with store.session() as session:
                journal = PostingJournal(session, "E1")
                for _ in range(20):
                    taken = journal.claim_many(order, owner, process=LIVE, lease=LEASE, is_dead=is_dead)
                    ours = [k for k, holder in taken.items() if holder is None]
                    journal.begin_writes([write(k) for k in ours], owner)
                    with lock:
                        for key in ours:
                            won[key].append(owner)
                            assert journal.holder(key).owner == owner  # type: ignore[union-attr]
                    journal.release_many(ours, owner)
        except BaseException as exc:
            errors.append(exc)

    orders = [keys, keys[::-1], keys[30:] + keys[:30], keys[::2] + keys[1::2]]
    threads = [threading.Thread(target=run, args=(f"run-{n}", order)) for n, order in enumerate(orders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert all(won[key] for key in keys)  # every document was claimed and written ahead by some run


@pytest.mark.postgres
def test_a_run_releasing_while_another_claims_the_same_documents_never_deadlocks(pg_url: str) -> None:
    """Rows inserted b then a (so a plain UPDATE meets b first), a third session holding a for a moment: the
    claiming run waits on a holding nothing, the releasing run must then lock a before b too."""
    store = Store(pg_url)
    with store.session() as session:
        journal = PostingJournal(session, "E1")
        for key in ("b", "a"):
            journal.claim(key, "run-1", process=LIVE, lease=LEASE, is_dead=is_dead)
    errors: dict[str, BaseException] = {}

    def claim() -> None:
        try:
            with store.session() as session:
                PostingJournal(session, "E1").claim_many(
                    ["a", "b"], "run-2", process=LIVE, lease=LEASE, is_dead=is_dead
                )
        except BaseException as exc:
            errors["claim_many"] = exc

    def release() -> None:
        try:
            with store.session() as session:
                PostingJournal(session, "E1").release_many(["a", "b"], "run-1")
        except BaseException as exc:
            errors["release_many"] = exc

    third = psycopg2.connect(pg_url)
    try:
        third.cursor().execute("SELECT 1 FROM posting_claims WHERE claim_key = 'a' FOR UPDATE")
        claimer = threading.Thread(target=claim)
        claimer.start()
        time.sleep(0.5)
        releaser = threading.Thread(target=release)
        releaser.start()
        time.sleep(0.5)
        third.commit()
        claimer.join(30)
        releaser.join(30)
    finally:
        third.close()
    assert not errors, errors
    with store.session() as session:
        journal = PostingJournal(session, "E1")
        holders = [journal.holder(k) for k in "ab"]
        assert all(h is None or h.owner == "run-2" for h in holders), holders  # released, or claimed after
