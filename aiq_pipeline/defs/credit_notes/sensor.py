"""The credit-notes sensor: a partition per issued Bunny credit note (`CN-<id>`) and per invoice voided after it was
posted (`VOID-<id>`), once its invoice's partition is no longer in flight (see `service.discovery`).

STOPPED by default like the invoice sensor. Every tick it also runs again, once, the credit notes that waited for
their invoice (INVOICE_NOT_POSTED) now that the invoice is posted, and those whose run died. It never touches the
store.
"""

import dagster as dg

from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.sensing import (
    begin_tick,
    document_sensor,
    new_document_runs,
    rerun_requests,
    sensor_result,
)
from aiq_pipeline.defs.posting.status import DocumentException, invoice_partitions
from aiq_pipeline.defs.resources import BunnyResource, SyncSettings
from aiq_pipeline.service.discovery import CreditCursor, discover_credit_notes
from aiq_pipeline.sync.documents.plan import INVOICE_NOT_POSTED


def released_credit_notes_sensor(names: PairNames, default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @document_sensor(
        names.credit_notes,
        default_status=default_status,
        description="Adds a partition per issued Bunny credit note and per voided posted invoice, and posts them.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, bunny: BunnyResource, sync_settings: SyncSettings
    ) -> dg.SensorResult:
        tick = begin_tick(context, names, sync_settings)
        instance = tick.instance
        cursor = CreditCursor.parse(context.cursor)
        invoices = invoice_partitions(instance, names.invoices)
        with bunny.open() as client:
            notes_since = tick.since(cursor.notes_watermark)
            notes = list(
                client.iter_credit_notes(
                    bunny.entity_id, updated_since=notes_since, newest_known=cursor.notes_watermark
                )
            )
            void_since = tick.since(cursor.voids_watermark)
            voided = list(
                client.iter_invoice_refs(
                    bunny.entity_id, updated_since=void_since, states=["VOIDED"], newest_known=cursor.voids_watermark
                )
            )
        found = discover_credit_notes(
            notes,
            voided,
            known_keys=instance.get_dynamic_partitions(names.credit_notes.partitions_name),
            invoices=invoices,
            cursor=cursor,
            start_date=tick.start,
        )
        if found.rejected_keys:
            context.log.error("credit note keys that cannot be partition keys, not synced: %s", found.rejected_keys)

        def invoice_posted_since(e: DocumentException) -> bool:
            return e.reason_code == INVOICE_NOT_POSTED and e.detail("credited_invoice_id") in invoices.posted

        runs = new_document_runs(names.credit_notes, found.new_keys, batch_size=sync_settings.batch_size, tag="credit")
        runs += rerun_requests(
            instance, names.credit_notes, batch_size=sync_settings.batch_size, also_ready=invoice_posted_since
        )
        summary = f"{len(found.new_keys)} new credit note/void key(s), {len(runs)} run(s), {found.waiting} waiting"
        return sensor_result(
            context,
            tick,
            names.credit_notes,
            new_keys=found.new_keys,
            runs=runs,
            cursor=found.cursor.serialize(),
            summary=summary,
        )

    return _sensor
