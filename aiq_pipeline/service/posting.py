"""One posting pipeline for every document kind, a batch at a time: claim, read, look, plan, write, allocate, verify.

1. **Claim** each document in the journal (atomic across processes and hosts). A live claim held by another run
   means that run is posting it: this one writes nothing for it and reports BEING_POSTED (retried later).
2. **Read** the batch from Bunny in bulk (its kinds' queries), and find the AIQ documents the plans depend on: from
   the journal first (a recorded AIQ id is final), else with one AIQ listing for the whole batch (`lookups`).
3. **Plan** each document (its kind's pure planner): post these documents, skip it, or wait.
4. **Write** the AIQ customers the plans need, then every planned document AIQ does not hold, in bulk calls,
   exactly once (`writes`: journal `sending` before the request, AIQ's id recorded when it answers, an unknown
   outcome resolved by looking until the deadline, never by writing again on a guess).
5. **Allocate** what the plans allocate (`allocations`), **verify** AIQ's totals against Bunny's from one listing
   of what was posted, record each outcome and release the claims.

A problem with one document is that document's outcome; its neighbours still post. Anything else (the store
failing) stops the batch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import AiqError
from aiq_pipeline.accountsiq.models import TransactionSummary
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.errors import BunnyError
from aiq_pipeline.service import aiq_documents
from aiq_pipeline.service.allocations import Allocator
from aiq_pipeline.service.customers import CustomerDirectory, CustomerResolution, CustomerWrites
from aiq_pipeline.service.kinds import KINDS, BunnyDocuments, DocumentKind, Related
from aiq_pipeline.service.lookups import DuplicateInAiq, Lookups, Wanted, following_lag, one
from aiq_pipeline.service.outcome import Outcome, Reason, Status
from aiq_pipeline.service.posting_outcomes import (
    PlanTotals,
    combined,
    duplicate,
    existing_outcome,
    failure,
    plan_details,
    preflight,
    record,
    unknown,
    verified,
    with_facts,
)
from aiq_pipeline.service.processes import is_dead, this_process
from aiq_pipeline.service.reference_data import ReferenceData
from aiq_pipeline.service.writes import WRITTEN_AGAIN, Item, OutcomeUnknown, Writer, WriterOptions, WrittenAgain
from aiq_pipeline.store.database import utcnow
from aiq_pipeline.store.journal import (
    ClaimHolder,
    ClaimLost,
    FoundBy,
    JournalEntry,
    PlannedWrite,
    PostingJournal,
    WriteState,
)
from aiq_pipeline.sync.customer import AmbiguousCustomer, ambiguous_problem
from aiq_pipeline.sync.documents.context import PlanContext, PostedDocument, PostingSettings
from aiq_pipeline.sync.documents.dating import posting_day
from aiq_pipeline.sync.documents.invoice import NOTHING_TO_POST
from aiq_pipeline.sync.documents.plan import AiqTarget, PlannedDocument, PostingPlan, Skip, Wait
from aiq_pipeline.sync.identity import parse_key
from aiq_pipeline.sync.inputs import BunnyAccount
from aiq_pipeline.sync.money import ZERO, to_cents
from aiq_pipeline.sync.problems import PreflightFailed, ProblemCode
from aiq_pipeline.sync.reconciliation import PostedTotals, totals_from_summary, totals_from_transaction

T = TypeVar("T")


@dataclass(frozen=True)
class PostingOptions:
    unknown_outcome_deadline: timedelta = timedelta(seconds=120)  # how long to keep looking after an unknown outcome
    claim_lease: timedelta = timedelta(seconds=600)  # how long a claim holds without its owner finishing
    first_lookup_pause: float = 1.0  # seconds between look-ups while resolving an unknown outcome; doubles to 15
    aiq_tax_rate_units: str = "percent"  # how AIQ lists its tax codes' rates (UNVERIFIED: percent or fraction)
    bulk_chunk: int = 100  # documents per AIQ bulk call
    concurrency: int = 4  # AIQ calls at once: bulk chunks, reference reads
    witness_margin: timedelta = timedelta(minutes=10)  # how much later a witness must be sent (Witness.vouches_for)


@dataclass(frozen=True)
class Preview:
    """What posting a document would do now, with nothing written: the plan (the exact AIQ documents), what AIQ
    already holds of it, and what would happen to its AIQ customer. `outcome` says skipped, waiting or failed (with
    the problem and its fix) when nothing would post."""

    outcome: Outcome
    plan: PostingPlan | None = None
    already_in_aiq: tuple[str, ...] = ()  # references AIQ holds already (not written again)
    customer: str = ""  # create | update: <fields> | existing | matched by <rule> | ""


@dataclass
class _Claimed:
    kind: DocumentKind[Any]
    base: Outcome


@dataclass
class _Ready:
    """A document planned to post: what the plan writes, what AIQ already holds, and how it went."""

    base: Outcome
    plan: PostingPlan
    posted: dict[str, PostedDocument]
    customer: CustomerResolution | None
    wrote: bool = False
    created_customer: bool = False
    failed: Exception | None = None
    notes: list[str] = field(default_factory=list)
    lag_seconds: float | None = None  # how long AIQ's look-up took to show it (at most), when measured
    written_again: list[WrittenAgain] = field(default_factory=list)  # writes in doubt a person's retry wrote again
    own_target: AiqTarget | None = None  # the type of the kind's own document (an invoice's: a sales invoice)


# A document by its reference and type: one the plan writes, or one the kind relates to.
_Named = PlannedDocument | Related


class PostingService:
    """Posts documents of the given kinds for one AIQ entity, as run `owner` (a Dagster run id)."""

    def __init__(
        self,
        aiq: AccountsIQClient,
        bunny: BunnyClient,
        journal: PostingJournal,
        *,
        settings: PostingSettings,
        owner: str,
        kinds: Mapping[str, DocumentKind[Any]] = KINDS,
        options: PostingOptions = PostingOptions(),
        manual: bool = False,
        rewrite_unknown: bool = False,
        customer_rules: Sequence[str] = (),
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.aiq, self.bunny, self.journal = aiq, bunny, journal
        self.settings, self.owner, self.kinds, self.options = settings, owner, kinds, options
        self.manual = manual
        self._clock = clock
        self.documents = BunnyDocuments(bunny, settings.bunny_entity_id)
        self.customers = CustomerDirectory(aiq, customer_rules)
        self.lookups = Lookups(aiq)
        self.deadline = following_lag(options.unknown_outcome_deadline, journal.recent_lookup_lags())
        writer_options = WriterOptions(
            deadline=self.deadline,
            first_pause=options.first_lookup_pause,
            chunk=options.bulk_chunk,
            concurrency=options.concurrency,
            witness_margin=options.witness_margin,
        )
        self.writer = Writer(
            aiq,
            journal,
            self.lookups,
            owner=owner,
            options=writer_options,
            manual=manual,
            clock=clock,
            sleep=sleep,
            rewrite_unknown=rewrite_unknown,
        )
        self.allocator = Allocator(aiq, journal, self.lookups, owner=owner, clock=clock)
        self.customer_writes = CustomerWrites(aiq, journal, self.customers, owner=owner, lease=options.claim_lease)
        self._reference: ReferenceData | None = None
        self._reference_failed: BunnyError | AiqError | None = None
        self._dry_run = False
        self._sent_at = clock()
        self._ahead: dict[str, JournalEntry | None] = {}  # journal rows read ahead for the batch (`_entry`)

    @property
    def reference(self) -> ReferenceData:
        """Read once per run; a read that failed is not tried again for each document of the batch (the next batch
        tries again), so AIQ or Bunny not answering costs one read, not one per document."""
        if self._reference is None:
            if self._reference_failed is not None:  # its traceback anew each time, not one growing per document
                raise self._reference_failed.with_traceback(None)
            try:
                self._reference = ReferenceData.load(
                    self.aiq,
                    self.bunny,
                    bunny_entity_id=self.settings.bunny_entity_id,
                    tax_rate_units=self.options.aiq_tax_rate_units,
                    concurrency=self.options.concurrency,
                )
            except (BunnyError, AiqError) as exc:
                self._reference_failed = exc
                raise
        return self._reference

    def post(self, key: str) -> Outcome:
        (outcome,) = self.post_many([key])
        return outcome

    def post_many(self, keys: Iterable[str]) -> list[Outcome]:
        """Each key's outcome, in the order given."""
        keys = list(dict.fromkeys(keys))
        outcomes: dict[str, Outcome] = {}
        claimed: list[_Claimed] = []
        for key, taken in self._claim_all(keys).items():
            if isinstance(taken, Outcome):
                outcomes[key] = taken
            else:
                claimed.append(taken)
        try:
            outcomes |= self._post_claimed(claimed)
        finally:
            self.journal.release_many([c.base.key for c in claimed], self.owner)
        self.journal.record_outcomes([record(outcomes[c.base.key], self.owner) for c in claimed])
        return [outcomes[key] for key in keys]

    def preview_many(self, keys: Iterable[str]) -> list[Preview]:
        """What posting each key would do now, planned by the same planners, writing nothing to AIQ or the journal.
        A write whose outcome is in doubt is looked for once (not until the deadline)."""
        self._dry_run = True
        try:
            return self._previews(list(dict.fromkeys(keys)))
        finally:
            self._dry_run = False  # the same service may post next: it must then look until the deadline again

    def _previews(self, keys: list[str]) -> list[Preview]:
        parsed = [self._parse(key) for key in keys]
        claimed = [p for p in parsed if isinstance(p, _Claimed)]
        self._read_batch(claimed)
        previews = []
        for p in parsed:
            if isinstance(p, Outcome):
                previews.append(Preview(p))
                continue
            prepared = self._guarded(p.base, lambda p=p: self._prepare(p))  # type: ignore[misc]  # binds p now
            previews.append(self._preview(prepared) if isinstance(prepared, _Ready) else Preview(prepared))
        return previews

    def _preview(self, r: _Ready) -> Preview:
        held = tuple(d.reference for d in r.plan.documents if d.reference in r.posted)
        status = Status.ALREADY_POSTED if len(held) == len(r.plan.documents) else Status.POSTED
        outcome = replace(r.base, status=status, details=plan_details(r.plan))
        return Preview(outcome, r.plan, held, self.customer_writes.intent(r.plan, r.customer))

    def _parse(self, key: str) -> _Claimed | Outcome:
        try:
            kind_name, source_id = parse_key(key)
            kind = self.kinds[kind_name]
        except (ValueError, KeyError):
            expected = ", ".join(self.kinds)
            return Outcome(
                key,
                "unknown",
                Status.FAILED,
                reason_code=Reason.BAD_KEY,
                reason=f"{key!r} is not a partition key of this asset (kinds: {expected}).",
            )
        return _Claimed(kind, Outcome(key, kind.name, Status.FAILED, source_id=source_id))

    def _claim_all(self, keys: list[str]) -> dict[str, _Claimed | Outcome]:
        """Each key claimed for this run (in one go), or the outcome saying why not."""
        parsed = {key: self._parse(key) for key in keys}
        wanted = [key for key, p in parsed.items() if isinstance(p, _Claimed)]
        holders = self.journal.claim_many(
            wanted, self.owner, process=this_process(), lease=self.options.claim_lease, is_dead=is_dead
        )
        return {key: _held_by(p, holders[key]) if isinstance(p, _Claimed) else p for key, p in parsed.items()}

    def _post_claimed(self, claimed: list[_Claimed]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        self._read_batch(claimed)
        ready: list[_Ready] = []
        for c in claimed:
            prepared = self._guarded(c.base, lambda c=c: self._prepare(c))  # type: ignore[misc]  # binds c now
            if isinstance(prepared, _Ready):
                ready.append(prepared)
            else:
                outcomes[c.base.key] = prepared
        self._write(ready)
        self._look_up_posted(ready)
        for r in ready:
            outcomes[r.base.key] = self._guarded(r.base, lambda r=r: self._finish(r))  # type: ignore[misc]  # binds r
        return outcomes

    def _guarded(self, base: Outcome, step: Callable[[], T]) -> T | Outcome:
        try:
            return step()
        except OutcomeUnknown as exc:
            return unknown(base, exc, self.journal)
        except DuplicateInAiq as exc:
            return duplicate(base, exc)
        except (ClaimLost, BunnyError, AiqError) as exc:  # anything else (the store failing) stops the batch
            return failure(base, exc)

    # -- reading the batch ---------------------------------------------------------------------------------

    def _read_batch(self, claimed: list[_Claimed]) -> None:
        """The reference data, the batch's Bunny documents in bulk, then one AIQ listing for the documents the journal
        never wrote."""
        self._ahead, self._reference_failed = {}, None
        by_kind: dict[str, list[str]] = {}
        for c in claimed:
            by_kind.setdefault(c.kind.name, []).append(c.base.source_id)
        if claimed:  # first: Bunny's currencies come with it, so decoding the documents asks no more
            self._load_reference()
        try:
            for name, ids in by_kind.items():
                self.kinds[name].prefetch(self.documents, ids)
            self.lookups.prefetch(self._unwritten(claimed))
        except (BunnyError, AiqError):
            pass  # each document reads (and fails) on its own below, with its own outcome

    def _load_reference(self) -> None:
        """Read the reference data now; a failure is kept, and each document of the batch reports it below."""
        with contextlib.suppress(BunnyError, AiqError):
            _ = self.reference

    def _unwritten(self, claimed: list[_Claimed]) -> list[Wanted]:
        """The related documents the journal has no row of (read ahead in one query, for `_entry`)."""
        related = [
            r
            for c in claimed
            if (source := c.kind.fetch(self.documents, c.base.source_id)) is not None
            for r in c.kind.related(source)
        ]
        found = self.journal.entries_by_reference([r.reference for r in related])
        # Kept only under this run's own claims: another run may write the rest (a void's invoice) meanwhile.
        own = {c.base.key for c in claimed}
        self._ahead = {r.reference: found.get(r.reference) for r in related if r.claim_key in own}
        return [
            Wanted(r.reference, r.target, self._aiq_date(r.around))
            for r in related
            if r.around is not None and found.get(r.reference) is None
        ]

    def _entry(self, reference: str) -> JournalEntry | None:
        """`reference`'s journal row: the batch's read-ahead the first time when it is under this run's own claims
        (no other run writes under them, and nothing this run does writes it before that), else the journal's own."""
        if reference in self._ahead:
            return self._ahead.pop(reference)
        return self.journal.entry(reference)

    def _aiq_date(self, day: date) -> date:
        """The date a document of Bunny date `day` carries in AIQ (moved under the closed-period policy)."""
        moved = posting_day(day, self.reference.ledger.periods, self.settings.closed_period_policy)
        return moved[0] if moved else day

    # -- one document, up to its plan -----------------------------------------------------------------------

    def _prepare(self, claimed: _Claimed) -> Outcome | _Ready:
        base, kind = claimed.base, claimed.kind
        source = kind.fetch(self.documents, base.source_id)
        if source is None:
            what = kind.name.replace("_", " ")
            return replace(
                base,
                reason_code=ProblemCode.NOT_FOUND,
                reason=f"Bunny has no {what} {base.source_id} in entity {self.settings.bunny_entity_id}.",
                fix="Nothing to post. If it was removed on purpose, ignore this exception.",
            )
        base = with_facts(base, kind.facts(source), self.settings.readings)
        related = kind.related(source)
        posted = {r.reference: found for r in related if (found := self._resolve(r, base.key)) is not None}
        held = [(r, posted[r.reference]) for r in related if r.claim_key == base.key and r.reference in posted]
        try:
            customer = self._resolve_customer(kind.facts(source).account)
            decision = self._plan(kind, source, posted, customer)
        except PreflightFailed as exc:
            # Already in AIQ unless a document of its own (a remainder, a refund) is still unwritten: that must show.
            return (
                self._existing(base, related[0].target, held)
                if held and self._complete(base.key)
                else preflight(base, exc)
            )
        if held and not isinstance(decision, PostingPlan):
            return self._existing(base, related[0].target, held)
        if isinstance(decision, Skip):
            status = Status.NOTHING_TO_POST if decision.code == NOTHING_TO_POST else Status.SKIPPED
            return replace(base, status=status, reason_code=decision.code, reason=decision.reason)
        if isinstance(decision, Wait):
            return replace(
                base,
                reason_code=decision.code,
                reason=decision.reason,
                fix=decision.fix,
                retryable=True,
                details=decision.details,
            )
        return _Ready(base, decision, posted, customer, own_target=related[0].target)

    def _plan(
        self,
        kind: DocumentKind[Any],
        source: Any,
        posted: Mapping[str, PostedDocument],
        customer: CustomerResolution | None,
    ) -> Any:
        """The kind's plan; after NO_EXCHANGE_RATE, once more with AIQ's rate for the day (if AIQ has one)."""
        ctx = PlanContext(
            mapping=self.reference.mapping,
            ledger=self.reference.ledger,
            settings=self.settings,
            existing_customer=customer.existing if customer else None,
            customer_code=customer.match.code if customer else None,
            posted=posted,
        )
        try:
            return kind.plan(source, ctx)
        except PreflightFailed as exc:
            if ProblemCode.NO_EXCHANGE_RATE not in exc.codes:
                raise
            with_rate = self.reference.with_aiq_rate(self.aiq, self.settings, kind.currency(source))
            if with_rate is None:
                raise
            return kind.plan(source, replace(ctx, settings=with_rate))

    def _resolve_customer(self, account: BunnyAccount | None) -> CustomerResolution | None:
        """Which AIQ customer the document's account posts to (an ambiguous match is the document's problem)."""
        if account is None:
            return None
        found = self.customers.resolve(account)
        if isinstance(found, AmbiguousCustomer):
            raise PreflightFailed([ambiguous_problem(account, found)])
        return found

    def _resolve(self, related: Related, key: str) -> PostedDocument | None:
        """The AIQ document `related` names, from the journal (final) or AIQ's look-up; None when absent. A write
        of it in doubt is looked for until the deadline first: one look that misses it decides nothing, unless a
        person's retry takes it as absent (`Writer.believed_absent`; the override only for document `key`'s own)."""
        entry = self._entry(related.reference)
        if entry is not None and entry.state == WriteState.POSTED and entry.aiq_id is not None:
            document = aiq_documents.posted_lines(entry.document)
            return PostedDocument(related.reference, entry.aiq_id, entry.gross or ZERO, document=document)
        write = PlannedWrite(related.reference, related.claim_key, "document", str(related.target))
        if self._dry_run:
            seen = one(related.reference, self.lookups.find(related.reference, related.target))
            return _found(related.reference, seen) if seen else None
        if entry is not None and entry.state in (WriteState.SENDING, WriteState.UNKNOWN):
            found_id = self.writer.look_until(write, since=entry.sent_at, found_by=FoundBy.LOOKUP)
            if found_id is None:  # OutcomeUnknown unless a person's retry may take it as absent
                write = replace(write, summary=entry.sent_summary)
                own = related.claim_key == key
                again = self.writer.believed_absent(write, entry, own=own)
                if own:  # no longer in doubt, whether the plan now writes it again or (voided) not at all
                    self.writer.taken_as_absent(write, again)
                return None
        first = one(related.reference, self.lookups.find(related.reference, related.target))
        if first is None:
            return None
        gross = abs(to_cents(first.control_amount))
        self.journal.record_posted(
            replace(write, currency=first.currency_code, gross=gross), first.transaction_id, found_by=FoundBy.LOOKUP
        )
        return _found(related.reference, first)

    # -- writing the batch -----------------------------------------------------------------------------------

    def _write(self, ready: list[_Ready]) -> None:
        """Customers first (one by one, each under its own claim), then every document in bulk."""
        for r in ready:
            try:
                r.created_customer = self.customer_writes.ensure(r.plan, r.customer)
            except (ClaimLost, AiqError) as exc:
                r.failed = exc
        items = [
            (r, Item(doc, aiq_documents.planned_write(doc, claim_key=r.base.key, kind=r.base.kind)))
            for r in ready
            if r.failed is None
            for doc in r.plan.documents
            if doc.reference not in r.posted
        ]
        self._sent_at = self._clock()
        written = self.writer.write_all([item for _, item in items])
        for r, item in items:
            result = written[item.doc.reference]
            if isinstance(result, int):
                r.posted[item.doc.reference] = PostedDocument(
                    item.doc.reference, result, item.doc.gross, customer_code=item.doc.customer_code
                )
                r.wrote = r.wrote or item.doc.reference in self.writer.sent  # not when found in AIQ (a re-run)
                if again := self.writer.written_again.get(item.doc.reference):
                    r.written_again.append(again)
            elif r.failed is None:
                r.failed = result

    def _look_up_posted(self, ready: list[_Ready]) -> None:
        """One listing of the documents just posted, so each is verified without a call of its own."""
        posted = [Wanted(d.reference, d.target, d.date) for r in ready if not r.failed for d in _verified_documents(r)]
        with contextlib.suppress(AiqError):  # without it, each is read back by its id
            self.lookups.prefetch(posted)
        self._measure_lag(ready)

    def _measure_lag(self, ready: list[_Ready]) -> None:
        """For each document written now and shown by the listing: how long AIQ took to show it, at most (the
        journal keeps it; the deadline for unknown outcomes follows it; the UI plots it)."""
        lag = self._clock() - self._sent_at
        main_sent = [r for r in ready if r.failed is None and r.plan.main.reference in self.writer.sent]
        shown = [r for r in main_sent if self.lookups.find(r.plan.main.reference, r.plan.main.target)]
        self.journal.record_lookup_lag([r.plan.main.reference for r in shown], lag)
        for r in shown:
            r.lag_seconds = round(lag.total_seconds(), 3)

    # -- finishing one document ------------------------------------------------------------------------------

    def _finish(self, r: _Ready) -> Outcome:
        if r.failed is not None:
            raise r.failed
        allocated = ZERO
        related_id = None
        for allocation in r.plan.allocations:
            allocated += self.allocator.allocate(allocation, r.posted, r.base.key, r.notes)
            related_id = r.posted[allocation.target].transaction_id
        main = r.posted[r.plan.main.reference]
        totals = self._aiq_totals(main.transaction_id, r.plan.main)
        outcome = replace(
            verified(r.base, main.transaction_id, totals, sent=r.plan.main.gross, plan=self._plan_totals(r, totals)),
            status=Status.POSTED if r.wrote else Status.ALREADY_POSTED,
            customer_created=r.created_customer,
            related_transaction_id=related_id,
            allocated=allocated if r.plan.allocations else None,
            details=plan_details(r.plan) | _customer_details(r),
        )
        again = [a.note for a in r.written_again]
        return replace(outcome, reason="; ".join((*r.plan.notes, *r.notes, *again)) or outcome.reason)

    def _complete(self, key: str) -> bool:
        """No write of document `key`'s is unfinished in the journal (rejected, in doubt or being sent)."""
        return all(e.state == WriteState.POSTED for e in self.journal.entries([key]))

    def _existing(self, base: Outcome, own: AiqTarget, held: list[tuple[Related, PostedDocument]]) -> Outcome:
        """Already in AIQ: what AIQ holds of the document's own parts (`held`, under its claim; the first read as
        its main document)."""
        parts = [(r, p.transaction_id) for r, p in held]
        main = self._aiq_totals(parts[0][1], parts[0][0])
        return existing_outcome(verified(base, parts[0][1], main, plan=self._as_one(own, parts, main)))

    def _aiq_totals(self, transaction_id: int, document: _Named | None = None) -> PostedTotals:
        """AIQ's totals of transaction `transaction_id` (`document`'s): from the batch listing, else read back by
        id."""
        found = [] if document is None else self.lookups.find(document.reference, document.target)
        match = next((s for s in found if s.transaction_id == transaction_id), None)
        if match is not None and match.lines:
            return totals_from_summary(match)
        return totals_from_transaction(self.aiq.get_transaction(transaction_id))

    def _plan_totals(self, r: _Ready, main: PostedTotals) -> PlanTotals | None:
        parts = [(d, r.posted[d.reference].transaction_id) for d in _verified_documents(r)]
        return self._as_one(r.own_target or r.plan.main.target, parts, main)

    def _as_one(self, own: AiqTarget, parts: Sequence[tuple[_Named, int]], main: PostedTotals) -> PlanTotals | None:
        """What AIQ holds of `parts` (document, transaction id; the first is AIQ's main one, read as `main`) as one
        total signed as Bunny's document (a remainder credit note subtracts from its invoice); None when that is
        the main document as it is: one of the kind's own type, or not a sales document (no other AIQ call then)."""
        first_doc, first = parts[0]
        together = [(d, tid) for d, tid in parts if _family(d.target) == _family(first_doc.target)]
        if len(together) == 1 and first_doc.target == own:
            return None
        return combined(
            [(d.target == own, d.reference, main if tid == first else self._aiq_totals(tid, d)) for d, tid in together]
        )


# The documents that carry a Bunny invoice's or credit note's totals between them (a refund's money out does not).
_SALES_DOCUMENTS = frozenset({AiqTarget.SALES_INVOICE, AiqTarget.SALES_CREDIT_NOTE})


def _family(target: AiqTarget | str) -> str:
    """Documents of one family carry a Bunny document's totals between them: a sales invoice and credit note (an
    invoice's remainder), or the parts of one kind's credit journals (account credit applied in steps)."""
    return "sales" if target in _SALES_DOCUMENTS else str(target)


def _verified_documents(r: _Ready) -> list[PlannedDocument]:
    """The plan's documents whose AIQ totals are compared with Bunny's: its main one, with the others of its family
    (an invoice's remainder credit note, a void's reversal of that remainder, the earlier parts of account credit)."""
    main = r.plan.main
    return [main, *(d for d in r.plan.documents[1:] if _family(d.target) == _family(main.target))]


def _found(reference: str, summary: TransactionSummary) -> PostedDocument:
    outstanding = abs(summary.outstanding_amount) if summary.outstanding_amount is not None else None
    gross = abs(to_cents(summary.control_amount))
    return PostedDocument(reference, summary.transaction_id, gross, outstanding, customer_code=summary.account_code)


def _customer_details(r: _Ready) -> dict[str, str]:
    details = {} if r.lag_seconds is None else {"aiq_lookup_lag_seconds": str(r.lag_seconds)}
    if r.written_again:  # a write in doubt written again on a person's retry: by a witness, or their override
        details[WRITTEN_AGAIN] = "; ".join(f"{a.reference} ({a.how})" for a in r.written_again)
    if r.customer is None:
        return details
    return details | {"customer_match": "created" if r.created_customer else r.customer.match.how}


def _held_by(claimed: _Claimed, holder: ClaimHolder | None) -> _Claimed | Outcome:
    """The claim is this run's (None), or the outcome of a document another run is posting."""
    if holder is None:
        return claimed
    since = holder.claimed_at.strftime("%Y-%m-%d %H:%M:%S UTC") if holder.claimed_at else "a moment ago"
    return replace(
        claimed.base,
        reason_code=Reason.BEING_POSTED,
        retryable=True,
        reason=f"Being posted by run {holder.owner} (since {since}); this run wrote nothing.",
        fix="Nothing to do: it is picked up again once that run finishes.",
        details={"held_by_run": holder.owner},
    )
