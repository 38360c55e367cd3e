"""What every document sensor does besides finding new documents: its definition, the runs of the new documents, run
again, once, the documents whose failure has passed (their run died, the run holding them finished, the invoice they
waited for is posted), and the tick's result."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.first_start import sync_start_date
from aiq_pipeline.defs.posting.run_requests import batches, contiguous_groups, document_run_request
from aiq_pipeline.defs.posting.status import DocumentException, document_exceptions
from aiq_pipeline.defs.recovery import reap_dead_runs
from aiq_pipeline.defs.resources import SyncSettings
from aiq_pipeline.service.outcome import Reason

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def document_sensor(
    asset: DocumentAsset, *, description: str, default_status: dg.DefaultSensorStatus
) -> Callable[[Callable[..., dg.SensorResult]], dg.SensorDefinition]:
    """The decorator of a document kind's sensor: its name, its asset, every 30 s."""
    return dg.sensor(
        name=asset.sensor_name,
        asset_selection=[asset.key],
        minimum_interval_seconds=30,
        default_status=default_status,
        description=description,
    )


# The key every document sensor's cursor carries besides its kind's own: when it last read its window again.
SWEPT_AT = "swept_at"


@dataclass(frozen=True)
class Tick:
    """Where every document sensor's tick starts, once the dead runs are marked failed (freeing their documents).

    A tick reads Bunny from its watermark (the newest `updatedAt` seen) on. Every few minutes a sweep reads the
    window behind the watermark again, for changes whose `updatedAt` became visible late: the overlap, plus
    the time since the last sweep, so a change that shows up to the overlap late is still found. Reading the overlap
    on every 30-s tick re-read a whole billing burst each time, for as long as the burst was inside it.
    """

    instance: dg.DagsterInstance
    reaped: int  # dead runs marked failed this tick
    window: timedelta  # how far behind its watermark a sweep reads again
    start: date  # the first issue date the sync picks up
    sweeping: bool  # this tick is a sweep
    swept_at: datetime  # when the sensor last swept (this tick, when it sweeps)

    def since(self, watermark: datetime | None) -> datetime | None:
        """Where this tick reads from: the watermark itself (stamps may share a second), or the sweep's window."""
        if watermark is None:
            return None
        return watermark - self.window if self.sweeping else watermark

    def cursor(self, kind_cursor: str) -> str:
        """The kind's serialized cursor (a JSON object) with when this sensor last swept."""
        return json.dumps({**json.loads(kind_cursor), SWEPT_AT: self.swept_at.isoformat()})


def begin_tick(context: dg.SensorEvaluationContext, names: PairNames, sync_settings: SyncSettings) -> Tick:
    instance = context.instance
    reaped = len(reap_dead_runs(instance))
    every = timedelta(minutes=sync_settings.sweep_minutes)
    window = timedelta(minutes=sync_settings.overlap_minutes) + every
    now = datetime.now(UTC)
    last = _swept_at(context.cursor)
    # A last sweep "in the future" (this clock stepped back, or another host's ran ahead) must not stop the sweeps.
    sweeping = last is None or now < last or now - last >= every
    start = sync_start_date(instance, names, sync_settings.start_date())
    return Tick(instance, reaped, window, start, sweeping=sweeping, swept_at=now if sweeping else last or now)


def _swept_at(raw: str | None) -> datetime | None:
    moment = json.loads(raw).get(SWEPT_AT) if raw else None
    return datetime.fromisoformat(moment) if moment else None


def new_document_runs(asset: DocumentAsset, keys: Sequence[str], *, batch_size: int, tag: str) -> list[dg.RunRequest]:
    """One run per batch of new partitions (`tag` names the kind in the run key)."""
    return [
        document_run_request(asset.key, chunk, run_key=f"{tag}:{chunk[0]}-{chunk[-1]}:{len(chunk)}")
        for chunk in batches(keys, batch_size)
    ]


def sensor_result(
    context: dg.SensorEvaluationContext,
    tick: Tick,
    asset: DocumentAsset,
    *,
    new_keys: Sequence[str],
    runs: list[dg.RunRequest],
    cursor: str,
    summary: str,
) -> dg.SensorResult:
    """The tick's result: the new partitions added, the runs requested, the cursor moved; logged in one line."""
    summary += f"; swept the last {tick.window // timedelta(minutes=1)} min again" if tick.sweeping else ""
    context.log.info(summary)
    return dg.SensorResult(
        dynamic_partitions_requests=[asset.partitions.build_add_request(list(new_keys))] if new_keys else [],
        run_requests=runs,
        cursor=tick.cursor(cursor),
        skip_reason=None if runs else dg.SkipReason(f"nothing to post: {summary}"),
    )


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
    keys: Sequence[str] | None = None,
) -> list[dg.RunRequest]:
    """One run per contiguous group of failed documents that may pass now, each failure retried once.

    Always: INTERRUPTED (their run died) and BEING_POSTED once the holding run is no longer active. `also_ready`
    adds a kind's own (e.g. a credit note whose invoice is now posted). A dismissed document is never run again
    (`document_exceptions` leaves it out) until a person undismisses it. `keys`: the asset's partitions, if the
    sensor has just read them.
    """
    keys = instance.get_dynamic_partitions(asset.partitions_name) if keys is None else keys
    exceptions = document_exceptions(instance, asset, keys=keys)
    # Read after the exceptions: a run that started meanwhile and holds a document listed BEING_POSTED is seen live.
    active = active_run_ids(instance)
    ready = [
        e
        for e in exceptions
        if e.reason_code == Reason.INTERRUPTED
        or (e.reason_code == Reason.BEING_POSTED and e.detail("held_by_run") not in active)
        or also_ready(e)
    ]
    return _requests(asset, ready, batch_size, keys)


def _requests(
    asset: DocumentAsset, ready: Collection[DocumentException], batch_size: int, order: Sequence[str]
) -> list[dg.RunRequest]:
    if not ready:
        return []
    attempt = {e.key: e.run_id or "?" for e in ready}
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
