"""The `aiq-pipeline` command: emulators, settings check, one-shot sync, exceptions and retry, the demo.

Quiet by design: the command prints what was asked for and nothing else. Run as `aiq-pipeline`, it ignores
library warnings (Dagster's beta/preview notices, deprecations) and Dagster's own logger below ERROR, unless
Python is asked for warnings (`-W`, `PYTHONWARNINGS`). Tests that invoke `main` in-process keep their own
warning settings. A settings or connection problem ends in doctor's one line naming the setting, on stderr,
and exit code 4 (`service.problems`), never in a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from aiq_pipeline.service.doctor import diagnose
from aiq_pipeline.service.problems import SETTINGS_PROBLEM_EXIT_CODE, describe_problems, setting_problem
from aiq_pipeline.settings import Settings, read_settings

EXIT_CODES = (
    "Exit codes: 0 done; 1 something could not be posted, was interrupted or its outcome is unknown (see "
    "`aiq-pipeline exceptions`); 2 wrong usage; 3 the reconciliation it printed differs; "
    f"{SETTINGS_PROBLEM_EXIT_CODE} a settings or connection problem (one line names the setting to fix)."
)


def quiet_libraries() -> None:
    """No library warnings or Dagster notices on a user's terminal, unless Python was asked for warnings."""
    if sys.warnoptions:
        return
    warnings.simplefilter("ignore")  # BetaWarning, PreviewWarning, DeprecationWarning, UserWarning, ...
    logging.getLogger("dagster").setLevel(logging.ERROR)  # e.g. "No dagster instance configuration file"


class _Command(click.Group):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Only the real command line comes through here (the console script calls the group); CliRunner
        # calls `main.main()` and so leaves the tests' warning filters alone.
        quiet_libraries()
        return super().__call__(*args, **kwargs)


F = TypeVar("F", bound=Callable[..., Any])


_STRICT_SETTINGS = "aiq_pipeline.strict_settings"


def reports_setting_problems(*, strict: bool, check_first: bool = False) -> Callable[[F], F]:
    """Settings or connection problems end in doctor's line(s) on stderr and exit code 4, not a traceback.

    `strict`: the command needs every setting (sync, retry, backfill). They are checked when the command
    opens the instance (`_instance()`), after its own usage checks and before it does anything; or before
    the command starts at all with `check_first`. Whatever settings problem stops a strict command, every
    setting at fault is named, as doctor names them.
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            click.get_current_context().meta[_STRICT_SETTINGS] = strict
            try:
                if check_first:
                    Settings.from_env()
                return command(*args, **kwargs)
            except Exception as exc:
                problems = describe_problems(exc)
                if not problems:
                    raise
                wrong = read_settings().problems if strict else ()
                if wrong:  # name every setting at fault, not just the first one met
                    problems = (*map(setting_problem, wrong), *(p for p in problems if p.name != "settings"))
                for problem in problems:
                    click.echo(problem.line(), err=True)
                sys.exit(SETTINGS_PROBLEM_EXIT_CODE)

        return run  # type: ignore[return-value]  # functools.wraps keeps the signature click reads

    return decorate


@click.group(cls=_Command, epilog=EXIT_CODES)
def main() -> None:
    """Keep a Bunny billing tenant and an AccountsIQ ledger in step."""


# -- emulate -------------------------------------------------------------------------------------


@main.command()
@click.option("--accountsiq-port", type=int, help="Serve the AccountsIQ emulator on this port.")
@click.option("--bunny-port", type=int, help="Serve the Bunny emulator on this port.")
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep emulator state here (survives restarts); in memory without it.",
)
@click.option(
    "--fixture",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="AccountsIQ fixture (JSON); the demo tenant without it.",
)
@click.option(
    "--bunny-fixture",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Bunny fixture (JSON); the demo tenant without it.",
)
def emulate(
    accountsiq_port: int | None,
    bunny_port: int | None,
    state_dir: Path | None,
    fixture: Path | None,
    bunny_fixture: Path | None,
) -> None:
    """Run the AccountsIQ and/or Bunny emulator in the foreground (Ctrl-C stops)."""
    if accountsiq_port is None and bunny_port is None:
        raise click.UsageError("give --accountsiq-port, --bunny-port or both")
    try:  # the emulators' libraries come with the `emulators` extra only, not with a production install
        from aiq_emulators.runner import run_emulators
    except ModuleNotFoundError as missing:
        if missing.name != "aiq_emulators":
            raise
        raise click.ClickException(
            "the emulators need the `emulators` extra: pip install 'aiq-pipeline[emulators]'"
        ) from None
    run_emulators(
        accountsiq_port=accountsiq_port,
        bunny_port=bunny_port,
        state_dir=state_dir,
        accountsiq_fixture=fixture,
        bunny_fixture=bunny_fixture,
        echo=click.echo,
    )


# -- doctor --------------------------------------------------------------------------------------


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


# -- the Dagster side ----------------------------------------------------------------------------


def _instance():  # type: ignore[no-untyped-def]  # dagster is imported here, lazily, to keep --help fast
    import dagster as dg

    # Every setting the command needs, checked before anything runs (SettingsError names each one at fault).
    # The exceptions list lives in the Dagster instance, which DAGSTER_HOME names.
    strict = bool(click.get_current_context().meta.get(_STRICT_SETTINGS))
    Settings.from_env(strict=strict).require_dagster_home()
    return dg.DagsterInstance.get()


@main.command(epilog=EXIT_CODES)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@reports_setting_problems(strict=False)
def exceptions(as_json: bool) -> None:
    """List the documents that could not be posted, with the reason, the fix and the last attempt."""
    from aiq_pipeline.defs.posting.status import list_exceptions
    from aiq_pipeline.defs.recovery import reap_dead_runs

    with _instance() as instance:
        reap_dead_runs(instance)  # a run whose process is gone: its unfinished documents are listed as INTERRUPTED
        found = list_exceptions(instance)
    if as_json:
        click.echo(json.dumps([e.as_json() for e in found], indent=2))
        return
    if not found:
        click.echo("No exceptions: every invoice picked up so far is posted.")
        return
    invoices = sum(1 for e in found if e.kind == "invoice")
    credits = f" and {len(found) - invoices} credit note(s)/void(s)" if invoices < len(found) else ""
    click.echo(f"{invoices} invoice(s){credits} could not be posted:")
    for e in found:
        when = e.last_attempt_at.strftime("%Y-%m-%d %H:%M UTC") if e.last_attempt_at else "never"
        number = f" {e.number}" if e.number else ""
        click.echo(f"- {e.key}{number} ({e.kind}) [{e.reason_code or 'ERROR'}] last attempt {when}")
        click.echo(f"    {e.reason}")
        if e.fix:
            click.echo(f"    fix: {e.fix}")
    click.echo("Fix the cause, then: aiq-pipeline retry --all (or retry INVOICE_ID / CN-<id> / VOID-<id> ...)")


@main.command(epilog=EXIT_CODES)
@click.argument("invoice_ids", nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="Retry everything on the exceptions list.")
@reports_setting_problems(strict=True)
def retry(invoice_ids: tuple[str, ...], retry_all: bool) -> None:
    """Re-materialize failed invoices (INVOICE_ID) and credit notes (CN-<id>, VOID-<id>), invoices first."""
    from aiq_pipeline.defs.posting.status import list_exceptions
    from aiq_pipeline.operations.sync import retry as retry_documents

    if bool(invoice_ids) == retry_all:
        raise click.UsageError("give INVOICE_ID ... or --all (not both)")
    with _instance() as instance:
        ids = [e.key for e in list_exceptions(instance)] if retry_all else list(invoice_ids)
        if not ids:
            click.echo("Nothing to retry: the exceptions list is empty.")
            return
        summary = retry_documents(instance, ids)
    click.echo(summary.render())
    sys.exit(summary.exit_code)


@main.command(epilog=EXIT_CODES)
@click.option("--from", "from_date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First issue date.")
@click.option("--to", "to_date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last issue date.")
@reports_setting_problems(strict=True)
def backfill(from_date, to_date) -> None:  # type: ignore[no-untyped-def]
    """Bring in older invoices on purpose: every postable invoice issued in the range, posted once each."""
    from aiq_pipeline.operations.sync import backfill as backfill_range

    if to_date < from_date:
        raise click.UsageError("--to is before --from")
    with _instance() as instance:
        # Invoices already posted are found and left alone: a range that overlaps posts nothing twice.
        summary = backfill_range(instance, from_date.date(), to_date.date(), echo=click.echo)
    click.echo(summary.render())
    sys.exit(summary.exit_code)


@main.command(epilog=EXIT_CODES)
@reports_setting_problems(strict=True, check_first=True)
def sync() -> None:
    """Run the whole chain once without the daemon, on the same instance the UI uses, and summarise."""
    from aiq_pipeline.operations.sync import sync_once

    with _instance() as instance:
        summary = sync_once(instance, echo=click.echo)
    click.echo(summary.render())
    sys.exit(summary.exit_code)


@main.command()
@click.option("--ui-port", type=int, default=3000, show_default=True, help="Serve the Dagster UI on this port.")
@click.option("--fresh", is_flag=True, help="Wipe .demo/ first and start over.")
def demo(ui_port: int, fresh: bool) -> None:
    """Both emulators with the demo tenant, DuckDB, a persistent DAGSTER_HOME, the Dagster UI and daemon."""
    try:  # the demo stack is part of the emulators extra, like `emulate`
        from aiq_emulators.demo import run_demo
    except ModuleNotFoundError as missing:
        if missing.name != "aiq_emulators":
            raise
        raise click.ClickException(
            "the demo needs the `emulators` extra: pip install 'aiq-pipeline[emulators]'"
        ) from None
    run_demo(ui_port=ui_port, fresh=fresh, echo=click.echo)


if __name__ == "__main__":  # pragma: no cover
    main()
