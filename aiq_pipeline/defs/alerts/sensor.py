"""The alerts sensor: hands the exceptions list of every document asset to the alert service each tick.

It reads the Dagster instance (what failed, what was posted or dismissed since, whether posting runs are in
flight) and writes only the alert tables of the store; it starts no run and never touches posting, so a channel
that is down costs a warning in this sensor's log and nothing else. RUNNING by default once alert URLs are set.
"""

from collections.abc import Sequence
from urllib.parse import quote

import dagster as dg

from aiq_pipeline.defs.alerts.resources import AlertChannelsResource
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.sensing import active_runs
from aiq_pipeline.defs.posting.status import DocumentException, dismissed_keys, document_exceptions, partition_status
from aiq_pipeline.defs.resources import StoreResource
from aiq_pipeline.service.alerts import (
    SETTLED_DISMISSED,
    SETTLED_POSTED,
    AlertContext,
    AlertService,
    FailingDocument,
    parse_channels,
)
from aiq_pipeline.store.alerts import DocumentRef

SENSOR_NAME = "exception_alerts_sensor"


def asset_link(ui_url: str, asset: DocumentAsset, partition: str | None = None) -> str:
    """The UI's partitions page of `asset`: its failed partitions, or one partition."""
    path = "/".join(quote(part, safe="") for part in asset.key.path)
    query = f"partition={quote(partition, safe='')}" if partition is not None else "status=FAILED"
    return f"{ui_url.rstrip('/')}/assets/{path}?view=partitions&{query}"


def where_to_look(ui_url: str | None, assets: Sequence[DocumentAsset]) -> tuple[str, ...]:
    if ui_url:
        return tuple(f"All failed {a.noun}s: {asset_link(ui_url, a)}" for a in assets)
    pages = ", ".join(f"{a.key.to_user_string()} > Partitions" for a in assets)
    return (f"In the Dagster UI: Assets > {pages} (set AIQ_PIPELINE_UI_URL for links here).",)


def _failing(asset: DocumentAsset, e: DocumentException, ui_url: str | None) -> FailingDocument:
    return FailingDocument(
        ref=DocumentRef(asset.partitions_name, e.key),
        kind=e.kind,
        reason_code=e.reason_code,
        reason=e.reason,
        fix=e.fix,
        number=e.number,
        link=asset_link(ui_url, asset, e.key) if ui_url else None,
        last_attempt_at=e.last_attempt_at.replace(tzinfo=None) if e.last_attempt_at else None,
    )


def read_documents(
    instance: dg.DagsterInstance, assets: Sequence[DocumentAsset], ui_url: str | None
) -> tuple[list[FailingDocument], dict[DocumentRef, str]]:
    """The exceptions list now, and the documents posted or dismissed (what clears an alerted exception)."""
    failing: list[FailingDocument] = []
    settled: dict[DocumentRef, str] = {}
    for asset in assets:
        # Every partition's status once (with 100,000 documents, the largest read); the rest asks about the failed.
        status = partition_status(instance, asset)
        failed = [key for key, s in status.items() if s == dg.AssetPartitionStatus.FAILED]
        failing += [_failing(asset, e, ui_url) for e in document_exceptions(instance, asset, keys=failed)]
        for key, s in status.items():
            if s == dg.AssetPartitionStatus.MATERIALIZED:
                settled[DocumentRef(asset.partitions_name, key)] = SETTLED_POSTED
        for key in dismissed_keys(instance, asset, failed):
            settled[DocumentRef(asset.partitions_name, key)] = SETTLED_DISMISSED
    return failing, settled


def posting_in_flight(instance: dg.DagsterInstance, assets: Sequence[DocumentAsset]) -> bool:
    """Whether a run that may post documents of `assets` is queued or running (its failures are still coming)."""
    keys = {a.key for a in assets}
    return any(run.asset_selection is None or keys & run.asset_selection for run in active_runs(instance))


def exception_alerts_sensor(
    *,
    pair: str,
    aiq_entity: str | None,
    bunny_entity: str | None,
    default_status: dg.DefaultSensorStatus,
    assets: Sequence[DocumentAsset],
    name: str = SENSOR_NAME,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        minimum_interval_seconds=60,
        default_status=default_status,
        description="Sends one message per new batch of exceptions (and a short note when they clear) to the "
        "channels of AIQ_PIPELINE_ALERT_URLS; a channel that is down is tried again next tick. It never posts.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, store: StoreResource, alert_channels: AlertChannelsResource
    ) -> dg.SkipReason:
        channels, problems = parse_channels(alert_channels.urls)
        for problem in problems:
            context.log.warning(problem)
        instance = context.instance
        failing, settled = read_documents(instance, assets, alert_channels.ui_url)
        service = AlertService(
            store.store(),
            channels,
            AlertContext(pair, aiq_entity, bunny_entity, where_to_look(alert_channels.ui_url, assets)),
            notify_cleared=alert_channels.notify_cleared,
        )
        report = service.tick(failing, settled, busy=posting_in_flight(instance, assets))
        for message_id, channel, error in report.failed:
            context.log.warning("alert %s not delivered to %s, tried again next tick: %s", message_id, channel, error)
        summary = f"{len(failing)} exception(s) listed; " + report.summary()
        context.log.info(summary)
        return dg.SkipReason(summary)

    return _sensor
