"""Writing documents to AIQ exactly once, many at a time.

Each document's journal row moves to `sending` before the request that carries it leaves, and AIQ's id is recorded
the moment AIQ returns it. Documents AIQ takes in bulk (invoices, credit notes, receipts) go in bulk calls of up to
`chunk` documents, several calls at once (`concurrency`); each item's answer is that document's alone (its
neighbours still post). A lost answer (a timeout, a dropped connection, "reference already exists", a bulk answer
that does not add up) is resolved by looking for each document until the deadline, never by writing again on a
guess; a document still not found becomes OUTCOME_UNKNOWN for a person. Automatic runs never write a document whose
earlier outcome is unknown. A person's retry (`manual`) looks once more, and believes AIQ's "not found" only when a
*witness* shows AIQ's look-up has caught up past the moment the write in doubt was sent: the newest write of the same
AIQ type that AIQ answered with its id, sent `witness_margin` after it, which the look-up shows now (one look-up per
type a run). With no witness the document stays OUTCOME_UNKNOWN (AIQ's look-up may lag, and AIQ may accept a second
document with the reference: both unverified), unless the person said, for this retry, to write it anyway
(`rewrite_unknown`).

The journal is only touched from the calling thread: the worker threads only carry the HTTP calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import (
    AiqDuplicateReference,
    AiqError,
    AiqThrottledError,
    AiqTransportError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
)
from aiq_pipeline.accountsiq.models import BulkItemOutcome
from aiq_pipeline.service import aiq_documents
from aiq_pipeline.service.lookups import DuplicateInAiq, Lookups, one
from aiq_pipeline.service.override import REWRITE_UNKNOWN_FLAG
from aiq_pipeline.store.journal import (
    ClaimLost,
    FoundBy,
    JournalEntry,
    PlannedWrite,
    Posted,
    PostingJournal,
    WriteState,
)
from aiq_pipeline.sync.documents.plan import AiqTarget, PlannedDocument

log = logging.getLogger(__name__)

WRITTEN_AGAIN = "in_doubt_written_again"  # the outcome's detail naming the writes in doubt written again, and how


@dataclass(frozen=True)
class Witness:
    """The newest write of one AIQ type that AIQ answered with its id (None: none yet), and whether AIQ's reference
    look-up shows it now. Shown, it proves the look-up has caught up past every write of that type sent before it."""

    entry: JournalEntry | None
    shown: bool

    def vouches_for(self, doubt: JournalEntry, margin: timedelta) -> bool:
        """AIQ's look-up has caught up past the write in doubt: its "not found" may be believed. The witness must
        have been sent `margin` after the doubtful row was last touched (its write-ahead, or when it was marked
        unknown): a request may still be in AIQ's hands well after its write-ahead (pool waits, throttling, a slow
        commit), and `sent_at` is each runner's own clock."""
        if not self.shown or self.entry is None or self.entry.sent_at is None or doubt.sent_at is None:
            return False
        return self.entry.sent_at > max(doubt.sent_at, doubt.updated_at) + margin


class OutcomeUnknown(Exception):
    """AIQ did not confirm a write and does not show the document after looking until the deadline. `witness`: a
    person's retry did not believe the look-up's "not found", as no witness vouched for it (None: an automatic run)."""

    def __init__(
        self, write: PlannedWrite, entry: JournalEntry | None, looked_for: timedelta, witness: Witness | None = None
    ) -> None:
        super().__init__(write.reference)
        self.write, self.entry, self.looked_for, self.witness = write, entry, looked_for, witness


@dataclass(frozen=True)
class WrittenAgain:
    """Why a write in doubt, which AIQ's look-up did not show, was written again (for the document's outcome)."""

    reference: str
    how: str  # "witness <reference>" or "override"
    note: str


WriteFailure = OutcomeUnknown | DuplicateInAiq | ClaimLost | AiqError
Written = int | WriteFailure  # AIQ's transaction id, or why the document was not written


@dataclass(frozen=True)
class Item:
    doc: PlannedDocument
    write: PlannedWrite


@dataclass(frozen=True)
class WriterOptions:
    deadline: timedelta  # how long to keep looking after an unknown outcome
    first_pause: float  # seconds between look-ups while resolving one; doubles up to 15
    chunk: int = 100  # documents per bulk call
    concurrency: int = 4  # bulk calls at once
    witness_margin: timedelta = timedelta(minutes=10)  # see Witness.vouches_for


BULK: dict[AiqTarget, Callable[[AccountsIQClient, list[PlannedDocument]], list[BulkItemOutcome]]] = {
    AiqTarget.SALES_INVOICE: lambda aiq, docs: aiq.create_batch_sales_invoice_bulk_get_back_transaction_ids(
        [aiq_documents.batch_invoice(d) for d in docs]
    ),
    AiqTarget.SALES_CREDIT_NOTE: lambda aiq, docs: aiq.create_batch_sales_credit_note_bulk_get_back_transaction_ids(
        [aiq_documents.batch_credit_note(d) for d in docs]
    ),
    AiqTarget.SALES_RECEIPT: lambda aiq, docs: aiq.post_sales_receipts([aiq_documents.sales_receipt(d) for d in docs]),
}


class Writer:
    def __init__(
        self,
        aiq: AccountsIQClient,
        journal: PostingJournal,
        lookups: Lookups,
        *,
        owner: str,
        options: WriterOptions,
        manual: bool,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        rewrite_unknown: bool = False,
    ) -> None:
        self.aiq, self.journal, self.lookups = aiq, journal, lookups
        self.owner, self.options, self.manual = owner, options, manual
        self.rewrite_unknown = manual and rewrite_unknown  # a person's explicit override, for this run only
        self._clock, self._sleep = clock, sleep
        self.written_again: dict[str, WrittenAgain] = {}  # by reference: writes in doubt this run wrote again
        self.sent: set[str] = set()  # references this run sent and AIQ holds (not those it found there already)
        self._refused_as_duplicates: set[str] = set()  # sent, but AIQ already held them (its duplicate answer)
        self._witnesses: dict[str, Witness] = {}  # by AIQ type: looked up once a run

    # -- many documents ----------------------------------------------------------------------------------

    def write_all(self, items: Sequence[Item]) -> dict[str, Written]:
        """AIQ's id (or why not) for each document, writing only those AIQ is known not to hold."""
        results: dict[str, Written] = {}
        pending: list[Item] = []
        known = self.journal.entries_by_reference([item.write.reference for item in items])
        for item in items:
            try:
                found = self._held(item, known.get(item.write.reference))
            except (OutcomeUnknown, DuplicateInAiq, AiqError) as exc:
                results[item.write.reference] = exc
                continue
            if found is not None:
                results[item.write.reference] = found
            else:
                pending.append(item)
        results |= self._send_all(pending)
        return results

    def _held(self, item: Item, entry: JournalEntry | None) -> int | None:
        """AIQ's id when AIQ holds the document (looking until the deadline if an earlier write is in doubt).
        `entry` is the journal's row as the batch began: `begin_writes` checks it again under the claim's lock."""
        if entry is not None and entry.state == WriteState.POSTED and entry.aiq_id is not None:
            return entry.aiq_id
        if entry is not None and entry.state in (WriteState.SENDING, WriteState.UNKNOWN):
            found = self.look_until(item.write, since=entry.sent_at, found_by=FoundBy.LOOKUP)
            if found is not None:
                return found
            self.written_again[item.write.reference] = self.believed_absent(item.write, entry)
            return None  # a person's retry: AIQ's look-up has caught up and does not show it, or the person said so
        existing = one(item.write.reference, self.lookups.find(item.write.reference, item.write.target))
        if existing is not None:
            self.journal.record_posted(item.write, existing.transaction_id, found_by=FoundBy.LOOKUP)
            return existing.transaction_id
        return None

    def believed_absent(self, write: PlannedWrite, entry: JournalEntry, *, own: bool = True) -> WrittenAgain:
        """A write in doubt (`entry`) that AIQ's look-up does not show, taken as absent from AIQ, and why; else
        OutcomeUnknown. An automatic run never takes it so. A person's retry does when a witness shows the look-up
        has caught up past its sending, or when the person said to write it anyway (`rewrite_unknown`; only for the
        document's `own` writes, and never for one this run sent itself: a step retried by Dagster is no new word)."""
        if not self.manual:
            raise OutcomeUnknown(write, entry, self.options.deadline)
        sent = _when(entry.sent_at)
        witness = self.witness(write.target)
        if witness.vouches_for(entry, self.options.witness_margin) and witness.entry is not None:
            seen = f"{witness.entry.reference} (sent {_when(witness.entry.sent_at)})"
            return WrittenAgain(
                write.reference,
                f"witness {witness.entry.reference}",
                f"{write.reference}: its earlier write (sent {sent}) was in doubt; AIQ's look-up does not show it but "
                f"shows {seen}, written after it, so AIQ does not hold it: written again",
            )
        if self.rewrite_unknown and own and entry.sent_by != self.owner:
            log.warning(
                "%s: a person's explicit override (retry %s): written again although AIQ's look-up may not have "
                "caught up with its earlier write (sent %s); AIQ holds two if it held the first",
                write.reference,
                REWRITE_UNKNOWN_FLAG,
                sent,
            )
            return WrittenAgain(
                write.reference,
                "override",
                f"{write.reference}: its earlier write (sent {sent}) was in doubt and AIQ's look-up does not show it: "
                f"written again at a person's explicit request (retry {REWRITE_UNKNOWN_FLAG}), AIQ's look-up not "
                "being shown to have caught up",
            )
        raise OutcomeUnknown(write, entry, self.options.deadline, witness)

    def taken_as_absent(self, write: PlannedWrite, again: WrittenAgain) -> None:
        """Record a write in doubt that `believed_absent` took as absent as not in AIQ (a write may follow, looked
        up first); a document that no longer posts (voided meanwhile) then leaves nothing in doubt behind it."""
        self.written_again[write.reference] = again
        self.journal.record_rejected(write, f"taken as absent from AIQ: {again.note}")

    def witness(self, target: str) -> Witness:
        """The newest write of `target` AIQ answered with its id, and whether AIQ's look-up shows it (one look-up
        per AIQ type a run, and only when a person's retry meets a write in doubt)."""
        if target not in self._witnesses:
            newest = self.journal.newest_answered(target)
            shown = (
                newest is not None
                and newest.aiq_id is not None
                and self.lookups.shows(newest.reference, newest.target, newest.aiq_id)
            )
            self._witnesses[target] = Witness(newest, shown)
        return self._witnesses[target]

    def _send_all(self, items: list[Item]) -> dict[str, Written]:
        results: dict[str, Written] = {}
        chunks: list[list[tuple[Item, JournalEntry]]] = []
        sending: list[str] = []
        begun = self.journal.begin_writes([i.write for i in items], self.owner)
        for target in dict.fromkeys(i.doc.target for i in items):
            started = []
            for item in (i for i in items if i.doc.target == target):
                entry = begun[item.write.reference]
                if isinstance(entry, ClaimLost):
                    results[item.write.reference] = entry
                elif entry.state == WriteState.POSTED and entry.aiq_id is not None:  # posted since the batch began
                    results[item.write.reference] = entry.aiq_id
                else:
                    started.append((item, entry))
            sending += [item.write.reference for item, _ in started]
            if target in BULK:
                size = self.options.chunk
                chunks += [started[n : n + size] for n in range(0, len(started), size)]
            else:
                for item, entry in started:
                    results[item.write.reference] = self._send_one(item, entry)
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency)) as pool:
            calls = [(chunk, pool.submit(_bulk_call, self.aiq, chunk)) for chunk in chunks]
            for chunk, call in calls:
                results |= self._bulk_results(chunk, call)
        self.lookups.forget(i.write.reference for i in items)
        self.sent.update(
            ref for ref in sending if isinstance(results.get(ref), int) and ref not in self._refused_as_duplicates
        )
        return results

    def _bulk_results(
        self, chunk: list[tuple[Item, JournalEntry]], call: Future[list[BulkItemOutcome]]
    ) -> dict[str, Written]:
        try:
            answers = call.result()
        except AiqWriteOutcomeUnknown:
            return {item.write.reference: self._resolve(item, entry, FoundBy.LOOKUP) for item, entry in chunk}
        except (AiqValidationError, AiqThrottledError, AiqTransportError) as exc:
            for item, _ in chunk:  # AIQ answered for the whole call (or nothing left): nothing was written
                self.journal.record_rejected(item.write, str(exc))
            return {item.write.reference: exc for item, _ in chunk}
        answered = list(zip(chunk, answers, strict=True))
        created = [(item, a.created) for (item, _), a in answered if a.created is not None]
        self.journal.record_posted_many([Posted(i.write, c.transaction_id, FoundBy.ANSWER) for i, c in created])
        return {
            item.write.reference: answer.created.transaction_id
            if answer.created is not None
            else self._item_error(item, entry, answer.error)
            for (item, entry), answer in answered
        }

    def _item_error(self, item: Item, entry: JournalEntry, error: AiqError | None) -> Written:
        """An item of a bulk call that AIQ did not answer with a created transaction."""
        if isinstance(error, AiqDuplicateReference):
            return self._already_held(item, entry)
        if isinstance(error, AiqWriteOutcomeUnknown) or error is None:
            return self._resolve(item, entry, FoundBy.LOOKUP)
        self.journal.record_rejected(item.write, str(error))
        return error

    # -- one document ------------------------------------------------------------------------------------

    def _send_one(self, item: Item, entry: JournalEntry) -> Written:
        try:
            created = aiq_documents.create(self.aiq, item.doc)
        except AiqDuplicateReference:
            return self._already_held(item, entry)
        except AiqWriteOutcomeUnknown:
            return self._resolve(item, entry, FoundBy.LOOKUP)
        except (AiqValidationError, AiqThrottledError, AiqTransportError) as exc:
            self.journal.record_rejected(item.write, str(exc))  # AIQ answered (or nothing left): nothing was written
            return exc
        self.journal.record_posted(item.write, created.transaction_id, found_by=FoundBy.ANSWER)
        return created.transaction_id

    def _already_held(self, item: Item, entry: JournalEntry) -> Written:
        """AIQ refused the write because it holds the reference already: found there, not written by this run."""
        self._refused_as_duplicates.add(item.write.reference)
        return self._resolve(item, entry, FoundBy.DUPLICATE)

    def _resolve(self, item: Item, entry: JournalEntry, found_by: FoundBy) -> Written:
        found = self.look_until(item.write, since=entry.sent_at, found_by=found_by)
        return found if found is not None else OutcomeUnknown(item.write, entry, self.options.deadline)

    def look_until(self, write: PlannedWrite, *, since: datetime | None, found_by: FoundBy) -> int | None:
        """Look for `write` in AIQ until the deadline (counted from when it was sent); record it when found."""
        start = since or self._clock()
        deadline = start + self.options.deadline
        pause = self.options.first_pause
        while True:
            found = one(write.reference, self.lookups.fresh(write.reference, write.target))
            now = self._clock()
            if found is not None:
                self.journal.record_posted(write, found.transaction_id, found_by=found_by, lookup_lag=now - start)
                return found.transaction_id
            if now >= deadline:
                return None
            self._sleep(max(0.0, min(pause, (deadline - now).total_seconds())))
            pause = min(pause * 2, 15.0)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "at an unknown time"


def _bulk_call(aiq: AccountsIQClient, chunk: list[tuple[Item, JournalEntry]]) -> list[BulkItemOutcome]:
    docs = [item.doc for item, _ in chunk]
    return BULK[docs[0].target](aiq, docs)
