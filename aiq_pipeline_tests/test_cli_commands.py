"""The `aiq-pipeline` command offers what the README promises, and prints only what was asked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiq_pipeline.cli import main
from aiq_pipeline.settings import VARIABLES

COMMAND = Path(sys.executable).parent / "aiq-pipeline"  # the console script, as a user runs it


def test_every_documented_command_exists():
    commands = set(main.commands)
    assert {"demo", "emulate", "doctor", "sync", "exceptions", "retry", "backfill"} <= commands


def test_emulate_needs_a_port():
    result = CliRunner().invoke(main, ["emulate"])
    assert result.exit_code != 0 and "--accountsiq-port" in result.output


def test_retry_needs_ids_or_all():
    result = CliRunner().invoke(main, ["retry"])
    assert result.exit_code != 0 and "--all" in result.output


@pytest.mark.parametrize("command", ["doctor", "sync", "retry", "backfill", "exceptions"])
def test_help_documents_exit_code_four(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "4 a settings or connection problem" in result.output or "4 a setting or a service failed" in result.output


# -- through the real command line ---------------------------------------------------------------------


def _environment(**settings: str) -> dict[str, str]:
    """This process's environment without any of the product's settings, then `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES and k != "PYTHONWARNINGS"}
    return env | settings


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *args], env=env, capture_output=True, text=True, timeout=120)


def test_help_prints_no_warning(tmp_path: Path) -> None:
    done = _run("--help", env=_environment(DAGSTER_HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "Warning" not in done.stdout and "Usage: aiq-pipeline" in done.stdout


def test_exceptions_prints_only_the_answer(tmp_path: Path) -> None:
    """Loads every Dagster definition (where the beta warnings come from) and a fresh instance."""
    done = _run("exceptions", env=_environment(DAGSTER_HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no BetaWarning, no "No dagster instance configuration file" notice
    assert done.stdout == "No exceptions: every document picked up so far is posted.\n"


def test_a_wrong_setting_is_one_line_and_exit_code_four(tmp_path: Path) -> None:
    done = _run("exceptions", env=_environment(DAGSTER_HOME=str(tmp_path), AIQ_PIPELINE_BATCH_SIZE="abc"))
    assert done.returncode == 4
    assert done.stdout == ""
    assert done.stderr == (
        "FAIL settings [AIQ_PIPELINE_BATCH_SIZE]: "
        "AIQ_PIPELINE_BATCH_SIZE must be a whole number from 1 to 500, not 'abc'\n"
    )


def test_sync_without_settings_names_each_one_and_starts_nothing(tmp_path: Path) -> None:
    done = _run("sync", env=_environment(DAGSTER_HOME=str(tmp_path)))
    assert done.returncode == 4
    assert done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith("FAIL settings [") for line in lines), lines
    named = [line.split("[")[1].split("]")[0] for line in lines]
    assert named == [
        "AIQ_REGION",
        "AIQ_ENTITY_ID",
        "AIQ_CLIENT_ID",
        "AIQ_CLIENT_SECRET",
        "AIQ_DEFAULT_TAX_CODE",
        "BUNNY_BASE_URL",
        "BUNNY_CLIENT_ID",
        "BUNNY_CLIENT_SECRET",
        "BUNNY_ENTITY_ID",
    ]
    assert list(tmp_path.iterdir()) == []  # no run, no store, nothing written


def test_retry_without_settings_is_exit_code_four(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["retry", "--all"])
    assert result.exit_code == 4, result.output
    assert "FAIL settings [AIQ_CLIENT_SECRET]: AIQ_CLIENT_SECRET is not set" in result.output
    assert "Traceback" not in result.output


def test_python_warnings_can_still_be_asked_for(tmp_path: Path) -> None:
    """`-W`/PYTHONWARNINGS turn the filter off, for whoever debugs the command."""
    env = _environment(DAGSTER_HOME=str(tmp_path)) | {"PYTHONWARNINGS": "always"}
    code = "import warnings, sys; from aiq_pipeline.cli import quiet_libraries; quiet_libraries(); "
    code += "warnings.warn('visible', UserWarning)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "UserWarning: visible" in done.stderr
