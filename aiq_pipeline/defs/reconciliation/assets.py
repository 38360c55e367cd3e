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
  rows, built in `service.reconciliation`), so finance can query history;
  `service.reconciliation.latest_reconciliation(store, month)` reads the newest one.
- When it runs: the schedule `daily_reconciliation` reconciles the current and the previous month each
  morning (STOPPED by default like the sensors; RUNNING with AIQ_PIPELINE_SENSOR_DEFAULT=RUNNING), and the
  `aiq-pipeline sync` command reconciles, after posting, those months plus the months of the documents it
  posted (`reconcile_after_sync`). No automation condition: the invoice partitions are per invoice and cannot
  be mapped onto months by Dagster, so "after a sync" is decided here, where the documents are known.

Bunny has no filter on issue date, so a run reads the entity's invoices and credit notes and keeps the month's
(one paged listing each); AIQ is asked only for the month's SI and SN documents.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from aiq_pipeline.defs.metadata import column_schema, pick, table_definition, table_preview
from aiq_pipeline.defs.pools import STORE_POOL
from aiq_pipeline.defs.posting.run_requests import TRIGGER_TAG
from aiq_pipeline.defs.recovery import mark_run_process
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource, SyncSettings
from aiq_pipeline.service.reconciliation import (
    RECONCILIATION_TABLE,
    difference_rows,
    recent_month_keys,
    reconcile_month,
    store_rows,
    totals_rows,
)
from aiq_pipeline.sync.period_reconciliation import PeriodReconciliation

MONTHLY_RECONCILIATION = dg.AssetKey(["aiq", "monthly_reconciliation"])
RECONCILIATION_CHECK = "bunny_aiq_month_matches"
RECONCILIATION_JOB = "reconcile_months"
FIRST_MONTH = "2025-01-01"
# end_offset=1: the month in progress is a partition too (it is the one most likely to change).
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH, end_offset=1)
# The tables shown, typed as the store's `period_reconciliation` columns (bunny_state and matches are not stored).
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
DIFFERENCES_SCHEMA = pick(column_schema(RECONCILIATION_TABLE), DIFFERENCE_COLUMNS)
TOTALS_SCHEMA = pick(
    column_schema(RECONCILIATION_TABLE),
    TOTALS_COLUMNS,
    dg.TableColumn("matches", "bool", description="Both sides' count, net, tax and gross are equal."),
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
            "differences": table_preview(differences, DIFFERENCES_SCHEMA, limit=None),
            "totals": table_preview(totals_rows(result), TOTALS_SCHEMA, limit=None),
        },
    )


# --- the asset, its job and schedule ------------------------------------------------------------------


@dg.asset(
    key=MONTHLY_RECONCILIATION,
    partitions_def=monthly_partitions,
    group_name="reconciliation",
    kinds={"accountsiq", "duckdb"},
    pool=STORE_POOL,
    metadata=table_definition(RECONCILIATION_TABLE),
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
) -> Iterator[dg.MaterializeResult[None]]:
    # A generator: Dagster reads a plain return annotation as the outputs' types, and an asset with a check has two.
    mark_run_process(context)
    with accountsiq.open() as aiq, bunny.open() as bunny_client:
        result = reconcile_month(
            aiq,
            bunny_client,
            bunny_entity_id=bunny.entity_id,
            month=context.partition_key,
            sync_start=sync_settings.start_date(),
        )
    rows = store_rows(result)
    snapshot_id, _ = store.store().write_snapshot(RECONCILIATION_TABLE, accountsiq.entity_id, rows)
    context.log.info(result.describe())
    for difference in result.differences:
        context.log.warning("%s", difference)
    yield dg.MaterializeResult(
        metadata={
            "month": result.month,
            "passed": result.passed,
            "matched_documents": result.matched_documents,
            "differing_documents": len(result.differences),
            "other_aiq_documents": result.other_aiq_documents,
            "snapshot_id": snapshot_id,
            "dagster/partition_row_count": len(rows),
            "totals": table_preview(totals_rows(result), TOTALS_SCHEMA, limit=None),
        },
        check_results=[_check_result(result)],
    )


reconcile_months_job = dg.define_asset_job(
    RECONCILIATION_JOB,
    selection=[MONTHLY_RECONCILIATION],
    description="Reconcile Bunny against AIQ for one month.",
)


def daily_reconciliation(default_status: dg.DefaultScheduleStatus) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_reconciliation",
        job=reconcile_months_job,
        cron_schedule="30 6 * * *",
        default_status=default_status,
        description="Each morning: reconcile the previous and the current month.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        moment = context.scheduled_execution_time or datetime.now(UTC)
        for key in recent_month_keys(moment.date()):
            yield dg.RunRequest(
                run_key=f"reconcile:{key}:{moment.date()}", partition_key=key, tags={TRIGGER_TAG: "schedule"}
            )

    return _schedule
