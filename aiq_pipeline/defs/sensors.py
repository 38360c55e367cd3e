"""The released-invoices sensor: one partition per new invoice, few runs per burst.

STOPPED by default, like Bunny's "automatically sync invoices" switch: turn it on once the ledger
snapshot, financial accounts and GL mapping are in place (UI: Automation, or `dagster sensor start`).
`make demo` sets AIQ_PIPELINE_SENSOR_DEFAULT=RUNNING so the demo syncs from the start. It never
touches the store.
"""

import os
from datetime import timedelta

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from aiq_pipeline.defs.keys import POSTED_INVOICES
from aiq_pipeline.defs.partitions import INVOICE_PARTITIONS_NAME, bunny_invoices
from aiq_pipeline.defs.resources import BunnyResource, SyncSettings
from aiq_pipeline.service.discovery import Cursor, batches, discover_released_invoices

TRIGGER_TAG = "aiq_pipeline/trigger"
SENSOR_DEFAULT_ENV = "AIQ_PIPELINE_SENSOR_DEFAULT"


def default_sensor_status() -> dg.DefaultSensorStatus:
    wanted = os.environ.get(SENSOR_DEFAULT_ENV, "STOPPED").strip().upper()
    if wanted not in dg.DefaultSensorStatus.__members__:
        raise ValueError(f"{SENSOR_DEFAULT_ENV} must be RUNNING or STOPPED, not {wanted!r}")
    return dg.DefaultSensorStatus[wanted]


def invoice_run_request(keys: list[str], *, run_key: str | None = None, trigger: str = "sensor") -> dg.RunRequest:
    """One run posting `keys`, which must be contiguous in the partition order (a range)."""
    tags = {TRIGGER_TAG: trigger}
    if len(keys) == 1:
        return dg.RunRequest(run_key=run_key, asset_selection=[POSTED_INVOICES], partition_key=keys[0], tags=tags)
    tags |= {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    return dg.RunRequest(run_key=run_key, asset_selection=[POSTED_INVOICES], tags=tags)


@dg.sensor(
    name="released_invoices_sensor",
    asset_selection=[POSTED_INVOICES],
    minimum_interval_seconds=30,
    default_status=default_sensor_status(),
    description="Adds a partition per newly released Bunny invoice of the configured entity and posts them in batches.",
)
def released_invoices_sensor(
    context: dg.SensorEvaluationContext, bunny: BunnyResource, sync_settings: SyncSettings
) -> dg.SensorResult | dg.SkipReason:
    cursor = Cursor.parse(context.cursor)
    known = context.instance.get_dynamic_partitions(INVOICE_PARTITIONS_NAME)
    with bunny.open() as client:
        found = discover_released_invoices(
            client,
            entity_id=bunny.entity_id,
            known_ids=known,
            cursor=cursor,
            overlap=timedelta(minutes=sync_settings.overlap_minutes),
            limit=sync_settings.max_invoices_per_tick,
            start_date=sync_settings.start_date(),
        )
    if found.rejected_keys:
        context.log.error("invoice ids that cannot be partition keys, not synced: %s", found.rejected_keys)
    if found.skipped_before_start:
        context.log.info("%d invoices issued before the sync start date were left alone", found.skipped_before_start)
    if not found.new_invoice_ids:
        return dg.SensorResult(
            cursor=found.cursor.serialize(),
            skip_reason=dg.SkipReason(f"no newly released invoices ({found.seen} postable seen in the window)"),
        )
    runs = [
        invoice_run_request(chunk, run_key=f"post:{chunk[0]}-{chunk[-1]}:{len(chunk)}")
        for chunk in batches(found.new_invoice_ids, sync_settings.batch_size)
    ]
    context.log.info("%d new invoices in %d runs", len(found.new_invoice_ids), len(runs))
    return dg.SensorResult(
        dynamic_partitions_requests=[bunny_invoices.build_add_request(found.new_invoice_ids)],
        run_requests=runs,
        cursor=found.cursor.serialize(),
    )
