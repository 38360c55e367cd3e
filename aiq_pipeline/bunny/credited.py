"""Invoices with credit applied (`credits > 0`) changed since a moment: the read that finds account credit without
paging through every invoice changed in the window.

`iter_invoice_refs` pages through every invoice updated since the moment (the server's bound widened by the
client's `filter_time_margin`, 14 h by default), so reading it on every tick of a sensor re-reads a whole billing
day. Only the few invoices carrying credit are wanted here, so the server is asked for them:
`entityId = '…' and updatedAt is on or after '…' and credits > 0`.

Whether Bunny's `filter:` accepts `credits` (a `Float` field of `Invoice`) is UNVERIFIED: the documented grammar
compares numbers with `>` (api-notes §3.2), but no source shows `credits` filtered. On `Malformed filter` the read
falls back to the filters `iter_invoice_refs` sends (the entity's invoices changed since the moment, then the
entity's, then none) and keeps the credited ones itself, so the answer is the same either way, only dearer (the
Bunny emulator's `credits_filter` option plays both readings; the payments sensor is tested under each). The
accepted level is remembered per client under this read's own operation name (`CreditedInvoiceRefs`), apart from
the plain references'.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from aiq_pipeline.bunny import decoding, filters
from aiq_pipeline.bunny.client import BunnyClient
from aiq_pipeline.bunny.documents import INVOICE_REFS, Document
from aiq_pipeline.bunny.models import InvoiceRef

# The light references' query under an operation name of its own, so its filter fallbacks are remembered apart.
CREDITED_INVOICE_REFS = Document(
    operation="CreditedInvoiceRefs",
    root="invoices",
    text=INVOICE_REFS.text.replace("query InvoiceRefs(", "query CreditedInvoiceRefs(", 1),
)
CREDITED = "credits > 0"  # a number, unquoted, as the documented grammar compares numbers


def iter_credited_invoice_refs(
    client: BunnyClient, entity_id: str, *, updated_since: datetime | None, newest_known: datetime | None = None
) -> Iterator[InvoiceRef]:
    """The entity's invoices updated at or after `updated_since` whose `credits` is above zero, each once; newest
    first since a moment, as `iter_invoice_refs` (`newest_known` likewise)."""
    plain = client._invoice_filters(entity_id, updated_since, None)  # the client's plumbing, from inside its package
    narrowed = [filters.all_of(plain[0], CREDITED), *plain]
    seen: set[str] = set()
    for node in client._iter_newest_first(CREDITED_INVOICE_REFS, narrowed, updated_since, newest_known):
        ref = decoding.invoice_ref(node)
        if (
            ref.id not in seen
            and ref.entity_id == entity_id
            and (updated_since is None or ref.updated_at >= updated_since)
            and (ref.credits or 0) > 0
        ):
            seen.add(ref.id)
            yield ref
