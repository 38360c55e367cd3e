"""Running the pipeline without the daemon: `aiq-pipeline sync` and `aiq-pipeline retry`.

Runs execute in this process against the persistent instance, so they appear in the UI's run list and
partition status exactly like the daemon's runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from aiq_pipeline.defs.credit_notes import CREDIT_NOTE_PARTITIONS_NAME, POSTED_CREDIT_NOTES
from aiq_pipeline.defs.exceptions import InvoiceException, list_exceptions
from aiq_pipeline.defs.keys import (
    CHART_OF_ACCOUNTS,
    FINANCIAL_ACCOUNTS,
    GL_MAPPING,
    PERIODS,
    POSTED_INVOICES,
    TAX_CODES,
)
from aiq_pipeline.defs.partitions import INVOICE_PARTITIONS_NAME, bunny_invoices
from aiq_pipeline.defs.reconciliation import reconcile_after_sync
from aiq_pipeline.defs.sensors import TRIGGER_TAG
from aiq_pipeline.service.discovery import Cursor, discover_released_invoices

OUTCOME_POSTED = "posted"
OUTCOME_ALREADY_POSTED = "already_posted"
OUTCOME_SKIPPED = "skipped"


@dataclass
class SyncSummary:
    posted: list[str] = field(default_factory=list)
    already_posted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[InvoiceException] = field(default_factory=list)
    runs: int = 0

    def render(self) -> str:
        lines = [
            f"posted: {len(self.posted)}",
            f"already posted: {len(self.already_posted)}",
            f"skipped: {len(self.skipped)}",
            f"failed: {len(self.failed)}",
        ]
        lines += [f"  - {e.invoice_id} [{e.reason_code or 'ERROR'}] {e.reason}" for e in self.failed]
        lines.append(f"({self.runs} run(s))")
        return "\n".join(lines)


def load_definitions(defs: dg.Definitions | None = None) -> dg.Definitions:
    if defs is not None:
        return defs
    from aiq_pipeline.definitions import build_definitions

    return build_definitions()  # read the environment now, not at import


def contiguous_groups(ids: Sequence[str], order: Sequence[str], size: int) -> list[list[str]]:
    """Split `ids` into runs of keys that are adjacent in the partition order, at most `size` each.

    A multi-partition run covers a *range* of the dynamic partitions, so only neighbours can share one.
    """
    position = {key: i for i, key in enumerate(order)}
    unknown = [i for i in ids if i not in position]
    if unknown:
        raise KeyError(f"not a known invoice partition: {', '.join(unknown)}")
    groups: list[list[str]] = []
    for key in sorted(set(ids), key=position.__getitem__):
        last = groups[-1] if groups else None
        if last and position[key] == position[last[-1]] + 1 and len(last) < size:
            last.append(key)
        else:
            groups.append([key])
    return groups


def _execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    keys: list[str],
    trigger: str,
    asset: dg.AssetKey = POSTED_INVOICES,
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    tags = {TRIGGER_TAG: trigger}
    if len(keys) == 1:
        return job.execute_in_process(
            instance=instance, partition_key=keys[0], asset_selection=[asset], tags=tags, raise_on_error=False
        )
    tags |= {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    return job.execute_in_process(instance=instance, asset_selection=[asset], tags=tags, raise_on_error=False)


def _collect(summary: SyncSummary, result: dg.ExecuteInProcessResult) -> None:
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat.asset_key not in (POSTED_INVOICES, POSTED_CREDIT_NOTES) or mat.partition is None:
            continue
        outcome = getattr(mat.metadata.get("outcome"), "value", None)
        bucket = {
            OUTCOME_ALREADY_POSTED: summary.already_posted,
            OUTCOME_SKIPPED: summary.skipped,
        }.get(outcome, summary.posted)
        bucket.append(mat.partition)


def post_invoices_in_process(
    instance: dg.DagsterInstance, ids: Sequence[str], trigger: str = "retry", defs: dg.Definitions | None = None
) -> SyncSummary:
    """Materialize the given invoice partitions now, in as few runs as their order allows."""
    defs = load_definitions(defs)
    settings = defs.resources["sync_settings"]
    order = instance.get_dynamic_partitions(INVOICE_PARTITIONS_NAME)
    summary = SyncSummary()
    for group in contiguous_groups(ids, order, settings.batch_size):
        _collect(summary, _execute(defs, instance, group, trigger))
        summary.runs += 1
    wanted = set(ids)
    summary.failed = [e for e in list_exceptions(instance) if e.invoice_id in wanted]
    return summary


def post_credit_notes_in_process(
    instance: dg.DagsterInstance, keys: Sequence[str], trigger: str = "retry", defs: dg.Definitions | None = None
) -> SyncSummary:
    """Materialize the given credit-note partitions (`CN-<id>`, `VOID-<id>`) now, in as few runs as possible."""
    defs = load_definitions(defs)
    settings = defs.resources["sync_settings"]
    order = instance.get_dynamic_partitions(CREDIT_NOTE_PARTITIONS_NAME)
    summary = SyncSummary()
    for group in contiguous_groups(keys, order, settings.batch_size):
        _collect(summary, _execute(defs, instance, group, trigger, POSTED_CREDIT_NOTES))
        summary.runs += 1
    wanted = set(keys)
    summary.failed = [e for e in list_exceptions(instance) if e.invoice_id in wanted]
    return summary


def retry_in_process(
    instance: dg.DagsterInstance, keys: Sequence[str], trigger: str = "retry", defs: dg.Definitions | None = None
) -> SyncSummary:
    """Retry any mix of invoice ids and credit-note keys: invoices first, so credit notes find them posted."""
    credit_keys = set(instance.get_dynamic_partitions(CREDIT_NOTE_PARTITIONS_NAME))
    credits = [k for k in keys if k in credit_keys]
    invoices = [k for k in keys if k not in credit_keys]
    summary = SyncSummary()
    for part in (
        post_invoices_in_process(instance, invoices, trigger, defs) if invoices else None,
        post_credit_notes_in_process(instance, credits, trigger, defs) if credits else None,
    ):
        if part is not None:
            summary.posted += part.posted
            summary.already_posted += part.already_posted
            summary.skipped += part.skipped
            summary.runs += part.runs
    wanted = set(keys)
    summary.failed = [e for e in list_exceptions(instance) if e.invoice_id in wanted]
    return summary


def sync_once(
    instance: dg.DagsterInstance, echo: Callable[[str], None] = print, defs: dg.Definitions | None = None
) -> SyncSummary:
    """Ledger snapshot -> financial accounts -> GL mapping -> pick up released invoices -> post them."""
    defs = load_definitions(defs)
    echo("refreshing the ledger snapshot, financial accounts and GL mapping…")
    job = defs.resolve_implicit_global_asset_job_def()
    setup = job.execute_in_process(
        instance=instance,
        asset_selection=[CHART_OF_ACCOUNTS, TAX_CODES, PERIODS, FINANCIAL_ACCOUNTS, GL_MAPPING],
        tags={TRIGGER_TAG: "sync"},
        raise_on_error=False,
    )
    if not setup.success:
        failure = next((e for e in setup.all_events if e.is_step_failure), None)
        reason = failure.step_failure_data.error.message.strip() if failure and failure.step_failure_data.error else ""
        raise RuntimeError(f"the ledger/accounts/mapping step failed: {reason}")

    bunny = defs.resources["bunny"].process_config_and_initialize()
    settings = defs.resources["sync_settings"].process_config_and_initialize()
    known = instance.get_dynamic_partitions(INVOICE_PARTITIONS_NAME)
    with bunny.open() as client:
        found = discover_released_invoices(
            client,
            entity_id=bunny.entity_id,
            known_ids=known,
            cursor=Cursor(),
            overlap=timedelta(0),
            limit=10**9,
            start_date=settings.start_date(),
        )
    new = found.new_invoice_ids
    echo(f"{len(new)} newly released invoice(s) to post")
    summary = SyncSummary()
    if new:
        instance.add_dynamic_partitions(bunny_invoices.name, new)
        summary = post_invoices_in_process(instance, new, trigger="sync", defs=defs)
    # Earlier exceptions are still exceptions: show them too.
    summary.failed = list_exceptions(instance)
    # Then check the months this sync touched (and the current and previous month) against AIQ.
    reconcile_after_sync(instance, defs, [*summary.posted, *summary.already_posted], echo)
    return summary
