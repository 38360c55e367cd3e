"""The posting journal: the record exactly-once rests on (AIQ has no idempotency key, and whether its reference
look-up shows a new document at once is unverified, so the product must not depend on it).

- **Claims.** A document (a partition key, e.g. one Bunny invoice) is claimed before anything is written for it.
  The claim is one row per key, taken in one transaction: a PostgreSQL row lock (`SELECT ... FOR UPDATE`) in
  production; on DuckDB the file admits one process at a time, which serialises the same statements. A claim
  held by a live owner is refused to everyone else; one whose lease ran out, or whose process is known to be
  gone, is taken over.
- **Writes.** Every AIQ write (a document, an allocation, a customer) has a journal row keyed by its reference.
  Before the request leaves, the row moves to `sending` (write-ahead, and only while the writer still holds the
  document's claim); AIQ's id is recorded the moment AIQ returns it (`posted`). A row that is `posted` is never
  written again. A row left in `sending` (the writer died, or the answer never came) or `unknown` (looked for
  until the deadline, not found) is resolved by looking in AIQ, never by writing on a guess.
- **Outcomes.** Each document's latest outcome, for finance to query (`posting_outcomes`).

Callers pass a `Session` (one held connection per batch); every method here is one short transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from aiq_pipeline.store.database import Session, utcnow
from aiq_pipeline.store.schema import OUTCOME_COLUMNS


class WriteState(StrEnum):
    SENDING = "sending"  # the request was (about to be) sent; no answer recorded yet
    POSTED = "posted"  # AIQ holds it; `aiq_id` says which
    REJECTED = "rejected"  # AIQ answered and wrote nothing (validation, throttling): may be written again
    UNKNOWN = "unknown"  # sent, no answer, not found by looking until the deadline: a person decides


class FoundBy(StrEnum):
    ANSWER = "answer"  # AIQ's answer to the write carried the id
    LOOKUP = "lookup"  # found in AIQ by its reference (before writing, or after an unknown outcome)
    DUPLICATE = "duplicate_reference"  # AIQ refused a second document with this reference, then we found it


class ClaimLost(Exception):
    """The writer no longer holds the document's claim (it expired and another runner took it): do not write."""


@dataclass(frozen=True)
class ClaimHolder:
    """Who holds a claim another runner asked for."""

    key: str
    owner: str  # the run id
    process: str | None  # host/pid/start of the process, when known
    claimed_at: datetime | None
    lease_until: datetime | None


@dataclass(frozen=True)
class PlannedWrite:
    """What is about to be written to AIQ, as the journal records it."""

    reference: str
    claim_key: str
    kind: str  # invoice | credit_note | void | payment | allocation | customer
    target: str  # what AIQ receives: SI, SN, SR, ALLOCATION, CUSTOMER
    currency: str | None = None
    net: Decimal | None = None
    tax: Decimal | None = None
    gross: Decimal | None = None
    summary: str | None = None  # what was sent, in words (date, customer, amounts): shown when the outcome is unknown
    document: str | None = None  # the planned document as JSON: what a reversal mirrors


@dataclass(frozen=True)
class JournalEntry:
    reference: str
    claim_key: str
    kind: str
    target: str
    state: WriteState
    aiq_id: int | None
    found_by: str | None
    attempts: int
    sent_at: datetime | None
    sent_by: str | None
    recorded_at: datetime | None
    lookup_lag_seconds: Decimal | None
    currency: str | None
    net: Decimal | None
    tax: Decimal | None
    gross: Decimal | None
    sent_summary: str | None
    document: str | None
    last_error: str | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JournalEntry:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["state"] = WriteState(values["state"])
        return cls(**values)


@dataclass(frozen=True)
class OutcomeRecord:
    """One document's latest outcome (a row of `posting_outcomes`)."""

    claim_key: str
    kind: str
    outcome: str
    source_id: str | None = None
    number: str | None = None
    customer_code: str | None = None
    external_reference: str | None = None
    aiq_transaction_id: int | None = None
    currency: str | None = None
    net: Decimal | None = None
    tax: Decimal | None = None
    gross: Decimal | None = None
    aiq_gross: Decimal | None = None
    reason_code: str | None = None
    reason: str | None = None
    fix: str | None = None
    retryable: bool | None = None
    posted_at: datetime | None = None
    run_id: str | None = None


_JOURNAL_COLUMNS = ", ".join(f.name for f in fields(JournalEntry))


class PostingJournal:
    """The journal of one AIQ entity, over an open `Session`."""

    def __init__(self, session: Session, entity_id: str, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.entity_id = entity_id
        self._clock = clock
        self._lock = " FOR UPDATE" if session.is_postgres else ""

    # -- claims ----------------------------------------------------------------------------------

    def claim(
        self, key: str, owner: str, *, process: str, lease: timedelta, is_dead: Callable[[str], bool]
    ) -> ClaimHolder | None:
        """Claim `key` for `owner` (a run id). None when the claim is ours now; else who holds it.

        A claim is ours when nobody holds it, we already do, its lease ran out, or `is_dead(process)` says the
        holder's process is gone.
        """
        now = self._clock()
        with self.session.transaction() as conn:
            conn.execute(
                "INSERT INTO posting_claims (entity_id, claim_key) VALUES (?, ?) "
                "ON CONFLICT (entity_id, claim_key) DO NOTHING",
                [self.entity_id, key],
            )
            row = _one(
                conn.execute(
                    "SELECT owner, owner_process, claimed_at, lease_until FROM posting_claims "
                    f"WHERE entity_id = ? AND claim_key = ?{self._lock}",
                    [self.entity_id, key],
                )
            )
            holder = ClaimHolder(key, row["owner"], row["owner_process"], row["claimed_at"], row["lease_until"])
            free = (
                holder.owner is None
                or holder.owner == owner
                or (holder.lease_until is not None and holder.lease_until <= now)
                or (holder.process is not None and is_dead(holder.process))
            )
            if not free:
                return holder
            conn.execute(
                "UPDATE posting_claims SET owner = ?, owner_process = ?, claimed_at = ?, lease_until = ? "
                "WHERE entity_id = ? AND claim_key = ?",
                [owner, process, now, now + lease, self.entity_id, key],
            )
        return None

    def release(self, key: str, owner: str) -> None:
        """Give up `owner`'s claim on `key` (a claim someone else took over is left alone)."""
        self.session.execute(
            "UPDATE posting_claims SET owner = NULL, owner_process = NULL, lease_until = NULL "
            "WHERE entity_id = ? AND claim_key = ? AND owner = ?",
            [self.entity_id, key, owner],
        )

    def release_owner(self, owner: str) -> int:
        """Release every claim of `owner` (a run found dead); returns how many it held."""
        held = self.session.query(
            "SELECT COUNT(*) AS n FROM posting_claims WHERE entity_id = ? AND owner = ?", [self.entity_id, owner]
        )[0]["n"]
        self.session.execute(
            "UPDATE posting_claims SET owner = NULL, owner_process = NULL, lease_until = NULL "
            "WHERE entity_id = ? AND owner = ?",
            [self.entity_id, owner],
        )
        return int(held)

    def holder(self, key: str) -> ClaimHolder | None:
        rows = self.session.query(
            "SELECT owner, owner_process, claimed_at, lease_until FROM posting_claims "
            "WHERE entity_id = ? AND claim_key = ? AND owner IS NOT NULL",
            [self.entity_id, key],
        )
        if not rows:
            return None
        row = rows[0]
        return ClaimHolder(key, row["owner"], row["owner_process"], row["claimed_at"], row["lease_until"])

    # -- writes ----------------------------------------------------------------------------------

    def entry(self, reference: str) -> JournalEntry | None:
        rows = self.session.query(
            f"SELECT {_JOURNAL_COLUMNS} FROM posting_journal WHERE entity_id = ? AND reference = ?",
            [self.entity_id, reference],
        )
        return JournalEntry.from_row(rows[0]) if rows else None

    def entries(self, claim_keys: Sequence[str] | None = None) -> list[JournalEntry]:
        """Every journal row (of these documents), oldest first."""
        where, params = "entity_id = ?", [self.entity_id]
        if claim_keys is not None:
            if not claim_keys:
                return []
            where += f" AND claim_key IN ({', '.join('?' * len(claim_keys))})"
            params += list(claim_keys)
        rows = self.session.query(
            f"SELECT {_JOURNAL_COLUMNS} FROM posting_journal WHERE {where} ORDER BY updated_at, reference", params
        )
        return [JournalEntry.from_row(row) for row in rows]

    def begin_write(self, write: PlannedWrite, owner: str) -> JournalEntry:
        """Move `write` to `sending` before its request leaves; raises ClaimLost unless `owner` holds the claim.

        Refuses (ValueError) a write whose row is already `posted`: that document must never be written again.
        """
        now = self._clock()
        with self.session.transaction() as conn:
            row = _maybe_one(
                conn.execute(
                    f"SELECT owner FROM posting_claims WHERE entity_id = ? AND claim_key = ?{self._lock}",
                    [self.entity_id, write.claim_key],
                )
            )
            if row is None or row["owner"] != owner:
                raise ClaimLost(f"{write.claim_key} is no longer claimed by run {owner}")
            current = self._entry_in(conn, write.reference)
            if current is not None and current.state == WriteState.POSTED:
                raise ValueError(f"{write.reference} is already posted as AIQ {current.aiq_id}: never written again")
            self._upsert(conn, write, state=WriteState.SENDING, attempts_delta=1, sent_at=now, sent_by=owner)
            entry = self._entry_in(conn, write.reference)
        assert entry is not None
        return entry

    def record_posted(
        self,
        write: PlannedWrite,
        aiq_id: int,
        *,
        found_by: FoundBy,
        lookup_lag: timedelta | None = None,
    ) -> None:
        """AIQ holds `write` as `aiq_id`: recorded at once, and final."""
        now = self._clock()
        lag = Decimal(str(round(lookup_lag.total_seconds(), 3))) if lookup_lag is not None else None
        with self.session.transaction() as conn:
            self._upsert(conn, write, state=WriteState.POSTED, attempts_delta=0)
            conn.execute(
                "UPDATE posting_journal SET aiq_id = ?, found_by = ?, recorded_at = ?, lookup_lag_seconds = ?, "
                "last_error = NULL WHERE entity_id = ? AND reference = ?",
                [aiq_id, str(found_by), now, lag, self.entity_id, write.reference],
            )

    def record_lookup_lag(self, reference: str, lag: timedelta) -> None:
        """How long after it was sent AIQ's look-up first showed a posted document (kept once, the first look)."""
        seconds = Decimal(str(round(max(lag.total_seconds(), 0.0), 3)))
        with self.session.transaction() as conn:
            conn.execute(
                "UPDATE posting_journal SET lookup_lag_seconds = ? "
                "WHERE entity_id = ? AND reference = ? AND lookup_lag_seconds IS NULL",
                [seconds, self.entity_id, reference],
            )

    def recent_lookup_lags(self, limit: int = 200) -> list[Decimal]:
        """The newest measured look-up lags (seconds), newest first."""
        rows = self.session.query(
            "SELECT lookup_lag_seconds FROM posting_journal WHERE entity_id = ? AND lookup_lag_seconds IS NOT NULL "
            "ORDER BY recorded_at DESC LIMIT ?",
            [self.entity_id, limit],
        )
        return [Decimal(row["lookup_lag_seconds"]) for row in rows]

    def record_rejected(self, write: PlannedWrite, error: str) -> None:
        """AIQ answered and wrote nothing: the write may be sent again later."""
        self._set_state(write, WriteState.REJECTED, error)

    def record_unknown(self, write: PlannedWrite, detail: str) -> None:
        """Sent, unanswered, and not found by looking until the deadline: a person decides."""
        self._set_state(write, WriteState.UNKNOWN, detail)

    def _set_state(self, write: PlannedWrite, state: WriteState, error: str) -> None:
        with self.session.transaction() as conn:
            current = self._entry_in(conn, write.reference)
            if current is not None and current.state == WriteState.POSTED:
                return  # a recorded id is final, whatever a late answer says
            self._upsert(conn, write, state=state, attempts_delta=0)
            conn.execute(
                "UPDATE posting_journal SET last_error = ? WHERE entity_id = ? AND reference = ?",
                [error, self.entity_id, write.reference],
            )

    def _entry_in(self, conn: Any, reference: str) -> JournalEntry | None:
        row = _maybe_one(
            conn.execute(
                f"SELECT {_JOURNAL_COLUMNS} FROM posting_journal WHERE entity_id = ? AND reference = ?",
                [self.entity_id, reference],
            )
        )
        return JournalEntry.from_row(row) if row else None

    def _upsert(
        self,
        conn: Any,
        write: PlannedWrite,
        *,
        state: WriteState,
        attempts_delta: int,
        sent_at: datetime | None = None,
        sent_by: str | None = None,
    ) -> None:
        now = self._clock()
        conn.execute(
            "INSERT INTO posting_journal (entity_id, reference, claim_key, kind, target, state, attempts, sent_at, "
            "sent_by, currency, net, tax, gross, sent_summary, document, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (entity_id, reference) DO UPDATE SET state = excluded.state, "
            "attempts = posting_journal.attempts + ?, "
            "sent_at = COALESCE(excluded.sent_at, posting_journal.sent_at), "
            "sent_by = COALESCE(excluded.sent_by, posting_journal.sent_by), "
            "currency = COALESCE(excluded.currency, posting_journal.currency), "
            "net = COALESCE(excluded.net, posting_journal.net), tax = COALESCE(excluded.tax, posting_journal.tax), "
            "gross = COALESCE(excluded.gross, posting_journal.gross), "
            "sent_summary = COALESCE(excluded.sent_summary, posting_journal.sent_summary), "
            "document = COALESCE(excluded.document, posting_journal.document), updated_at = excluded.updated_at",
            [
                self.entity_id,
                write.reference,
                write.claim_key,
                write.kind,
                write.target,
                str(state),
                attempts_delta,
                sent_at,
                sent_by,
                write.currency,
                write.net,
                write.tax,
                write.gross,
                write.summary,
                write.document,
                now,
                attempts_delta,
            ],
        )

    # -- outcomes --------------------------------------------------------------------------------

    def record_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        """Upsert each document's latest outcome, counting attempts (key order: concurrent runs never deadlock)."""
        now = self._clock()
        names = ", ".join(OUTCOME_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in OUTCOME_COLUMNS)
        sql = (
            f"INSERT INTO posting_outcomes (entity_id, claim_key, {names}, attempts, first_attempt_at, "
            f"last_attempt_at) VALUES ({', '.join(['?'] * (len(OUTCOME_COLUMNS) + 5))}) "
            f"ON CONFLICT (entity_id, claim_key) DO UPDATE SET {updates}, "
            "attempts = posting_outcomes.attempts + 1, last_attempt_at = excluded.last_attempt_at"
        )
        ordered = sorted(records, key=lambda r: r.claim_key)
        self.session.executemany(
            sql,
            [[self.entity_id, r.claim_key, *(getattr(r, c) for c in OUTCOME_COLUMNS), 1, now, now] for r in ordered],
        )

    def outcomes(self, outcome: str | None = None) -> list[dict[str, Any]]:
        where, params = "entity_id = ?", [self.entity_id]
        if outcome is not None:
            where, params = where + " AND outcome = ?", [*params, outcome]
        return self.session.query(f"SELECT * FROM posting_outcomes WHERE {where} ORDER BY claim_key", params)


def _one(cursor: Any) -> dict[str, Any]:
    row = _maybe_one(cursor)
    if row is None:
        raise LookupError("expected one row")
    return row


def _maybe_one(cursor: Any) -> dict[str, Any] | None:
    names = [d[0] for d in cursor.description]
    found = cursor.fetchone()
    return dict(zip(names, found, strict=True)) if found is not None else None
