"""Finding newly released Bunny invoices: what the sensor (and `aiq-pipeline sync`) asks Bunny for.

The cursor is a watermark on Bunny's `updatedAt`. Each look re-reads a little behind it (the overlap),
so an invoice updated while the previous look was paging is not missed; invoices that already have a
partition are dropped by comparing sets, so none is asked for twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from aiq_pipeline.bunny.models import POSTABLE_INVOICE_STATES, InvoiceRef

# Dagster refuses `...` and control characters in partition keys; commas break the UI's backfills.
_BAD_KEY = re.compile(r"[,\x00-\x1f\x7f]|\.\.\.")


def is_valid_partition_key(key: str) -> bool:
    return bool(key) and not _BAD_KEY.search(key)


class InvoiceRefSource(Protocol):
    def iter_invoice_refs(
        self, entity_id: str, *, updated_since: datetime | None, states: Collection[str] | None = None
    ) -> Iterable[InvoiceRef]: ...


@dataclass(frozen=True)
class Cursor:
    watermark: datetime | None = None

    @classmethod
    def parse(cls, raw: str | None) -> Cursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(watermark=datetime.fromisoformat(data["watermark"]) if data.get("watermark") else None)

    def serialize(self) -> str:
        return json.dumps({"watermark": self.watermark.isoformat() if self.watermark else None})


@dataclass(frozen=True)
class Discovery:
    new_invoice_ids: list[str]  # in the order they should become partitions (oldest update first)
    cursor: Cursor
    seen: int  # postable invoices Bunny returned in the window
    skipped_before_start: int  # released before the sync start date: never picked up
    rejected_keys: list[str]  # ids that cannot be partition keys (reported, never silently dropped)
    more_pending: bool  # the per-look cap was reached; the next look continues


def discover_released_invoices(
    source: InvoiceRefSource,
    *,
    entity_id: str,
    known_ids: Collection[str],
    cursor: Cursor,
    overlap: timedelta,
    limit: int,
    start_date: date | None = None,
) -> Discovery:
    since = cursor.watermark - overlap if cursor.watermark else None
    refs = list(source.iter_invoice_refs(entity_id, updated_since=since, states=POSTABLE_INVOICE_STATES))
    # The server filters on state where it can; check again so a lenient server cannot widen the set.
    refs = [r for r in refs if r.state in POSTABLE_INVOICE_STATES]
    before_start = [r for r in refs if start_date and (r.issued_at is None or r.issued_at < start_date)]
    eligible = [r for r in refs if not (start_date and (r.issued_at is None or r.issued_at < start_date))]

    known = set(known_ids)
    fresh: dict[str, InvoiceRef] = {}
    for ref in sorted(eligible, key=lambda r: (r.updated_at, r.id)):
        if ref.id not in known:
            fresh.setdefault(ref.id, ref)
    rejected = [i for i in fresh if not is_valid_partition_key(i)]
    ordered = [r for r in fresh.values() if is_valid_partition_key(r.id)]
    taken = ordered[:limit]
    more = len(ordered) > limit

    if more:
        # Resume from the last invoice taken; the overlap re-reads its neighbours, the set check drops them.
        watermark = taken[-1].updated_at
    else:
        latest = max((r.updated_at for r in refs), default=None)
        watermark = max(filter(None, [cursor.watermark, latest]), default=None)
    return Discovery(
        new_invoice_ids=[r.id for r in taken],
        cursor=Cursor(watermark=watermark),
        seen=len(refs),
        skipped_before_start=len(before_start),
        rejected_keys=rejected,
        more_pending=more,
    )


def batches(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
