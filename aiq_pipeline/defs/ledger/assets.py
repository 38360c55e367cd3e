"""The AIQ ledger snapshot: chart of accounts, tax codes and periods, pulled into the store."""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from aiq_pipeline.defs.metadata import column_schema, pick, table_definition, table_preview
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.recovery import mark_run_process
from aiq_pipeline.defs.resources import AccountsIQResource, StoreResource
from aiq_pipeline.service.accounts import GL_ACCOUNTS_TABLE, PERIODS_TABLE, TAX_CODES_TABLE, read_ledger
from aiq_pipeline.store import Store

# What each preview shows, of the columns its table has.
ACCOUNT_COLUMNS = ("code", "description", "account_type", "is_posting", "is_active", "is_departmental")
TAX_CODE_COLUMNS = ("code", "description", "rate", "is_default")
PERIOD_COLUMNS = ("financial_year", "period_number", "period_name", "start_date", "end_date", "sales_ledger_closed")


def _spec(key: dg.AssetKey, table: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        group_name="ledger",
        kinds={"accountsiq", "duckdb"},
        description=description,
        metadata=table_definition(table),
    )


def _snapshot(
    db: Store,
    entity: str,
    key: dg.AssetKey,
    table: str,
    rows: list[dict[str, Any]],
    shown: Sequence[str],
    **counts: int,
) -> dg.MaterializeResult[None]:
    """Write `rows` as the next snapshot of `table`; the asset's metadata: row count, counts, a typed preview."""
    snapshot_id, _ = db.write_snapshot(table, entity, rows)
    return dg.MaterializeResult(
        asset_key=key,
        metadata={
            "dagster/row_count": len(rows),
            "snapshot_id": snapshot_id,
            **counts,
            "preview": table_preview(rows, pick(column_schema(table), shown)),
        },
    )


def aiq_ledger_snapshot(names: PairNames) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            _spec(
                names.chart_of_accounts,
                GL_ACCOUNTS_TABLE,
                "AIQ general ledger accounts of the configured entity (GetChartOfAccounts).",
            ),
            _spec(names.tax_codes, TAX_CODES_TABLE, "AIQ tax codes of the configured entity (GetTaxCodeList)."),
            _spec(
                names.periods,
                PERIODS_TABLE,
                "AIQ financial periods and whether their sales ledger is closed (GetPeriodList).",
            ),
        ],
        name="aiq_ledger_snapshot",
        pool=names.store_pool,
    )
    def _snapshot_ledger(
        context: dg.AssetExecutionContext, accountsiq: AccountsIQResource, store: StoreResource
    ) -> Iterator[dg.MaterializeResult[None]]:
        mark_run_process(context)
        with accountsiq.open() as client:
            ledger = read_ledger(client)
        db, entity = store.store(), accountsiq.entity_id
        yield _snapshot(
            db,
            entity,
            names.chart_of_accounts,
            GL_ACCOUNTS_TABLE,
            ledger.account_rows(),
            ACCOUNT_COLUMNS,
            posting_accounts=ledger.posting_accounts,
        )
        yield _snapshot(db, entity, names.tax_codes, TAX_CODES_TABLE, ledger.tax_code_rows(), TAX_CODE_COLUMNS)
        yield _snapshot(
            db,
            entity,
            names.periods,
            PERIODS_TABLE,
            ledger.period_rows(),
            PERIOD_COLUMNS,
            open_sales_periods=ledger.open_sales_periods,
        )
        context.log.info("ledger snapshot: %d accounts, %d tax codes", len(ledger.accounts), len(ledger.tax_codes))

    return _snapshot_ledger
