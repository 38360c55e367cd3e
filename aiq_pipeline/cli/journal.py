"""`aiq-pipeline journal`: the audit log of what was written to AIQ, as a table or exported as JSON
(`aiq_pipeline.service.audit_log`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import click

from aiq_pipeline.cli.app import main, reports_setting_problems
from aiq_pipeline.service.problems import SETTINGS_PROBLEM_EXIT_CODE

if TYPE_CHECKING:
    from aiq_pipeline.service.audit_log import AuditEntry, AuditQuery
    from aiq_pipeline.settings import Settings

EPILOG = (
    "Exit codes: 0 done (also when nothing matches); 2 wrong usage, or a Bunny entity no pair syncs; "
    f"{SETTINGS_PROBLEM_EXIT_CODE} a settings or connection problem (one line names the setting to fix)."
)
DAY = click.DateTime(["%Y-%m-%d"])
COLUMNS = ("when (UTC)", "entity", "key", "kind", "number", "outcome", "amount", "AIQ id(s)", "references", "run")


class _Refused(click.ClickException):
    exit_code = 2


@main.command(epilog=EPILOG)
@click.option("--json", "as_json", is_flag=True, help="A JSON array (money as text, times ISO 8601 UTC).")
@click.option(
    "--entity",
    "entities",
    multiple=True,
    metavar="AIQ_ENTITY",
    help="Only this AIQ entity (a pair's ledger); repeat for several. Default: the chosen pair's entity with a "
    "pairs file, otherwise every entity in the store.",
)
@click.option(
    "--bunny-entity",
    "bunny_entities",
    multiple=True,
    metavar="BUNNY_ENTITY",
    help="Only the pair syncing this Bunny entity (read from the settings); repeat for several.",
)
@click.option("--from", "from_date", type=DAY, help="Documents with any activity on or after this UTC day.")
@click.option("--to", "to_date", type=DAY, help="Documents with any activity on or before this UTC day.")
@click.option(
    "--document",
    "documents",
    multiple=True,
    metavar="KEY_OR_NUMBER_OR_REFERENCE",
    help="Only this document: its key (8, CN-3), Bunny id, number (INV-1007) or an AIQ reference written for it; "
    "repeat for several.",
)
@click.option("--last", type=click.IntRange(min=1), help="Only the newest N documents.")
@reports_setting_problems(strict=False)
def journal(
    as_json: bool,
    entities: tuple[str, ...],
    bunny_entities: tuple[str, ...],
    from_date: datetime | None,
    to_date: datetime | None,
    documents: tuple[str, ...],
    last: int | None,
) -> None:
    """The audit log: each document, the AIQ transaction id(s) and references written for it, when it was posted
    and by which run, and its outcome (with the reason when it did not post), oldest first.

    A posted document's time is when AIQ's id was recorded; otherwise its latest attempt. Writes of no document
    (a customer created in AIQ) are listed under CUSTOMER:<code>.
    """
    from aiq_pipeline.service.audit_log import AuditQuery, UnknownBunnyEntity, audit_log
    from aiq_pipeline.settings import Settings
    from aiq_pipeline.store import Store

    if from_date and to_date and to_date < from_date:
        raise click.UsageError("--to is before --from")
    settings = Settings.from_env(strict=False)
    settings.require_dagster_home()  # the store's default place is in the instance directory
    try:
        chosen = _entities(settings, entities, bunny_entities) or _pair_entity(settings)
    except UnknownBunnyEntity as exc:
        raise _Refused(str(exc)) from None
    query = AuditQuery(
        entities=chosen,
        since=from_date.date() if from_date else None,
        until=to_date.date() if to_date else None,
        documents=tuple(d for d in documents if d.strip()),
        latest=last,
    )
    with Store(settings.store_location).session() as session:
        entries = audit_log(session, query)
    if as_json:
        click.echo(json.dumps([e.as_json() for e in entries], indent=2))
        return
    _print_table(entries, query)


def _entities(settings: Settings, entities: Sequence[str], bunny_entities: Sequence[str]) -> tuple[str, ...]:
    """--entity as given; --bunny-entity through the configured pairs. Both given: the entities both name."""
    from aiq_pipeline.service.audit_log import aiq_entities_of

    aiq = tuple(dict.fromkeys(e.strip() for e in entities if e.strip()))
    if not bunny_entities:
        return aiq
    paired = aiq_entities_of(settings.pairs, [b.strip() for b in bunny_entities])
    if not aiq:
        return paired
    both = tuple(e for e in aiq if e in paired)
    if not both:
        raise click.UsageError(
            f"--entity {', '.join(aiq)} is not the AIQ entity of --bunny-entity ({', '.join(paired)})"
        )
    return both


def _pair_entity(settings: Settings) -> tuple[str, ...]:
    """With a pairs file, the chosen pair's AIQ entity (pairs may share a store); otherwise every entity."""
    from aiq_pipeline.settings import uses_pairs_file

    aiq = settings.pair.aiq
    return (aiq.entity_id,) if uses_pairs_file() and aiq is not None else ()


def _when(entry: AuditEntry) -> str:
    return entry.at.strftime("%Y-%m-%d %H:%M:%S")


def _row(entry: AuditEntry) -> tuple[str, ...]:
    amount = f"{entry.gross} {entry.currency or ''}".strip() if entry.gross is not None else ""
    outcome = entry.outcome or f"({', '.join(sorted({w.state for w in entry.writes}))})"
    return (
        _when(entry),
        entry.entity_id,
        entry.key,
        entry.kind,
        entry.number or "",
        outcome,
        amount,
        ", ".join(str(i) for i in entry.aiq_transaction_ids),
        ", ".join(entry.references),
        entry.posted_by or entry.run_id or "",
    )


def _print_table(entries: Sequence[AuditEntry], query: AuditQuery) -> None:
    if not entries:
        click.echo("No document in the journal matches." if _filtered(query) else "The journal is empty.")
        return
    rows = [COLUMNS, *(_row(e) for e in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for index, row in enumerate(rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        entry = entries[index - 1] if index else None
        if entry is not None and entry.outcome == "failed":
            click.echo(f"    [{entry.reason_code or 'ERROR'}] {entry.reason or ''}".rstrip())
    posted = sum(1 for e in entries if e.outcome in ("posted", "already_posted"))
    click.echo(f"{len(entries)} document(s), {posted} posted. Everything, with every write: --json")


def _filtered(query: AuditQuery) -> bool:
    return bool(query.entities or query.since or query.until or query.documents)
