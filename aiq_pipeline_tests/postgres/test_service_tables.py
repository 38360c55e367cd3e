"""The services' store rows on both backends: the chart of accounts read back as written, and a month's
reconciliation snapshot read back newest first, summary first, money exact."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from aiq_pipeline.service.accounts import GL_ACCOUNTS_TABLE, Ledger, chart_from_store
from aiq_pipeline.service.reconciliation import RECONCILIATION_TABLE, latest_reconciliation, store_rows
from aiq_pipeline.store import Store
from aiq_pipeline.sync.period_reconciliation import reconcile_period
from aiq_pipeline_tests.reconciliation.test_period_reconciliation import CreditNote, Invoice, posted
from aiq_pipeline_tests.sync.builders import CHART

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "duckdb":
        return Store(tmp_path / "aiq.duckdb")
    return Store(request.getfixturevalue("pg_url"))


def test_chart_round_trip(store: Store) -> None:
    store.write_snapshot(GL_ACCOUNTS_TABLE, "DEMO01", Ledger(CHART, (), ()).account_rows())
    assert chart_from_store(store, "DEMO01") == [replace(a, default_tax_id=None, gl_group=None) for a in CHART]


def test_latest_reconciliation_of_a_month(store: Store) -> None:
    def month(net: str):  # type: ignore[no-untyped-def]
        return reconcile_period(
            entity_id="1",
            month="2026-06",
            invoices=[Invoice("1"), Invoice("2", state="DRAFT")],
            credit_notes=[CreditNote("7")],
            aiq_transactions=[posted(11, "BUNNY-INV-1", net, "23.00"), posted(12, "BUNNY-INV-2", "1.00", "0.00")],
        )

    store.write_snapshot(RECONCILIATION_TABLE, "DEMO01", store_rows(month("100.00")))
    store.write_snapshot(RECONCILIATION_TABLE, "DEMO01", store_rows(month("99.99")))
    july = store_rows(replace(month("100.00"), month="2026-07"))
    store.write_snapshot(RECONCILIATION_TABLE, "DEMO01", july)

    rows = latest_reconciliation(store, "2026-06", "1")
    assert [r["row_type"] for r in rows] == ["summary", "totals", "totals", "difference", "difference", "difference"]
    summary, *_ = rows
    assert summary["passed"] is False and "3 document(s) differ" in summary["detail"]
    invoice_totals = next(r for r in rows if r["row_type"] == "totals" and r["kind"] == "invoice")
    assert (invoice_totals["bunny_net"], invoice_totals["aiq_net"]) == (Decimal("100.00"), Decimal("100.99"))
    assert isinstance(invoice_totals["aiq_net"], Decimal)
    differences = {r["external_reference"]: r["problem"] for r in rows if r["row_type"] == "difference"}
    assert differences == {
        "BUNNY-INV-1": "AMOUNTS_DIFFER",
        "BUNNY-INV-2": "NOT_EXPECTED",
        "BUNNY-CN-7": "MISSING_IN_AIQ",
    }
    assert latest_reconciliation(store, "2026-06", "other entity") == []
    assert [r["month"] for r in latest_reconciliation(store, "2026-07")] == ["2026-07"] * len(july)
