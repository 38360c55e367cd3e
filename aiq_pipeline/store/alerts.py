"""What the alerts sent: each message once, its delivery to each channel, and the exceptions it covered.

- `alert_messages`: a digest of new exceptions or a note of cleared ones, written once with its exact text.
- `alert_deliveries`: one row per message and channel configured when it was written: `pending` until the channel
  takes it (`sent`), or `dropped` when the channel is no longer configured. A channel that is down keeps its row
  pending, and a later tick sends the same message again, to that channel alone.
- `alerted_exceptions`: which documents a digest covered. Open (not cleared) rows are what has been said already:
  no other digest names them while they stay failing.

A message, its deliveries and the exceptions it covers are written in one transaction, so a restart (of the daemon,
or the whole machine) between ticks neither loses one nor repeats one. The store holds no channel URL: a channel is
known by a fingerprint of its URL and a name such as "channel 2 (JSON)".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiq_pipeline.store.database import Session, utcnow

MAX_ERROR_LENGTH = 500


class MessageKind(StrEnum):
    EXCEPTIONS = "exceptions"  # a digest of new exceptions
    CLEARED = "cleared"  # a note that alerted exceptions were posted or dismissed


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DROPPED = "dropped"  # the channel was removed from the settings before it took the message


@dataclass(frozen=True)
class ChannelRef:
    fingerprint: str
    name: str


@dataclass(frozen=True)
class DocumentRef:
    scope: str  # the document asset's partitions name
    key: str  # the partition key

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class AlertedDocument:
    """A document as an alert names it."""

    ref: DocumentRef
    kind: str | None
    number: str | None
    reason_code: str | None


@dataclass(frozen=True)
class OpenAlert:
    document: AlertedDocument
    message_id: str
    alerted_at: datetime


@dataclass(frozen=True)
class Message:
    message_id: str
    pair: str
    kind: MessageKind
    title: str
    body: str
    documents: int
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    message: Message
    channel: str
    channel_name: str
    state: DeliveryState
    attempts: int
    last_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None


def _message_id(at: datetime) -> str:
    return f"{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}"


def _message(row: dict[str, Any]) -> Message:
    return Message(
        message_id=row["message_id"],
        pair=row["pair"],
        kind=MessageKind(row["kind"]),
        title=row["title"],
        body=row["body"],
        documents=row["documents"],
        created_at=row["created_at"],
    )


def _delivery(row: dict[str, Any]) -> Delivery:
    return Delivery(
        message=_message(row),
        channel=row["channel"],
        channel_name=row["channel_name"],
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        last_attempt_at=row["last_attempt_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )


class AlertLog:
    """The alert tables of one pair, through one session; each method is one short transaction."""

    def __init__(self, session: Session, pair: str) -> None:
        self.session = session
        self.pair = pair

    def open_alerts(self) -> dict[DocumentRef, OpenAlert]:
        rows = self.session.query(
            "SELECT scope, document_key, kind, number, reason_code, message_id, alerted_at FROM alerted_exceptions "
            "WHERE pair = ? AND cleared_at IS NULL",
            [self.pair],
        )
        found = {}
        for r in rows:
            ref = DocumentRef(r["scope"], r["document_key"])
            document = AlertedDocument(ref, r["kind"], r["number"], r["reason_code"])
            found[ref] = OpenAlert(document, r["message_id"], r["alerted_at"])
        return found

    def write(
        self,
        kind: MessageKind,
        title: str,
        body: str,
        channels: Sequence[ChannelRef],
        *,
        covers: Iterable[AlertedDocument] = (),
        clears: Iterable[tuple[DocumentRef, str]] = (),
    ) -> Message:
        """Write a message, a pending delivery per channel, and the exceptions it covers (new) or clears, at once."""
        now = utcnow()
        covered = list(covers)
        cleared = list(clears)
        message = Message(_message_id(now), self.pair, kind, title, body, len(covered) + len(cleared), now)
        with self.session.transaction() as conn:
            conn.execute(
                "INSERT INTO alert_messages (message_id, pair, kind, title, body, documents, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [message.message_id, self.pair, str(kind), title, body, message.documents, now],
            )
            for channel in channels:
                conn.execute(
                    "INSERT INTO alert_deliveries (message_id, channel, channel_name, state, attempts) "
                    "VALUES (?, ?, ?, ?, 0)",
                    [message.message_id, channel.fingerprint, channel.name, str(DeliveryState.PENDING)],
                )
            ids = (message.message_id, now)
            for doc in covered:
                conn.execute(
                    "INSERT INTO alerted_exceptions (pair, scope, document_key, kind, number, reason_code, message_id, "
                    "alerted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [self.pair, doc.ref.scope, doc.ref.key, doc.kind, doc.number, doc.reason_code, *ids],
                )
            for ref, how in cleared:
                conn.execute(
                    "UPDATE alerted_exceptions SET cleared_at = ?, cleared_as = ?, cleared_message_id = ? "
                    "WHERE pair = ? AND scope = ? AND document_key = ? AND cleared_at IS NULL",
                    [now, how, message.message_id, self.pair, ref.scope, ref.key],
                )
        return message

    def pending(self) -> list[Delivery]:
        """Deliveries not yet taken by their channel, oldest message first."""
        rows = self.session.query(
            "SELECT m.*, d.channel, d.channel_name, d.state, d.attempts, d.last_attempt_at, d.sent_at, d.last_error "
            "FROM alert_deliveries d JOIN alert_messages m ON m.message_id = d.message_id "
            "WHERE m.pair = ? AND d.state = ? ORDER BY m.created_at, m.message_id, d.channel",
            [self.pair, str(DeliveryState.PENDING)],
        )
        return [_delivery(r) for r in rows]

    def mark_sent(self, delivery: Delivery) -> None:
        now = utcnow()
        self.session.execute(
            "UPDATE alert_deliveries SET state = ?, attempts = attempts + 1, last_attempt_at = ?, sent_at = ?, "
            "last_error = NULL WHERE message_id = ? AND channel = ?",
            [str(DeliveryState.SENT), now, now, delivery.message.message_id, delivery.channel],
        )

    def mark_failed(self, delivery: Delivery, error: str) -> None:
        self.session.execute(
            "UPDATE alert_deliveries SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? "
            "WHERE message_id = ? AND channel = ?",
            [utcnow(), error[:MAX_ERROR_LENGTH], delivery.message.message_id, delivery.channel],
        )

    def mark_dropped(self, delivery: Delivery) -> None:
        self.session.execute(
            "UPDATE alert_deliveries SET state = ? WHERE message_id = ? AND channel = ?",
            [str(DeliveryState.DROPPED), delivery.message.message_id, delivery.channel],
        )

    def messages(self) -> list[Message]:
        rows = self.session.query(
            "SELECT * FROM alert_messages WHERE pair = ? ORDER BY created_at, message_id", [self.pair]
        )
        return [_message(r) for r in rows]

    def deliveries(self) -> list[Delivery]:
        rows = self.session.query(
            "SELECT m.*, d.channel, d.channel_name, d.state, d.attempts, d.last_attempt_at, d.sent_at, d.last_error "
            "FROM alert_deliveries d JOIN alert_messages m ON m.message_id = d.message_id "
            "WHERE m.pair = ? ORDER BY m.created_at, m.message_id, d.channel",
            [self.pair],
        )
        return [_delivery(r) for r in rows]
