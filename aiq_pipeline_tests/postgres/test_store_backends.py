"""The store's behaviour on both backends (DuckDB file, PostgreSQL database), plus what only PostgreSQL has to
get right: many processes creating the schema at once, concurrent upserts, transactions, UTC, secrets."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from aiq_pipeline.store import LedgerEntry, Store, StoreConnectionError, redact_location, to_pyformat
from aiq_pipeline_tests.postgres.conftest import database_url

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

    current = store.current("aiq_tax_codes")
    assert sorted(r["code"] for r in current) == ["V00", "V02"]
    assert store.snapshot_count("aiq_tax_codes") == 2
    assert len(store.query("SELECT * FROM aiq_tax_codes")) == 3
    assert next(r for r in current if r["code"] == "V02")["rate"] == Decimal("13.5")


def test_unknown_snapshot_table_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown snapshot table"):
        store.write_snapshot("users; DROP TABLE x", "E1", [])


def test_ledger_upsert_counts_attempts_and_keeps_money_exact(store: Store) -> None:
    store.record_invoice_outcomes([LedgerEntry("INV1", "failed", reason_code="CLOSED_PERIOD", reason="closed")])
    assert [r["invoice_id"] for r in store.query("SELECT * FROM invoice_exceptions")] == ["INV1"]

    store.record_invoice_outcomes(
        [LedgerEntry("INV1", "posted", net=Decimal("0.10"), tax=Decimal("0.20"), gross=Decimal("0.30"))]
    )
    (row,) = store.ledger()
    assert row["outcome"] == "posted"
    assert row["attempts"] == 2
    assert row["net"] + row["tax"] == row["gross"] == Decimal("0.30")
    assert isinstance(row["gross"], Decimal)
    assert store.query("SELECT * FROM invoice_exceptions") == []


def test_timestamps_are_naive_utc_and_round_trip(store: Store) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    posted = datetime(2026, 5, 1, 12, 30, 15, 123456)
    store.record_invoice_outcomes([LedgerEntry("INV1", "posted", posted_at=posted, aiq_transaction_id=2**40)])
    (row,) = store.ledger()
    assert row["posted_at"] == posted and row["posted_at"].tzinfo is None
    assert row["aiq_transaction_id"] == 2**40  # BIGINT
    assert before - timedelta(seconds=5) <= row["first_attempt_at"] <= datetime.now(UTC).replace(tzinfo=None)


def test_ledger_filters_by_outcome_with_placeholders(store: Store) -> None:
    store.record_invoice_outcomes([LedgerEntry("A", "posted"), LedgerEntry("B", "failed"), LedgerEntry("C", "failed")])
    assert [r["invoice_id"] for r in store.ledger("failed")] == ["B", "C"]
    # A literal '%' and a '?' inside a string are data, not placeholders, on both backends.
    rows = store.query(
        "SELECT '50%' AS pct, 'why?' AS q, invoice_id FROM invoice_sync_ledger WHERE invoice_id = ?", ["A"]
    )
    assert rows == [{"pct": "50%", "q": "why?", "invoice_id": "A"}]


def test_a_batch_with_the_same_invoice_twice_keeps_the_last(store: Store) -> None:
    store.record_invoice_outcomes([LedgerEntry("B", "failed"), LedgerEntry("A", "posted"), LedgerEntry("B", "posted")])
    assert {r["invoice_id"]: (r["outcome"], r["attempts"]) for r in store.ledger()} == {
        "A": ("posted", 1),
        "B": ("posted", 2),
    }


def test_a_failed_call_writes_nothing(store: Store) -> None:
    with pytest.raises(Exception), store.connect() as conn:  # noqa: B017 - each backend raises its own type
        conn.execute(
            "INSERT INTO invoice_sync_ledger (invoice_id, outcome, attempts, first_attempt_at, "
            "last_attempt_at) VALUES ('X', 'posted', 1, ?, ?)",
            [datetime(2026, 1, 1)] * 2,
        )
        conn.execute("SELECT no_such_column FROM invoice_sync_ledger")
    if store.is_postgres:  # one transaction per call (DuckDB autocommits each statement)
        assert store.ledger() == []


# -- PostgreSQL only -------------------------------------------------------------------------------------


def test_concurrent_writers_lose_nothing(pg_url: str) -> None:
    # PostgreSQL only: DuckDB's writers are serialised by the store pool's single slot (one per process anyway).
    store = Store(pg_url)

    def write(worker: int) -> None:
        own = Store(store.location)  # every run builds its own Store
        for n in range(10):
            own.record_invoice_outcomes([LedgerEntry(f"W{worker}-{n}", "posted"), LedgerEntry("SHARED", "posted")])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = {r["invoice_id"]: r["attempts"] for r in store.ledger()}
    assert len(rows) == 41
    assert rows["SHARED"] == 40  # every upsert counted, none lost to a race


def _create_schema_and_write(url: str, worker: int, start: Any) -> None:
    start.wait()
    Store(url).record_invoice_outcomes([LedgerEntry(f"P{worker}", "posted")])


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
    assert sorted(r["invoice_id"] for r in store.ledger()) == [f"P{w}" for w in range(6)]
    assert store.query("SELECT COUNT(*) AS n FROM aiq_pipeline_schema") == [{"n": 1}]


def test_schema_is_not_recreated_once_applied(pg_url: str) -> None:
    Store(pg_url).ledger()
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT xmin::text FROM pg_class WHERE relname = 'invoice_exceptions'")
        (before,) = cursor.fetchone()
    conn.close()
    Store(pg_url).ledger()  # a new Store (a new run) must not issue CREATE OR REPLACE VIEW again
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT xmin::text FROM pg_class WHERE relname = 'invoice_exceptions'")
        assert cursor.fetchone() == (before,)
    conn.close()


def test_aware_datetimes_are_stored_as_utc_whatever_the_server_zone(pg_database: str) -> None:
    url = database_url(pg_database) + "?options=-c%20TimeZone%3DAsia/Tokyo"  # a session zone far from UTC
    store = Store(url)
    aware = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    store.record_invoice_outcomes([LedgerEntry("INV1", "posted", posted_at=aware)])
    assert store.ledger()[0]["posted_at"] == datetime(2026, 5, 1, 10, 0)


def test_dagster_style_driver_url_is_accepted(pg_database: str) -> None:
    store = Store(database_url(pg_database, scheme="postgresql+psycopg2"))
    assert store.is_postgres
    store.record_invoice_outcomes([LedgerEntry("INV1", "posted")])
    assert [r["invoice_id"] for r in store.ledger()] == ["INV1"]


def test_password_never_reaches_repr_or_connection_errors(pg_database: str) -> None:
    secret = "s3cr@t/pw"
    encoded = "s3cr%40t%2Fpw"
    store = Store(f"postgresql://nobody:{encoded}@127.0.0.1:5432/{pg_database}")
    assert secret not in repr(store) and encoded not in repr(store)
    with pytest.raises(StoreConnectionError) as caught:
        store.ledger()
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
