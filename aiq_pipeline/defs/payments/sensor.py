"""The payments sensor: a partition per Bunny payment received (`PAY-<id>`) and per invoice Bunny applied account
credit to (`CREDIT-<id>`), once the invoices they settle are no longer being posted (see
`service.payment_discovery`).

STOPPED by default like the other sensors. Every tick it also runs again the payments that changed in Bunny since
they were posted (a new application), those that waited for an invoice now posted, and those whose run died. It
never touches the store.
"""

from collections.abc import Callable

import dagster as dg

from aiq_pipeline.bunny.credited import iter_credited_invoice_refs
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.run_requests import contiguous_groups, document_run_request
from aiq_pipeline.defs.posting.sensing import (
    begin_tick,
    document_sensor,
    new_document_runs,
    rerun_requests,
    sensor_result,
)
from aiq_pipeline.defs.posting.status import DocumentException, invoice_partitions
from aiq_pipeline.defs.resources import BunnyResource, SyncSettings
from aiq_pipeline.service.discovery import InvoicePartitions
from aiq_pipeline.service.payment_discovery import (
    PaymentCursor,
    coming_invoices,
    discover_payments,
    unpartitioned_invoices,
)
from aiq_pipeline.sync.documents.plan import INVOICE_NOT_POSTED


def _invoices_posted_since(invoices: InvoicePartitions) -> Callable[[DocumentException], bool]:
    def ready(e: DocumentException) -> bool:
        waited_for = [i.strip() for i in (e.detail("invoice_ids") or "").split(",") if i.strip()]
        return e.reason_code == INVOICE_NOT_POSTED and bool(waited_for) and set(waited_for) <= invoices.posted

    return ready


def received_payments_sensor(names: PairNames, default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @document_sensor(
        names.payments,
        default_status=default_status,
        description="Adds a partition per Bunny payment received, and posts it as an AIQ receipt.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, bunny: BunnyResource, sync_settings: SyncSettings
    ) -> dg.SensorResult:
        tick = begin_tick(context, names, sync_settings)
        instance = tick.instance
        cursor = PaymentCursor.parse(context.cursor)
        invoices = invoice_partitions(instance, names.invoices)
        since = cursor.since(tick.since(cursor.watermark))
        known = instance.get_dynamic_partitions(names.payments.partitions_name)
        with bunny.open() as client:
            payments = list(
                client.iter_payments(
                    bunny.entity_id, updated_since=since, newest_known=cursor.newest_known(cursor.payments_newest)
                )
            )
            credited = list(
                iter_credited_invoice_refs(
                    client,
                    bunny.entity_id,
                    updated_since=since,
                    newest_known=cursor.newest_known(cursor.credited_newest),
                )
            )
            unknown = unpartitioned_invoices(
                payments, credited, known_keys=known, cursor=cursor, invoices=invoices, start_date=tick.start
            )
            coming = coming_invoices(client.get_invoices(unknown), bunny.entity_id, tick.start) if unknown else ()
        found = discover_payments(
            payments,
            known_keys=known,
            invoices=invoices,
            cursor=cursor,
            start_date=tick.start,
            credited=credited,
            overlap=tick.window,
            coming=coming,
            since=since,
            paged=True,
        )
        if found.rejected_keys:
            context.log.error("payment keys that cannot be partition keys, not synced: %s", found.rejected_keys)
        size = sync_settings.batch_size
        runs = new_document_runs(names.payments, found.new_keys, batch_size=size, tag="payment")
        # The run key names the change (the group's latest `updatedAt`), not the watermark: a change whose
        # `updatedAt` lags behind the watermark leaves the watermark where it was, and must still get its run.
        runs += [
            document_run_request(
                names.payments.key,
                group,
                run_key=f"changed:{group[0]}-{group[-1]}:{max(found.changed_at[k] for k in group).isoformat()}",
            )
            for group in contiguous_groups(found.changed_keys, known, size)
        ]
        ready = _invoices_posted_since(invoices)
        runs += rerun_requests(instance, names.payments, batch_size=size, also_ready=ready, keys=known)
        summary = (
            f"{len(found.new_keys)} new payment(s), {len(found.changed_keys)} changed, {len(runs)} run(s), "
            f"{found.waiting} waiting for their invoices"
        )
        return sensor_result(
            context,
            tick,
            names.payments,
            new_keys=found.new_keys,
            runs=runs,
            cursor=found.cursor.serialize(),
            summary=summary,
        )

    return _sensor
