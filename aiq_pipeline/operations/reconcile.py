"""Reconciling months in this process: what `aiq-pipeline sync` does after posting."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg

from aiq_pipeline.defs.posting.run_requests import TRIGGER_TAG
from aiq_pipeline.defs.reconciliation.assets import RECONCILIATION_JOB, monthly_partitions
from aiq_pipeline.defs.recovery import process_tags
from aiq_pipeline.defs.resources import BunnyResource
from aiq_pipeline.operations.runs import QUIET, initialized
from aiq_pipeline.service.reconciliation import months_of_documents, recent_month_keys


@dataclass(frozen=True)
class MonthOutcome:
    month_key: str
    ran: bool  # False: the run itself failed (AIQ or Bunny not answering, ...)
    passed: bool
    description: str


def reconcile_months_in_process(
    instance: dg.DagsterInstance, month_keys: Iterable[str], defs: dg.Definitions, trigger: str = "sync"
) -> list[MonthOutcome]:
    """Materialize the given month partitions now, one run each; returns each month's verdict."""
    job = defs.resolve_job_def(RECONCILIATION_JOB)
    outcomes = []
    for key in sorted(set(month_keys)):
        run = job.execute_in_process(
            run_config=QUIET,
            instance=instance,
            partition_key=key,
            tags={TRIGGER_TAG: trigger, **process_tags()},
            raise_on_error=False,
        )
        evaluations = run.get_asset_check_evaluations()
        if not run.success or not evaluations:
            failure = next((e for e in run.all_events if e.is_step_failure), None)
            error = failure.step_failure_data.error if failure and failure.step_failure_data else None
            reason = error.message.strip() if error else "the run failed"
            outcomes.append(MonthOutcome(key, False, False, f"{key[:7]}: reconciliation did not run: {reason}"))
            continue
        evaluation = evaluations[0]
        outcomes.append(MonthOutcome(key, True, evaluation.passed, evaluation.description or ""))
    return outcomes


def reconcile_after_sync(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    keys: Sequence[str] = (),
    echo: Callable[[str], None] = print,
    today: date | None = None,
) -> list[MonthOutcome]:
    """After a sync: reconcile the previous and current month and every month a synced document belongs to."""
    today = today or datetime.now(UTC).date()
    wanted = set(recent_month_keys(today))
    if keys:
        bunny = initialized(defs, "bunny", BunnyResource)  # EnvVar fields resolved
        with bunny.open() as client:
            wanted |= months_of_documents(client, bunny.entity_id, keys)
    valid = set(monthly_partitions.get_partition_keys())
    outcomes = reconcile_months_in_process(instance, sorted(wanted & valid), defs)
    for outcome in outcomes:
        echo(("reconciled " if outcome.passed else "RECONCILIATION FAILED ") + outcome.description)
    return outcomes
