"""`aiq-pipeline backfill --from --to --dry-run` through the command line against both emulators: what the backfill
would post (counts and totals per month and currency, and every invoice that would fail and why) with nothing
written and no partition added; then the backfill itself posts exactly that."""

from __future__ import annotations

import pytest

from aiq_pipeline_tests.dry_run.conftest import aiq_money, run, written
from aiq_pipeline_tests.pipeline.conftest import Stack


def _money(text: str) -> dict[tuple[str, str, str], tuple[int, str]]:
    """The printed table's rows: (month, currency, AIQ type) -> (documents, gross)."""
    rows = [line.split() for line in text.splitlines() if line.startswith("  20")]
    return {(r[0], r[1], r[2]): (int(r[-4]), r[-1]) for r in rows}


def test_help_says_what_the_backfill_covers() -> None:
    result = run("backfill", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Invoices only: credit notes, voids and payments are posted by the sensors and `sync`" in text
    assert "--dry-run" in text and "no partition" in text


@pytest.mark.slow  # posts the range for real after the dry run
def test_a_dry_run_shows_what_the_backfill_then_posts_and_writes_nothing(demo: Stack) -> None:
    before = written(demo)
    dry = run("backfill", "--from", "2026-01-01", "--to", "2026-12-31", "--dry-run")
    assert dry.exit_code == 1, dry.output  # three invoices would fail
    text = dry.stdout
    assert text.startswith(
        "7 postable invoice(s) issued in the range; 7 without a partition yet (dry run: none added, nothing posted)\n"
    )
    assert "  would post             4       4" in text and "  would fail             3       3" in text
    for code, key in (("CLOSED_PERIOD", "7"), ("UNKNOWN_TAX_CODE", "6"), ("NOT_POSTING_ACCOUNT", "8")):
        assert f"- {key} " in text and f"[{code}] would fail" in text
    assert text.count("    why: ") == 3 and text.count("    fix: ") == 3
    assert "AIQ customers created: 3; updated: 0." in text
    assert written(demo) == before  # no partition, no run, nothing in AIQ or the store
    would = _money(text)
    assert would[("2026-06", "EUR", "SI")] == (1, "429.27")

    posted = run("backfill", "--from", "2026-01-01", "--to", "2026-12-31")
    assert posted.exit_code == 1, posted.output
    assert "posted: 4" in posted.output and "failed: 3" in posted.output
    assert {k: (n, str(gross)) for k, (n, gross) in aiq_money(demo).items()} == would

    again = run("backfill", "--from", "2026-01-01", "--to", "2026-12-31", "--dry-run")
    assert "7 postable invoice(s) issued in the range; 0 without a partition yet" in again.stdout
    assert "  already in AIQ         4       4" in again.stdout and "Nothing would be written to AIQ." in again.stdout


def test_a_dry_run_of_an_empty_range_plans_nothing(demo: Stack) -> None:
    result = run("backfill", "--from", "2020-01-01", "--to", "2020-12-31", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("Nothing to plan: no documents.\n")
    assert "0 postable invoice(s) issued in the range" in result.stdout
