"""`aiq-pipeline sync` and `backfill`: the whole chain once, without the daemon, on the instance the UI uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import dagster as dg

from aiq_pipeline.defs.invoices.history import add_history_partitions
from aiq_pipeline.defs.names import PairNames, names_of
from aiq_pipeline.defs.posting.first_start import switch_on, sync_start_date
from aiq_pipeline.defs.posting.run_requests import REWRITE_UNKNOWN_TRIGGER, TRIGGER_TAG
from aiq_pipeline.defs.posting.sensing import active_run_ids
from aiq_pipeline.defs.posting.status import (
    DismissalMark,
    dismissal_marks,
    invoice_partitions,
    list_exceptions,
    partition_status,
)
from aiq_pipeline.defs.recovery import process_tags, reap_dead_runs
from aiq_pipeline.defs.resources import BunnyResource, SyncSettings
from aiq_pipeline.operations.reconcile import reconcile_after_sync
from aiq_pipeline.operations.runs import (
    QUIET,
    SyncSummary,
    initialized,
    load_definitions,
    post_in_process,
)
from aiq_pipeline.service.discovery import CreditCursor, Cursor, discover_credit_notes, discover_released_invoices
from aiq_pipeline.service.outcome import Reason
from aiq_pipeline.service.payment_discovery import PaymentCursor, discover_payments
from aiq_pipeline.service.problems import ProblemError, bunny_entity_unknown_problem
from aiq_pipeline.sync.documents.plan import INVOICE_NOT_POSTED

Echo = Callable[[str], None]


class StepFailed(Exception):
    """A run this command started failed as a whole; `error` is the failed step's error (for the one-line report)."""

    def __init__(self, message: str, error: Any | None = None) -> None:
        super().__init__(message)
        self.error = error


class DocumentsDismissed(Exception):
    """A retry named documents a person dismissed: nothing is posted until they are undismissed."""

    def __init__(self, marks: list[DismissalMark], command: str = "aiq-pipeline") -> None:
        self.marks = marks
        keys = " ".join(m.key for m in marks)
        super().__init__(
            f"dismissed, not retried: {keys} (handled outside the product). To post them after all, bring them "
            f"back first: {command} exceptions undismiss {keys}"
        )


def dismissed(instance: dg.DagsterInstance, names: PairNames, keys: list[str]) -> list[DismissalMark]:
    """The marks of those of `keys` that are dismissed now."""
    wanted = set(keys)
    found = []
    for asset in names.documents:
        mine = [k for k in instance.get_dynamic_partitions(asset.partitions_name) if k in wanted]
        found += [m for m in dismissal_marks(instance, asset, mine).values() if m.dismissed]
    return found


class UnknownBunnyEntity(ProblemError):
    """BUNNY_ENTITY_ID names no entity this Bunny API client can see: nothing is written (doctor's line)."""


def _run_setup(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    job = defs.resolve_implicit_global_asset_job_def()
    setup = job.execute_in_process(
        run_config=QUIET,
        instance=instance,
        asset_selection=list(names_of(defs).setup_assets),
        tags={TRIGGER_TAG: "sync", **process_tags()},
        raise_on_error=False,
    )
    if not setup.success:
        failure = next((e for e in setup.all_events if e.is_step_failure), None)
        error = failure.step_failure_data.error if failure and failure.step_failure_data else None
        reason = error.message.strip() if error else "the run failed"
        raise StepFailed(f"the ledger/accounts/mapping step failed: {reason}", error)


def _check_bunny_entity(bunny: BunnyResource) -> None:
    with bunny.open() as client:
        entity = client.get_entity(bunny.entity_id)
    if entity is None:
        raise UnknownBunnyEntity(bunny_entity_unknown_problem(bunny.entity_id))


def _rerun_keys(instance: dg.DagsterInstance, names: PairNames) -> list[str]:
    """Documents whose failure has passed (their run died, or the run that held them finished), and documents no run
    ever took up: a `sync` killed in its first batch never created the runs of the later ones, whose partitions it
    had already added (not new any more, not failed either, they would otherwise never be posted)."""
    exceptions = list_exceptions(instance, names.documents)
    active = active_run_ids(instance)  # after the exceptions: a holder that started meanwhile is seen live
    passed = [
        e.key
        for e in exceptions
        if e.reason_code == Reason.INTERRUPTED
        or (e.reason_code == Reason.BEING_POSTED and e.detail("held_by_run") not in active)
    ]
    untouched = [key for asset in names.documents for key, s in partition_status(instance, asset).items() if s is None]
    return [*passed, *untouched]


def _new_invoices(
    instance: dg.DagsterInstance, names: PairNames, bunny: BunnyResource, sync: SyncSettings, start: date
) -> list[str]:
    first_look = None if sync.start_date() is not None else switch_on(instance, names)
    with bunny.open() as client:
        found = discover_released_invoices(
            client,
            entity_id=bunny.entity_id,
            known_ids=instance.get_dynamic_partitions(names.invoices.partitions_name),
            cursor=Cursor(watermark=first_look),
            since=first_look,
            limit=10**9,
            start_date=start,
        )
    return found.new_invoice_ids


def _new_credit_notes(instance: dg.DagsterInstance, names: PairNames, bunny: BunnyResource, start: date) -> list[str]:
    with bunny.open() as client:
        notes = list(client.iter_credit_notes(bunny.entity_id))
        voided = list(client.iter_invoice_refs(bunny.entity_id, updated_since=None, states=["VOIDED"]))
    found = discover_credit_notes(
        notes,
        voided,
        known_keys=instance.get_dynamic_partitions(names.credit_notes.partitions_name),
        invoices=invoice_partitions(instance, names.invoices),
        cursor=CreditCursor(),
        start_date=start,
    )
    return found.new_keys


def _new_payments(instance: dg.DagsterInstance, names: PairNames, bunny: Any, start: date) -> list[str]:
    """Payments received from `start` without a partition, and those that waited for an invoice posted since."""
    with bunny.open() as client:
        payments = list(client.iter_payments(bunny.entity_id))
        credited = list(client.iter_invoice_refs(bunny.entity_id, updated_since=None))
    invoices = invoice_partitions(instance, names.invoices)
    found = discover_payments(
        payments,
        known_keys=instance.get_dynamic_partitions(names.payments.partitions_name),
        invoices=invoices,
        cursor=PaymentCursor(),
        start_date=start,
        credited=credited,
    )
    waited = [
        e.key
        for e in list_exceptions(instance, [names.payments])
        if e.kind in names.payments.kinds and e.reason_code == INVOICE_NOT_POSTED
    ]
    return [*found.new_keys, *waited]


def sync_once(instance: dg.DagsterInstance, echo: Echo = print, defs: dg.Definitions | None = None) -> SyncSummary:
    """Dead runs cleared -> ledger snapshot, financial accounts, GL mapping -> new and interrupted invoices posted ->
    new credit notes and voids posted -> payments received posted -> the months touched reconciled."""
    defs = load_definitions(defs)
    names = names_of(defs)
    if reaped := reap_dead_runs(instance):
        echo(f"{len(reaped)} run(s) whose process is gone marked failed; their documents are posted now")
    bunny = initialized(defs, "bunny", BunnyResource)
    sync = initialized(defs, "sync_settings", SyncSettings)
    _check_bunny_entity(bunny)
    echo("refreshing the ledger snapshot, financial accounts and GL mapping…")
    _run_setup(defs, instance)
    start = sync_start_date(instance, names, sync.start_date())
    invoices = _new_invoices(instance, names, bunny, sync, start)
    again = _rerun_keys(instance, names)
    echo(f"{len(invoices)} newly released invoice(s) to post (issued from {start}); {len(again)} to post again")
    summary = SyncSummary()
    if invoices:
        instance.add_dynamic_partitions(names.invoices.partitions_name, invoices)
    summary.add(post_in_process(instance, [*invoices, *again], trigger="sync", defs=defs))
    notes = _new_credit_notes(instance, names, bunny, start)
    if notes:
        echo(f"{len(notes)} new credit note(s) and void(s) to post")
        instance.add_dynamic_partitions(names.credit_notes.partitions_name, notes)
        summary.add(post_in_process(instance, notes, trigger="sync", defs=defs))
    payments = _new_payments(instance, names, bunny, start)
    if payments:
        echo(f"{len(payments)} payment(s) to post")
        known = set(instance.get_dynamic_partitions(names.payments.partitions_name))
        instance.add_dynamic_partitions(names.payments.partitions_name, [k for k in payments if k not in known])
        summary.add(post_in_process(instance, payments, trigger="sync", defs=defs))
    summary.failed = list_exceptions(
        instance, names.documents
    )  # earlier exceptions are still exceptions: show them too
    months = reconcile_after_sync(instance, defs, [*summary.posted, *summary.already_posted], echo)
    summary.reconciliation_failed = [m.description for m in months if not m.passed]
    return summary


def backfill(
    instance: dg.DagsterInstance, first: date, last: date, echo: Echo = print, defs: dg.Definitions | None = None
) -> SyncSummary:
    """Every postable invoice issued in [first, last], posted once each (already posted ones are found and left)."""
    defs = load_definitions(defs)
    names = names_of(defs)
    if reaped := reap_dead_runs(instance):
        echo(f"{len(reaped)} run(s) whose process is gone marked failed")
    bunny = initialized(defs, "bunny", BunnyResource)
    _check_bunny_entity(bunny)
    ids, new = add_history_partitions(instance, names.invoices, bunny, first, last)
    echo(f"{len(ids)} postable invoice(s) issued in the range; {len(new)} new partition(s)")
    if left := {m.key for m in dismissed(instance, names, ids)}:
        echo(f"{len(left)} dismissed invoice(s) left alone (undismiss them to post them): {', '.join(sorted(left))}")
        ids = [i for i in ids if i not in left]
    if not ids:
        return SyncSummary()
    return post_in_process(instance, ids, trigger="backfill", defs=defs)


def retry(
    instance: dg.DagsterInstance,
    keys: list[str],
    defs: dg.Definitions | None = None,
    *,
    rewrite_unknown: bool = False,
) -> SyncSummary:
    """A person's retry of these documents (a document whose outcome was unknown is looked up once more first, and
    written again only when AIQ's look-up is shown to have caught up past its sending). `rewrite_unknown`: the
    person's explicit override for these documents, this once: written again even so (a second copy if AIQ holds
    the first). Refused (DocumentsDismissed, nothing posted) when any of them is dismissed."""
    defs = load_definitions(defs)
    names = names_of(defs)
    if marks := dismissed(instance, names, keys):
        raise DocumentsDismissed(marks, names.command)
    reap_dead_runs(instance)
    trigger = REWRITE_UNKNOWN_TRIGGER if rewrite_unknown else "retry"
    return post_in_process(instance, keys, trigger=trigger, defs=defs)
