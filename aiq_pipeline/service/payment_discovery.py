"""Finding the Bunny payments to post: what the payments sensor (and `aiq-pipeline sync`) asks Bunny for.

Like invoices, the cursor is a watermark on Bunny's `updatedAt`, read with an overlap. Only money received gets a
partition (SUCCEEDED, or DISPUTED after it succeeded): a pending payment is picked up when Bunny shows it succeeded,
a failed one never. The first-start rule holds: payments received before the sync start are not picked up.

Account credit Bunny applied to an invoice (`credits`) gets a partition of its own in the same asset,
`CREDIT-<invoice id>`, found from the invoices with credit applied updated in the same window (the sensor asks Bunny
for those only, `bunny.credited`, not for every invoice changed in the window).

A document is held back (in the cursor) while an invoice it settles is still being posted, so a burst does not
fill the exceptions list with documents that would only wait. One that already has a partition and changes again
in Bunny (a payment's leftover money applied to a later invoice, more credit applied) is run again: what AIQ
already holds is found, and only what is new is written. "Changed" is judged against the `updatedAt` last seen of
that document, kept in the cursor for the documents inside the overlap, not against the watermark: a change whose
`updatedAt` lags behind the watermark (within the overlap) is still a change.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from aiq_pipeline.bunny.models import Invoice, InvoiceRef, Payment
from aiq_pipeline.service.discovery import (
    InvoicePartitions,
    is_valid_partition_key,
    issued_in_scope,
    moment_text,
    next_reread_from,
    parse_moment,
    read_since,
)
from aiq_pipeline.sync.documents.invoice import SYNCED_INVOICE_STATES
from aiq_pipeline.sync.documents.payment import RECEIVED_STATES, applications
from aiq_pipeline.sync.identity import account_credit_key, payment_key


@dataclass(frozen=True)
class PaymentCursor:
    watermark: datetime | None = None
    deferred: dict[str, list[str]] = field(default_factory=dict)  # partition key -> invoice ids still being posted
    # partition key -> the `updatedAt` last seen, for the documents the next look reads again (inside the overlap);
    # None in a cursor written before it was kept (then a change is an `updatedAt` past the watermark)
    seen: dict[str, datetime] | None = None
    # The newest `updatedAt` seen in each list read (payments, credited invoices): where a read from the watermark
    # may stop paging (`BunnyClient.iter_payments`' `newest_known`).
    payments_newest: datetime | None = None
    credited_newest: datetime | None = None
    # Where the next look reads both lists again from, after a look from behind the sweep's window: a credited invoice
    # can leave `credits > 0` between two pages (see `discovery.Cursor`, `next_reread_from`).
    reread_from: datetime | None = None

    @classmethod
    def parse(cls, raw: str | None) -> PaymentCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        seen = data.get("seen")
        return cls(
            watermark=parse_moment(data.get("watermark")),
            deferred={k: list(v) for k, v in (data.get("deferred") or {}).items()},
            seen=None if seen is None else {k: datetime.fromisoformat(v) for k, v in seen.items()},
            payments_newest=parse_moment(data.get("payments_newest")),
            credited_newest=parse_moment(data.get("credited_newest")),
            reread_from=parse_moment(data.get("reread_from")),
        )

    def serialize(self) -> str:
        seen = {k: v.isoformat() for k, v in (self.seen or {}).items()}
        moments = {
            "watermark": moment_text(self.watermark),
            "payments_newest": moment_text(self.payments_newest),
            "credited_newest": moment_text(self.credited_newest),
            "reread_from": moment_text(self.reread_from),
        }
        return json.dumps({**moments, "deferred": self.deferred, "seen": seen})

    def since(self, since: datetime | None) -> datetime | None:
        return read_since(since, self.reread_from)

    def newest_known(self, newest: datetime | None) -> datetime | None:
        """Where a read of one list may stop paging: a reading again reads back to its start."""
        return None if self.reread_from is not None else newest

    def changed(self, key: str, updated_at: datetime) -> bool:
        """Whether a document that already has a partition changed since this cursor's look."""
        if self.watermark is None:
            return False  # the first look: nothing was seen before it
        if self.seen is None:
            return updated_at > self.watermark
        last = self.seen.get(key)
        # Not seen inside the overlap: it was older than the last look's window, and is now inside this one.
        return last is None or updated_at > last


@dataclass(frozen=True)
class PaymentDiscovery:
    new_keys: list[str]  # payments that get a partition now
    changed_keys: list[str]  # payments with a partition that changed in Bunny since the last look: run again
    cursor: PaymentCursor
    rejected_keys: list[str]  # ids that cannot be partition keys (reported, never silently dropped)
    skipped_before_start: int
    changed_at: dict[str, datetime] = field(default_factory=dict)  # changed key -> its `updatedAt` now

    @property
    def waiting(self) -> int:
        return len(self.cursor.deferred)


Found = dict[str, tuple[list[str], datetime]]  # partition key -> (the invoice ids it settles, its updatedAt)


def received_on(payment: Payment) -> date | None:
    moment = payment.received_at or payment.completed_at or payment.created_at
    return moment.date() if moment else None


def discover_payments(
    payments: Iterable[Payment],
    *,
    known_keys: Collection[str],
    invoices: InvoicePartitions,
    cursor: PaymentCursor,
    start_date: date | None = None,
    credited: Iterable[InvoiceRef] = (),
    overlap: timedelta = timedelta(0),
    coming: Collection[str] = (),
    since: datetime | None = None,
    paged: bool = False,
) -> PaymentDiscovery:
    """`credited`: invoices updated in the same window (those with account credit applied get a partition);
    `overlap`: how far behind the watermark the next look reads again (what `seen` keeps); `coming`: invoices without
    a partition yet that the invoices sensor will pick up (`coming_invoices`): a payment of one waits for it. A
    sensor's look (`paged`) from `since` that read from behind the next sweep asks the next look to read from its
    start again (`PaymentCursor.reread_from`)."""
    payments = sorted(payments, key=lambda p: (p.updated_at, p.id))
    refs = sorted(credited, key=lambda r: (r.updated_at, r.id))
    known = set(known_keys)
    found, skipped = _found(payments, refs, start_date)
    candidates = _candidates(found, known, cursor)
    new_keys, rejected, deferred = _ready(candidates, known, invoices, frozenset(coming))
    changed = {key: at for key, (_, at) in found.items() if key in known and cursor.changed(key, at)}
    payments_newest = _newest(cursor.payments_newest, (p.updated_at for p in payments))
    credited_newest = _newest(cursor.credited_newest, (r.updated_at for r in refs))
    watermark = _newest(cursor.watermark, filter(None, [payments_newest, credited_newest]))
    read = max(len(payments), len(refs))
    rereading = cursor.reread_from is not None
    reread = next_reread_from(
        since,
        watermark,
        read=read,
        paged=paged,
        sweep_window=overlap,
        last_watermark=cursor.watermark,
        rereading=rereading,
    )
    return PaymentDiscovery(
        new_keys=new_keys,
        changed_keys=list(changed),
        cursor=PaymentCursor(
            watermark=watermark,
            deferred=deferred,
            seen=_seen(cursor, found, watermark, overlap, reread),
            payments_newest=payments_newest,
            credited_newest=credited_newest,
            reread_from=reread,
        ),
        rejected_keys=rejected,
        skipped_before_start=skipped,
        changed_at=changed,
    )


def _found(payments: Iterable[Payment], refs: Iterable[InvoiceRef], start_date: date | None) -> tuple[Found, int]:
    """The payments received in scope and the invoices with account credit applied, by partition key; and how many
    received payments fell before the start."""
    received = [p for p in payments if p.processing_state in RECEIVED_STATES]
    in_scope = [p for p in received if issued_in_scope(received_on(p), start_date)]
    found: Found = {payment_key(p.id): (list(applications(p)), p.updated_at) for p in in_scope}
    for ref in refs:
        if (ref.credits or 0) > 0 and ref.state in SYNCED_INVOICE_STATES and issued_in_scope(ref.issued_at, start_date):
            found[account_credit_key(ref.id)] = ([ref.id], ref.updated_at)
    return found, len(received) - len(in_scope)


def _candidates(found: Found, known: Collection[str], cursor: PaymentCursor) -> dict[str, list[str]]:
    """What may get a partition: those still waiting, and those found without one."""
    return dict(cursor.deferred) | {key: ids for key, (ids, _) in found.items() if key not in known}


def _ready(
    candidates: dict[str, list[str]], known: set[str], invoices: InvoicePartitions, coming: frozenset[str]
) -> tuple[list[str], list[str], dict[str, list[str]]]:
    new_keys: list[str] = []
    rejected: list[str] = []
    deferred: dict[str, list[str]] = {}
    for key, invoice_ids in candidates.items():
        if key in known or key in new_keys:
            continue
        if not is_valid_partition_key(key):
            rejected.append(key)
        elif any(invoices.in_flight(invoice_id) or invoice_id in coming for invoice_id in invoice_ids):
            deferred[key] = invoice_ids
        else:
            new_keys.append(key)
    return new_keys, rejected, deferred


def unpartitioned_invoices(
    payments: Iterable[Payment],
    credited: Iterable[InvoiceRef],
    *,
    known_keys: Collection[str],
    cursor: PaymentCursor,
    invoices: InvoicePartitions,
    start_date: date | None,
) -> set[str]:
    """The invoices settled by what may get a partition (as `discover_payments` finds it) that have none either:
    the sensor asks Bunny which of them the invoices sensor will pick up (`coming_invoices`)."""
    found, _ = _found(payments, credited, start_date)
    candidates = _candidates(found, set(known_keys), cursor)
    return {i for ids in candidates.values() for i in ids} - invoices.known


def coming_invoices(found: Mapping[str, Invoice], entity_id: str, start_date: date | None) -> frozenset[str]:
    """Of `found` (invoices without a partition), those the invoices sensor picks up: released, of the entity, issued
    in scope, not merged into another. A payment of one waits until it is posted, instead of failing first with
    INVOICE_NOT_POSTED when a burst's payments are seen before its invoices; a payment of an invoice the sync never
    takes posts at once, and its INVOICE_NOT_POSTED is an exception a person sees."""
    return frozenset(
        invoice_id
        for invoice_id, invoice in found.items()
        if invoice.entity_id == entity_id
        and invoice.state in SYNCED_INVOICE_STATES
        and not invoice.merged_to_invoice_id
        and issued_in_scope(invoice.issued_at, start_date)
    )


def _newest(before: datetime | None, moments: Iterable[datetime]) -> datetime | None:
    return max(filter(None, [before, *moments]), default=None)


def _seen(
    cursor: PaymentCursor, found: Found, watermark: datetime | None, overlap: timedelta, reread: datetime | None
) -> dict[str, datetime]:
    """The `updatedAt` last seen of every document the next look reads again (at or after watermark - overlap, or
    `reread`, where it reads from again): one not kept would look changed, and run again."""
    if watermark is None:
        return {}
    seen = dict(cursor.seen or {})
    for key, (_, updated_at) in found.items():
        seen[key] = max(updated_at, seen.get(key, updated_at))
    horizon = read_since(watermark - overlap, reread)
    return {key: moment for key, moment in seen.items() if horizon is None or moment >= horizon}
