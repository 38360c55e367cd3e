"""The product's own checks, read as an operator would after a randomized scenario: each posting run's totals
(every posted partition's `totals_match` and every run's totals asset check), and the monthly reconciliation of
each month the scenario touched, run through its Dagster asset and read back from the store's snapshots.

The randomized tests audit AIQ against Bunny directly; these say whether the product itself would have told finance
the same thing (a green audit with a red reconciliation is a bug in one of the two).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from aiq_pipeline.operations.reconcile import reconcile_months_in_process
from aiq_pipeline.service.reconciliation import (
    latest_bank_reconciliation,
    latest_customer_balances,
    latest_reconciliation,
    month_key,
)
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS
from aiq_pipeline_tests.pipeline.conftest import Stack

PAGE = 500


@dataclass
class PostedTotals:
    checked: int = 0  # posted partitions whose materialization carries `totals_match`
    runs: int = 0  # totals asset check evaluations
    problems: list[str] = field(default_factory=list)


def posted_totals(instance: dg.DagsterInstance) -> PostedTotals:
    """Every document materialization's `totals_match` and every totals check evaluation, of every run."""
    result = PostedTotals()
    for asset in DOCUMENT_ASSETS:
        cursor = None
        while True:
            page = instance.fetch_materializations(asset.key, limit=PAGE, cursor=cursor)
            for record in page.records:
                materialization = record.asset_materialization
                assert materialization is not None
                meta = materialization.metadata
                if "totals_match" not in meta:
                    continue
                result.checked += 1
                if meta["totals_match"].value is not True:
                    said = meta["differences"].value if "differences" in meta else "no differences named"
                    result.problems.append(f"{asset.noun} {materialization.partition}: {said}")
            if not page.has_more:
                break
            cursor = page.cursor
        key = dg.AssetCheckKey(asset.key, asset.check_name)
        for execution in instance.event_log_storage.get_asset_check_execution_history(key, limit=100_000):
            if execution.status == AssetCheckExecutionRecordStatus.PLANNED:
                continue  # the run failed before the check (a batch's Failure): nothing was compared
            result.runs += 1
            if execution.status != AssetCheckExecutionRecordStatus.SUCCEEDED:
                evaluation = execution.evaluation
                said = evaluation.description if evaluation is not None else ""
                result.problems.append(f"{asset.check_name} of run {execution.run_id}: {said}")
    return result


@dataclass(frozen=True)
class MonthView:
    """One month's reconciliation as the asset stored it."""

    month: str  # YYYY-MM
    ran: bool
    passed: bool
    description: str
    documents: list[dict[str, Any]]  # differing documents and mismatched totals rows
    bank: list[dict[str, Any]]  # differing payments and mismatched bank days
    balances: list[dict[str, Any]]  # every customer compared (the month in progress only)

    @property
    def documents_passed(self) -> bool:
        return self.ran and not self.documents


def reconcile_months(stack: Stack, first: date, last: date) -> list[MonthView]:
    """Run the monthly reconciliation asset for each month from `first` to `last`, and read its snapshots back."""
    keys, day = [], first.replace(day=1)
    while day <= last:
        keys.append(month_key(day))
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    views = []
    for outcome in reconcile_months_in_process(stack.instance, keys, stack.defs, "test"):
        month = outcome.month_key[:7]
        rows = latest_reconciliation(stack.store, month) if outcome.ran else []
        views.append(
            MonthView(
                month=month,
                ran=outcome.ran,
                passed=outcome.passed,
                description=outcome.description,
                documents=[r for r in rows if r["row_type"] != "summary" and not r["passed"]],
                bank=[r for r in latest_bank_reconciliation(stack.store, month) if not r["passed"]],
                balances=latest_customer_balances(stack.store, month),
            )
        )
    return views
