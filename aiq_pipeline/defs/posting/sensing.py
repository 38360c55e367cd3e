"""What every document sensor does besides finding new documents: run again, once, the documents whose failure has
passed (their run died, the run holding them finished, the invoice they waited for is posted)."""

from __future__ import annotations

from collections.abc import Callable, Collection

import dagster as dg

from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.run_requests import contiguous_groups, document_run_request
from aiq_pipeline.defs.posting.status import DocumentException, document_exceptions
from aiq_pipeline.service.outcome import Reason

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def active_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Runs queued, starting or running."""
    return list(instance.get_runs(dg.RunsFilter(statuses=_ACTIVE)))


def active_run_ids(instance: dg.DagsterInstance) -> set[str]:
    return {run.run_id for run in active_runs(instance)}


def rerun_requests(
    instance: dg.DagsterInstance,
    asset: DocumentAsset,
    *,
    batch_size: int,
    also_ready: Callable[[DocumentException], bool] = lambda _e: False,
) -> list[dg.RunRequest]:
    """One run per contiguous group of failed documents that may pass now, each failure retried once.

    Always: INTERRUPTED (their run died) and BEING_POSTED once the holding run is no longer active. `also_ready`
    adds a kind's own (e.g. a credit note whose invoice is now posted). A dismissed document is never run again
    (`document_exceptions` leaves it out) until a person undismisses it.
    """
    active = active_run_ids(instance)
    ready = [
        e
        for e in document_exceptions(instance, asset)
        if e.reason_code == Reason.INTERRUPTED
        or (e.reason_code == Reason.BEING_POSTED and e.detail("held_by_run") not in active)
        or also_ready(e)
    ]
    return _requests(instance, asset, ready, batch_size)


def _requests(
    instance: dg.DagsterInstance, asset: DocumentAsset, ready: Collection[DocumentException], batch_size: int
) -> list[dg.RunRequest]:
    if not ready:
        return []
    attempt = {e.key: e.run_id or "?" for e in ready}
    order = instance.get_dynamic_partitions(asset.partitions_name)
    return [
        document_run_request(
            asset.key,
            group,
            # The failed attempt is in the run key: a failure is retried once, a later failure once again.
            run_key=f"again:{group[0]}-{group[-1]}:" + ",".join(sorted({attempt[k] for k in group})),
            trigger="recovery",
        )
        for group in contiguous_groups(list(attempt), order, batch_size)
    ]
