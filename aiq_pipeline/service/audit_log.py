"""The audit log: what the product wrote to AIQ for each document, when, by which run, and how it ended.

Read from the posting journal (`posting_journal`: one row per AIQ write, the ground truth of exactly-once) and the
documents' outcomes (`posting_outcomes`: one row per document, its latest outcome), both keyed by AIQ entity. One
`AuditEntry` per document (a partition key; the journal's claim key): its kind, Bunny id and number, the latest
outcome with its reason, the AIQ transaction id(s) and every reference written, when AIQ's id was recorded and by
which run. Writes that belong to no document outcome (a customer created or updated, `CUSTOMER:<code>`, or a document
whose run is still writing) are entries too, with no outcome.

- **When.** `at` is when the document was posted (the moment the journal recorded AIQ's id for its main document),
  else its latest activity (an attempt, a write). Entries come oldest first.
- **By which run.** `posted_by` is the run that sent the main document AIQ holds (the journal's `sent_by`); `run_id`
  the latest run that handled the document (a later run may find it already posted and write nothing).
- **Filters** (`AuditQuery`): the AIQ entities (one per pair), a range of UTC days in which the document had any
  activity (posted, attempted, written), and documents named by partition key, Bunny id, number or an AIQ reference
  written for it (case-insensitive); `latest` keeps only the newest N.

Money is `Decimal` as the store holds it; timestamps are naive UTC. Read-only: nothing here writes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from aiq_pipeline.settings import PairSettings
from aiq_pipeline.store.database import Session
from aiq_pipeline.store.journal import WriteState

# What AIQ answers with an id that is not a transaction: a customer's account, an allocation (always 0).
NOT_TRANSACTIONS = frozenset({"CUSTOMER", "ALLOCATION"})
_CHUNK = 500  # keys per IN list when reading the picked documents' rows


@dataclass(frozen=True)
class AuditQuery:
    """Which documents to read. Every filter given must hold; an empty one holds for all."""

    entities: tuple[str, ...] = ()  # AIQ entity ids (one per pair)
    since: date | None = None  # first UTC day, inclusive
    until: date | None = None  # last UTC day, inclusive
    documents: tuple[str, ...] = ()  # partition key, Bunny id, number or AIQ reference: any of them
    latest: int | None = None  # only the newest N documents (still returned oldest first)

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.until < self.since:
            raise ValueError(f"the range ends ({self.until}) before it starts ({self.since})")
        if self.latest is not None and self.latest < 1:
            raise ValueError("latest must be at least 1")


@dataclass(frozen=True)
class AuditWrite:
    """One AIQ write of a document (a row of the journal)."""

    reference: str
    kind: str  # invoice | credit_note | void | payment | allocation | customer | document
    target: str  # SI, SN, SR, SD, SC, ALLOCATION, CUSTOMER
    state: str  # sending | posted | rejected | unknown
    aiq_id: int | None
    found_by: str | None  # answer | lookup | duplicate_reference
    attempts: int
    sent_at: datetime | None
    sent_by: str | None  # the run that last sent it
    recorded_at: datetime | None  # when AIQ's id was recorded
    currency: str | None
    net: Decimal | None
    tax: Decimal | None
    gross: Decimal | None
    last_error: str | None

    @property
    def posted(self) -> bool:
        return self.state == WriteState.POSTED

    @property
    def is_transaction(self) -> bool:
        return self.target not in NOT_TRANSACTIONS

    def as_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "kind": self.kind,
            "target": self.target,
            "state": self.state,
            "aiq_id": self.aiq_id,
            "found_by": self.found_by,
            "attempts": self.attempts,
            "sent_at": iso(self.sent_at),
            "sent_by": self.sent_by,
            "recorded_at": iso(self.recorded_at),
            "currency": self.currency,
            "net": text(self.net),
            "tax": text(self.tax),
            "gross": text(self.gross),
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class AuditEntry:
    """One document of the audit log."""

    entity_id: str  # the AIQ entity (the pair's ledger)
    key: str  # the partition key (the journal's claim key)
    kind: str
    at: datetime  # posted_at, else the latest activity
    outcome: str | None  # the latest outcome; None when none was recorded (a customer write, a run still writing)
    bunny_id: str | None = None
    number: str | None = None
    customer_code: str | None = None
    external_reference: str | None = None  # the main AIQ document's reference
    aiq_transaction_id: int | None = None  # the main AIQ document
    currency: str | None = None
    net: Decimal | None = None  # Bunny's totals
    tax: Decimal | None = None
    gross: Decimal | None = None
    aiq_gross: Decimal | None = None  # what AIQ holds
    posted_at: datetime | None = None
    posted_by: str | None = None  # the run that sent the main document AIQ holds
    run_id: str | None = None  # the latest run that handled it
    attempts: int | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    reason_code: str | None = None
    reason: str | None = None
    fix: str | None = None
    writes: tuple[AuditWrite, ...] = field(default=())

    @property
    def aiq_transaction_ids(self) -> tuple[int, ...]:
        """Every AIQ transaction written or found for the document, the main one first."""
        ids = [self.aiq_transaction_id] if self.aiq_transaction_id else []
        ids += [w.aiq_id for w in self.writes if w.posted and w.is_transaction and w.aiq_id]
        return tuple(dict.fromkeys(i for i in ids if i is not None))

    @property
    def references(self) -> tuple[str, ...]:
        """Every reference written to AIQ for the document (transactions, allocations, customers), oldest first."""
        return tuple(dict.fromkeys(w.reference for w in self.writes))

    def as_json(self) -> dict[str, Any]:
        """Money as exact text, times as ISO 8601 UTC."""
        return {
            "entity_id": self.entity_id,
            "key": self.key,
            "kind": self.kind,
            "at": iso(self.at),
            "outcome": self.outcome,
            "bunny_id": self.bunny_id,
            "number": self.number,
            "customer_code": self.customer_code,
            "external_reference": self.external_reference,
            "aiq_transaction_id": self.aiq_transaction_id,
            "aiq_transaction_ids": list(self.aiq_transaction_ids),
            "references": list(self.references),
            "currency": self.currency,
            "net": text(self.net),
            "tax": text(self.tax),
            "gross": text(self.gross),
            "aiq_gross": text(self.aiq_gross),
            "posted_at": iso(self.posted_at),
            "posted_by": self.posted_by,
            "run_id": self.run_id,
            "attempts": self.attempts,
            "first_attempt_at": iso(self.first_attempt_at),
            "last_attempt_at": iso(self.last_attempt_at),
            "reason_code": self.reason_code,
            "reason": self.reason,
            "fix": self.fix,
            "writes": [w.as_json() for w in self.writes],
        }

    def as_row(self) -> dict[str, Any]:
        """One flat row (lists as comma-separated text) for a table; money stays Decimal."""
        return {
            "entity_id": self.entity_id,
            "key": self.key,
            "kind": self.kind,
            "at": self.at,
            "outcome": self.outcome,
            "bunny_id": self.bunny_id,
            "number": self.number,
            "customer_code": self.customer_code,
            "aiq_transaction_ids": ", ".join(str(i) for i in self.aiq_transaction_ids),
            "references": ", ".join(self.references),
            "currency": self.currency,
            "net": self.net,
            "tax": self.tax,
            "gross": self.gross,
            "posted_at": self.posted_at,
            "posted_by": self.posted_by,
            "run_id": self.run_id,
            "attempts": self.attempts,
            "reason_code": self.reason_code,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class AuditCounts:
    """How many documents ended how, and how many writes are in which state."""

    documents: int  # documents with an outcome
    by_outcome: Mapping[str, int]
    writes: int  # journal rows
    by_state: Mapping[str, int]


def iso(moment: datetime | None) -> str | None:
    """A naive UTC timestamp as ISO 8601 with its zone said (`Z`)."""
    return None if moment is None else moment.isoformat() + "Z"


def text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


# -- reading --------------------------------------------------------------------------------------------------------


def audit_log(session: Session, query: AuditQuery = AuditQuery()) -> list[AuditEntry]:
    """The documents `query` picks, oldest first (by `at`, then entity and key)."""
    picked = _pick(session, query)
    if not picked:
        return []
    by_entity: dict[str, list[str]] = defaultdict(list)
    for entity_id, key, _ in picked:
        by_entity[entity_id].append(key)
    outcomes: dict[tuple[str, str], dict[str, Any]] = {}
    writes: dict[tuple[str, str], list[AuditWrite]] = defaultdict(list)
    for entity_id, keys in by_entity.items():
        for chunk in (keys[i : i + _CHUNK] for i in range(0, len(keys), _CHUNK)):
            marks = ", ".join("?" * len(chunk))
            for row in session.query(
                f"SELECT * FROM posting_outcomes WHERE entity_id = ? AND claim_key IN ({marks})", [entity_id, *chunk]
            ):
                outcomes[(entity_id, row["claim_key"])] = row
            for row in session.query(
                f"SELECT * FROM posting_journal WHERE entity_id = ? AND claim_key IN ({marks}) "
                "ORDER BY COALESCE(sent_at, recorded_at, updated_at), reference",
                [entity_id, *chunk],
            ):
                writes[(entity_id, row["claim_key"])].append(_write(row))
    return [
        _entry(entity_id, key, at, outcomes.get((entity_id, key)), tuple(writes[(entity_id, key)]))
        for entity_id, key, at in picked
    ]


def audit_counts(session: Session, entities: Sequence[str] = ()) -> AuditCounts:
    """Documents per outcome and writes per state, of `entities` (every entity when empty)."""
    where, params = _entity_filter("entity_id", entities)
    outcomes = session.query(
        f"SELECT outcome, COUNT(*) AS n FROM posting_outcomes WHERE 1 = 1{where} GROUP BY outcome", params
    )
    states = session.query(
        f"SELECT state, COUNT(*) AS n FROM posting_journal WHERE 1 = 1{where} GROUP BY state", params
    )
    by_outcome = Counter({str(r["outcome"]): int(r["n"]) for r in outcomes})
    by_state = Counter({str(r["state"]): int(r["n"]) for r in states})
    return AuditCounts(sum(by_outcome.values()), dict(by_outcome), sum(by_state.values()), dict(by_state))


def latest_writes(session: Session, entities: Sequence[str] = (), limit: int = 25) -> list[dict[str, Any]]:
    """The newest journal rows (by their last change), newest first, as the store holds them."""
    where, params = _entity_filter("entity_id", entities)
    return session.query(
        f"SELECT * FROM posting_journal WHERE 1 = 1{where} ORDER BY updated_at DESC, entity_id, reference LIMIT ?",
        [*params, limit],
    )


class UnknownBunnyEntity(ValueError):
    """A Bunny entity no configured pair syncs."""


def aiq_entities_of(pairs: Sequence[PairSettings], bunny_entities: Sequence[str]) -> tuple[str, ...]:
    """The AIQ entities the pairs syncing `bunny_entities` post to (the journal knows only AIQ entities)."""
    found: list[str] = []
    for bunny_entity in bunny_entities:
        matched = [p.aiq.entity_id for p in pairs if p.bunny and p.aiq and p.bunny.entity_id == bunny_entity]
        if not matched:
            known = sorted(f"{p.bunny.entity_id} (AIQ {p.aiq.entity_id})" for p in pairs if p.bunny and p.aiq)
            raise UnknownBunnyEntity(
                f"no configured pair syncs Bunny entity {bunny_entity}: "
                + (
                    f"the pairs sync {', '.join(known)}"
                    if known
                    else "set BUNNY_ENTITY_ID and AIQ_ENTITY_ID (with the other AIQ_* and BUNNY_* settings) first"
                )
            )
        found += matched
    return tuple(dict.fromkeys(found))


def entities_in_store(session: Session) -> list[str]:
    """The AIQ entities the journal or the outcomes hold anything for."""
    rows = session.query(
        "SELECT entity_id FROM posting_journal UNION SELECT entity_id FROM posting_outcomes ORDER BY entity_id"
    )
    return [str(r["entity_id"]) for r in rows]


# -- the query ------------------------------------------------------------------------------------------------------


def _entity_filter(column: str, entities: Sequence[str]) -> tuple[str, list[Any]]:
    if not entities:
        return "", []
    return f" AND {column} IN ({', '.join('?' * len(entities))})", list(entities)


def _pick(session: Session, query: AuditQuery) -> list[tuple[str, str, datetime]]:
    """(entity, key, at) of the documents `query` picks, oldest first."""
    where, params = _entity_filter("entity_id", query.entities)
    # Every moment something happened to a document: attempts and postings (outcomes), sends and answers (journal).
    events = " UNION ALL ".join(
        f"SELECT entity_id, claim_key, {column} AS happened_at FROM {table} WHERE {column} IS NOT NULL{where}"
        for table, column in (
            ("posting_outcomes", "first_attempt_at"),
            ("posting_outcomes", "last_attempt_at"),
            ("posting_outcomes", "posted_at"),
            ("posting_journal", "sent_at"),
            ("posting_journal", "recorded_at"),
            ("posting_journal", "updated_at"),
        )
    )
    ctes = [f"events AS ({events})"]
    cte_params: list[Any] = params * 6
    joins, join_params = [], []
    if query.since is not None or query.until is not None:
        bounds, bound_params = [], []
        if query.since is not None:
            bounds.append("happened_at >= ?")
            bound_params.append(datetime.combine(query.since, time()))
        if query.until is not None:
            bounds.append("happened_at < ?")
            bound_params.append(datetime.combine(query.until + timedelta(days=1), time()))
        ctes.append(f"in_range AS (SELECT DISTINCT entity_id, claim_key FROM events WHERE {' AND '.join(bounds)})")
        cte_params += bound_params
        joins.append("JOIN in_range r ON r.entity_id = d.entity_id AND r.claim_key = d.claim_key")
    if query.documents:
        names = [name.strip().lower() for name in query.documents]
        marks = ", ".join("?" * len(names))
        outcome_columns = ("claim_key", "source_id", "number", "external_reference")
        ctes.append(
            "named AS ("
            f"SELECT entity_id, claim_key FROM posting_outcomes WHERE "
            f"({' OR '.join(f'LOWER({c}) IN ({marks})' for c in outcome_columns)}){where} "
            f"UNION SELECT entity_id, claim_key FROM posting_journal WHERE "
            f"(LOWER(claim_key) IN ({marks}) OR LOWER(reference) IN ({marks})){where})"
        )
        cte_params += [*(names * len(outcome_columns)), *params, *(names * 2), *params]
        joins.append("JOIN named n ON n.entity_id = d.entity_id AND n.claim_key = d.claim_key")
    ctes.append(
        "docs AS (SELECT entity_id, claim_key, MAX(happened_at) AS last_at FROM events GROUP BY entity_id, claim_key)"
    )
    # When: the main document's id recorded, else the outcome's posting time, else the latest activity.
    sql = (
        f"WITH {', '.join(ctes)} "
        "SELECT d.entity_id, d.claim_key, COALESCE(m.recorded_at, o.posted_at, d.last_at) AS happened_at FROM docs d "
        "LEFT JOIN posting_outcomes o ON o.entity_id = d.entity_id AND o.claim_key = d.claim_key "
        "LEFT JOIN posting_journal m ON m.entity_id = o.entity_id AND m.claim_key = o.claim_key "
        f"AND m.reference = o.external_reference AND m.state = 'posted' {' '.join(joins)}"
    )
    if query.latest is not None:
        sql += " ORDER BY happened_at DESC, d.entity_id DESC, d.claim_key DESC LIMIT ?"
        join_params.append(query.latest)
    rows = session.query(sql, [*cte_params, *join_params])
    picked = [(str(r["entity_id"]), str(r["claim_key"]), r["happened_at"]) for r in rows]
    return sorted(picked, key=lambda p: (p[2], p[0], p[1]))


def _write(row: Mapping[str, Any]) -> AuditWrite:
    return AuditWrite(
        reference=row["reference"],
        kind=row["kind"],
        target=row["target"],
        state=row["state"],
        aiq_id=row["aiq_id"],
        found_by=row["found_by"],
        attempts=int(row["attempts"]),
        sent_at=row["sent_at"],
        sent_by=row["sent_by"],
        recorded_at=row["recorded_at"],
        currency=row["currency"],
        net=row["net"],
        tax=row["tax"],
        gross=row["gross"],
        last_error=row["last_error"],
    )


def _main_write(outcome: Mapping[str, Any] | None, writes: Sequence[AuditWrite]) -> AuditWrite | None:
    """The write of the document's main AIQ document: its reference, else the first transaction written."""
    reference = outcome.get("external_reference") if outcome else None
    named = [w for w in writes if reference and w.reference == reference]
    return named[0] if named else next((w for w in writes if w.is_transaction and w.kind != "document"), None)


def _entry(
    entity_id: str, key: str, at: datetime, outcome: Mapping[str, Any] | None, writes: tuple[AuditWrite, ...]
) -> AuditEntry:
    main = _main_write(outcome, writes)
    posted_at = main.recorded_at if main is not None and main.posted else None
    posted_by = main.sent_by if main is not None and main.posted else None
    if outcome is None:
        return AuditEntry(
            entity_id=entity_id,
            key=key,
            kind=writes[0].kind if writes else "",
            at=at,
            outcome=None,
            external_reference=main.reference if main else None,
            aiq_transaction_id=main.aiq_id if main is not None and main.posted else None,
            currency=main.currency if main else None,
            net=main.net if main else None,
            tax=main.tax if main else None,
            gross=main.gross if main else None,
            posted_at=posted_at,
            posted_by=posted_by,
            writes=writes,
        )
    # Found already posted by a run that wrote nothing: the journal names no sender, and neither does this.
    return AuditEntry(
        entity_id=entity_id,
        key=key,
        kind=outcome["kind"],
        at=at,
        outcome=outcome["outcome"],
        bunny_id=outcome["source_id"],
        number=outcome["number"],
        customer_code=outcome["customer_code"],
        external_reference=outcome["external_reference"],
        aiq_transaction_id=outcome["aiq_transaction_id"],
        currency=outcome["currency"],
        net=outcome["net"],
        tax=outcome["tax"],
        gross=outcome["gross"],
        aiq_gross=outcome["aiq_gross"],
        posted_at=posted_at or outcome["posted_at"],
        posted_by=posted_by or (outcome["run_id"] if outcome["outcome"] == "posted" else None),
        run_id=outcome["run_id"],
        attempts=outcome["attempts"],
        first_attempt_at=outcome["first_attempt_at"],
        last_attempt_at=outcome["last_attempt_at"],
        reason_code=outcome["reason_code"],
        reason=outcome["reason"],
        fix=outcome["fix"],
        writes=writes,
    )
