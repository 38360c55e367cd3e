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
- Once payments sync (a bank account mapped), the same run and check cover the money: AIQ's receipts (SR) and
  refunds (SD) per day and bank account against Bunny's payments received less fees and refunds paid back
  (`sync.bank_reconciliation`), and, in the month in progress, every customer's AIQ balance as at the month's end
  against Bunny's amount due (`sync.balance_reconciliation`; Bunny states amounts due as of now, so an earlier
  month cannot be compared). One asset and one check: a month is reconciled when its documents and its money
  agree. The metadata has the bank days, the differing payments and the customers as typed tables.
- Every run appends a snapshot to the store table `period_reconciliation` (summary, totals and difference
  rows, built in `service.reconciliation`), and, when the money was compared, to `bank_reconciliation` and
  `customer_balance_reconciliation`, so finance can query history; `service.reconciliation.latest_reconciliation`,
  `latest_bank_reconciliation` and `latest_customer_balances` read the newest ones of a month.
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
from typing import Any

import dagster as dg

from aiq_pipeline.defs.metadata import column_schema, pick, table_definition, table_preview
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.run_requests import TRIGGER_TAG
from aiq_pipeline.defs.recovery import mark_run_process
from aiq_pipeline.defs.resources import (
    AccountsIQResource,
    BunnyResource,
    PostingRulesResource,
    StoreResource,
    SyncSettings,
)
from aiq_pipeline.service.money_reconciliation import (
    MoneySettings,
    balance_rows,
    bank_day_rows,
    money_difference_rows,
)
from aiq_pipeline.service.reconciliation import (
    BALANCES_TABLE,
    BANK_TABLE,
    RECONCILIATION_TABLE,
    difference_rows,
    recent_month_keys,
    reconcile_month,
    totals_rows,
    write_reconciliation,
)
from aiq_pipeline.store.dismissals import dismissed_keys
from aiq_pipeline.sync.period_reconciliation import PeriodReconciliation

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
BANK_DAY_COLUMNS = [
    "day",
    "bank_account",
    "currency",
    "kind",
    "bunny_count",
    "aiq_count",
    "bunny_amount",
    "aiq_amount",
    "other_count",
    "other_amount",
    "matches",
]
MONEY_DIFFERENCE_COLUMNS = [
    "external_reference",
    "problem",
    "kind",
    "processor",
    "currency",
    "bunny_day",
    "aiq_day",
    "bunny_bank",
    "aiq_bank",
    "bunny_amount",
    "aiq_amount",
    "aiq_transaction_ids",
    "detail",
]
BALANCE_COLUMNS = [
    "customer_code",
    "currency",
    "problem",
    "bunny_amount_due",
    "aiq_balance",
    "aiq_outstanding",
    "aiq_other_outstanding",
    "bunny_accounts",
    "invoices",
    "payments",
    "matches",
    "detail",
]
BANK_DAYS_SCHEMA = pick(
    column_schema(BANK_TABLE),
    BANK_DAY_COLUMNS,
    dg.TableColumn("matches", "bool", description="Both sides' count and amount are equal."),
)
MONEY_DIFFERENCES_SCHEMA = pick(column_schema(BANK_TABLE), MONEY_DIFFERENCE_COLUMNS)
BALANCES_SCHEMA = pick(
    column_schema(BALANCES_TABLE),
    BALANCE_COLUMNS,
    dg.TableColumn("matches", "bool", description="AIQ's balance equals Bunny's amount due (and its own sum)."),
)
LISTED = 20  # differences named in the check's description (every one is in its metadata and the store)


def _listed(result: PeriodReconciliation) -> str:
    named = [
        *(str(d) for d in result.differences),
        *(str(d) for d in (result.bank.differences if result.bank else ())),
        *(str(d) for d in (result.balances.differences if result.balances else ())),
    ]
    more = f" (and {len(named) - LISTED} more)" if len(named) > LISTED else ""
    return "; ".join(named[:LISTED]) + more


def _money_metadata(result: PeriodReconciliation, *, differences_only: bool) -> dict[str, Any]:
    """The money's tables (only when it was compared), and why not when it was not."""
    metadata: dict[str, Any] = {}
    if result.bank is not None:
        if not differences_only:
            metadata["bank_days"] = table_preview(bank_day_rows(result.bank), BANK_DAYS_SCHEMA, limit=None)
        metadata["differing_payments"] = len(result.bank.differences)
        metadata["payment_differences"] = table_preview(
            money_difference_rows(result.bank), MONEY_DIFFERENCES_SCHEMA, limit=None
        )
    if result.balances is not None:
        metadata["balances_as_of"] = result.balances.as_of.isoformat()
        metadata["differing_customers"] = len(result.balances.differences)
        metadata["customer_balances"] = table_preview(
            balance_rows(result.balances, differences_only=differences_only), BALANCES_SCHEMA, limit=None
        )
    if result.money_note:
        metadata["money_note"] = result.money_note
    return metadata


def _check_result(result: PeriodReconciliation, key: dg.AssetKey) -> dg.AssetCheckResult:
    differences = difference_rows(result)
    listed = _listed(result)
    return dg.AssetCheckResult(
        check_name=RECONCILIATION_CHECK,
        asset_key=key,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=result.describe() + (f": {listed}" if listed else ""),
        metadata={
            "month": result.month,
            "differing_documents": len(differences),
            "differing_references": [d.external_reference for d in result.differences],
            # Every differing document, not a preview: this list is what finance works through.
            "differences": table_preview(differences, DIFFERENCES_SCHEMA, limit=None),
            "totals": table_preview(totals_rows(result), TOTALS_SCHEMA, limit=None),
            **_money_metadata(result, differences_only=True),
        },
    )


# --- the asset, its job and schedule ------------------------------------------------------------------


def _reconcile(
    context: dg.AssetExecutionContext,
    accountsiq: AccountsIQResource,
    bunny: BunnyResource,
    store: StoreResource,
    sync_settings: SyncSettings,
    posting_rules: PostingRulesResource,
    names: PairNames,
) -> Iterator[dg.MaterializeResult[None]]:
    mark_run_process(context)
    key, scopes = names.monthly_reconciliation, [asset.partitions_name for asset in names.documents]
    db = store.store()
    money = MoneySettings(
        accounts=posting_rules.payments(),
        payment_amount=posting_rules.bunny_payment_amount,
        customer_match=tuple(posting_rules.customer_match),
    )
    with accountsiq.open() as aiq, bunny.open() as bunny_client:
        result = reconcile_month(
            aiq,
            bunny_client,
            bunny_entity_id=bunny.entity_id,
            month=context.partition_key,
            sync_start=sync_settings.start_date(),
            money=money,
            today=datetime.now(UTC).date(),
            dismissed=dismissed_keys(db, scopes),
            readings=posting_rules.readings(),
        )
    snapshot_id, written = write_reconciliation(db, accountsiq.entity_id, result)
    context.log.info(result.describe())
    for difference in [
        *result.differences,
        *(result.bank.differences if result.bank else ()),
        *(result.balances.differences if result.balances else ()),
    ]:
        context.log.warning("%s", difference)
    yield dg.MaterializeResult(
        metadata={
            "month": result.month,
            "passed": result.passed,
            "matched_documents": result.matched_documents,
            "differing_documents": len(result.differences),
            "other_aiq_documents": result.other_aiq_documents,
            "snapshot_id": snapshot_id,
            "dagster/partition_row_count": written,
            "totals": table_preview(totals_rows(result), TOTALS_SCHEMA, limit=None),
            **_money_metadata(result, differences_only=False),
        },
        check_results=[_check_result(result, key)],
    )


def monthly_reconciliation(names: PairNames) -> dg.AssetsDefinition:
    @dg.asset(
        key=names.monthly_reconciliation,
        partitions_def=monthly_partitions,
        group_name="reconciliation",
        kinds={"accountsiq", "duckdb"},
        pool=names.store_pool,
        metadata=table_definition(RECONCILIATION_TABLE),
        check_specs=[
            dg.AssetCheckSpec(
                RECONCILIATION_CHECK,
                asset=names.monthly_reconciliation,
                description="Every Bunny invoice and credit note of the month is in AIQ exactly once, equal to the "
                "cent; AIQ holds nothing else of ours in the month. Once payments sync: AIQ's receipts and refunds "
                "per day and bank account equal Bunny's payments less fees and refunds paid back, and (in the month "
                "in progress) every customer's AIQ balance equals Bunny's amount due.",
            )
        ],
        description="Bunny vs AIQ for one month: document counts, net, tax and gross of invoices and credit notes "
        "on both sides, receipts and refunds per day and bank account, customer balances (the month in progress), and "
        "every document, payment or customer that differs or is missing on either side.",
    )
    def _monthly_reconciliation(
        context: dg.AssetExecutionContext,
        accountsiq: AccountsIQResource,
        bunny: BunnyResource,
        store: StoreResource,
        sync_settings: SyncSettings,
        posting_rules: PostingRulesResource,
    ) -> Iterator[dg.MaterializeResult[None]]:
        # A generator: Dagster reads a plain return annotation as the outputs' types, and an asset with a check has
        # two.
        yield from _reconcile(context, accountsiq, bunny, store, sync_settings, posting_rules, names)

    return _monthly_reconciliation


def daily_reconciliation(default_status: dg.DefaultScheduleStatus) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_reconciliation",
        job_name=RECONCILIATION_JOB,
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
