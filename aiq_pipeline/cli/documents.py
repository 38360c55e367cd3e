"""The posting commands: `exceptions`, `retry`, `backfill` and `sync`, on the instance the UI uses."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

import click

from aiq_pipeline.cli.app import EXIT_CODES, main, open_instance, reports_setting_problems
from aiq_pipeline.service.override import REWRITE_UNKNOWN_FLAG

if TYPE_CHECKING:
    import dagster as dg

    from aiq_pipeline.defs.dismissals.dismissal import DismissResult
    from aiq_pipeline.defs.names import PairNames
    from aiq_pipeline.defs.posting.status import DocumentException
    from aiq_pipeline.service.document_numbers import Named
    from aiq_pipeline.store import Store


class _Refused(click.ClickException):
    """Nothing was done, and the message says why (exit code 2, as for wrong usage)."""

    exit_code = 2


def _open_store() -> Store:  # the store is imported here, lazily, to keep --help fast
    from aiq_pipeline.settings import Settings
    from aiq_pipeline.store import Store

    settings = Settings.from_env(strict=False)
    settings.require_dagster_home()  # the store's default place is in the instance directory
    return Store(settings.store_location)


def _pair_names() -> PairNames:
    """The names of the pair this command works on (`--pair`, or the only one)."""
    from aiq_pipeline.defs.names import PairNames
    from aiq_pipeline.settings import Settings

    return PairNames(Settings.from_env(strict=False).pair.name)


def name_documents(instance: dg.DagsterInstance, arguments: tuple[str, ...] | list[str]) -> list[Named]:
    """What each argument names (a key or a number, `service.document_numbers`): the partitions of the instance, the
    numbers the store recorded, then Bunny when it is configured. Raises `DocumentNamesRefused` (nothing done)."""
    from aiq_pipeline.defs.names import PairNames
    from aiq_pipeline.service.document_numbers import bunny_numbers, resolve
    from aiq_pipeline.settings import Settings
    from aiq_pipeline.store import Store

    settings = Settings.from_env(strict=False)
    pair = settings.pair
    assets = PairNames(pair.name).documents
    partitions = {key for asset in assets for key in instance.get_dynamic_partitions(asset.partitions_name)}
    with bunny_numbers(pair.bunny) as bunny:
        return resolve(
            arguments,
            partitions=partitions,
            store=Store(settings.store_location),
            aiq_entity_id=pair.aiq.entity_id if pair.aiq else None,
            bunny=bunny,
        )


def _named_or_refused(instance: dg.DagsterInstance, arguments: tuple[str, ...]) -> list[Named]:
    from aiq_pipeline.service.document_numbers import DocumentNamesRefused

    try:
        return name_documents(instance, arguments)
    except DocumentNamesRefused as exc:
        raise _Refused("nothing done: " + "; ".join(p.message for p in exc.problems)) from None


def _rendered(result: DismissResult, verb: str, named: list[Named]) -> str:
    """`dismissed: 8 (INV-1007), CN-1 (CN-0001)`: each document by its key and, when known, its number."""
    label = {n.key: n.label for n in named}
    lines = []
    if result.changed:
        lines.append(f"{verb}: {', '.join(label.get(k, k) for k in result.changed)}")
    if result.unchanged:
        lines.append(f"already {verb}: {', '.join(label.get(k, k) for k in result.unchanged)}")
    return "\n".join(lines)


def _nor_numbered(named: list[Named]) -> str:
    """For arguments taken as keys of no known document: they are no document's number either."""
    unmatched = [n.argument for n in named if n.argument == n.key and not n.partition]
    if not unmatched:
        return ""
    return f" No invoice or credit note is numbered {', '.join(unmatched)} either."


def _asked(named: Named) -> str:
    """The argument as given, and the key it named when that differs."""
    return named.argument if named.argument == named.key else f"{named.argument} (key {named.key})"


def _refresh_journal(instance: dg.DagsterInstance, trigger: str) -> None:
    """Read the posting journal into the UI once the command has posted (the journal sensor may be off)."""
    from aiq_pipeline.operations.runs import load_definitions, refresh_journal

    if not refresh_journal(instance, load_definitions(None), trigger):
        click.echo("The posting journal was not read into the UI: materialize aiq/posting_journal there.", err=True)


def _who(by: str | None) -> str:
    if by and by.strip():
        return by.strip()
    import getpass
    import os

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): say which uid it was
        return f"uid {os.getuid()}"


@main.group(invoke_without_command=True, epilog=EXIT_CODES)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.option("--dismissed", "show_dismissed", is_flag=True, help="The dismissed documents instead: who, when, why.")
@click.pass_context
@reports_setting_problems(strict=False)
def exceptions(ctx: click.Context, as_json: bool, show_dismissed: bool) -> None:
    """List the documents that could not be posted, with the reason, the fix and the last attempt.

    Documents handled outside the product can be dismissed (`exceptions dismiss DOCUMENT... --reason ...`, each
    by its key or its number): they leave this list, keep their history, and nothing posts them until
    `exceptions undismiss DOCUMENT...`.
    """
    if ctx.invoked_subcommand is not None:
        return
    if show_dismissed:
        _list_dismissed(as_json)
        return
    from aiq_pipeline.defs.posting.status import list_exceptions
    from aiq_pipeline.defs.recovery import reap_dead_runs

    with open_instance() as instance:
        reap_dead_runs(instance)  # a run whose process is gone: its unfinished documents are listed as INTERRUPTED
        found = list_exceptions(instance, _pair_names().documents)
    if as_json:
        click.echo(json.dumps([e.as_json() for e in found], indent=2))
        return
    if not found:
        click.echo("No exceptions: every document picked up so far is posted.")
        return
    click.echo(f"{_counted(found)} could not be posted:")
    for e in found:
        when = e.last_attempt_at.strftime("%Y-%m-%d %H:%M UTC") if e.last_attempt_at else "never"
        number = f" {e.number}" if e.number else ""
        click.echo(f"- {e.key}{number} ({e.kind}) [{e.reason_code or 'ERROR'}] last attempt {when}")
        click.echo(f"    {e.reason}")
        if e.fix:
            click.echo(f"    fix: {e.fix}")
    command = _pair_names().command
    click.echo(
        f"Fix the cause, then: {command} retry --all (or retry DOCUMENT..., by key or number, e.g. 8 INV-1007 "
        "CN-12 VOID-7 PAY-31 CREDIT-9)"
    )
    click.echo(f'Handled outside the product? {command} exceptions dismiss DOCUMENT... --reason "..."')


_NOUNS = {
    "invoice": "invoice(s)",
    "credit_note": "credit note(s)",
    "void": "void(s)",
    "payment": "payment(s)",
    "account_credit": "account credit(s)",
}


def _counted(found: list[DocumentException]) -> str:
    """ "3 invoice(s), 1 payment(s)": how many of each kind, in the order posting runs them."""
    counts = Counter(e.kind for e in found)
    return ", ".join(
        f"{counts[kind]} {_NOUNS.get(kind, kind)}" for kind in dict.fromkeys([*_NOUNS, *counts]) if counts.get(kind)
    )


def _list_dismissed(as_json: bool) -> None:
    from aiq_pipeline.store.dismissals import current_dismissals

    found = current_dismissals(_open_store(), [asset.partitions_name for asset in _pair_names().documents])
    if as_json:
        rows = [
            {
                "key": d.document_key,
                "scope": d.scope,
                "kind": d.kind,
                "number": d.number,
                "reason_code": d.reason_code,
                "dismissed_by": d.actor,
                "dismissed_at": d.recorded_at.isoformat() + "Z",
                "reason": d.reason,
                "via": d.via,
            }
            for d in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not found:
        click.echo("No dismissed documents.")
        return
    click.echo(f"{len(found)} dismissed document(s) (handled outside the product, never posted until undismissed):")
    for d in found:
        number = f" {d.number}" if d.number else ""
        click.echo(
            f"- {d.document_key}{number} ({d.kind or 'document'}) [{d.reason_code or '?'}] dismissed by {d.actor} "
            f"on {d.recorded_at:%Y-%m-%d %H:%M} UTC"
        )
        click.echo(f"    why: {d.reason}")
    click.echo(f"Bring one back: {_pair_names().command} exceptions undismiss DOCUMENT... (its key or its number)")


@exceptions.command(epilog=EXIT_CODES)
@click.argument("keys", nargs=-1, required=True, metavar="DOCUMENT...")
@click.option("--reason", required=True, help="Why it is handled outside the product (kept in the audit trail).")
@click.option("--by", default=None, help="Who dismisses it (default: your user name).")
@reports_setting_problems(strict=False)
def dismiss(keys: tuple[str, ...], reason: str, by: str | None) -> None:
    """Take documents off the exceptions list: booked by hand, a test invoice. Nothing posts them (not the
    sensors, `retry --all` or a backfill) until they are undismissed; who, when and why are kept.

    Name each document by its key (the Bunny id: 8, CN-<credit note id>, VOID-<invoice id>, PAY-<payment id>,
    CREDIT-<invoice id>) or by its number (INV-1007, a credit note's number, VOID-<invoice number>,
    CREDIT-<invoice number>), mixed freely. Payments have no number: name them PAY-<payment id>. An argument
    that is both a document's key and another document's number is refused: write key:ARG or number:ARG.
    """
    from aiq_pipeline.defs.dismissals.dismissal import DismissRefused
    from aiq_pipeline.defs.dismissals.dismissal import dismiss as dismiss_documents

    with open_instance() as instance:
        named = _named_or_refused(instance, keys)
        try:
            result = dismiss_documents(
                instance,
                _open_store(),
                [n.key for n in named],
                reason=reason,
                by=_who(by),
                assets=_pair_names().documents,
            )
        except DismissRefused as exc:
            raise _Refused(f"{exc}{_nor_numbered(named)}") from None
    click.echo(_rendered(result, "dismissed", named))
    undo = " ".join(result.changed + result.unchanged)
    click.echo(f"Undo with: {_pair_names().command} exceptions undismiss {undo}")


@exceptions.command(epilog=EXIT_CODES)
@click.argument("keys", nargs=-1, required=True, metavar="DOCUMENT...")
@click.option("--reason", default=None, help="Why it comes back (optional, kept in the audit trail).")
@click.option("--by", default=None, help="Who brings it back (default: your user name).")
@reports_setting_problems(strict=False)
def undismiss(keys: tuple[str, ...], reason: str | None, by: str | None) -> None:
    """Bring dismissed documents back onto the exceptions list (then `retry` posts them).

    Name each document by its key or by its number, mixed freely, as for `exceptions dismiss`; key:ARG or
    number:ARG says which reading is meant where an argument could be both.
    """
    from aiq_pipeline.defs.dismissals.dismissal import DismissRefused
    from aiq_pipeline.defs.dismissals.dismissal import undismiss as undismiss_documents

    with open_instance() as instance:
        named = _named_or_refused(instance, keys)
        try:
            result = undismiss_documents(
                instance,
                _open_store(),
                [n.key for n in named],
                by=_who(by),
                reason=reason,
                assets=_pair_names().documents,
            )
        except DismissRefused as exc:
            raise _Refused(f"{exc}{_nor_numbered(named)}") from None
    click.echo(_rendered(result, "undismissed", named))


@main.command(epilog=EXIT_CODES)
@click.argument("invoice_ids", nargs=-1, metavar="[DOCUMENT]...")
@click.option("--all", "retry_all", is_flag=True, help="Retry everything on the exceptions list.")
@click.option(
    REWRITE_UNKNOWN_FLAG,
    "rewrite_unknown",
    is_flag=True,
    help="Only after checking in AIQ that it does not hold them: write again the named documents whose earlier "
    "write is in doubt (OUTCOME_UNKNOWN) even though AIQ's look-up has not caught up. If AIQ does hold one, it then "
    "holds a second copy. Names documents only (not with --all); this retry only.",
)
@reports_setting_problems(strict=True)
def retry(invoice_ids: tuple[str, ...], retry_all: bool, rewrite_unknown: bool) -> None:
    """A person's retry of documents, invoices first; a document whose write outcome is unknown is looked for in
    AIQ once more before anything is sent, and written again only when AIQ's look-up shows a document written after
    it (so the look-up has caught up and its "not found" is true), or with --rewrite-unknown-may-duplicate.

    Name each document by its key (the Bunny id: 8, CN-<credit note id>, VOID-<invoice id>, PAY-<payment id>,
    CREDIT-<invoice id>) or by its number (INV-1007, a credit note's number, VOID-<invoice number>,
    CREDIT-<invoice number>), mixed freely. Payments have no number: name them PAY-<payment id>. An argument
    that is both a document's key and another document's number is refused: write key:ARG or number:ARG.
    Only documents the pipeline has picked up (with a partition) can be retried.
    """
    from aiq_pipeline.defs.posting.status import list_exceptions
    from aiq_pipeline.operations.sync import DocumentsDismissed
    from aiq_pipeline.operations.sync import retry as retry_documents

    if bool(invoice_ids) == retry_all:
        raise click.UsageError("give DOCUMENT ... or --all (not both)")
    if rewrite_unknown and retry_all:
        raise click.UsageError(
            f"{REWRITE_UNKNOWN_FLAG} names its documents: check each in AIQ first, then give them (not --all)"
        )
    with open_instance() as instance:
        # The exceptions list leaves dismissed documents out; a dismissed one named here is refused.
        if retry_all:
            ids = [e.key for e in list_exceptions(instance, _pair_names().documents)]
        else:
            named = _named_or_refused(instance, invoice_ids)
            if unknown := [n for n in named if not n.partition]:
                raise _Refused(
                    "nothing retried: never picked up by the pipeline (no partition): "
                    f"{', '.join(_asked(n) for n in unknown)} (retry posts documents the sensors, `sync` or "
                    f"`backfill` have picked up; see `aiq-pipeline exceptions`).{_nor_numbered(unknown)}"
                )
            ids = [n.key for n in named]
            click.echo(f"retrying: {', '.join(n.label for n in named)}")
            if rewrite_unknown:
                click.echo(
                    f"{REWRITE_UNKNOWN_FLAG}: a write of these in doubt that AIQ's look-up does not show is written "
                    "again, whether or not AIQ holds it (recorded on each document's outcome and in the run's log)"
                )
        if not ids:
            click.echo("Nothing to retry: the exceptions list is empty.")
            return
        try:
            summary = retry_documents(instance, ids, rewrite_unknown=rewrite_unknown)
        except DocumentsDismissed as exc:
            raise _Refused(str(exc)) from None
        _refresh_journal(instance, "retry")
    click.echo(summary.render())
    sys.exit(summary.exit_code)


@main.command(epilog=EXIT_CODES)
@click.option("--from", "from_date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First issue date.")
@click.option("--to", "to_date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last issue date.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Post nothing and add no partition: plan the range's invoices as posting would, and print the counts and "
    "totals per month and currency, and every invoice that would fail and why (exit code 1 if any would).",
)
@reports_setting_problems(strict=True)
def backfill(from_date: datetime, to_date: datetime, dry_run: bool) -> None:
    """Bring in older invoices on purpose: every postable invoice issued in the range, posted once each.

    Invoices only: credit notes, voids and payments are posted by the sensors and `sync` from the sync start date
    (`aiq-pipeline preflight --since DATE` plans all of them without posting).
    """
    from aiq_pipeline.operations.sync import backfill as backfill_range

    if to_date < from_date:
        raise click.UsageError("--to is before --from")
    if dry_run:
        from aiq_pipeline.operations.dry_run import backfill_dry_run

        with open_instance() as instance:
            planned = backfill_dry_run(instance, from_date.date(), to_date.date(), echo=click.echo)
        click.echo("\n".join(["", *planned.lines()]))
        sys.exit(planned.exit_code)
    with open_instance() as instance:
        # Invoices already posted are found and left alone: a range that overlaps posts nothing twice.
        summary = backfill_range(instance, from_date.date(), to_date.date(), echo=click.echo)
        _refresh_journal(instance, "backfill")
    click.echo(summary.render())
    sys.exit(summary.exit_code)


@main.command(epilog=EXIT_CODES)
@reports_setting_problems(strict=True, check_first=True)
def sync() -> None:
    """Run the whole chain once without the daemon, on the same instance the UI uses, and summarise."""
    from aiq_pipeline.operations.sync import sync_once

    with open_instance() as instance:
        summary = sync_once(instance, echo=click.echo)
        _refresh_journal(instance, "sync")
    click.echo(summary.render())
    sys.exit(summary.exit_code)
