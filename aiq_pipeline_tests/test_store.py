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
