from decimal import Decimal

import pytest

from aiq_pipeline.store import LedgerEntry, Store


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "aiq.duckdb")


def test_snapshot_history_is_kept_and_current_view_shows_latest(store):
    store.write_snapshot("aiq_tax_codes", "E1", [{"code": "V01", "rate": Decimal("23"), "is_default": True}])
    store.write_snapshot("aiq_tax_codes", "E1", [{"code": "V02", "rate": Decimal("13.5")}, {"code": "V00"}])

    current = store.current("aiq_tax_codes")
    assert sorted(r["code"] for r in current) == ["V00", "V02"]
    assert store.snapshot_count("aiq_tax_codes") == 2
    assert len(store.query("SELECT * FROM aiq_tax_codes")) == 3
    assert next(r for r in current if r["code"] == "V02")["rate"] == Decimal("13.5")


def test_unknown_snapshot_table_is_refused(store):
    with pytest.raises(ValueError, match="unknown snapshot table"):
        store.write_snapshot("users; DROP TABLE x", "E1", [])


def test_ledger_upsert_counts_attempts_and_keeps_money_exact(store):
    store.record_invoice_outcomes([LedgerEntry("INV1", "failed", reason_code="CLOSED_PERIOD", reason="closed")])
    assert [r["invoice_id"] for r in store.query("SELECT * FROM invoice_exceptions")] == ["INV1"]

    store.record_invoice_outcomes(
        [LedgerEntry("INV1", "posted", net=Decimal("0.10"), tax=Decimal("0.20"), gross=Decimal("0.30"))]
    )
    (row,) = store.ledger()
    assert row["outcome"] == "posted"
    assert row["attempts"] == 2
    assert row["net"] + row["tax"] == row["gross"] == Decimal("0.30")
    assert store.query("SELECT * FROM invoice_exceptions") == []


def test_repr_hides_postgres_password():
    assert "s3cret" not in repr(Store("postgresql://user:s3cret@db:5432/aiq"))
