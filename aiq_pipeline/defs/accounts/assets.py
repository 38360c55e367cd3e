"""Bunny financial accounts from the AIQ ledger ("Sync financial accounts") and the GL mapping of charges."""

from collections.abc import Iterator

import dagster as dg

from aiq_pipeline.accountsiq.models import GLAccount
from aiq_pipeline.bunny.models import FinancialAccountAttributes
from aiq_pipeline.defs.ledger.assets import CHART_OF_ACCOUNTS
from aiq_pipeline.defs.metadata import preview
from aiq_pipeline.defs.pools import STORE_POOL
from aiq_pipeline.defs.recovery import mark_run_process
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource
from aiq_pipeline.store import Store
from aiq_pipeline.sync.financial_accounts import plan_financial_accounts
from aiq_pipeline.sync.gl_mapping import resolve_gl_mapping, validate_gl_mapping

FINANCIAL_ACCOUNTS = dg.AssetKey(["bunny", "financial_accounts"])
GL_MAPPING = dg.AssetKey(["bunny", "gl_mapping"])
MAPPING_CHECK = "every_charge_posts_to_a_posting_account"

_GL_FIELDS = (
    "code",
    "description",
    "account_type",
    "is_active",
    "is_departmental",
    "currency_code",
    "gl_category",
    "gl_sub_category",
    "gl_category_type_description",
    "balance_sheet_type",
)


def chart_from_store(store: Store) -> list[GLAccount]:
    """The latest AIQ chart-of-accounts snapshot; a clear error when there is none yet."""
    rows = store.current("aiq_gl_accounts")
    if not rows:
        raise dg.Failure(
            description="There is no AIQ ledger snapshot yet: materialize aiq/chart_of_accounts first.",
            allow_retries=False,
        )
    return [GLAccount(**{f: row[f] for f in _GL_FIELDS}) for row in rows]


@dg.asset(
    key=FINANCIAL_ACCOUNTS,
    deps=[CHART_OF_ACCOUNTS],
    group_name="accounts",
    kinds={"bunny", "duckdb"},
    pool=STORE_POOL,
    description="The AIQ general ledger written into the Bunny entity's financial accounts (Sync financial accounts).",
)
def financial_accounts(
    context: dg.AssetExecutionContext, accountsiq: AccountsIQResource, bunny: BunnyResource, store: StoreResource
) -> dg.MaterializeResult:
    mark_run_process(context)
    db = store.store()
    chart = chart_from_store(db)
    with bunny.open() as client:
        existing = list(client.iter_financial_accounts(bunny.entity_id))
        plan = plan_financial_accounts(
            chart, existing, bunny_entity_id=bunny.entity_id, aiq_entity_id=accountsiq.entity_id
        )
        for create in plan.creates:
            client.create_financial_account(FinancialAccountAttributes(**create.attributes()))  # type: ignore[arg-type]
        for update in plan.updates:
            client.update_financial_account(update.id, FinancialAccountAttributes(**update.changes))  # type: ignore[arg-type]
        for deactivation in plan.deactivations:
            client.update_financial_account(deactivation.id, FinancialAccountAttributes(active=False))
        after = list(client.iter_financial_accounts(bunny.entity_id)) if not plan.is_empty else existing

    rows = [
        {
            "id": a.id,
            "code": a.code,
            "name": a.name,
            "account_type": a.account_type,
            "active": a.active,
            "default_account": a.default_account,
            "external_id": a.external_id,
            "source": a.source,
        }
        for a in after
    ]
    db.write_snapshot("bunny_financial_accounts", bunny.entity_id, rows)
    mutations = len(plan.creates) + len(plan.updates) + len(plan.deactivations)
    context.log.info("financial accounts: %d mutation(s) sent", mutations)
    return dg.MaterializeResult(
        metadata={
            "created": len(plan.creates),
            "updated": len(plan.updates),
            "deactivated": len(plan.deactivations),
            "left_alone": len(plan.unchanged),
            "not_imported": len(plan.skipped),
            "mutations_sent": mutations,
            "dagster/row_count": len(rows),
            "not_imported_accounts": preview(
                [{"code": s.code, "reason": s.reason} for s in plan.skipped], ["code", "reason"]
            ),
            "preview": preview(rows, ["code", "name", "account_type", "active", "default_account", "source"]),
        }
    )


@dg.asset(
    key=GL_MAPPING,
    deps=[FINANCIAL_ACCOUNTS, CHART_OF_ACCOUNTS],
    group_name="accounts",
    kinds={"bunny", "duckdb"},
    pool=STORE_POOL,
    check_specs=[dg.AssetCheckSpec(MAPPING_CHECK, asset=GL_MAPPING)],
    description="For every Bunny price-list charge, the AIQ account its revenue posts to.",
)
def gl_mapping(
    context: dg.AssetExecutionContext, bunny: BunnyResource, store: StoreResource
) -> Iterator[dg.MaterializeResult]:
    mark_run_process(context)
    db = store.store()
    chart = chart_from_store(db)
    with bunny.open() as client:
        mapping = validate_gl_mapping(
            resolve_gl_mapping(
                client.iter_price_list_charges(),
                client.iter_financial_accounts(bunny.entity_id),
                entity_id=bunny.entity_id,
            ),
            chart,
        )
    rows = [
        {
            "charge_id": r.charge_id,
            "charge_code": r.charge_code,
            "charge_name": None,
            "account_code": r.account_code,
            "resolved_from": r.source,
            "problem_code": str(r.problem.code) if r.problem else None,
            "problem": str(r.problem) if r.problem else None,
        }
        for r in mapping.rows
    ]
    db.write_snapshot("gl_mapping", bunny.entity_id, rows)
    bad = [r for r in mapping.rows if r.problem]
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "default_earned_revenue_account": mapping.default_account_code or "none",
            "charges_with_problems": len(bad),
            "preview": preview(rows, ["charge_code", "account_code", "resolved_from", "problem_code"]),
        },
        check_results=[
            dg.AssetCheckResult(
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
        ],
    )
