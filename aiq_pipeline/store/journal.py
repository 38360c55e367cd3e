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

Callers pass a `Session` (the store for a batch); every method here is one short transaction. A batch's
claims, write-aheads, recorded ids and outcomes each go in one statement of many rows (`..._many`): DuckDB runs one
200-row upsert some 25 times faster than 200 one-row upserts. Rows are locked in key order, so concurrent runs never
deadlock: claims are inserted in a transaction of their own, then locked in one ordered `SELECT ... FOR UPDATE`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from aiq_pipeline.store.database import Session, utcnow, values_rows
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


@dataclass(frozen=True)
class Posted:
    """AIQ holds `write` as `aiq_id` (found how, and how long after sending its look-up first showed it)."""

    write: PlannedWrite
    aiq_id: int
    found_by: FoundBy
    lookup_lag: timedelta | None = None


@dataclass(frozen=True)
class _Upsert:
    """One journal row's new state: the columns an upsert writes."""

    write: PlannedWrite
    state: WriteState
    attempts_delta: int = 0
    sent_at: datetime | None = None
    sent_by: str | None = None
    aiq_id: int | None = None
    found_by: str | None = None
    recorded_at: datetime | None = None
    lookup_lag_seconds: Decimal | None = None


_JOURNAL_COLUMNS = ", ".join(f.name for f in fields(JournalEntry))
_UPSERT_COLUMNS = (
    "entity_id, reference, claim_key, kind, target, state, attempts, sent_at, sent_by, currency, net, tax, gross, "
    "sent_summary, document, updated_at, aiq_id, found_by, recorded_at, lookup_lag_seconds"
)
# A posted row takes AIQ's id and loses its error; any other state keeps what the row already knew.
_UPSERT_CONFLICT = (
    "ON CONFLICT (entity_id, reference) DO UPDATE SET state = excluded.state, "
    "attempts = posting_journal.attempts + excluded.attempts, "
    + ", ".join(
        f"{c} = COALESCE(excluded.{c}, posting_journal.{c})"
        for c in ("sent_at", "sent_by", "currency", "net", "tax", "gross", "sent_summary", "document")
    )
    + ", updated_at = excluded.updated_at, "
    + ", ".join(
        f"{c} = CASE WHEN excluded.state = 'posted' THEN excluded.{c} ELSE posting_journal.{c} END"
        for c in ("aiq_id", "found_by", "recorded_at", "lookup_lag_seconds")
    )
    + ", last_error = CASE WHEN excluded.state = 'posted' THEN NULL ELSE posting_journal.last_error END"
)


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
        return self.claim_many([key], owner, process=process, lease=lease, is_dead=is_dead)[key]

    def claim_many(
        self, keys: Sequence[str], owner: str, *, process: str, lease: timedelta, is_dead: Callable[[str], bool]
    ) -> dict[str, ClaimHolder | None]:
        """`claim` for each of `keys` at once: None for each claim that is ours now, else who holds it."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        # The rows exist first, in a transaction of their own: a new row locked by its insert while the ordered
        # lock below waits for another run's row could close a circle of waits.
        self.session.executemany_values(
            "INSERT INTO posting_claims (entity_id, claim_key) VALUES {values} "
            "ON CONFLICT (entity_id, claim_key) DO NOTHING",
            [[self.entity_id, key] for key in wanted],
        )
        now = self._clock()
        with self.session.transaction() as conn:
            rows = self._rows_in(
                conn,
                "SELECT claim_key, owner, owner_process, claimed_at, lease_until FROM posting_claims "
                "WHERE entity_id = ? AND claim_key IN ({keys}) ORDER BY claim_key" + self._lock,
                wanted,
            )
            holders = {
                r["claim_key"]: ClaimHolder(
                    r["claim_key"], r["owner"], r["owner_process"], r["claimed_at"], r["lease_until"]
                )
                for r in rows
            }
            taken = {k: None if _free(h, owner, now, is_dead) else h for k, h in holders.items()}
            ours = [k for k, h in taken.items() if h is None]
            for part in _chunks(ours):
                conn.execute(
                    "UPDATE posting_claims SET owner = ?, owner_process = ?, claimed_at = ?, lease_until = ? "
                    f"WHERE entity_id = ? AND claim_key IN ({_marks(part)})",
                    [owner, process, now, now + lease, self.entity_id, *part],
                )
        return {key: taken[key] for key in keys}

    def release(self, key: str, owner: str) -> None:
        """Give up `owner`'s claim on `key` (a claim someone else took over is left alone)."""
        self.release_many([key], owner)

    def release_many(self, keys: Sequence[str], owner: str) -> None:
        """`release` for each of `keys` at once: the rows locked in key order first, as claims lock them (a plain
        UPDATE locks in the table's order, and a run releasing while another claims could close a circle)."""
        wanted = sorted(set(keys))
        if not wanted:
            return
        with self.session.transaction() as conn:
            mine = [
                row["claim_key"]
                for row in self._rows_in(
                    conn,
                    "SELECT claim_key, owner FROM posting_claims WHERE entity_id = ? AND claim_key IN ({keys}) "
                    "ORDER BY claim_key" + self._lock,
                    wanted,
                )
                if row["owner"] == owner
            ]
            for part in _chunks(mine):
                conn.execute(
                    "UPDATE posting_claims SET owner = NULL, owner_process = NULL, lease_until = NULL "
                    f"WHERE entity_id = ? AND claim_key IN ({_marks(part)}) AND owner = ?",
                    [self.entity_id, *part, owner],
                )

    def release_owner(self, owner: str) -> int:
        """Release every claim of `owner` (a run found dead); returns how many it held."""
        held = self.session.query(
            "SELECT claim_key FROM posting_claims WHERE entity_id = ? AND owner = ?", [self.entity_id, owner]
        )
        self.release_many([row["claim_key"] for row in held], owner)
        return len(held)

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

    def entries_by_reference(self, references: Sequence[str]) -> dict[str, JournalEntry]:
        """The rows of these references that exist, by reference (one query for a batch; no transaction, so a dry
        run's read-only session answers it)."""
        return self._entries_in(self.session.query, references)

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

    def newest_answered(self, target: str) -> JournalEntry | None:
        """The write of `target` (SI, SN, SR...) sent last among those AIQ answered with its id (`posted`, found by
        the answer): a document AIQ created after that moment. When AIQ's reference look-up shows it, the look-up has
        caught up past every write of that type sent before it (a person's retry of a write in doubt asks this)."""
        rows = self.session.query(
            f"SELECT {_JOURNAL_COLUMNS} FROM posting_journal WHERE entity_id = ? AND target = ? AND state = ? "
            "AND found_by = ? AND aiq_id IS NOT NULL AND sent_at IS NOT NULL ORDER BY sent_at DESC, reference LIMIT 1",
            [self.entity_id, target, str(WriteState.POSTED), str(FoundBy.ANSWER)],
        )
        return JournalEntry.from_row(rows[0]) if rows else None

    def begin_write(self, write: PlannedWrite, owner: str) -> JournalEntry:
        """Move `write` to `sending` before its request leaves; raises ClaimLost unless `owner` holds the claim.

        Refuses (ValueError) a write whose row is already `posted`: that document must never be written again.
        """
        started = self.begin_writes([write], owner)[write.reference]
        if isinstance(started, ClaimLost):
            raise started
        if started.state == WriteState.POSTED:
            raise ValueError(f"{write.reference} is already posted as AIQ {started.aiq_id}: never written again")
        return started

    def begin_writes(self, writes: Sequence[PlannedWrite], owner: str) -> dict[str, JournalEntry | ClaimLost]:
        """`begin_write` for each of `writes` at once (by reference): its entry in `sending`, or ClaimLost. A write
        already `posted` is answered with its entry as it is (never written again); the rest of the batch goes on."""
        writes = list({w.reference: w for w in reversed(writes)}.values())[::-1]  # one row each, first kept
        if not writes:
            return {}
        now = self._clock()
        with self.session.transaction() as conn:
            owners = {
                r["claim_key"]: r["owner"]
                for r in self._rows_in(
                    conn,
                    "SELECT claim_key, owner FROM posting_claims WHERE entity_id = ? AND claim_key IN ({keys}) "
                    "ORDER BY claim_key" + self._lock,
                    sorted({w.claim_key for w in writes}),
                )
            }
            current = self._entries_in(conn, [w.reference for w in writes])
            results: dict[str, JournalEntry | ClaimLost] = {}
            started: list[_Upsert] = []
            for w in writes:
                posted = current.get(w.reference)
                if owners.get(w.claim_key) != owner:
                    results[w.reference] = ClaimLost(f"{w.claim_key} is no longer claimed by run {owner}")
                elif posted is not None and posted.state == WriteState.POSTED:
                    results[w.reference] = posted
                else:
                    started.append(_Upsert(w, WriteState.SENDING, attempts_delta=1, sent_at=now, sent_by=owner))
            self._upsert(conn, started)
            results |= self._entries_in(conn, [u.write.reference for u in started])
        return results

    def record_posted(
        self,
        write: PlannedWrite,
        aiq_id: int,
        *,
        found_by: FoundBy,
        lookup_lag: timedelta | None = None,
    ) -> None:
        """AIQ holds `write` as `aiq_id`: recorded at once, and final."""
        self.record_posted_many([Posted(write, aiq_id, found_by, lookup_lag)])

    def record_posted_many(self, posted: Sequence[Posted]) -> None:
        """`record_posted` for each at once."""
        now = self._clock()
        rows = [
            _Upsert(
                p.write,
                WriteState.POSTED,
                aiq_id=p.aiq_id,
                found_by=str(p.found_by),
                recorded_at=now,
                lookup_lag_seconds=_seconds(p.lookup_lag) if p.lookup_lag is not None else None,
            )
            for p in posted
        ]
        with self.session.transaction() as conn:
            self._upsert(conn, rows)

    def record_lookup_lag(self, references: Sequence[str], lag: timedelta) -> None:
        """How long after they were sent AIQ's look-up first showed these posted documents (kept once, the first
        look), in one statement per chunk."""
        if not references:
            return
        seconds = _seconds(lag)
        with self.session.transaction() as conn:
            for part in _chunks(sorted(set(references))):
                conn.execute(
                    "UPDATE posting_journal SET lookup_lag_seconds = ? "
                    f"WHERE entity_id = ? AND reference IN ({_marks(part)}) AND lookup_lag_seconds IS NULL",
                    [seconds, self.entity_id, *part],
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
            current = self._entries_in(conn, [write.reference]).get(write.reference)
            if current is not None and current.state == WriteState.POSTED:
                return  # a recorded id is final, whatever a late answer says
            self._upsert(conn, [_Upsert(write, state)])
            conn.execute(
                "UPDATE posting_journal SET last_error = ? WHERE entity_id = ? AND reference = ?",
                [error, self.entity_id, write.reference],
            )

    def _rows_in(self, conn: Any, sql: str, keys: Sequence[str]) -> list[dict[str, Any]]:
        """`sql` (with `{keys}` for the IN list, after the entity) over `keys` in chunks, rows in chunk order. `conn`
        is a transaction's connection, or a query function (`Session.query`)."""
        query = (lambda text, params: _all(conn.execute(text, params))) if hasattr(conn, "execute") else conn
        rows: list[dict[str, Any]] = []
        for part in _chunks(list(keys)):
            rows += query(sql.format(keys=_marks(part)), [self.entity_id, *part])
        return rows

    def _entries_in(self, conn: Any, references: Sequence[str]) -> dict[str, JournalEntry]:
        rows = self._rows_in(
            conn,
            f"SELECT {_JOURNAL_COLUMNS} FROM posting_journal WHERE entity_id = ? AND reference IN ({{keys}})",
            sorted(set(references)),
        )
        return {row["reference"]: JournalEntry.from_row(row) for row in rows}

    def _upsert(self, conn: Any, rows: Sequence[_Upsert]) -> None:
        """Write each row's new state in statements of many rows, in reference order."""
        now = self._clock()
        ordered = sorted({r.write.reference: r for r in rows}.values(), key=lambda r: r.write.reference)
        for part in _chunks(ordered):
            values = [_upsert_values(self.entity_id, r, now) for r in part]
            conn.execute(
                f"INSERT INTO posting_journal ({_UPSERT_COLUMNS}) VALUES {values_rows(len(values), len(values[0]))} "
                + _UPSERT_CONFLICT,
                [v for row in values for v in row],
            )

    # -- outcomes --------------------------------------------------------------------------------

    def record_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        """Upsert each document's latest outcome, counting attempts (key order: concurrent runs never deadlock)."""
        now = self._clock()
        names = ", ".join(OUTCOME_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in OUTCOME_COLUMNS)
        sql = (
            f"INSERT INTO posting_outcomes (entity_id, claim_key, {names}, attempts, first_attempt_at, "
            "last_attempt_at) VALUES {values} "
            f"ON CONFLICT (entity_id, claim_key) DO UPDATE SET {updates}, "
            "attempts = posting_outcomes.attempts + 1, last_attempt_at = excluded.last_attempt_at"
        )
        # One statement may not touch a row twice: a document listed twice is a second round (its last wins).
        rounds: list[dict[str, OutcomeRecord]] = []
        for r in records:
            free = next((round_ for round_ in rounds if r.claim_key not in round_), None)
            if free is None:
                rounds.append(free := {})
            free[r.claim_key] = r
        with self.session.transaction():
            for round_ in rounds:
                ordered = sorted(round_.values(), key=lambda r: r.claim_key)
                self.session.executemany_values(
                    sql,
                    [
                        [self.entity_id, r.claim_key, *(getattr(r, c) for c in OUTCOME_COLUMNS), 1, now, now]
                        for r in ordered
                    ],
                )

    def outcomes(self, outcome: str | None = None) -> list[dict[str, Any]]:
        where, params = "entity_id = ?", [self.entity_id]
        if outcome is not None:
            where, params = where + " AND outcome = ?", [*params, outcome]
        return self.session.query(f"SELECT * FROM posting_outcomes WHERE {where} ORDER BY claim_key", params)


ROWS_PER_STATEMENT = 500  # well under PostgreSQL's 65,535 parameters a statement, at 20 columns a row


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[n : n + ROWS_PER_STATEMENT] for n in range(0, len(items), ROWS_PER_STATEMENT)]


def _marks(items: Sequence[Any]) -> str:
    return ", ".join("?" * len(items))


def _seconds(lag: timedelta) -> Decimal:
    return Decimal(str(round(max(lag.total_seconds(), 0.0), 3)))


def _free(holder: ClaimHolder, owner: str, now: datetime, is_dead: Callable[[str], bool]) -> bool:
    return (
        holder.owner is None
        or holder.owner == owner
        or (holder.lease_until is not None and holder.lease_until <= now)
        or (holder.process is not None and is_dead(holder.process))
    )


def _upsert_values(entity_id: str, r: _Upsert, now: datetime) -> list[Any]:
    w = r.write
    return [
        entity_id,
        w.reference,
        w.claim_key,
        w.kind,
        w.target,
        str(r.state),
        r.attempts_delta,
        r.sent_at,
        r.sent_by,
        w.currency,
        w.net,
        w.tax,
        w.gross,
        w.summary,
        w.document,
        now,
        r.aiq_id,
        r.found_by,
        r.recorded_at,
        r.lookup_lag_seconds,
    ]


def _all(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
