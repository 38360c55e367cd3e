"""The monthly reconciliation through both emulators (real HTTP), the store and a Dagster instance.

The demo tenant, fully synced with its planted problems fixed, reconciles clean in every month it has documents;
then each kind of disagreement is planted and must fail the check naming the document.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

import aiq_pipeline.defs.reconciliation.assets as reconciliation_assets
from aiq_emulators.runner import running_emulators
from aiq_pipeline.accountsiq import BatchLine, BatchSalesInvoice
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.reconciliation.assets import RECONCILIATION_CHECK
from aiq_pipeline.defs.resources import PostingRulesResource
from aiq_pipeline.operations.reconcile import MonthOutcome, reconcile_after_sync, reconcile_months_in_process
from aiq_pipeline.operations.runs import EXIT_DOCUMENTS_FAILED, SyncSummary
from aiq_pipeline.operations.sync import retry, sync_once
from aiq_pipeline.service.reconciliation import latest_reconciliation, reconcile_month
from aiq_pipeline.sync.documents.context import BunnyReadings
from aiq_pipeline_tests.credit_notes.driving import Daemon, all_failed_keys
from aiq_pipeline_tests.pair_names import MONTHLY_RECONCILIATION
from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY, Stack, make_resources

pytestmark = pytest.mark.slow

# The demo tenant's entity 1 issues documents in these months (invoice 7 in May, invoices 1 and 4 and credit
# note 1 in June, invoice 9 in October, the rest in November).
DEMO_MONTHS = ["2026-05-01", "2026-06-01", "2026-10-01", "2026-11-01"]


def synced_demo(stack: Stack) -> tuple[list[str], SyncSummary]:
    """Sync, fix the demo's planted problems, retry, let the credit-note sensor tick; returns the first sync's output
    and summary."""
    output: list[str] = []
    summary = sync_once(stack.instance, echo=output.append, defs=stack.defs)
    stack.fix_demo_data()
    retry(stack.instance, all_failed_keys(stack.instance), defs=stack.defs)
    Daemon(stack).tick_credits()
    assert all_failed_keys(stack.instance) == []
    return output, summary


def reconcile(stack: Stack, *months: str) -> dict[str, MonthOutcome]:
    return {o.month_key: o for o in reconcile_months_in_process(stack.instance, months, stack.defs, "test")}


def differences(stack: Stack, month: str) -> dict[str, dict]:
    rows = latest_reconciliation(stack.store, month)
    return {r["external_reference"]: r for r in rows if r["row_type"] == "difference"}


def aiq_client(stack: Stack):  # type: ignore[no-untyped-def]
    return stack.defs.resources["accountsiq"].open()


def hand_post(stack: Stack, reference: str, day: date, net: str = "49.00") -> None:
    line = BatchLine("4000", "V01", "Hand-posted", Decimal(net), Decimal("0.23"), None)
    with aiq_client(stack) as aiq:
        aiq.create_batch_sales_invoice_get_back_transaction_id(
            BatchSalesInvoice("BNY-1", day, reference, "Posted by hand in AIQ", (line,))
        )


def test_demo_tenant_agrees_to_the_cent_in_every_month_after_a_full_sync(stack: Stack) -> None:
    synced_demo(stack)
    outcomes = reconcile(stack, *DEMO_MONTHS)
    assert {k: o.passed for k, o in outcomes.items()} == dict.fromkeys(DEMO_MONTHS, True), outcomes
    assert differences(stack, "2026-11") == {}
    # The GBP invoice's new AIQ customer was created in GBP, not in the entity's base currency.
    data = stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY]
    (gbp,) = [t for t in data.transactions.values() if t.external_reference == "BUNNY-INV-5"]
    assert gbp.currency_code == "GBP" and data.customers[gbp.customer_code].currency_code == "GBP"
    june = latest_reconciliation(stack.store, "2026-06")
    summary = june[0]
    assert (summary["row_type"], summary["passed"]) == ("summary", True)
    totals = {(r["kind"], r["currency"]): r for r in june if r["row_type"] == "totals"}
    # June: invoice 1 (posted) and credit note 1; invoice 4 was voided before any sync, so neither side has it.
    invoice, note = totals[("invoice", "EUR")], totals[("credit_note", "EUR")]
    assert (invoice["bunny_count"], invoice["aiq_count"]) == (1, 1)
    assert invoice["bunny_gross"] == invoice["aiq_gross"] > 0
    assert (note["bunny_count"], note["aiq_count"], note["bunny_gross"]) == (1, 1, note["aiq_gross"])
    assert differences(stack, "2026-06") == {}
    # The check's verdict is what Dagster records (June reconciled last).
    assert reconcile(stack, "2026-06-01")["2026-06-01"].passed
    record = stack.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(MONTHLY_RECONCILIATION, RECONCILIATION_CHECK)]
    )
    assert record[dg.AssetCheckKey(MONTHLY_RECONCILIATION, RECONCILIATION_CHECK)].status.value == "SUCCEEDED"


def test_extra_and_duplicate_documents_in_aiq_fail_naming_them(stack: Stack) -> None:
    synced_demo(stack)
    hand_post(stack, "BUNNY-INV-999", date(2026, 6, 15))  # no such Bunny invoice
    hand_post(stack, "BUNNY-INV-1", date(2026, 6, 2), net="199.00")  # a second copy of invoice 1
    outcome = reconcile(stack, "2026-06-01")["2026-06-01"]
    assert outcome.ran and not outcome.passed
    assert "BUNNY-INV-999" in outcome.description and "BUNNY-INV-1 " in outcome.description
    found = differences(stack, "2026-06")
    assert set(found) == {"BUNNY-INV-999", "BUNNY-INV-1"}
    assert found["BUNNY-INV-999"]["problem"] == "NOT_IN_BUNNY"
    assert found["BUNNY-INV-1"]["problem"] == "DUPLICATE_IN_AIQ"
    assert len(found["BUNNY-INV-1"]["aiq_transaction_ids"].split(",")) == 2
    # Other months are untouched.
    assert reconcile(stack, "2026-05-01")["2026-05-01"].passed


def test_bunny_invoice_not_yet_synced_is_missing_in_aiq(stack: Stack) -> None:
    synced_demo(stack)
    (new_id,) = stack.emulators.bunny.create_invoices({"account": "2"}, count=1, release=True)
    issued = next(i for i in stack.emulators.bunny.store.tenant.invoices if i.id == new_id).issued_at
    key = issued.replace(day=1).isoformat()
    outcome = reconcile(stack, key)[key]
    assert not outcome.passed and f"BUNNY-INV-{new_id}" in outcome.description
    row = differences(stack, key[:7])[f"BUNNY-INV-{new_id}"]
    assert (row["problem"], row["bunny_id"], row["aiq_transaction_ids"]) == ("MISSING_IN_AIQ", new_id, "")
    totals = [r for r in latest_reconciliation(stack.store, key[:7]) if r["row_type"] == "totals" and not r["passed"]]
    assert totals and totals[0]["bunny_count"] == totals[0]["aiq_count"] + 1


def test_one_cent_difference_in_aiq_fails_naming_the_document_and_field(stack: Stack) -> None:
    synced_demo(stack)
    with stack.emulators.accountsiq.state.writing() as data:
        posted = next(
            t for t in data.entities[AIQ_ENTITY].transactions.values() if t.external_reference == "BUNNY-INV-2"
        )
        vat = next(line for line in posted.lines if line.kind == "Vat")
        control = next(line for line in posted.lines if line.kind == "Control")
        vat.amount -= Decimal("0.01")  # credit side: one cent more tax
        control.amount += Decimal("0.01")
        posted.control_amount += Decimal("0.01")
    outcome = reconcile(stack, "2026-11-01")["2026-11-01"]
    assert not outcome.passed and "BUNNY-INV-2" in outcome.description
    row = differences(stack, "2026-11")["BUNNY-INV-2"]
    assert row["problem"] == "AMOUNTS_DIFFER"
    assert row["aiq_tax"] - row["bunny_tax"] == Decimal("0.01") and row["aiq_net"] == row["bunny_net"]
    assert "tax: Bunny" in row["detail"] and "gross: Bunny" in row["detail"]


def test_invoice_voided_after_posting_reconciles_as_a_pair_or_across_months(stack: Stack) -> None:
    """The reversal is dated on the void day. Voided in its own month (November), the invoice and its reversal are a
    pair and half a pair fails; voided later (this test run's today), November keeps the invoice, live at its end,
    and the void's month holds the reversal."""
    synced_demo(stack)
    voided = stack.emulators.bunny.store.void_invoice("2")  # issued and posted in November, voided now
    void_month = voided.updated_at.strftime("%Y-%m-01")
    if void_month == "2026-11-01":
        assert not reconcile(stack, "2026-11-01")["2026-11-01"].passed  # not reversed yet
        assert differences(stack, "2026-11")["BUNNY-INV-2"]["problem"] == "NOT_REVERSED"
        Daemon(stack).tick_credits()  # posts BUNNY-VOID-2
        assert reconcile(stack, "2026-11-01")["2026-11-01"].passed
        pair = [r for r in latest_reconciliation(stack.store, "2026-11") if r["kind"] == "voided_pair"]
        assert pair and pair[0]["aiq_count"] == pair[0]["bunny_count"] == 2
        return
    assert reconcile(stack, "2026-11-01")["2026-11-01"].passed  # the invoice was live at November's end
    Daemon(stack).tick_credits()  # posts BUNNY-VOID-2, dated on the void day
    after = reconcile(stack, "2026-11-01", void_month)
    assert after["2026-11-01"].passed and after[void_month].passed, after
    rows = latest_reconciliation(stack.store, void_month[:7])
    reversal = [r for r in rows if r["row_type"] == "totals" and r["kind"] == "void_reversal"]
    assert reversal and reversal[0]["aiq_count"] == reversal[0]["bunny_count"] == 1, rows


def test_sync_command_reconciles_the_months_it_touched(stack: Stack) -> None:
    output, summary = synced_demo(stack)
    # The first sync ran before the demo's problems were fixed: its months with failed invoices did not pass.
    failed = [line for line in output if line.startswith("RECONCILIATION FAILED")]
    assert any("2026-11" in line and "MISSING_IN_AIQ" in line for line in failed), output
    assert any(d.startswith("2026-11") for d in summary.reconciliation_failed), summary.reconciliation_failed
    assert summary.exit_code == EXIT_DOCUMENTS_FAILED  # failed documents outrank a differing reconciliation
    # `sync` posts June's credit note too (with its invoice), so June agrees after the first sync.
    assert any(line.startswith("reconciled 2026-06") for line in output), output
    assert not any(line.startswith("RECONCILIATION FAILED 2026-06") for line in failed), output
    assert any(line.startswith("reconciled 2026-10") for line in output), output
    # Once everything is posted, the same step passes for the months of the documents named.
    # (and the previous and current month: as on the demo's last day, so the months named do not follow the calendar)
    again = reconcile_after_sync(
        stack.instance, stack.defs, ["1", "7", "CN-1"], echo=output.append, today=date(2026, 11, 30)
    )
    assert {o.month_key for o in again} == {"2026-05-01", "2026-06-01", "2026-10-01", "2026-11-01"}
    assert all(o.passed for o in again), again


def test_the_month_is_read_with_the_tenants_bunny_readings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reconciliation compares Bunny's totals read this tenant's way (AIQ_PIPELINE_BUNNY_AMOUNT and ..._SUBTOTAL),
    as the posting did: the asset hands the configured readings to the month's comparison."""
    seen: list[BunnyReadings | None] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("readings"))
        return reconcile_month(*args, **kwargs)

    monkeypatch.setattr(reconciliation_assets, "reconcile_month", recording)
    rules = PostingRulesResource(bunny_amount="less_credits", bunny_subtotal="before_discount")
    with running_emulators(state_dir=tmp_path / "emulators") as emulators, dg.instance_for_test() as instance:
        resources = make_resources(emulators, tmp_path / "store.duckdb") | {"posting_rules": rules}
        reconcile_months_in_process(instance, ["2026-06-01"], build_definitions(resources), "test")
    assert seen == [BunnyReadings(subtotal="before_discount", amount="less_credits")]
