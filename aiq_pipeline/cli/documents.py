"""The posting commands: `exceptions`, `retry`, `backfill` and `sync`, on the instance the UI uses."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from aiq_pipeline.cli.app import EXIT_CODES, main, open_instance, reports_setting_problems


@main.command(epilog=EXIT_CODES)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@reports_setting_problems(strict=False)
def exceptions(as_json: bool) -> None:
    """List the documents that could not be posted, with the reason, the fix and the last attempt."""
    from aiq_pipeline.defs.posting.status import list_exceptions
    from aiq_pipeline.defs.recovery import reap_dead_runs

    with open_instance() as instance:
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
    with open_instance() as instance:
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
def backfill(from_date: datetime, to_date: datetime) -> None:
    """Bring in older invoices on purpose: every postable invoice issued in the range, posted once each."""
    from aiq_pipeline.operations.sync import backfill as backfill_range

    if to_date < from_date:
        raise click.UsageError("--to is before --from")
    with open_instance() as instance:
        # Invoices already posted are found and left alone: a range that overlaps posts nothing twice.
        summary = backfill_range(instance, from_date.date(), to_date.date(), echo=click.echo)
    click.echo(summary.render())
    sys.exit(summary.exit_code)


@main.command(epilog=EXIT_CODES)
@reports_setting_problems(strict=True, check_first=True)
def sync() -> None:
    """Run the whole chain once without the daemon, on the same instance the UI uses, and summarise."""
    from aiq_pipeline.operations.sync import sync_once

    with open_instance() as instance:
        summary = sync_once(instance, echo=click.echo)
    click.echo(summary.render())
    sys.exit(summary.exit_code)
