"""Ledger snapshot, financial accounts and GL mapping assets against both emulators."""

from __future__ import annotations

import dagster as dg
import pytest

from aiq_pipeline.defs.accounts.assets import MAPPING_CHECK
from aiq_pipeline_tests.pair_names import (
    CHART_OF_ACCOUNTS,
    CREDIT_NOTES,
    FINANCIAL_ACCOUNTS,
    GL_MAPPING,
    INVOICES,
    PERIODS,
    SETUP_ASSETS,
    TAX_CODES,
)
from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY, BUNNY_ENTITY

SETUP = list(SETUP_ASSETS)


def _run(stack, selection=SETUP) -> dg.ExecuteInProcessResult:
    job = stack.defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=stack.instance, asset_selection=selection, raise_on_error=False)
    assert result.success
    return result


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def test_ledger_snapshot_lands_in_the_store_with_history(stack):
    first = _run(stack, [CHART_OF_ACCOUNTS, TAX_CODES, PERIODS])
    meta = _metadata(first, CHART_OF_ACCOUNTS)
    assert meta["dagster/row_count"] == 10
    assert "Subscription revenue" in {r.data["description"] for r in meta["preview"].records}  # a typed table now
    codes = {r["code"]: r for r in stack.store.current("aiq_gl_accounts", AIQ_ENTITY)}
    assert codes["4000"]["is_posting"] and not codes["4900"]["is_posting"]
    assert {r["code"] for r in stack.store.current("aiq_tax_codes", AIQ_ENTITY)} == {"V01", "V02", "V00", "EX"}
    assert _metadata(first, PERIODS)["open_sales_periods"] == 19  # Jun 2026 .. Dec 2027

    _run(stack, [CHART_OF_ACCOUNTS, TAX_CODES, PERIODS])
    assert stack.store.snapshot_count("aiq_gl_accounts") == 2
    assert len(stack.store.current("aiq_gl_accounts", AIQ_ENTITY)) == 10  # replaced, not doubled


def test_financial_accounts_sync_is_idempotent_and_leaves_user_settings_alone(stack):
    first = _metadata(_run(stack), FINANCIAL_ACCOUNTS)
    assert first["created"] > 0 and first["mutations_sent"] == first["created"] + first["updated"]
    accounts = stack.bunny_graphql(
        "query { financialAccounts(first: 100) { nodes { code name accountType defaultAccount active externalId } } }"
    )["financialAccounts"]["nodes"]
    by_code = {a["code"]: a for a in accounts if a["code"]}
    assert {"4000", "4010", "4020", "1100", "2200"} <= set(by_code)
    assert by_code["4000"]["defaultAccount"] is True  # the team's default survived
    assert by_code["4020"]["externalId"] == "AIQ:DEMO01:4020"

    second = _metadata(_run(stack), FINANCIAL_ACCOUNTS)
    assert second["mutations_sent"] == 0
    assert second["created"] == second["updated"] == second["deactivated"] == 0

    # An account that leaves AIQ is deactivated in Bunny, never deleted.
    with stack.emulators.accountsiq.state.writing() as data:
        del data.entities["DEMO01"].gl_accounts["4020"]
    third = _metadata(_run(stack), FINANCIAL_ACCOUNTS)
    assert third["deactivated"] == 1
    again = stack.bunny_graphql("query { financialAccounts(first: 100) { nodes { code active } } }")
    assert {a["code"]: a["active"] for a in again["financialAccounts"]["nodes"]}["4020"] is False


def test_mapping_check_names_the_charges_aiq_would_reject(stack):
    result = _run(stack)
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == MAPPING_CHECK]
    assert not check.passed
    assert check.metadata["failing_charges"].value == ["LEGACY-ADDON"]
    rows = {r["charge_code"]: r for r in stack.store.current("gl_mapping", BUNNY_ENTITY)}
    assert rows["SUB-MONTHLY"]["account_code"] == "4000" and rows["SUB-MONTHLY"]["resolved_from"] == "default"
    assert rows["PRO-SERVICES"]["resolved_from"] == "charge"
    assert rows["LEGACY-ADDON"]["problem_code"] == "NOT_POSTING_ACCOUNT"


def test_mapping_check_names_unmapped_charges_when_there_is_no_default_account(stack):
    accounts = stack.bunny_graphql("query { financialAccounts(first: 100) { nodes { id code } } }")
    default = next(a["id"] for a in accounts["financialAccounts"]["nodes"] if a["code"] == "4000")
    stack.bunny_graphql(
        "mutation($id: ID!, $a: FinancialAccountAttributes!) { financialAccountUpdate(id: $id, attributes: $a) "
        "{ errors financialAccount { id } } }",
        {"id": default, "a": {"defaultAccount": False}},
    )
    result = _run(stack)
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == MAPPING_CHECK]
    assert not check.passed
    assert {"SUB-MONTHLY", "API-USAGE"} <= set(check.metadata["failing_charges"].value)


def test_assets_have_lineage_from_ledger_to_posted_documents(stack):
    graph = stack.defs.resolve_asset_graph()
    assert graph.get(FINANCIAL_ACCOUNTS).parent_keys == {CHART_OF_ACCOUNTS}
    assert graph.get(GL_MAPPING).parent_keys == {FINANCIAL_ACCOUNTS, CHART_OF_ACCOUNTS}
    assert graph.get(INVOICES.key).parent_keys == {GL_MAPPING, TAX_CODES, PERIODS}
    assert graph.get(CREDIT_NOTES.key).parent_keys == {GL_MAPPING, TAX_CODES, PERIODS}


@pytest.mark.parametrize("key", [FINANCIAL_ACCOUNTS, GL_MAPPING])
def test_setup_assets_fail_clearly_without_a_snapshot(stack, key):
    job = stack.defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=stack.instance, asset_selection=[key], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no ledger snapshot of AIQ entity DEMO01 yet" in failure.step_failure_data.user_failure_data.description
