"""The `aiq-pipeline` command: emulators, settings check, one-shot sync, exceptions and retry, the demo."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from aiq_pipeline.service.doctor import AiqSettings, BunnySettings, Report, check_accountsiq, check_bunny


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


@click.group()
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


@main.command()
def doctor() -> None:
    """Check the settings against the live services, as Bunny's Save does; non-zero exit on any problem."""
    report = Report()
    missing = [
        name
        for name in ("AIQ_ENTITY_ID", "AIQ_CLIENT_ID", "AIQ_CLIENT_SECRET", "AIQ_DEFAULT_TAX_CODE")
        if not _env(name)
    ]
    if not (_env("AIQ_REGION") or _env("AIQ_BASE_URL")):
        missing.insert(0, "AIQ_REGION")
    for name in missing:
        report.add(name, False, f"{name} is not set", name)
    if not missing:
        check_accountsiq(
            AiqSettings(
                entity_id=os.environ["AIQ_ENTITY_ID"],
                client_id=os.environ["AIQ_CLIENT_ID"],
                client_secret=os.environ["AIQ_CLIENT_SECRET"],
                default_tax_code=os.environ["AIQ_DEFAULT_TAX_CODE"],
                region=_env("AIQ_REGION"),
                base_url=_env("AIQ_BASE_URL"),
            ),
            report,
        )
    bunny_names = ("BUNNY_BASE_URL", "BUNNY_CLIENT_ID", "BUNNY_CLIENT_SECRET", "BUNNY_ENTITY_ID")
    if any(_env(n) for n in bunny_names):
        bunny_missing = [n for n in bunny_names if not _env(n)]
        for name in bunny_missing:
            report.add(name, False, f"{name} is not set", name)
        if not bunny_missing:
            check_bunny(
                BunnySettings(
                    base_url=os.environ["BUNNY_BASE_URL"],
                    client_id=os.environ["BUNNY_CLIENT_ID"],
                    client_secret=os.environ["BUNNY_CLIENT_SECRET"],
                    entity_id=os.environ["BUNNY_ENTITY_ID"],
                ),
                report,
            )
    for check in report.checks:
        mark = "ok  " if check.ok else "FAIL"
        setting = f" [{check.setting}]" if check.setting and not check.ok else ""
        click.echo(f"{mark} {check.name}{setting}: {check.detail}")
    if not report.ok:
        sys.exit(1)
    click.echo("All settings check out.")


# -- the Dagster side ----------------------------------------------------------------------------


def _instance():  # type: ignore[no-untyped-def]
    import dagster as dg

    if not _env("DAGSTER_HOME"):
        raise click.ClickException(
            "DAGSTER_HOME is not set. The exceptions list lives in the Dagster instance: set DAGSTER_HOME to "
            "the directory the UI and daemon use (make demo uses .demo/dagster_home)."
        )
    return dg.DagsterInstance.get()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def exceptions(as_json: bool) -> None:
    """List the invoices that could not be posted, with the reason and the last attempt."""
    from aiq_pipeline.defs.exceptions import list_exceptions

    with _instance() as instance:
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
        click.echo(f"- {e.invoice_id} ({e.kind}) [{e.reason_code or 'ERROR'}] last attempt {when}")
        click.echo(f"    {e.reason}")
        if e.fix:
            click.echo(f"    fix: {e.fix}")
    click.echo("Fix the cause, then: aiq-pipeline retry --all (or retry INVOICE_ID / CN-<id> / VOID-<id> ...)")


@main.command()
@click.argument("invoice_ids", nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="Retry everything on the exceptions list.")
def retry(invoice_ids: tuple[str, ...], retry_all: bool) -> None:
    """Re-materialize failed invoices (INVOICE_ID) and credit notes (CN-<id>, VOID-<id>), invoices first."""
    from aiq_pipeline.defs.exceptions import failed_keys
    from aiq_pipeline.defs.runs import retry_in_process

    if bool(invoice_ids) == retry_all:
        raise click.UsageError("give INVOICE_ID ... or --all (not both)")
    with _instance() as instance:
        ids = failed_keys(instance) if retry_all else list(invoice_ids)
        if not ids:
            click.echo("Nothing to retry: the exceptions list is empty.")
            return
        summary = retry_in_process(instance, ids)
    click.echo(summary.render())
    if summary.failed:
        sys.exit(1)


@main.command()
@click.option("--from", "from_date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First issue date.")
@click.option("--to", "to_date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last issue date.")
def backfill(from_date, to_date) -> None:  # type: ignore[no-untyped-def]
    """Bring in older invoices on purpose: every postable invoice issued in the range, posted once each."""
    from aiq_pipeline.defs.history import add_history_partitions
    from aiq_pipeline.defs.runs import load_definitions, post_invoices_in_process

    if to_date < from_date:
        raise click.UsageError("--to is before --from")
    defs = load_definitions()
    bunny = defs.resources["bunny"].process_config_and_initialize()
    with _instance() as instance:
        ids, new = add_history_partitions(instance, bunny, from_date.date(), to_date.date())
        click.echo(f"{len(ids)} postable invoice(s) issued in the range; {len(new)} new partition(s)")
        if not ids:
            return
        # Invoices already posted are looked up and left alone: a range that overlaps posts nothing twice.
        summary = post_invoices_in_process(instance, ids, trigger="backfill", defs=defs)
    click.echo(summary.render())
    if summary.failed:
        sys.exit(1)


@main.command()
def sync() -> None:
    """Run the whole chain once without the daemon, on the same instance the UI uses, and summarise."""
    from aiq_pipeline.defs.runs import sync_once

    with _instance() as instance:
        summary = sync_once(instance, echo=click.echo)
    click.echo(summary.render())
    if summary.failed:
        sys.exit(1)


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
