"""One page of invoices under a given `filter:` string: how `doctor --probe` learns which filters a tenant accepts.

The client's own reads fall back to simpler filters when Bunny refuses one (`BunnyClient._iter_filtered`) and
remember the level quietly; this read does not fall back, so the caller sees the tenant's answer to each filter.
It reads the light invoice references only (the sensor's query), one page: a harmless read.
"""

from __future__ import annotations

from aiq_pipeline.bunny import decoding, documents
from aiq_pipeline.bunny.client import MAX_PAGE_SIZE, BunnyClient
from aiq_pipeline.bunny.errors import BunnyFilterRejectedError, BunnyQueryError
from aiq_pipeline.bunny.models import InvoiceRef


def invoice_refs_under(client: BunnyClient, filter_text: str, *, first: int = MAX_PAGE_SIZE) -> list[InvoiceRef] | None:
    """The first page (up to `first`) of invoices `filter_text` selects, or None when Bunny refuses the filter."""
    document = documents.INVOICE_REFS
    try:
        # The client's plumbing, from inside its package: one page, no fallback to a simpler filter.
        data = client._query(document, {"filter": filter_text, "first": first, "after": None})
    except BunnyFilterRejectedError:
        return None
    connection = data.get(document.root)
    if not isinstance(connection, dict):
        raise BunnyQueryError(f"{document.root} answered null", operation=document.operation)
    return [decoding.invoice_ref(node) for node in connection.get("nodes") or () if node is not None]
