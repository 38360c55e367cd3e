"""`aiq-pipeline doctor`: the settings checked against the live services, and where the sync starts."""

from __future__ import annotations

import sys
from datetime import date

import click

from aiq_pipeline.cli.app import main
from aiq_pipeline.service.doctor import diagnose
from aiq_pipeline.service.problems import SETTINGS_PROBLEM_EXIT_CODE
from aiq_pipeline.settings import read_settings


@main.command(epilog=f"Exit codes: 0 every check is ok; {SETTINGS_PROBLEM_EXIT_CODE} a setting or a service failed.")
def doctor() -> None:
    """Check the settings against the live services, as Bunny's Save does; exit code 4 on any problem."""
    reading = read_settings()
    report = diagnose(reading)
    for line in report.lines():
        click.echo(line)
    if reading.settings is not None and reading.settings.dagster_home is not None:
        click.echo(_first_start_line(reading.settings.pair.sync_start_date))
    if not report.ok:
        sys.exit(SETTINGS_PROBLEM_EXIT_CODE)
    click.echo("All settings check out.")


def _first_start_line(configured: date | None) -> str:
    """Where the sync starts: the configured date, else the day it was first switched on (stored in the instance)."""
    import dagster as dg

    from aiq_pipeline.defs.posting.first_start import first_switched_on

    with dg.DagsterInstance.get() as instance:
        moment = first_switched_on(instance)
    switched = f"first switched on {moment:%Y-%m-%d %H:%M} UTC" if moment else "not switched on yet"
    if configured is not None:
        return f"ok   sync start: documents issued from {configured} (AIQ_PIPELINE_SYNC_START_DATE); {switched}"
    if moment is None:
        return (
            "ok   sync start: not switched on yet; the first sensor tick or `sync` records the moment, and only "
            "documents issued from that day are picked up (history comes in through `backfill`)"
        )
    return f"ok   sync start: documents issued from {moment.date()} ({switched}); older ones only through `backfill`"
