"""The code location loads the same way for `dagster dev`, `-w workspace.yaml` and tests."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from aiq_pipeline.definitions import build_definitions, defs
from aiq_pipeline.defs.keys import (
    CHART_OF_ACCOUNTS,
    FINANCIAL_ACCOUNTS,
    GL_MAPPING,
    PERIODS,
    POSTED_INVOICES,
    TAX_CODES,
)
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load_with_every_asset_check_sensor_and_job():
    dg.Definitions.validate_loadable(defs)
    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    assert {CHART_OF_ACCOUNTS, TAX_CODES, PERIODS, FINANCIAL_ACCOUNTS, GL_MAPPING, POSTED_INVOICES} <= keys
    assert defs.get_sensor_def("released_invoices_sensor")
    assert defs.get_job_def("refresh_ledger_and_mapping")
    assert defs.get_job_def("add_invoice_history")


def test_sensor_is_stopped_unless_the_demo_asks(monkeypatch):
    assert defs.get_sensor_def("released_invoices_sensor").default_status == dg.DefaultSensorStatus.STOPPED


def test_secrets_come_from_environment_variables_and_never_show_in_reprs():
    resources = build_definitions().resources
    assert isinstance(resources["accountsiq"], AccountsIQResource)
    secret = resources["accountsiq"].client_secret
    assert isinstance(secret, dg.EnvVar) and secret.env_var_name == "AIQ_CLIENT_SECRET"  # a reference, not a value
    shown = AccountsIQResource(entity_id="E", client_id="c", client_secret="top-secret", default_tax_code="V01")
    assert "top-secret" not in repr(shown)
    assert "b-secret" not in repr(BunnyResource(base_url="u", client_id="c", client_secret="b-secret", entity_id="1"))
    assert "pw" not in repr(StoreResource(location="postgresql://u:pw@h/db"))


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
