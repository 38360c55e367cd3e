import subprocess
import sys
from decimal import Decimal

import pytest

from aiq_pipeline.store import Store
from aiq_pipeline.store.journal import OutcomeRecord, PostingJournal


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "aiq.duckdb")


def test_snapshot_history_is_kept_and_current_view_shows_latest(store):
    store.write_snapshot("aiq_tax_codes", "E1", [{"code": "V01", "rate": Decimal("23"), "is_default": True}])
    store.write_snapshot("aiq_tax_codes", "E1", [{"code": "V02", "rate": Decimal("13.5")}, {"code": "V00"}])

    store.write_snapshot("aiq_tax_codes", "E2", [{"code": "S", "rate": Decimal("20")}])  # a pair sharing the store

    current = store.current("aiq_tax_codes", "E1")
    assert sorted(r["code"] for r in current) == ["V00", "V02"]
    assert [r["code"] for r in store.current("aiq_tax_codes", "E2")] == ["S"]
    assert store.snapshot_count("aiq_tax_codes") == 3
    assert len(store.query("SELECT * FROM aiq_tax_codes")) == 4
    assert next(r for r in current if r["code"] == "V02")["rate"] == Decimal("13.5")


def test_unknown_snapshot_table_is_refused(store):
    with pytest.raises(ValueError, match="unknown snapshot table"):
        store.write_snapshot("users; DROP TABLE x", "E1", [])


def test_outcomes_upsert_counts_attempts_and_keeps_money_exact(store):
    with store.session() as session:
        journal = PostingJournal(session, "E1")
        journal.record_outcomes([OutcomeRecord("INV1", "invoice", "failed", reason_code="CLOSED_PERIOD")])
        assert [r["claim_key"] for r in session.query("SELECT * FROM posting_exceptions")] == ["INV1"]
        journal.record_outcomes(
            [
                OutcomeRecord(
                    "INV1", "invoice", "posted", net=Decimal("0.10"), tax=Decimal("0.20"), gross=Decimal("0.30")
                )
            ]
        )
        (row,) = journal.outcomes()
    assert row["outcome"] == "posted"
    assert row["attempts"] == 2
    assert row["net"] + row["tax"] == row["gross"] == Decimal("0.30")
    assert store.query("SELECT * FROM posting_exceptions") == []


def test_repr_hides_postgres_password():
    assert "s3cret" not in repr(Store("postgresql://user:s3cret@db:5432/aiq"))


def test_a_duckdb_session_lets_another_process_write_between_its_transactions(tmp_path):
    """Two posting runs share the DuckDB file: a batch's session must keep another run out only for the length of
    each transaction, never while it waits on AIQ or Bunny (DuckDB admits one process per file)."""
    store = Store(tmp_path / "store.duckdb")
    # Another run's write, with no retry: it fails at once if the file is held.
    writer = "import duckdb, sys\nduckdb.connect(sys.argv[1]).execute('CREATE TABLE other_run (x INT)')\n"
    with store.session() as session:
        journal = PostingJournal(session, "E1")
        journal.record_outcomes([OutcomeRecord("INV1", "invoice", "posted")])
        other = subprocess.run([sys.executable, "-c", writer, store.location], capture_output=True, text=True)
        assert other.returncode == 0, other.stderr
        journal.record_outcomes([OutcomeRecord("INV2", "invoice", "posted")])
    assert [r["claim_key"] for r in store.query("SELECT claim_key FROM posting_outcomes ORDER BY 1")] == [
        "INV1",
        "INV2",
    ]
    assert store.query("SELECT COUNT(*) AS n FROM other_run") == [{"n": 0}]


def test_a_duckdb_transaction_holds_the_file_until_it_commits(tmp_path):
    """Within a transaction the file stays held, so its statements commit together and nobody interleaves."""
    store = Store(tmp_path / "store.duckdb")
    probe = "import duckdb, sys\ntry:\n    duckdb.connect(sys.argv[1])\nexcept duckdb.IOException:\n    sys.exit(3)\n"
    with store.session() as session, session.transaction() as conn:
        conn.execute("SELECT 1")
        held = subprocess.run([sys.executable, "-c", probe, store.location], capture_output=True, text=True)
    assert held.returncode == 3, held.stderr
