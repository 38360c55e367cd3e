"""The store's behaviour on both backends (DuckDB file, PostgreSQL database), plus what only PostgreSQL has to
get right: many processes creating the schema at once, concurrent upserts, transactions, UTC, secrets."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from aiq_pipeline.store import Store, StoreConnectionError, redact_location, to_pyformat
from aiq_pipeline.store.journal import OutcomeRecord, PostingJournal
from aiq_pipeline_tests.postgres.conftest import database_url

D = Decimal
pytestmark = pytest.mark.postgres


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "duckdb":
        return Store(tmp_path / "aiq.duckdb")
    return Store(request.getfixturevalue("pg_url"))


# -- the same behaviour on both backends ------------------------------------------------------------------


def test_snapshot_history_is_kept_and_current_view_shows_latest(store: Store) -> None:
    store.write_snapshot("aiq_tax_codes", "E1", [{"code": "V01", "rate": Decimal("23"), "is_default": True}])
    store.write_snapshot("aiq_tax_codes", "E1", [{"code": "V02", "rate": Decimal("13.5")}, {"code": "V00"}])

    store.write_snapshot("aiq_tax_codes", "E2", [{"code": "S", "rate": Decimal("20")}])  # a pair sharing the store

    current = store.current("aiq_tax_codes", "E1")
    assert sorted(r["code"] for r in current) == ["V00", "V02"]
    assert [r["code"] for r in store.current("aiq_tax_codes", "E2")] == ["S"]
    assert store.snapshot_count("aiq_tax_codes") == 3
    assert len(store.query("SELECT * FROM aiq_tax_codes")) == 4
    assert next(r for r in current if r["code"] == "V02")["rate"] == Decimal("13.5")


def test_unknown_snapshot_table_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown snapshot table"):
        store.write_snapshot("users; DROP TABLE x", "E1", [])


@contextmanager
def journal(store: Store, entity: str = "E1") -> Iterator[PostingJournal]:
    with store.session() as session:
        yield PostingJournal(session, entity)


def record(store: Store, *records: OutcomeRecord) -> None:
    with journal(store) as j:
        j.record_outcomes(records)


def outcomes(store: Store, outcome: str | None = None) -> list[dict[str, Any]]:
    with journal(store) as j:
        return j.outcomes(outcome)


def test_outcomes_upsert_counts_attempts_and_keeps_money_exact(store: Store) -> None:
    record(store, OutcomeRecord("INV1", "invoice", "failed", reason_code="CLOSED_PERIOD", reason="closed"))
    assert [r["claim_key"] for r in store.query("SELECT * FROM posting_exceptions")] == ["INV1"]

    record(store, OutcomeRecord("INV1", "invoice", "posted", net=D("0.10"), tax=D("0.20"), gross=D("0.30")))
    (row,) = outcomes(store)
    assert row["outcome"] == "posted"
    assert row["attempts"] == 2
    assert row["net"] + row["tax"] == row["gross"] == D("0.30")
    assert isinstance(row["gross"], Decimal)
    assert store.query("SELECT * FROM posting_exceptions") == []


def test_timestamps_are_naive_utc_and_round_trip(store: Store) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    posted = datetime(2026, 5, 1, 12, 30, 15, 123456)
    record(store, OutcomeRecord("INV1", "invoice", "posted", posted_at=posted, aiq_transaction_id=2**40))
    (row,) = outcomes(store)
    assert row["posted_at"] == posted and row["posted_at"].tzinfo is None
    assert row["aiq_transaction_id"] == 2**40  # BIGINT
    assert before - timedelta(seconds=5) <= row["first_attempt_at"] <= datetime.now(UTC).replace(tzinfo=None)


def test_outcomes_filter_by_outcome_with_placeholders(store: Store) -> None:
    record(
        store,
        OutcomeRecord("A", "invoice", "posted"),
        OutcomeRecord("B", "invoice", "failed"),
        OutcomeRecord("C", "credit_note", "failed"),
    )
    assert [r["claim_key"] for r in outcomes(store, "failed")] == ["B", "C"]
    # A literal '%' and a '?' inside a string are data, not placeholders, on both backends.
    rows = store.query("SELECT '50%' AS pct, 'why?' AS q, claim_key FROM posting_outcomes WHERE claim_key = ?", ["A"])
    assert rows == [{"pct": "50%", "q": "why?", "claim_key": "A"}]


def test_a_batch_with_the_same_document_twice_keeps_the_last(store: Store) -> None:
    record(
        store,
        OutcomeRecord("B", "invoice", "failed"),
        OutcomeRecord("A", "invoice", "posted"),
        OutcomeRecord("B", "invoice", "posted"),
    )
    assert {r["claim_key"]: (r["outcome"], r["attempts"]) for r in outcomes(store)} == {
        "A": ("posted", 1),
        "B": ("posted", 2),
    }


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(Exception), store.connect() as conn:  # noqa: B017 - each backend raises its own type
        conn.execute(
            "INSERT INTO posting_outcomes (entity_id, claim_key, kind, outcome, attempts, first_attempt_at, "
            "last_attempt_at) VALUES ('E1', 'X', 'invoice', 'posted', 1, ?, ?)",
            [datetime(2026, 1, 1)] * 2,
        )
        conn.execute("SELECT no_such_column FROM posting_outcomes")
    assert outcomes(store) == []


def test_entities_keep_their_own_journal(store: Store) -> None:
    record(store, OutcomeRecord("A", "invoice", "posted"))
    with journal(store, "OTHER") as other:
        assert other.outcomes() == []


# -- PostgreSQL only -------------------------------------------------------------------------------------


def test_concurrent_writers_lose_nothing(pg_url: str) -> None:
    # PostgreSQL only: DuckDB admits one process per file, and one run holds its session for a batch.
    def write(worker: int) -> None:
        own = Store(pg_url)  # every run builds its own Store
        for n in range(10):
            record(
                own, OutcomeRecord(f"W{worker}-{n}", "invoice", "posted"), OutcomeRecord("SHARED", "invoice", "posted")
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = {r["claim_key"]: r["attempts"] for r in outcomes(Store(pg_url))}
    assert len(rows) == 41
    assert rows["SHARED"] == 40  # every upsert counted, none lost to a race


def _create_schema_and_write(url: str, worker: int, start: Any) -> None:
    start.wait()
    record(Store(url), OutcomeRecord(f"P{worker}", "invoice", "posted"))


def test_processes_racing_to_create_the_schema_all_succeed(pg_url: str) -> None:
    # Fresh database: every process finds no tables and creates them at the same moment (without the lock this
    # fails with duplicate pg_type keys or "tuple concurrently updated").
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(6)
    procs = [ctx.Process(target=_create_schema_and_write, args=(pg_url, w, start)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    store = Store(pg_url)
    assert sorted(r["claim_key"] for r in outcomes(store)) == [f"P{w}" for w in range(6)]
    assert store.query("SELECT COUNT(*) AS n FROM aiq_pipeline_schema") == [{"n": 1}]


def test_schema_is_not_recreated_once_applied(pg_url: str) -> None:
    outcomes(Store(pg_url))
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT xmin::text FROM pg_class WHERE relname = 'posting_exceptions'")
        (before,) = cursor.fetchone()
    conn.close()
    outcomes(Store(pg_url))  # a new Store (a new run) must not issue CREATE OR REPLACE VIEW again
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT xmin::text FROM pg_class WHERE relname = 'posting_exceptions'")
        assert cursor.fetchone() == (before,)
    conn.close()


def test_aware_datetimes_are_stored_as_utc_whatever_the_server_zone(pg_database: str) -> None:
    url = database_url(pg_database) + "?options=-c%20TimeZone%3DAsia/Tokyo"  # a session zone far from UTC
    store = Store(url)
    aware = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    record(store, OutcomeRecord("INV1", "invoice", "posted", posted_at=aware))
    assert outcomes(store)[0]["posted_at"] == datetime(2026, 5, 1, 10, 0)


def test_dagster_style_driver_url_is_accepted(pg_database: str) -> None:
    store = Store(database_url(pg_database, scheme="postgresql+psycopg2"))
    assert store.is_postgres
    record(store, OutcomeRecord("INV1", "invoice", "posted"))
    assert [r["claim_key"] for r in outcomes(store)] == ["INV1"]


def test_password_never_reaches_repr_or_connection_errors(pg_database: str) -> None:
    secret = "s3cr@t/pw"
    encoded = "s3cr%40t%2Fpw"
    store = Store(f"postgresql://nobody:{encoded}@127.0.0.1:5432/{pg_database}")
    assert secret not in repr(store) and encoded not in repr(store)
    with pytest.raises(StoreConnectionError) as caught:
        outcomes(store)
    text = str(caught.value)
    assert "nobody" in text and pg_database in text  # says where, so the operator can act
    assert secret not in text and encoded not in text
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@ss@db:5432/aiq", "postgresql://u:***@db:5432/aiq"),
        ("postgresql+psycopg2://u:pw@db/aiq?sslmode=require", "postgresql+psycopg2://u:***@db/aiq?sslmode=require"),
        ("postgresql://db/aiq?user=u&password=pw", "postgresql://db/aiq?user=u&password=***"),
        ("postgresql://u@db/aiq", "postgresql://u@db/aiq"),
        ("/data/aiq.duckdb", "/data/aiq.duckdb"),
    ],
)
def test_redact_location(url: str, shown: str) -> None:
    assert redact_location(url) == shown


def test_to_pyformat_translates_placeholders_outside_quotes_only() -> None:
    assert to_pyformat("SELECT * FROM t WHERE a = ? AND b LIKE '50%?' AND \"c?\" = ?") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE '50%%?' AND \"c?\" = %s"
    )
