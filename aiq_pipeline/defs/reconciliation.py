"""Monthly reconciliation of Bunny against AIQ: one partition per calendar month, with an asset check.

Shape, and why:

- `aiq/monthly_reconciliation` is partitioned by month (`MonthlyPartitionsDefinition`, from 2025-01, including
  the month in progress). A month is the unit finance closes and the unit AIQ's period listing
  (GetTransactionsBy by transaction date) answers cheaply; a partition per month keeps each month's last result
  in the UI's partition view, lets a person re-run any month (or backfill a year), and lets the schedule touch
  only the months that can still change. A non-partitioned "last N months" asset would hide which month broke.
- The asset check `bunny_aiq_month_matches` carries the verdict: passed when every Bunny document of the month
  is in AIQ exactly once with net, tax and gross equal to the cent (and nothing else of ours is), failed with
  every differing or missing document listed. A failed check does not fail the run: the reconciliation itself
  worked, and what it found is data (and stays in the store).
- Every run appends a snapshot to the store table `period_reconciliation` (summary, totals and difference
  rows), so finance can query history; `latest_reconciliation(store, month)` reads the newest one.
- When it runs: the schedule `daily_reconciliation` reconciles the current and the previous month each
  morning (STOPPED by default like the sensors; RUNNING with AIQ_PIPELINE_SENSOR_DEFAULT=RUNNING), and the
  `aiq-pipeline sync` command reconciles, after posting, those months plus the months of the documents it
  posted (`reconcile_after_sync`). No automation condition: the invoice partitions are per invoice and cannot
  be mapped onto months by Dagster, so "after a sync" is decided here, where the documents are known.

Bunny has no filter on issue date, so a run reads the entity's invoices and credit notes and keeps the month's
(one paged listing each); AIQ is asked only for the month's SI and SN documents.
"""

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from aiq_pipeline.defs.ledger import STORE_POOL
from aiq_pipeline.defs.metadata import preview
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource, SyncSettings
from aiq_pipeline.defs.sensors import SENSOR_DEFAULT_ENV, TRIGGER_TAG
from aiq_pipeline.service.document_poster import LOOKUP_TO
from aiq_pipeline.store import Store
from aiq_pipeline.sync.credit_note_posting import CREDIT_NOTE_KEY_PREFIX, VOID_KEY_PREFIX
from aiq_pipeline.sync.identity import credit_note_reference, invoice_reference
from aiq_pipeline.sync.period_reconciliation import (
    CREDIT_NOTE_TYPE,
    INVOICE_TYPE,
    PeriodReconciliation,
    month_bounds,
    reconcile_period,
)

MONTHLY_RECONCILIATION = dg.AssetKey(["aiq", "monthly_reconciliation"])
RECONCILIATION_CHECK = "bunny_aiq_month_matches"
RECONCILIATION_JOB = "reconcile_months"
RECONCILIATION_TABLE = "period_reconciliation"
FIRST_MONTH = "2025-01-01"
# end_offset=1: the month in progress is a partition too (it is the one most likely to change).
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH, end_offset=1)
DIFFERENCE_COLUMNS = [
    "external_reference",
    "problem",
    "kind",
    "bunny_number",
    "bunny_state",
    "aiq_transaction_ids",
    "detail",
]
TOTALS_COLUMNS = [
    "kind",
    "currency",
    "bunny_count",
    "aiq_count",
    "bunny_net",
    "aiq_net",
    "bunny_tax",
    "aiq_tax",
    "bunny_gross",
    "aiq_gross",
    "matches",
]


def month_key(day: date) -> str:
    """The partition key of the month containing `day` (`YYYY-MM-01`)."""
    return day.replace(day=1).isoformat()


def recent_month_keys(today: date) -> list[str]:
    """The previous and the current month: the ones late postings, credit notes and voids still change."""
    previous = today.replace(day=1) - timedelta(days=1)
    return [month_key(previous), month_key(today)]


def reconcile_month(
    aiq: Any,
    bunny: Any,
    *,
    bunny_entity_id: str,
    month: str | date,
    sync_start: date | None = None,
) -> PeriodReconciliation:
    """Read the month from both systems (clients already open) and reconcile it."""
    first, last = month_bounds(month)
    transactions = list(aiq.get_transactions_by(first, last, types=[INVOICE_TYPE, CREDIT_NOTE_TYPE]))
    # Issued up to the month's end: one issued earlier may have been moved into this month out of a closed period.
    invoices = [i for i in bunny.iter_invoices(bunny_entity_id) if i.issued_at and i.issued_at <= last]
    notes = [n for n in bunny.iter_credit_notes(bunny_entity_id) if n.issued_at and n.issued_at <= last]
    # A document of this month dated in a closed AIQ period may have been moved to a later month's first open day:
    # when the month lacks it, look it up by reference (one call each; only closed days qualify), so the
    # reconciliation leaves it to its posting month instead of calling it missing.
    periods = aiq.get_periods()
    closed = [
        (p.start_date, p.end_date)
        for p in periods
        if p.start_date and p.end_date and (p.sales_ledger_closed or p.financial_year_closed)
    ]
    held = {(t.external_reference or "").upper() for t in transactions}
    candidates = [(invoice_reference(i.id), i.issued_at) for i in invoices] + [
        (credit_note_reference(n.id), n.issued_at) for n in notes
    ]
    for reference, issued in candidates:
        in_closed = any(start <= issued <= end for start, end in closed)
        if issued >= first and in_closed and reference.upper() not in held:
            transactions.extend(
                t
                for t in aiq.get_transactions_by_external_reference(reference, from_date=last, to_date=LOOKUP_TO)
                if t.transaction_date is not None and t.transaction_date > last
            )
    return reconcile_period(
        entity_id=bunny_entity_id,
        month=first,
        invoices=invoices,
        credit_notes=notes,
        aiq_transactions=transactions,
        sync_start=sync_start,
        period_starts=[p.start_date for p in periods if p.start_date is not None],
    )


# --- rendering ----------------------------------------------------------------------------------------


def difference_rows(result: PeriodReconciliation) -> list[dict[str, Any]]:
    rows = []
    for d in result.differences:
        rows.append(
            {
                "external_reference": d.external_reference,
                "problem": str(d.problem),
                "kind": d.kind,
                "bunny_id": d.bunny_id,
                "bunny_number": d.bunny_number,
                "bunny_state": d.bunny_state,
                "aiq_transaction_ids": ",".join(str(i) for i in d.aiq_transaction_ids),
                "bunny_net": d.bunny.net if d.bunny else None,
                "bunny_tax": d.bunny.tax if d.bunny else None,
                "bunny_gross": d.bunny.gross if d.bunny else None,
                "aiq_net": d.aiq.net if d.aiq else None,
                "aiq_tax": d.aiq.tax if d.aiq else None,
                "aiq_gross": d.aiq.gross if d.aiq else None,
                "currency": (d.bunny.currency if d.bunny else None) or (d.aiq.currency if d.aiq else None),
                "detail": d.detail,
            }
        )
    return rows


def totals_rows(result: PeriodReconciliation) -> list[dict[str, Any]]:
    return [
        {
            "kind": r.kind,
            "currency": r.currency,
            "bunny_count": r.bunny.count,
            "aiq_count": r.aiq.count,
            "bunny_net": r.bunny.net,
            "aiq_net": r.aiq.net,
            "bunny_tax": r.bunny.tax,
            "aiq_tax": r.aiq.tax,
            "bunny_gross": r.bunny.gross,
            "aiq_gross": r.aiq.gross,
            "matches": r.matches,
        }
        for r in result.totals
    ]


def store_rows(result: PeriodReconciliation) -> list[dict[str, Any]]:
    """The snapshot written to `period_reconciliation`: summary, totals and difference rows."""
    common = {"month": result.month, "bunny_entity_id": result.entity_id}
    rows: list[dict[str, Any]] = [
        common
        | {
            "row_type": "summary",
            "passed": result.passed,
            "bunny_count": result.matched_documents,
            "aiq_count": result.other_aiq_documents,
            "detail": result.describe(),
        }
    ]
    rows += [
        common | {"row_type": "totals", "passed": row["matches"]} | {k: v for k, v in row.items() if k != "matches"}
        for row in totals_rows(result)
    ]
    rows += [
        common | {"row_type": "difference", "passed": False} | {k: v for k, v in row.items() if k != "bunny_state"}
        for row in difference_rows(result)
    ]
    return rows


def latest_reconciliation(store: Store, month: str, bunny_entity_id: str | None = None) -> list[dict[str, Any]]:
    """The rows of the newest reconciliation snapshot of `month` (`YYYY-MM`), summary first."""
    entity_clause = " AND bunny_entity_id = ?" if bunny_entity_id is not None else ""
    params = [month, *([bunny_entity_id] if bunny_entity_id is not None else [])]
    return store.query(
        f"SELECT * FROM {RECONCILIATION_TABLE} WHERE month = ?{entity_clause} AND snapshot_id = "
        f"(SELECT MAX(snapshot_id) FROM {RECONCILIATION_TABLE} WHERE month = ?{entity_clause}) "
        "ORDER BY CASE row_type WHEN 'summary' THEN 0 WHEN 'totals' THEN 1 ELSE 2 END, kind, currency, "
        "external_reference",
        [*params, *params],
    )


def _check_result(result: PeriodReconciliation) -> dg.AssetCheckResult:
    differences = difference_rows(result)
    listed = "; ".join(str(d) for d in result.differences[:20])
    more = f" (and {len(result.differences) - 20} more)" if len(result.differences) > 20 else ""
    return dg.AssetCheckResult(
        check_name=RECONCILIATION_CHECK,
        asset_key=MONTHLY_RECONCILIATION,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=result.describe() + (f": {listed}{more}" if listed else ""),
        metadata={
            "month": result.month,
            "differing_documents": len(differences),
            "differing_references": [d.external_reference for d in result.differences],
            # Every differing document, not a preview: this list is what finance works through.
            "differences": preview(differences, DIFFERENCE_COLUMNS, limit=max(len(differences), 1)),
            "totals": preview(totals_rows(result), TOTALS_COLUMNS, limit=max(len(result.totals), 1)),
        },
    )


# --- the asset, its job and schedule ------------------------------------------------------------------


@dg.asset(
    key=MONTHLY_RECONCILIATION,
    partitions_def=monthly_partitions,
    group_name="reconciliation",
    kinds={"accountsiq", "duckdb"},
    pool=STORE_POOL,
    check_specs=[
        dg.AssetCheckSpec(
            RECONCILIATION_CHECK,
            asset=MONTHLY_RECONCILIATION,
            description="Every Bunny invoice and credit note of the month is in AIQ exactly once, equal to the cent; "
            "AIQ holds nothing else of ours in the month.",
        )
    ],
    description="Bunny vs AIQ for one month: document counts, net, tax and gross of invoices and credit notes "
    "on both sides, and every document that differs or is missing on either side.",
)
def monthly_reconciliation(
    context: dg.AssetExecutionContext,
    accountsiq: AccountsIQResource,
    bunny: BunnyResource,
    store: StoreResource,
    sync_settings: SyncSettings,
) -> dg.MaterializeResult:
    with accountsiq.open() as aiq, bunny.open() as bunny_client:
        result = reconcile_month(
            aiq,
            bunny_client,
            bunny_entity_id=bunny.entity_id,
            month=context.partition_key,
            sync_start=sync_settings.start_date(),
        )
    snapshot_id, _ = store.store().write_snapshot(RECONCILIATION_TABLE, accountsiq.entity_id, store_rows(result))
    context.log.info(result.describe())
    for difference in result.differences:
        context.log.warning("%s", difference)
    return dg.MaterializeResult(
        metadata={
            "month": result.month,
            "passed": result.passed,
            "matched_documents": result.matched_documents,
            "differing_documents": len(result.differences),
            "other_aiq_documents": result.other_aiq_documents,
            "snapshot_id": snapshot_id,
            "totals": preview(totals_rows(result), TOTALS_COLUMNS, limit=max(len(result.totals), 1)),
        },
        check_results=[_check_result(result)],
    )


reconcile_months_job = dg.define_asset_job(
    RECONCILIATION_JOB,
    selection=[MONTHLY_RECONCILIATION],
    partitions_def=monthly_partitions,
    description="Reconcile Bunny against AIQ for one month.",
)


def _schedule_default() -> dg.DefaultScheduleStatus:
    wanted = os.environ.get(SENSOR_DEFAULT_ENV, "STOPPED").strip().upper()
    return dg.DefaultScheduleStatus.RUNNING if wanted == "RUNNING" else dg.DefaultScheduleStatus.STOPPED


@dg.schedule(
    name="daily_reconciliation",
    job=reconcile_months_job,
    cron_schedule="30 6 * * *",
    default_status=_schedule_default(),
    description="Each morning: reconcile the previous and the current month.",
)
def daily_reconciliation(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
    moment = context.scheduled_execution_time or datetime.now(UTC)
    for key in recent_month_keys(moment.date()):
        yield dg.RunRequest(
            run_key=f"reconcile:{key}:{moment.date()}", partition_key=key, tags={TRIGGER_TAG: "schedule"}
        )


# --- in-process runs (the sync command) ---------------------------------------------------------------


@dataclass(frozen=True)
class MonthOutcome:
    month_key: str
    ran: bool  # False: the run itself failed (AIQ or Bunny not answering, ...)
    passed: bool
    description: str


def reconcile_months_in_process(
    instance: dg.DagsterInstance,
    month_keys: Iterable[str],
    defs: dg.Definitions,
    trigger: str = "sync",
) -> list[MonthOutcome]:
    """Materialize the given month partitions now, one run each; returns each month's verdict."""
    job = defs.resolve_job_def(RECONCILIATION_JOB)
    outcomes = []
    for key in sorted(set(month_keys)):
        run = job.execute_in_process(
            instance=instance, partition_key=key, tags={TRIGGER_TAG: trigger}, raise_on_error=False
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


def months_of_documents(bunny: Any, bunny_entity_id: str, keys: Sequence[str]) -> set[str]:
    """Month keys of the Bunny documents behind sync partition keys (invoice ids, `CN-<id>`, `VOID-<id>`)."""
    invoice_ids = {k.removeprefix(VOID_KEY_PREFIX) for k in keys if not k.startswith(CREDIT_NOTE_KEY_PREFIX)}
    note_ids = {k.removeprefix(CREDIT_NOTE_KEY_PREFIX) for k in keys if k.startswith(CREDIT_NOTE_KEY_PREFIX)}
    months: set[str] = set()
    with bunny.open() as client:
        if invoice_ids:
            months |= {
                month_key(r.issued_at)
                for r in client.iter_invoice_refs(bunny_entity_id, updated_since=None)
                if r.id in invoice_ids and r.issued_at
            }
        if note_ids:
            months |= {
                month_key(n.issued_at)
                for n in client.iter_credit_notes(bunny_entity_id)
                if n.id in note_ids and n.issued_at
            }
    return months


def reconcile_after_sync(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    keys: Sequence[str] = (),
    echo: Callable[[str], None] = print,
    today: date | None = None,
) -> list[MonthOutcome]:
    """After a sync: reconcile the previous and current month and every month a synced document belongs to."""
    today = today or datetime.now(UTC).date()
    bunny = defs.resources["bunny"].process_config_and_initialize()  # EnvVar fields resolved
    wanted = set(recent_month_keys(today))
    if keys:
        wanted |= months_of_documents(bunny, bunny.entity_id, keys)
    valid = set(monthly_partitions.get_partition_keys())
    outcomes = reconcile_months_in_process(instance, sorted(wanted & valid), defs)
    for outcome in outcomes:
        echo(("reconciled " if outcome.passed else "RECONCILIATION FAILED ") + outcome.description)
    return outcomes
