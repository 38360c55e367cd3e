"""The entity's last N released invoices: what the money readings are judged on.

"Released" is any state an issued invoice can be in (posted or not: paid, due, voided, consolidated). The newest
are found through the light invoice references, over widening windows of `updatedAt` (an invoice is updated when
it is issued, so every invoice issued inside a window is in it): the last 31 days, then 366, then everything. Then
the chosen ones are read in full, in bulk by id. Nothing is written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.models import POSTABLE_INVOICE_STATES, Invoice, InvoiceRef

RELEASED_STATES: frozenset[str] = POSTABLE_INVOICE_STATES | {"VOIDED", "CONSOLIDATED", "MERGED"}
WINDOWS_DAYS: tuple[int | None, ...] = (31, 366, None)
DEFAULT_INVOICES = 200


def _newest_first(ref: InvoiceRef) -> tuple[date, int, str]:
    number = int(ref.id) if ref.id.isdigit() else -1
    return (ref.issued_at or date.min, number, ref.id)


def last_released_invoices(client: BunnyClient, entity_id: str, count: int, *, now: datetime) -> list[Invoice]:
    """The `count` most recently issued released invoices of the entity, newest first."""
    chosen: list[InvoiceRef] = []
    for days in WINDOWS_DAYS:
        since = now - timedelta(days=days) if days is not None else None
        refs = client.iter_invoice_refs(entity_id, updated_since=since, states=RELEASED_STATES)
        issued = [r for r in refs if since is None or (r.issued_at is not None and r.issued_at >= since.date())]
        if len(issued) >= count or since is None:
            chosen = sorted(issued, key=_newest_first, reverse=True)[:count]
            break
    found = client.get_invoices([r.id for r in chosen])
    return [found[r.id] for r in chosen if r.id in found]
