"""The AIQ ledger snapshot: chart of accounts, tax codes and periods, pulled into the store."""

from collections.abc import Iterator
from dataclasses import asdict

import dagster as dg

from aiq_pipeline.defs.metadata import preview
from aiq_pipeline.defs.pools import STORE_POOL
from aiq_pipeline.defs.recovery import mark_run_process
from aiq_pipeline.defs.resources import AccountsIQResource, StoreResource

CHART_OF_ACCOUNTS = dg.AssetKey(["aiq", "chart_of_accounts"])
TAX_CODES = dg.AssetKey(["aiq", "tax_codes"])
PERIODS = dg.AssetKey(["aiq", "periods"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            CHART_OF_ACCOUNTS,
            group_name="ledger",
            kinds={"accountsiq", "duckdb"},
            description="AIQ general ledger accounts of the configured entity (GetChartOfAccounts).",
        ),
        dg.AssetSpec(
            TAX_CODES,
            group_name="ledger",
            kinds={"accountsiq", "duckdb"},
            description="AIQ tax codes of the configured entity (GetTaxCodeList).",
        ),
        dg.AssetSpec(
            PERIODS,
            group_name="ledger",
            kinds={"accountsiq", "duckdb"},
            description="AIQ financial periods and whether their sales ledger is closed (GetPeriodList).",
        ),
    ],
    pool=STORE_POOL,
)
def aiq_ledger_snapshot(
    context: dg.AssetExecutionContext, accountsiq: AccountsIQResource, store: StoreResource
) -> Iterator[dg.MaterializeResult]:
    mark_run_process(context)
    with accountsiq.open() as client:
        accounts = client.get_chart_of_accounts()
        tax_codes = client.get_tax_codes()
        periods = client.get_periods()
    db = store.store()
    entity = accountsiq.entity_id

    account_rows = [{**asdict(a), "is_posting": a.is_posting} for a in accounts]
    snapshot_id, _ = db.write_snapshot("aiq_gl_accounts", entity, account_rows)
    yield dg.MaterializeResult(
        asset_key=CHART_OF_ACCOUNTS,
        metadata={
            "dagster/row_count": len(account_rows),
            "snapshot_id": snapshot_id,
            "posting_accounts": sum(1 for a in accounts if a.is_posting and a.is_active),
            "preview": preview(account_rows, ["code", "description", "account_type", "is_active", "is_departmental"]),
        },
    )

    tax_rows = [asdict(t) for t in tax_codes]
    snapshot_id, _ = db.write_snapshot("aiq_tax_codes", entity, tax_rows)
    yield dg.MaterializeResult(
        asset_key=TAX_CODES,
        metadata={
            "dagster/row_count": len(tax_rows),
            "snapshot_id": snapshot_id,
            "preview": preview(tax_rows, ["code", "description", "rate", "is_default"]),
        },
    )

    period_rows = [asdict(p) for p in periods]
    snapshot_id, _ = db.write_snapshot("aiq_periods", entity, period_rows)
    yield dg.MaterializeResult(
        asset_key=PERIODS,
        metadata={
            "dagster/row_count": len(period_rows),
            "snapshot_id": snapshot_id,
            "open_sales_periods": sum(1 for p in periods if not p.sales_ledger_closed),
            "preview": preview(
                period_rows, ["financial_year", "period_number", "start_date", "end_date", "sales_ledger_closed"]
            ),
        },
    )
    context.log.info("ledger snapshot %s: %d accounts, %d tax codes", snapshot_id, len(accounts), len(tax_codes))
