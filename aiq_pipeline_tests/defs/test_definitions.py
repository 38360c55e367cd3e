"""The code location loads the same way for `dagster dev`, `-w workspace.yaml` and tests, and holds what it should."""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage import tags as dagster_tags

from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.posting import run_requests
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource

ROOT = Path(__file__).resolve().parents[2]

# The shape of the code location, written out: a change here is a change people see in the UI.
SNAPSHOT = {
    "assets": {
        "aiq/chart_of_accounts": ("ledger", None),
        "aiq/tax_codes": ("ledger", None),
        "aiq/periods": ("ledger", None),
        "bunny/financial_accounts": ("accounts", None),
        "bunny/gl_mapping": ("accounts", None),
        "aiq/posted_invoices": ("invoices", "bunny_invoices"),
        "aiq/posted_credit_notes": ("invoices", "bunny_credit_notes"),
        "aiq/posted_payments": ("payments", "bunny_payments"),
        "aiq/monthly_reconciliation": ("reconciliation", "monthly"),
        "aiq/posting_journal": ("journal", None),
    },
    "checks": {
        ("bunny/gl_mapping", "every_charge_posts_to_a_posting_account"),
        ("aiq/posted_invoices", "aiq_totals_match_bunny"),
        ("aiq/posted_credit_notes", "aiq_credit_totals_match_bunny"),
        ("aiq/posted_payments", "aiq_receipts_match_bunny"),
        ("aiq/monthly_reconciliation", "bunny_aiq_month_matches"),
    },
    "sensors": {
        "released_invoices_sensor",
        "released_credit_notes_sensor",
        "received_payments_sensor",
        "exception_alerts_sensor",
        "posting_journal_sensor",
    },
    "schedules": {"nightly_ledger_refresh", "daily_reconciliation"},
    "jobs": {
        "refresh_ledger_and_mapping",
        "add_invoice_history",
        "reconcile_months",
        "dismiss_exceptions",
        "undismiss_exceptions",
        "refresh_posting_journal",
    },
}


def _partitions(assets_def: dg.AssetsDefinition) -> str | None:
    partitions = assets_def.partitions_def
    if partitions is None:
        return None
    return partitions.name if isinstance(partitions, dg.DynamicPartitionsDefinition) else "monthly"


def test_the_code_location_holds_exactly_its_snapshot():
    defs = importlib.import_module("aiq_pipeline.definitions").defs  # as Dagster loads it
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assets[key.to_user_string()] = (node.group_name, _partitions(node.assets_def))
    assert assets == SNAPSHOT["assets"]
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert checks == SNAPSHOT["checks"]
    assert {s.name for s in defs.sensors or []} == SNAPSHOT["sensors"]
    assert {s.name for s in defs.schedules or []} == SNAPSHOT["schedules"]
    assert {j.name for j in defs.jobs or []} == SNAPSHOT["jobs"]


def test_every_store_writer_holds_a_slot_of_the_store_pool():
    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assets_def = graph.get(key).assets_def
        pools = {assets_def.node_def.pool} if hasattr(assets_def.node_def, "pool") else set()
        assert pools == {"aiq_pipeline_store"}, key


def test_sensors_and_schedule_are_stopped_unless_the_demo_asks(monkeypatch):
    defs = build_definitions()
    for sensor in defs.sensors or []:
        assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("AIQ_PIPELINE_SENSOR_DEFAULT", "running")
    running = build_definitions()
    # The document sensors (and the journal's) follow the setting; the alerts sensor runs once alert channels are set.
    documents = [s for s in running.sensors or [] if s.name != "exception_alerts_sensor"]
    assert len(documents) == 4
    assert {s.default_status for s in documents} == {dg.DefaultSensorStatus.RUNNING}
    assert {s.default_status for s in running.schedules or [] if s.name == "daily_reconciliation"} == {
        dg.DefaultScheduleStatus.RUNNING
    }


def test_partition_range_tags_are_dagsters_own():
    # No public API names them in Dagster 1.13; the product writes the strings, this keeps them honest.
    assert run_requests.PARTITION_RANGE_START_TAG == dagster_tags.ASSET_PARTITION_RANGE_START_TAG
    assert run_requests.PARTITION_RANGE_END_TAG == dagster_tags.ASSET_PARTITION_RANGE_END_TAG


def test_secrets_come_from_environment_variables_and_never_show_in_reprs():
    resources = build_definitions().resources
    assert isinstance(resources["accountsiq"], AccountsIQResource)
    secret = resources["accountsiq"].client_secret
    assert isinstance(secret, dg.EnvVar) and secret.env_var_name == "AIQ_CLIENT_SECRET"  # a reference, not a value
    shown = AccountsIQResource(entity_id="E", client_id="c", client_secret="top-secret", default_tax_code="V01")
    assert "top-secret" not in repr(shown)
    assert "b-secret" not in repr(BunnyResource(base_url="u", client_id="c", client_secret="b-secret", entity_id="1"))
    assert "pw" not in repr(StoreResource(location="postgresql://u:pw@h/db"))


def test_nothing_in_the_product_imports_the_definitions_module():
    # Naming the module (the workspace file the CLI writes) is fine; importing it is not.
    imports = re.compile(
        r"^\s*(import aiq_pipeline\.definitions\b|from aiq_pipeline\.definitions import"
        r"|from aiq_pipeline import .*\bdefinitions\b)",
        re.M,
    )
    importers = [
        path.relative_to(ROOT)
        for path in (ROOT / "aiq_pipeline").rglob("*.py")
        if imports.search(path.read_text()) and path.name != "definitions.py"
    ]
    assert importers == []


@pytest.mark.slow
@pytest.mark.parametrize("args", [[], ["-w", "workspace.yaml"]], ids=["pyproject", "workspace"])
def test_dagster_cli_validates_the_code_location(args, tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "aiq_pipeline.definitions" in result.stderr + result.stdout
