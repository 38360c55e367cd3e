"""The dry runs: `preview DOCUMENT...` and `preflight --since DATE` (and `backfill --dry-run`, in `documents`).

Each plans documents with the posting service's own planners, today's mappings and settings, and writes nothing:
nothing to AIQ, no journal row, no partition, no run (`aiq_pipeline.operations.dry_run`).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from aiq_pipeline.cli.app import main, open_instance, reports_setting_problems
from aiq_pipeline.service.problems import SETTINGS_PROBLEM_EXIT_CODE

DRY_RUN_EXIT_CODES = (
    "Exit codes: 0 nothing would fail; 1 something would not post (it would fail, or wait for something it needs: "
    "each is listed with its reason and fix); 2 wrong usage{unknown}; {settings} a settings or connection problem "
    "(one line names the setting to fix)."
)
PREVIEW_EPILOG = DRY_RUN_EXIT_CODES.format(
    unknown=", or a document Bunny does not have", settings=SETTINGS_PROBLEM_EXIT_CODE
)
PREFLIGHT_EPILOG = DRY_RUN_EXIT_CODES.format(unknown="", settings=SETTINGS_PROBLEM_EXIT_CODE)
UNKNOWN_DOCUMENT_EXIT_CODE = 2
KEY_FORMS = "an invoice id, CN-<credit note id>, VOID-<invoice id>, PAY-<payment id> or CREDIT-<invoice id>"


@main.command(epilog=PREVIEW_EPILOG)
@click.argument("documents", nargs=-1, required=True, metavar="DOCUMENT...")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list, one entry per document).")
@reports_setting_problems(strict=True)
def preview(documents: tuple[str, ...], as_json: bool) -> None:
    """Show exactly what posting each DOCUMENT would send to AIQ now, writing nothing.

    DOCUMENT is a key (the Bunny id: an invoice id, CN-<credit note id>, VOID-<invoice id>, PAY-<payment id>,
    CREDIT-<invoice id>) or a number (INV-1007, a credit note's number, VOID-<invoice number>,
    CREDIT-<invoice number>), mixed freely. Payments have no number: name them PAY-<payment id>. An argument
    that is both a document's key and another document's number is refused: write key:ARG or number:ARG.

    For each: the AIQ customer (created, matched or existing), every AIQ document with its type, reference, date and
    period, currency and rate, lines (GL account, tax code, net, rate, tax) and totals, the allocations; or why it
    would not post and the fix. Planned by the same planners as posting, with today's mappings and settings; a credit
    note or payment of an invoice named too is planned as if that invoice were posted first.
    """
    from aiq_pipeline.cli.documents import name_documents
    from aiq_pipeline.operations.dry_run import preview as preview_documents
    from aiq_pipeline.service.document_numbers import DocumentNamesRefused
    from aiq_pipeline.service.dry_run_report import preview_json, preview_lines, would
    from aiq_pipeline.sync.problems import ProblemCode

    arguments = tuple(dict.fromkeys(d.strip() for d in documents if d.strip()))
    with open_instance() as instance:
        try:
            named = name_documents(instance, arguments)
        except DocumentNamesRefused as exc:
            for problem in exc.problems:
                if problem.ambiguous:
                    click.echo(f"Error: {problem.message}", err=True)
                else:
                    why = problem.message.removeprefix(f"{problem.argument}: ")
                    click.echo(f"Error: not a document: {problem.argument!r}: {why}", err=True)
            click.echo(f"Nothing previewed. Give {KEY_FORMS}, or a document's number.", err=True)
            sys.exit(UNKNOWN_DOCUMENT_EXIT_CODE)
        planned = preview_documents(instance, [n.key for n in named])
    unknown = [p for p in planned if p.preview.outcome.reason_code == ProblemCode.NOT_FOUND]
    if unknown:
        bare = {n.key for n in named if n.argument == n.key}  # not key:ARG: it was looked for as a number too
        for p in unknown:
            nor = f" Nor is any invoice or credit note numbered {p.key}." if p.key in bare else ""
            click.echo(f"Error: unknown document {p.key}: {p.preview.outcome.reason}{nor}", err=True)
        click.echo(f"Nothing previewed. Give {KEY_FORMS}, or a document's number.", err=True)
        sys.exit(UNKNOWN_DOCUMENT_EXIT_CODE)
    if as_json:
        click.echo(json.dumps([preview_json(p) for p in planned], indent=2))
    else:
        for i, p in enumerate(planned):
            if i:
                click.echo("")
            for line in preview_lines(p):
                click.echo(line)
        click.echo("")
        click.echo("Nothing was written (a preview).")
    sys.exit(1 if any(would(p).fails for p in planned) else 0)


@main.command(epilog=PREFLIGHT_EPILOG)
@click.option(
    "--since",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day: documents issued (payments received) on or after it.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the tables.")
@reports_setting_problems(strict=True)
def preflight(since: datetime, as_json: bool) -> None:
    """Plan, without posting, every released invoice, credit note and payment since a date.

    With today's mappings and settings, through the same planners as posting, in posting batches (invoices first,
    then credit notes and voids, then payments and account credit: a credit note or payment of an invoice that would
    post is planned as if it were posted). Prints the counts per outcome and per problem code, each document that
    would not post with its reason and fix, and the money per month and currency that would post. Nothing is
    written: not to AIQ, the journal or the instance. Run it before switching the sensors on, and again after
    changing a mapping.
    """
    from aiq_pipeline.operations.dry_run import preflight as run_preflight

    with open_instance() as instance:
        summary = run_preflight(instance, since.date(), echo=(lambda _: None) if as_json else click.echo)
    if as_json:
        click.echo(json.dumps({"since": since.date().isoformat(), **summary.as_json()}, indent=2))
    else:
        click.echo("")
        for line in summary.lines():
            click.echo(line)
    sys.exit(summary.exit_code)
