"""The money of a monthly reconciliation in the store and in Dagster's metadata: bank days, differing payments and
customer balances written as snapshots and read back newest first, money exact; the check's tables typed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from aiq_pipeline.defs.reconciliation.assets import BALANCES_SCHEMA, BANK_DAYS_SCHEMA, MONEY_DIFFERENCES_SCHEMA
from aiq_pipeline.service.reconciliation import (
    latest_bank_reconciliation,
    latest_customer_balances,
    latest_reconciliation,
    write_reconciliation,
)
from aiq_pipeline.store import Store
from aiq_pipeline.sync.balance_reconciliation import reconcile_balances
from aiq_pipeline.sync.period_reconciliation import PeriodReconciliation, reconcile_period
from aiq_pipeline_tests.reconciliation.test_balance_reconciliation import Balance, Invoice
from aiq_pipeline_tests.reconciliation.test_bank_reconciliation import Payment, receipt
from aiq_pipeline_tests.reconciliation.test_bank_reconciliation import reconcile as reconcile_bank

D = Decimal


def month(*, extra_receipt: bool, owed: str) -> PeriodReconciliation:
    documents = reconcile_period(entity_id="1", month="2026-06", invoices=[], credit_notes=[], aiq_transactions=[])
    rows = [receipt(1, "1", "1234567890123456.78")] + ([receipt(2, "999", "0.01")] if extra_receipt else [])
    bank = reconcile_bank([Payment("1", D("1234567890123456.78"))], rows=rows)
    balances = reconcile_balances(
        as_of=date(2026, 6, 30),
        invoices=[Invoice("1", D(owed))],
        payments=[],
        account_codes={"1": "BNY-1"},
        aiq_balances={"BNY-1": Balance("BNY-1", D("10.01"))},
    )
    return replace(documents, bank=bank, balances=balances)


def test_money_snapshots_are_written_and_the_newest_read_back_exact(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.duckdb")
    clean = month(extra_receipt=False, owed="10.01")
    assert clean.passed
    _, written = write_reconciliation(store, "DEMO01", clean)
    assert written == 1 + 1 + 1  # the summary, one bank day, one customer
    broken = month(extra_receipt=True, owed="10.00")
    assert not broken.passed
    write_reconciliation(store, "DEMO01", broken)

    summary = latest_reconciliation(store, "2026-06")[0]
    assert (summary["row_type"], summary["passed"]) == ("summary", False)
    assert "payment(s)/refund(s) differ" in summary["detail"] and "customer balance(s) differ" in summary["detail"]
    bank = latest_bank_reconciliation(store, "2026-06", "1")
    assert [r["row_type"] for r in bank] == ["bank_day", "difference"]
    day, extra = bank
    assert (day["day"], day["bank_account"], day["bunny_amount"], day["aiq_amount"], day["passed"]) == (
        date(2026, 6, 3),
        "1200",
        D("1234567890123456.78"),
        D("1234567890123456.79"),
        False,
    )
    assert (extra["external_reference"], extra["problem"], extra["aiq_amount"]) == (
        "BUNNY-PAY-999",
        "NOT_IN_BUNNY",
        D("0.01"),
    )
    (customer,) = latest_customer_balances(store, "2026-06")
    assert (customer["customer_code"], customer["bunny_amount_due"], customer["aiq_balance"], customer["passed"]) == (
        "BNY-1",
        D("10.00"),
        D("10.01"),
        False,
    )
    assert customer["as_of"] == date(2026, 6, 30) and customer["problem"] == "BALANCE_DIFFERS"
    assert latest_bank_reconciliation(store, "2026-07") == [] and latest_customer_balances(store, "2026-06", "2") == []


def test_the_checks_money_tables_are_typed_like_the_store() -> None:
    types = {c.name: c.type for s in (BANK_DAYS_SCHEMA, MONEY_DIFFERENCES_SCHEMA, BALANCES_SCHEMA) for c in s.columns}
    assert types["day"] == "date" and types["bunny_day"] == "date"
    assert {types[n] for n in ("bunny_amount", "aiq_amount", "other_amount", "aiq_balance", "bunny_amount_due")} == {
        "decimal(18,2)"
    }
    assert types["bunny_count"] == "int" and types["matches"] == "bool"
