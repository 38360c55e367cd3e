"""`aiq-pipeline doctor`: the settings checked against the live services, and where the sync starts.

With a pairs file (AIQ_PIPELINE_PAIRS_FILE), doctor checks every pair in turn (only `--pair`'s when given), each
under a heading `== pair NAME`; a pair that fails does not stop the next one, and the last line names the pairs
that failed.

`doctor --probe` then reads both tenants (nothing is written) and settles each reading of AIQ and Bunny nobody
could verify from here: a table of what the tenant shows, the evidence, the setting in use and whether it agrees
(`aiq_pipeline.service.probe`).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import click

from aiq_pipeline.cli.app import configured_pairs_or_exit, main
from aiq_pipeline.service.doctor import diagnose
from aiq_pipeline.service.probe import READING_CONTRADICTS_EXIT_CODE, run_probe
from aiq_pipeline.service.probe.bunny_invoices import DEFAULT_INVOICES
from aiq_pipeline.service.problems import SETTINGS_PROBLEM_EXIT_CODE
from aiq_pipeline.settings import (
    PAIR_VARIABLE,
    Settings,
    read_settings,
    uses_pairs_file,
)

EPILOG = (
    f"Exit codes: 0 every check is ok (and, with --probe, no reading contradicts a setting); "
    f"{SETTINGS_PROBLEM_EXIT_CODE} a setting or a service failed (the probe does not run); "
    f"{READING_CONTRADICTS_EXIT_CODE} with --probe: a reading of the tenant contradicts the setting in use "
    "(a FIX line names the variable to set, and to what)."
)


@main.command(epilog=EPILOG)
@click.option(
    "--probe",
    is_flag=True,
    help="After the settings checks pass, read both tenants (read-only) and report which reading of each "
    "unverified behaviour they follow, and whether the settings agree.",
)
@click.option(
    "--invoices",
    type=click.IntRange(1, 5000),
    default=None,
    metavar="N",
    help=f"With --probe: judge Bunny's money on the entity's last N released invoices (default {DEFAULT_INVOICES}).",
)
def doctor(probe: bool, invoices: int | None) -> None:
    """Check the settings against the live services, as Bunny's Save does; exit code 4 on any problem.

    With --probe, also settle the tenant's readings (exit code 5 when one contradicts a setting).
    """
    if invoices is not None and not probe:
        raise click.UsageError("--invoices goes with --probe")
    invoices = invoices or DEFAULT_INVOICES
    if not uses_pairs_file():
        sys.exit(_check_pair(None, probe, invoices))
    pairs = configured_pairs_or_exit(err=False)
    chosen = os.environ.get(PAIR_VARIABLE, "").strip()  # --pair (or the environment) names one pair
    codes: dict[str, int] = {}
    for index, pair in enumerate((chosen,) if chosen else pairs):
        if index:
            click.echo("")
        click.echo(f"== pair {pair}")
        codes[pair] = _check_pair(pair, probe, invoices)
    failed = [pair for pair, code in codes.items() if code == SETTINGS_PROBLEM_EXIT_CODE]
    contradicted = [pair for pair, code in codes.items() if code == READING_CONTRADICTS_EXIT_CODE]
    click.echo("")
    if failed:
        click.echo(f"{len(failed)} of {len(codes)} pairs failed: {', '.join(failed)}")
        sys.exit(SETTINGS_PROBLEM_EXIT_CODE)
    if contradicted:
        click.echo(f"The probe contradicts a setting of: {', '.join(contradicted)}")
        sys.exit(READING_CONTRADICTS_EXIT_CODE)
    click.echo(f"All {len(codes)} pairs check out." if len(codes) > 1 else f"Pair {next(iter(codes))} checks out.")


def _check_pair(pair: str | None, probe: bool, invoices: int) -> int:
    """One pair's report (the environment's one without a pairs file): its exit code, 0 when everything passed."""
    reading = read_settings(pair)
    report = diagnose(reading)
    for line in report.lines():
        click.echo(line)
    if reading.settings is not None and reading.settings.dagster_home is not None:
        click.echo(_first_start_line(reading.settings.pair.sync_start_date, reading.settings.pair.name))
    if not report.ok:
        if probe:
            click.echo("probe not run: fix the settings above first")
        return SETTINGS_PROBLEM_EXIT_CODE
    click.echo("All settings check out.")
    if probe and reading.settings is not None:
        return _probe(reading.settings, invoices)
    return 0


def _probe(settings: Settings, invoices: int) -> int:
    with _clients_quiet():
        report = run_probe(settings, invoices=invoices)
    click.echo("")
    for line in report.table(shutil.get_terminal_size((160, 24)).columns):
        click.echo(line)
    click.echo("")
    for line in report.fix_lines():
        click.echo(line)
    click.echo(report.summary())
    return 0 if report.ok else READING_CONTRADICTS_EXIT_CODE


@contextmanager
def _clients_quiet() -> Iterator[None]:
    """The probe reports what the clients would only log (a refused filter, the fallback): no notice besides."""
    loggers = [logging.getLogger(name) for name in ("aiq_pipeline.bunny", "aiq_pipeline.accountsiq")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _first_start_line(configured: date | None, pair: str) -> str:
    """Where the pair's sync starts: the configured date, else the day it was first switched on (in the instance)."""
    import dagster as dg

    from aiq_pipeline.defs.names import PairNames
    from aiq_pipeline.defs.posting.first_start import first_switched_on

    with dg.DagsterInstance.get() as instance:
        moment = first_switched_on(instance, PairNames(pair))
    switched = f"first switched on {moment:%Y-%m-%d %H:%M} UTC" if moment else "not switched on yet"
    if configured is not None:
        return f"ok   sync start: documents issued from {configured} (AIQ_PIPELINE_SYNC_START_DATE); {switched}"
    if moment is None:
        return (
            "ok   sync start: not switched on yet; the first sensor tick or `sync` records the moment, and only "
            "documents issued from that day are picked up (history comes in through `backfill`)"
        )
    return f"ok   sync start: documents issued from {moment.date()} ({switched}); older ones only through `backfill`"
