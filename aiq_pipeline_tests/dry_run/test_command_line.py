"""The dry-run commands as a user runs them: documented exit codes, only what was asked on the terminal (the console
script, no library notice), and a missing setting named as doctor names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiq_pipeline.cli import main
from aiq_pipeline.settings import VARIABLES
from aiq_pipeline_tests.dry_run.conftest import environment, run, written
from aiq_pipeline_tests.pipeline.conftest import Stack

COMMAND = Path(sys.executable).parent / "aiq-pipeline"  # the console script


def test_the_commands_exist() -> None:
    assert {"preview", "preflight", "backfill"} <= set(main.commands)


@pytest.mark.parametrize("command", ["preview", "preflight"])
def test_help_documents_the_exit_codes(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Exit codes: 0 nothing would fail; 1 something would not post" in text
    assert "4 a settings or connection problem" in text


def test_the_console_script_prints_only_the_preview_and_the_preflight(demo: Stack, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES and k != "PYTHONWARNINGS"} | environment(demo)
    before = written(demo)
    shown = subprocess.run([str(COMMAND), "preview", "1"], env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr == ""
    assert shown.stdout.startswith("1 INV-1001 (invoice): would post\n") and "Warning" not in shown.stdout
    checked = subprocess.run(
        [str(COMMAND), "preflight", "--since", "2026-01-01"], env=env, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 1, checked.stderr  # the demo tenant's three broken invoices
    assert checked.stderr == ""
    assert checked.stdout.startswith("Planning 7 invoice(s)") and "Warning" not in checked.stdout
    assert written(demo) == before


def test_a_missing_setting_is_named_with_exit_code_four(demo: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIQ_CLIENT_SECRET")
    for args in (["preview", "1"], ["preflight", "--since", "2026-01-01"]):
        result = run(*args)
        assert result.exit_code == 4, result.output
        assert "AIQ_CLIENT_SECRET" in result.stderr and result.stdout == ""
