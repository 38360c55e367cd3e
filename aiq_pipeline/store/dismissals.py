"""The audit trail of dismissed exceptions: who dismissed which document, when and why, and who brought it back.

A row is added for every dismiss and every undismiss; none is ever changed or deleted, so the whole story of a
document stays readable (`history`). A document is dismissed while its newest row says so (`dismissed_documents`).

A document is named by its `scope` (the document asset's partitions name, e.g. `bunny_invoices`) and its key (the
partition key, e.g. `8` or `CN-3`). The reconciliation reads `dismissed_keys()` to name them "handled outside".
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiq_pipeline.store.database import Session, Store, utcnow


class DismissalAction(StrEnum):
    DISMISSED = "dismissed"
    UNDISMISSED = "undismissed"


@dataclass(frozen=True)
class DismissalEntry:
    """One row of the audit trail."""

    scope: str
    document_key: str
    action: DismissalAction
    reason: str | None
    actor: str  # who: the OS user, `--by`, or what the UI's job was told
    via: str  # cli | ui
    recorded_at: datetime | None = None  # naive UTC; set when recorded
    kind: str | None = None  # what the exception was when it was dismissed
    number: str | None = None
    reason_code: str | None = None
    entry_id: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DismissalEntry:
        values = {f.name: row[f.name] for f in fields(cls) if f.name in row}
        values["action"] = DismissalAction(values["action"])
        return cls(**values)


@dataclass(frozen=True)
class Dismissal:
    """A document dismissed now: its newest audit row."""

    scope: str
    document_key: str
    reason: str | None
    actor: str
    recorded_at: datetime
    via: str
    kind: str | None
    number: str | None
    reason_code: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Dismissal:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


_COLUMNS = (
    "entry_id",
    "scope",
    "document_key",
    "action",
    "reason",
    "actor",
    "recorded_at",
    "via",
    "kind",
    "number",
    "reason_code",
)


def _entry_id(at: datetime) -> str:
    # Time first, so the ids sort like the rows were written; the random tail keeps two rows of one instant apart.
    return f"{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}"


class DismissalLog:
    """The `exception_dismissals` table through one session; each method is one short transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, entries: Sequence[DismissalEntry]) -> list[DismissalEntry]:
        """Add `entries` together (all or none); returns them with their ids and time."""
        now = utcnow()
        written = []
        for entry in entries:
            at = entry.recorded_at or now
            values = {f.name: getattr(entry, f.name) for f in fields(entry)}
            written.append(DismissalEntry(**{**values, "recorded_at": at, "entry_id": entry.entry_id or _entry_id(at)}))
        sql = f"INSERT INTO exception_dismissals ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        self.session.executemany(sql, [[_value(getattr(e, c)) for c in _COLUMNS] for e in written])
        return written

    def current(self, scopes: Collection[str] | None = None) -> list[Dismissal]:
        """The documents dismissed now (newest first), of these scopes (a pair's document assets) or all."""
        rows = self.session.query("SELECT * FROM dismissed_documents ORDER BY recorded_at DESC, document_key")
        return [Dismissal.from_row(r) for r in rows if scopes is None or r["scope"] in scopes]

    def history(self, document_key: str | None = None, scope: str | None = None) -> list[DismissalEntry]:
        """Every dismiss and undismiss, oldest first (of one document, or all)."""
        clauses, params = [], []
        if document_key is not None:
            clauses.append("document_key = ?")
            params.append(document_key)
        if scope is not None:
            clauses.append("scope = ?")
            params.append(scope)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.session.query(f"SELECT * FROM exception_dismissals {where} ORDER BY recorded_at, entry_id", params)
        return [DismissalEntry.from_row(r) for r in rows]


def _value(value: object) -> object:
    return str(value) if isinstance(value, StrEnum) else value


def current_dismissals(store: Store, scopes: Collection[str] | None = None) -> list[Dismissal]:
    with store.session() as session:
        return DismissalLog(session).current(scopes)


def dismissed_keys(store: Store, scopes: Collection[str] | None = None) -> frozenset[str]:
    """The keys of the documents dismissed now (of these scopes, or all): the documents the product leaves alone
    because a person said they are handled outside it. Pairs may share a store: pass the pair's scopes."""
    return frozenset(d.document_key for d in current_dismissals(store, scopes))
