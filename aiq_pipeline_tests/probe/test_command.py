"""`aiq-pipeline doctor --probe` as a user runs it: documented, quiet, after the settings checks only, and exit code
5 (not 4) when a reading contradicts a setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiq_pipeline.cli import main
from aiq_pipeline.settings import VARIABLES

from .conftest import Tenants, parse_table

COMMAND = Path(sys.executable).parent / "aiq-pipeline"  # the console script


def test_help_documents_the_probe_and_its_exit_code() -> None:
    result = CliRunner().invoke(main, ["doctor", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--probe" in text and "--invoices N" in text
    assert "4 a setting or a service failed" in text
    assert "5 with --probe: a reading of the tenant contradicts the setting in use" in text


def test_invoices_goes_with_probe() -> None:
    result = CliRunner().invoke(main, ["doctor", "--invoices", "10"])
    assert result.exit_code == 2
    assert "--invoices goes with --probe" in result.output


def test_the_probe_waits_for_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["doctor", "--probe"])
    assert result.exit_code == 4, result.output
    assert "probe not run: fix the settings above first" in result.output
    assert "tenant shows" not in result.output


def test_through_the_console_script_quietly_with_exit_code_five(fresh: Tenants) -> None:
    """A refused filter makes the client fall back (and log a warning): the probe reports it in its table, and the
    terminal shows nothing else."""
    fresh.bunny_options(filter_grammar="single_equals", tax_rate_units="fraction")
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES and k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [str(COMMAND), "doctor", "--probe"],
        env=env | fresh.environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 5, done.stdout + done.stderr
    assert done.stderr == ""
    assert "Warning" not in done.stdout and "dagster.yaml" not in done.stdout  # no library notice either
    rows = parse_table(done.stdout)
    assert rows["Bunny filter grammar"]["tenant shows"] == "single_equals"
    assert rows["Bunny taxRate units"]["verdict"] == "contradicts"
    assert (
        "FIX  Bunny taxRate units: set AIQ_PIPELINE_BUNNY_TAX_RATE_UNITS=fraction (the tenant shows fraction)"
        in done.stdout.splitlines()
    )
    assert "demo-aiq-secret" not in done.stdout and "demo-bunny-secret" not in done.stdout
