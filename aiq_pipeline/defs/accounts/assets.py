"""Bunny financial accounts from the AIQ ledger ("Sync financial accounts") and the GL mapping of charges.

Both read the chart of accounts from the latest ledger snapshot; the work is in `service.accounts`.
"""

from collections.abc import Iterator

import dagster as dg

from aiq_pipeline.accountsiq.models import GLAccount
from aiq_pipeline.defs.metadata import column_schema, pick, table_definition, table_preview, text_columns
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.recovery import mark_run_process
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource
from aiq_pipeline.service.accounts import (
    FINANCIAL_ACCOUNTS_TABLE,
    GL_MAPPING_TABLE,
    NoLedgerSnapshot,
    chart_from_store,
    mapping_rows,
    read_gl_mapping,
    sync_financial_accounts,
)
from aiq_pipeline.store import Store
from aiq_pipeline.sync.gl_mapping import ChargeMapping, GLMapping

MAPPING_CHECK = "every_charge_posts_to_a_posting_account"

# What each preview shows, of the columns its table has.
ACCOUNT_COLUMNS = ("code", "name", "account_type", "active", "default_account", "source")
MAPPING_COLUMNS = ("charge_code", "account_code", "resolved_from", "problem_code")


def _chart(db: Store, aiq_entity_id: str) -> list[GLAccount]:
    try:
        return chart_from_store(db, aiq_entity_id)
    except NoLedgerSnapshot as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def _sync_financial_accounts(
    context: dg.AssetExecutionContext, accountsiq: AccountsIQResource, bunny: BunnyResource, store: StoreResource
) -> dg.MaterializeResult[None]:
    mark_run_process(context)
    db = store.store()
    chart = _chart(db, accountsiq.entity_id)
    with bunny.open() as client:
        done = sync_financial_accounts(
            client, chart, bunny_entity_id=bunny.entity_id, aiq_entity_id=accountsiq.entity_id
        )
    rows = done.rows()
    snapshot_id, _ = db.write_snapshot(FINANCIAL_ACCOUNTS_TABLE, bunny.entity_id, rows)
    context.log.info("financial accounts: %d mutation(s) sent", done.mutations)
    plan = done.plan
    return dg.MaterializeResult(
        metadata={
            "created": len(plan.creates),
            "updated": len(plan.updates),
            "deactivated": len(plan.deactivations),
            "left_alone": len(plan.unchanged),
            "not_imported": len(plan.skipped),
            "mutations_sent": done.mutations,
            "dagster/row_count": len(rows),
            "snapshot_id": snapshot_id,
            "not_imported_accounts": table_preview(done.skipped_rows(), text_columns("code", "reason")),
            "preview": table_preview(rows, pick(column_schema(FINANCIAL_ACCOUNTS_TABLE), ACCOUNT_COLUMNS)),
        }
    )


def _mapping_check(mapping: GLMapping) -> dg.AssetCheckResult:
    bad: list[ChargeMapping] = [r for r in mapping.rows if r.problem]
    return dg.AssetCheckResult(
        check_name=MAPPING_CHECK,
        passed=not bad,
        description=(
            "Every charge resolves to an active AIQ posting account."
            if not bad
            else "AIQ would reject invoices using: " + ", ".join(r.label for r in bad)
        ),
        metadata={
            "charges": dg.MetadataValue.md("\n".join(f"- {r.problem}" for r in bad) or "none"),
            "failing_charges": [r.charge_code or r.charge_id for r in bad],
        },
    )


def _map_charges(
    context: dg.AssetExecutionContext, accountsiq: AccountsIQResource, bunny: BunnyResource, store: StoreResource
) -> Iterator[dg.MaterializeResult[None]]:
    mark_run_process(context)
    db = store.store()
    chart = _chart(db, accountsiq.entity_id)
    with bunny.open() as client:
        mapping = read_gl_mapping(client, chart, bunny_entity_id=bunny.entity_id)
    rows = mapping_rows(mapping)
    snapshot_id, _ = db.write_snapshot(GL_MAPPING_TABLE, bunny.entity_id, rows)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "snapshot_id": snapshot_id,
            "default_earned_revenue_account": mapping.default_account_code or "none",
            "charges_with_problems": sum(1 for r in mapping.rows if r.problem),
            "preview": table_preview(rows, pick(column_schema(GL_MAPPING_TABLE), MAPPING_COLUMNS)),
        },
        check_results=[_mapping_check(mapping)],
    )


def financial_accounts(names: PairNames) -> dg.AssetsDefinition:
    @dg.asset(
        key=names.financial_accounts,
        deps=[names.chart_of_accounts],
        group_name="accounts",
        kinds={"bunny", "duckdb"},
        pool=names.store_pool,
        metadata=table_definition(FINANCIAL_ACCOUNTS_TABLE),
        description="The AIQ general ledger written into the Bunny entity's financial accounts (Sync financial "
        "accounts).",
    )
    def _financial_accounts(
        context: dg.AssetExecutionContext, accountsiq: AccountsIQResource, bunny: BunnyResource, store: StoreResource
    ) -> dg.MaterializeResult[None]:
        return _sync_financial_accounts(context, accountsiq, bunny, store)

    return _financial_accounts


def gl_mapping(names: PairNames) -> dg.AssetsDefinition:
    @dg.asset(
        key=names.gl_mapping,
        deps=[names.financial_accounts, names.chart_of_accounts],
        group_name="accounts",
        kinds={"bunny", "duckdb"},
        pool=names.store_pool,
        metadata=table_definition(GL_MAPPING_TABLE),
        check_specs=[dg.AssetCheckSpec(MAPPING_CHECK, asset=names.gl_mapping)],
        description="For every Bunny price-list charge, the AIQ account its revenue posts to.",
    )
    def _gl_mapping(
        context: dg.AssetExecutionContext, accountsiq: AccountsIQResource, bunny: BunnyResource, store: StoreResource
    ) -> Iterator[dg.MaterializeResult[None]]:
        # A generator: Dagster reads a plain return annotation as the outputs' types, and an asset with a check has
        # two.
        yield from _map_charges(context, accountsiq, bunny, store)

    return _gl_mapping
