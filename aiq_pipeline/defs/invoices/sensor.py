"""The released-invoices sensor: one partition per newly released invoice, few runs per burst.

STOPPED by default, like Bunny's "automatically sync invoices" switch: turn it on once the ledger snapshot, financial
accounts and GL mapping are in place. Every tick it also marks dead runs failed (freeing their slots), and runs again
the invoices whose run died. It never touches the store.
"""

import dagster as dg

from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.first_start import switch_on
from aiq_pipeline.defs.posting.sensing import (
    begin_tick,
    document_sensor,
    new_document_runs,
    rerun_requests,
    sensor_result,
)
from aiq_pipeline.defs.resources import BunnyResource, SyncSettings
from aiq_pipeline.service.discovery import Cursor, discover_released_invoices


def released_invoices_sensor(names: PairNames, default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @document_sensor(
        names.invoices,
        default_status=default_status,
        description="Adds a partition per newly released Bunny invoice of the configured entity and posts them in "
        "batches; runs again the invoices whose run died.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, bunny: BunnyResource, sync_settings: SyncSettings
    ) -> dg.SensorResult:
        tick = begin_tick(context, names, sync_settings)
        instance, start = tick.instance, tick.start
        cursor = Cursor.parse(context.cursor)
        since = tick.since(cursor.watermark)
        if cursor.watermark is None and sync_settings.start_date() is None:
            # The looks start when the switch went on: by this machine's clock, not a Bunny stamp, so until Bunny's
            # first they read the sweep's window behind it.
            since = switch_on(instance, names) - tick.window
        known = instance.get_dynamic_partitions(names.invoices.partitions_name)
        with bunny.open() as client:
            found = discover_released_invoices(
                client,
                entity_id=bunny.entity_id,
                known_ids=known,
                cursor=cursor,
                since=since,
                limit=sync_settings.max_invoices_per_tick,
                start_date=start,
                paged=True,
                sweep_window=tick.window,
            )
        if found.rejected_keys:
            context.log.error("invoice ids that cannot be partition keys, not synced: %s", found.rejected_keys)
        runs = new_document_runs(names.invoices, found.new_invoice_ids, batch_size=sync_settings.batch_size, tag="post")
        runs += rerun_requests(instance, names.invoices, batch_size=sync_settings.batch_size, keys=known)
        summary = (
            f"{len(found.new_invoice_ids)} new invoice(s), {len(runs)} run(s); syncing invoices issued from {start}"
            f" ({found.skipped_before_start} earlier left alone); {tick.reaped} dead run(s) marked failed"
        )
        new, moved = found.new_invoice_ids, found.cursor.serialize()
        return sensor_result(context, tick, names.invoices, new_keys=new, runs=runs, cursor=moved, summary=summary)

    return _sensor
