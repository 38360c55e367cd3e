"""Finding the Bunny documents to post: what every sensor (and `aiq-pipeline sync`) asks Bunny for.

The cursor is a watermark on Bunny's `updatedAt`. A tick reads from it on; every few minutes a sweep reads the window
behind it again (`defs/posting/sensing.Tick`), so a document whose update became visible late is not missed.
Documents that already have a partition are dropped by comparing sets, so none is asked for twice. A look costs what
changed since where it starts: the client asks Bunny for invoices newest first and stops paging there (once Bunny
showed it sorts; `BunnyClient.iter_invoice_refs`), not at the 14 h its server-side filter is widened by; read from the
watermark, it stops at the first page that reaches it. So a quiet tick reads one page, and only a sweep re-reads a
burst stamped in one second.

The first start: without a configured start date, the sync starts from the moment it was first switched on, like
Bunny's own switch ("sync invoices released after it is turned on"): documents issued before that day are never
picked up, and the first look starts at that moment. History comes in only through a deliberate backfill.

Credit notes and voids depend on their invoice's partition: a credit note is added once its invoice's partition is
no longer in flight (posted, failed or absent: it then posts or waits visibly as INVOICE_NOT_POSTED); a void is
added once the invoice's partition finished posting (one with no partition was voided before the sync saw it and
never reaches AIQ). Documents deferred for that reason live in the cursor; a lost cursor rescans Bunny, which finds
them again, so nothing is lost with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from aiq_pipeline.bunny.models import CreditNote, InvoiceRef
from aiq_pipeline.sync.documents.credit_note import ISSUED_CREDIT_NOTE_STATES
from aiq_pipeline.sync.documents.invoice import SYNCED_INVOICE_STATES
from aiq_pipeline.sync.identity import credit_note_key, void_key

# Dagster refuses `...` and control characters in partition keys; commas break the UI's backfills.
_BAD_KEY = re.compile(r"[,\x00-\x1f\x7f]|\.\.\.")


def is_valid_partition_key(key: str) -> bool:
    return bool(key) and not _BAD_KEY.search(key)


class InvoiceRefSource(Protocol):
    def iter_invoice_refs(
        self,
        entity_id: str,
        *,
        updated_since: datetime | None,
        states: Collection[str] | None = None,
        newest_known: datetime | None = None,
    ) -> Iterable[InvoiceRef]: ...


def parse_moment(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def moment_text(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class Cursor:
    watermark: datetime | None = None
    resume: bool = False  # the look stopped at its cap, inside the watermark's moment: the next reads all of that
    # Where a look from behind the sweeps' reach started: the next look reads from there again (`next_reread_from`).
    # Whether Bunny's cursors are positions (graphql-ruby's default, the emulator's) is UNVERIFIED; if they are, an
    # invoice read on one page that leaves the list (voided) before the next page is asked for moves every later row
    # up one place, and the next page's first row is never seen. With cursors that hold their place, the read again
    # costs only its requests.
    reread_from: datetime | None = None

    @classmethod
    def parse(cls, raw: str | None) -> Cursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            watermark=parse_moment(data.get("watermark")),
            resume=bool(data.get("resume")),
            reread_from=parse_moment(data.get("reread_from")),
        )

    def serialize(self) -> str:
        return json.dumps(
            {
                "watermark": moment_text(self.watermark),
                "resume": self.resume,
                "reread_from": moment_text(self.reread_from),
            }
        )

    def since(self, since: datetime | None) -> datetime | None:
        return read_since(since, self.reread_from)


def read_since(since: datetime | None, reread_from: datetime | None) -> datetime | None:
    """Where a look reads from: `since`, or earlier where the last look asked for a reading again (`reread_from`)."""
    if reread_from is None or since is None:
        return since
    return min(since, reread_from)


def next_reread_from(
    since: datetime | None,
    watermark: datetime | None,
    *,
    read: int,
    paged: bool,
    sweep_window: timedelta | None,
    last_watermark: datetime | None,
    rereading: bool,
) -> datetime | None:
    """Where the next look reads again from (a cursor's `reread_from`, see `Cursor`): where this look (a sensor's,
    `paged`) first read what it read once only (`since`; for a reading again, the last look's watermark), when that
    lies further back than the next sweep reads (`sweep_window` behind the new `watermark`) and the look read anything
    (`read` rows). Not only a look of more than a page of rows: Bunny's pages also carry rows the client drops (its
    filter's margin, other states), so the rows kept do not tell how many pages it served. A reading again that found
    nothing newer asks for none."""
    first = last_watermark if rereading else since
    behind_sweep = first is not None and watermark is not None and first < watermark - (sweep_window or timedelta(0))
    return first if paged and read > 0 and behind_sweep else None


def issued_in_scope(issued_at: date | None, start_date: date | None) -> bool:
    return start_date is None or (issued_at is not None and issued_at >= start_date)


# -- invoices ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discovery:
    new_invoice_ids: list[str]  # in the order they should become partitions (oldest update first)
    cursor: Cursor
    seen: int  # postable invoices Bunny returned in the window
    skipped_before_start: int  # issued before the sync start date: never picked up
    rejected_keys: list[str]  # ids that cannot be partition keys (reported, never silently dropped)
    more_pending: bool  # the per-look cap was reached; the next look continues


def discover_released_invoices(
    source: InvoiceRefSource,
    *,
    entity_id: str,
    known_ids: Collection[str],
    cursor: Cursor,
    since: datetime | None,
    limit: int,
    start_date: date | None = None,
    paged: bool = False,
    sweep_window: timedelta | None = None,
) -> Discovery:
    """The invoices released since `since` (None: all) that have no partition yet, at most `limit` of them. A
    sensor's look (`paged`) that reads from further back than the next sweep reads (`sweep_window` behind the new
    watermark) asks the next look to read from its start again (`Cursor.reread_from`)."""
    rereading = cursor.reread_from is not None
    since = cursor.since(since)
    refs = list(
        source.iter_invoice_refs(
            entity_id,
            updated_since=since,
            states=SYNCED_INVOICE_STATES,
            newest_known=None if cursor.resume or rereading else cursor.watermark,
        )
    )
    # The server filters on state where it can; check again so a lenient server cannot widen the set. A component
    # of a consolidated invoice is billed again on the combined one: it is never picked up.
    refs = [r for r in refs if r.state in SYNCED_INVOICE_STATES and not r.merged_to_invoice_id]
    eligible = [r for r in refs if issued_in_scope(r.issued_at, start_date)]
    known = set(known_ids)
    fresh: dict[str, InvoiceRef] = {}
    for ref in sorted(eligible, key=lambda r: (r.updated_at, r.id)):
        if ref.id not in known:
            fresh.setdefault(ref.id, ref)
    ordered = [r for r in fresh.values() if is_valid_partition_key(r.id)]
    taken = ordered[:limit]
    more = len(ordered) > limit
    watermark: datetime | None
    if more:
        # Resume from the last invoice taken, its moment included; the set check drops what was taken.
        watermark = taken[-1].updated_at
    else:
        watermark = max(filter(None, [cursor.watermark, *(r.updated_at for r in refs)]), default=None)
    # Only a look that took all it found: one stopped at its cap goes on from its last invoice (`resume`).
    reread = None
    if not more:
        reread = next_reread_from(
            since,
            watermark,
            read=len(refs),
            paged=paged,
            sweep_window=sweep_window,
            last_watermark=cursor.watermark,
            rereading=rereading,
        )
    return Discovery(
        new_invoice_ids=[r.id for r in taken],
        cursor=Cursor(watermark=watermark, resume=more, reread_from=reread),
        seen=len(refs),
        skipped_before_start=len(refs) - len(eligible),
        rejected_keys=[i for i in fresh if not is_valid_partition_key(i)],
        more_pending=more,
    )


# -- credit notes and voids ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditCursor:
    notes_watermark: datetime | None = None
    voids_watermark: datetime | None = None
    deferred_notes: dict[str, str] = field(default_factory=dict)  # credit note id -> credited invoice id
    deferred_voids: list[str] = field(default_factory=list)  # voided invoice ids

    @classmethod
    def parse(cls, raw: str | None) -> CreditCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            notes_watermark=parse_moment(data.get("notes_watermark")),
            voids_watermark=parse_moment(data.get("voids_watermark")),
            deferred_notes=dict(data.get("deferred_notes") or {}),
            deferred_voids=list(data.get("deferred_voids") or []),
        )

    def serialize(self) -> str:
        return json.dumps(
            {
                "notes_watermark": moment_text(self.notes_watermark),
                "voids_watermark": moment_text(self.voids_watermark),
                "deferred_notes": self.deferred_notes,
                "deferred_voids": self.deferred_voids,
            }
        )


@dataclass(frozen=True)
class InvoicePartitions:
    """What the invoice partitions say, as the credit-note discovery needs it."""

    known: frozenset[str]  # invoice ids that have a partition
    posted: frozenset[str]  # ... whose partition is MATERIALIZED (posted, already posted or skipped)
    failed: frozenset[str]  # ... whose partition is FAILED

    def in_flight(self, invoice_id: str) -> bool:
        return invoice_id in self.known and invoice_id not in self.posted and invoice_id not in self.failed


@dataclass(frozen=True)
class CreditDiscovery:
    new_keys: list[str]
    cursor: CreditCursor
    rejected_keys: list[str]

    @property
    def waiting(self) -> int:
        return len(self.cursor.deferred_notes) + len(self.cursor.deferred_voids)


def discover_credit_notes(
    notes: Iterable[CreditNote],
    voided: Iterable[InvoiceRef],
    *,
    known_keys: Collection[str],
    invoices: InvoicePartitions,
    cursor: CreditCursor,
    start_date: date | None = None,
) -> CreditDiscovery:
    notes, voided = list(notes), list(voided)
    known = set(known_keys)
    new_keys: list[str] = []
    rejected: list[str] = []
    deferred_notes = _credit_note_keys(notes, known, invoices, cursor, start_date, new_keys, rejected)
    deferred_voids = _void_keys(voided, known, invoices, cursor, new_keys)
    next_cursor = CreditCursor(
        notes_watermark=max(filter(None, [cursor.notes_watermark, *(n.updated_at for n in notes)]), default=None),
        voids_watermark=max(filter(None, [cursor.voids_watermark, *(r.updated_at for r in voided)]), default=None),
        deferred_notes=deferred_notes,
        deferred_voids=deferred_voids,
    )
    return CreditDiscovery(new_keys, next_cursor, rejected)


def _credit_note_keys(
    notes: list[CreditNote],
    known: set[str],
    invoices: InvoicePartitions,
    cursor: CreditCursor,
    start_date: date | None,
    new_keys: list[str],
    rejected: list[str],
) -> dict[str, str]:
    """Adds the credit notes ready to post to `new_keys`; returns those deferred while their invoice posts."""
    candidates = dict(cursor.deferred_notes)
    for note in sorted(notes, key=lambda n: (n.updated_at, n.id)):
        ready = note.state in ISSUED_CREDIT_NOTE_STATES and issued_in_scope(note.issued_at, start_date)
        if ready and credit_note_key(note.id) not in known:
            candidates.setdefault(note.id, note.credited_invoice_id or "")
    deferred: dict[str, str] = {}
    for note_id, invoice_id in candidates.items():
        key = credit_note_key(note_id)
        if key in known or key in new_keys:
            continue
        if not is_valid_partition_key(key):
            rejected.append(key)
        elif invoice_id and invoices.in_flight(invoice_id):
            deferred[note_id] = invoice_id
        else:
            new_keys.append(key)
    return deferred


def _void_keys(
    voided: list[InvoiceRef], known: set[str], invoices: InvoicePartitions, cursor: CreditCursor, new_keys: list[str]
) -> list[str]:
    """Adds the voids whose invoice partition finished posting to `new_keys`; returns those still deferred."""
    deferred: list[str] = []
    ids = list(dict.fromkeys([*cursor.deferred_voids, *(r.id for r in voided if r.state == "VOIDED")]))
    for invoice_id in ids:
        key = void_key(invoice_id)
        if key in known or key in new_keys or invoice_id not in invoices.known:
            continue  # no invoice partition: voided before the sync saw it, never posted
        if invoice_id in invoices.posted:
            if is_valid_partition_key(key):
                new_keys.append(key)
        else:
            deferred.append(invoice_id)
    return deferred
