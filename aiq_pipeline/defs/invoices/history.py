"""Backfilling history deliberately: partitions for every postable invoice issued in a date range.

The sensor never looks before the sync start date; this is how a team brings in older invoices on
purpose. Adding partitions is all the job does: posting them is an ordinary materialization (the CLI's
`aiq-pipeline backfill` posts them in process; in the UI, "Materialize > missing" on aiq/posted_invoices
launches a backfill that the daemon runs in bounded batches). The exactly-once rules apply as always, so
a range that overlaps what is already posted posts nothing twice.
"""

from collections.abc import Iterable
from datetime import date

import dagster as dg

from aiq_pipeline.bunny.models import InvoiceRef
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.resources import BunnyResource
from aiq_pipeline.service.discovery import is_valid_partition_key
from aiq_pipeline.sync.documents.invoice import SYNCED_INVOICE_STATES


def invoices_issued_between(refs: Iterable[InvoiceRef], first: date, last: date) -> list[str]:
    """Ids of postable invoices issued in [first, last], oldest first (the order they become partitions)."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    chosen = [
        r
        for r in refs
        if r.state in SYNCED_INVOICE_STATES
        and not r.merged_to_invoice_id
        and r.issued_at is not None
        and first <= r.issued_at <= last
    ]
    return [r.id for r in sorted(chosen, key=lambda r: (r.issued_at, r.id)) if is_valid_partition_key(r.id)]


def add_history_partitions(
    instance: dg.DagsterInstance, invoices: DocumentAsset, bunny: BunnyResource, first: date, last: date
) -> tuple[list[str], list[str]]:
    """Add partitions for the range; returns (ids in the range, ids that were new)."""
    with bunny.open() as client:
        ids = invoices_issued_between(
            client.iter_invoice_refs(bunny.entity_id, updated_since=None, states=SYNCED_INVOICE_STATES), first, last
        )
    known = set(instance.get_dynamic_partitions(invoices.partitions_name))
    new = [i for i in ids if i not in known]
    if new:
        instance.add_dynamic_partitions(invoices.partitions_name, new)
    return ids, new


class HistoryRange(dg.Config):
    from_date: str  # YYYY-MM-DD, inclusive
    to_date: str  # YYYY-MM-DD, inclusive


def add_invoice_history(names: PairNames) -> dg.JobDefinition:
    shown = names.invoices.key.to_user_string()

    @dg.op(description=f"Adds a partition of {shown} for every postable invoice issued in the range.")
    def add_invoice_history_partitions(
        context: dg.OpExecutionContext, config: HistoryRange, bunny: BunnyResource
    ) -> None:
        first, last = date.fromisoformat(config.from_date), date.fromisoformat(config.to_date)
        ids, new = add_history_partitions(context.instance, names.invoices, bunny, first, last)
        context.log.info(
            "%d postable invoice(s) issued %s..%s; %d new partition(s). Post them with Materialize > missing on "
            "%s, or `aiq-pipeline backfill`.",
            len(ids),
            config.from_date,
            config.to_date,
            len(new),
            shown,
        )

    @dg.job(description="Bring older invoices in on purpose: add their partitions (then materialize the missing ones).")
    def add_invoice_history() -> None:
        add_invoice_history_partitions()

    return add_invoice_history
