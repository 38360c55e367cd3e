"""One posting pipeline for every document kind: claim, look, write, record.

For each partition key:

1. **Claim** the document in the journal (atomic across processes and hosts). A live claim held by another run
   means that run is posting it: this one writes nothing and reports BEING_POSTED (retried later).
2. **Read** the Bunny document (its kind's query) and find the AIQ documents its plan depends on, from the journal
   first (a recorded AIQ id is final) and else by AIQ's reference look-up.
3. **Plan** it (its kind's pure planner): post these documents, skip it, or wait.
4. **Write** each planned document that AIQ does not hold, exactly once: the journal row moves to `sending` before
   the request leaves, and AIQ's id is recorded the moment AIQ returns it. An unknown outcome (timeout, dropped
   connection, "reference already exists") is resolved by looking until the deadline, never by writing again on a
   guess; still not found, the document becomes OUTCOME_UNKNOWN for a person. Automatic runs never write a
   document whose earlier outcome is unknown; a person's retry (`manual=True`) looks once more, then writes.
5. **Allocate** what the plan allocates (journaled like a write), **verify** AIQ's totals by id, record the
   outcome, release the claim.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import (
    AiqDuplicateReference,
    AiqError,
    AiqOverAllocation,
    AiqThrottledError,
    AiqTransportError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
)
from aiq_pipeline.accountsiq.models import Customer, TransactionSummary
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.errors import BunnyError
from aiq_pipeline.service import aiq_documents
from aiq_pipeline.service.customers import (
    CustomerDirectory,
    CustomerResolution,
    changed_fields,
    ensure_customer,
    update_customer,
)
from aiq_pipeline.service.kinds import KINDS, BunnyDocuments, DocumentKind, Facts, Related
from aiq_pipeline.service.outcome import Outcome, Reason, Status
from aiq_pipeline.service.processes import is_dead, this_process
from aiq_pipeline.service.reference_data import ReferenceData
from aiq_pipeline.store.database import utcnow
from aiq_pipeline.store.journal import (
    ClaimLost,
    FoundBy,
    JournalEntry,
    OutcomeRecord,
    PlannedWrite,
    PostingJournal,
    WriteState,
)
from aiq_pipeline.sync.customer import AmbiguousCustomer, ambiguous_problem
from aiq_pipeline.sync.documents.context import PlanContext, PostedDocument, PostingSettings
from aiq_pipeline.sync.documents.invoice import NOTHING_TO_POST
from aiq_pipeline.sync.documents.plan import AiqTarget, PlannedAllocation, PlannedDocument, PostingPlan, Skip, Wait
from aiq_pipeline.sync.identity import parse_key
from aiq_pipeline.sync.inputs import BunnyAccount
from aiq_pipeline.sync.money import ZERO, to_cents
from aiq_pipeline.sync.problems import PreflightFailed, ProblemCode
from aiq_pipeline.sync.reconciliation import totals_from_transaction

TRANSIENT_FIX = "Nothing to fix in the data: retry later (the sync retries automatically a few times)."
# AIQ refusing to pair two documents at all (which pairs it allocates is UNVERIFIED): they stay unallocated.
UNALLOCATABLE_CODES = frozenset({"TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"})


@dataclass(frozen=True)
class PostingOptions:
    unknown_outcome_deadline: timedelta = timedelta(seconds=120)  # how long to keep looking after an unknown outcome
    claim_lease: timedelta = timedelta(seconds=600)  # how long a claim holds without its owner finishing
    first_lookup_pause: float = 1.0  # seconds between look-ups while resolving an unknown outcome; doubles to 15
    aiq_tax_rate_units: str = "percent"  # how AIQ lists its tax codes' rates (UNVERIFIED: percent or fraction)


class _OutcomeUnknown(Exception):
    def __init__(self, write: PlannedWrite, entry: JournalEntry | None, looked_for: timedelta) -> None:
        super().__init__(write.reference)
        self.write, self.entry, self.looked_for = write, entry, looked_for


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
        customer_rules: Sequence[str] = (),
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.aiq, self.bunny, self.journal = aiq, bunny, journal
        self.settings, self.owner, self.kinds, self.options = settings, owner, kinds, options
        self.manual = manual
        self._clock, self._sleep = clock, sleep
        self.documents = BunnyDocuments(bunny, settings.bunny_entity_id)
        self.customers = CustomerDirectory(aiq, customer_rules)
        self._customer: CustomerResolution | None = None
        self._reference: ReferenceData | None = None
        self._looked: set[str] = set()  # references looked up (and absent) during the current document
        self._notes: list[str] = []  # what happened while posting the current document, for its outcome
        self._base = Outcome("", "", Status.FAILED)  # the current document's outcome so far, for errors that stop it

    @property
    def reference(self) -> ReferenceData:
        if self._reference is None:
            self._reference = ReferenceData.load(
                self.aiq,
                self.bunny,
                bunny_entity_id=self.settings.bunny_entity_id,
                tax_rate_units=self.options.aiq_tax_rate_units,
            )
        return self._reference

    def post_many(self, keys: Iterable[str]) -> Iterator[Outcome]:
        for key in keys:
            yield self.post(key)

    def post(self, key: str) -> Outcome:
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
        base = Outcome(key, kind.name, Status.FAILED, source_id=source_id)
        self._looked, self._notes = set(), []
        holder = self.journal.claim(
            key, self.owner, process=this_process(), lease=self.options.claim_lease, is_dead=is_dead
        )
        if holder is not None:
            since = holder.claimed_at.strftime("%Y-%m-%d %H:%M:%S UTC") if holder.claimed_at else "a moment ago"
            return replace(
                base,
                reason_code=Reason.BEING_POSTED,
                retryable=True,
                reason=f"Being posted by run {holder.owner} (since {since}); this run wrote nothing.",
                fix="Nothing to do: it is picked up again once that run finishes.",
                details={"held_by_run": holder.owner},
            )
        try:
            outcome = self._guarded(base, kind)
        finally:
            self.journal.release(key, self.owner)
        self.journal.record_outcomes([_record(outcome, self.owner)])
        return outcome

    def _guarded(self, base: Outcome, kind: DocumentKind[Any]) -> Outcome:
        self._base = base
        try:
            return self._post_claimed(base, kind)
        except _OutcomeUnknown as unknown:
            return self._unknown(self._base, unknown)
        except (ClaimLost, BunnyError, AiqError) as exc:  # anything else (the store failing) stops the batch
            return _failure(self._base, exc)

    # -- one claimed document --------------------------------------------------------------------

    def _post_claimed(self, base: Outcome, kind: DocumentKind[Any]) -> Outcome:
        source = kind.fetch(self.documents, base.source_id)
        if source is None:
            what = "document" if base.kind == "unknown" else base.kind.replace("_", " ")
            return replace(
                base,
                reason_code=ProblemCode.NOT_FOUND,
                reason=f"Bunny has no {what} {base.source_id} in entity {self.settings.bunny_entity_id}.",
                fix="Nothing to post. If it was removed on purpose, ignore this exception.",
            )
        base = self._base = _with_facts(base, kind.facts(source))
        related = kind.related(source)
        posted = {r.reference: found for r in related if (found := self._resolve(r)) is not None}
        own = posted.get(related[0].reference)
        try:
            decision = self._plan(kind, source, posted)
        except PreflightFailed as exc:
            return self._finish_existing(base, own) if own else _preflight(base, exc)
        if own is not None and not isinstance(decision, PostingPlan):
            return self._finish_existing(base, own)
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
        return self._execute(base, decision, posted)

    def _plan(self, kind: DocumentKind[Any], source: Any, posted: Mapping[str, PostedDocument]) -> Any:
        """The kind's plan; after NO_EXCHANGE_RATE, once more with AIQ's rate for the day (if AIQ has one)."""
        self._customer = self._resolve_customer(kind.facts(source).account)
        ctx = PlanContext(
            mapping=self.reference.mapping,
            ledger=self.reference.ledger,
            settings=self.settings,
            existing_customer=self._customer.existing if self._customer else None,
            customer_code=self._customer.match.code if self._customer else None,
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

    def _execute(self, base: Outcome, plan: PostingPlan, posted: dict[str, PostedDocument]) -> Outcome:
        created = self._ensure_customer(plan)
        wrote = False
        for doc in plan.documents:
            if doc.reference not in posted:
                posted[doc.reference] = PostedDocument(doc.reference, self._write(doc, base), doc.gross)
                wrote = True
        allocated = ZERO
        related_id = None
        for allocation in plan.allocations:
            allocated += self._allocate(allocation, posted, base.key)
            related_id = posted[allocation.target].transaction_id
        main = posted[plan.main.reference]
        outcome = replace(
            self._verified(base, main.transaction_id, sent=plan.main.gross),
            status=Status.POSTED if wrote else Status.ALREADY_POSTED,
            customer_created=created,
            related_transaction_id=related_id,
            allocated=allocated if plan.allocations else None,
            details=_plan_details(plan) | self._customer_details(created),
        )
        return replace(outcome, reason="; ".join((*plan.notes, *self._notes)) or outcome.reason)

    def _finish_existing(self, base: Outcome, own: PostedDocument) -> Outcome:
        return replace(self._verified(base, own.transaction_id), status=Status.ALREADY_POSTED)

    # -- what AIQ holds ----------------------------------------------------------------------------

    def _resolve(self, related: Related) -> PostedDocument | None:
        """The AIQ document `related` names, from the journal (final) or AIQ's look-up; None when absent."""
        entry = self.journal.entry(related.reference)
        if entry is not None and entry.state == WriteState.POSTED and entry.aiq_id is not None:
            document = aiq_documents.posted_lines(entry.document)
            return PostedDocument(related.reference, entry.aiq_id, entry.gross or ZERO, document=document)
        found = self._lookup(related.reference, related.target)
        if not found:
            self._looked.add(related.reference)
            return None
        first = found[0]
        write = PlannedWrite(
            related.reference,
            related.claim_key,
            "document",
            str(related.target),
            currency=first.currency_code,
            gross=abs(to_cents(first.control_amount)),
        )
        self.journal.record_posted(write, first.transaction_id, found_by=FoundBy.LOOKUP)
        return PostedDocument(
            related.reference,
            first.transaction_id,
            abs(to_cents(first.control_amount)),
            abs(first.outstanding_amount) if first.outstanding_amount is not None else None,
            customer_code=first.account_code,
        )

    def _lookup(self, reference: str, target: AiqTarget | str) -> list[TransactionSummary]:
        """AIQ's live (not reversed) documents of this type carrying exactly this reference, oldest first."""
        found = self.aiq.get_transactions_by_external_reference(reference, types=[str(target)])
        return sorted((t for t in found if not t.is_reversed), key=lambda t: t.transaction_id)

    def _verified(self, base: Outcome, transaction_id: int, sent: Decimal | None = None) -> Outcome:
        """`base` with AIQ's totals, read back by id, and whether they equal Bunny's (and what was sent) to the
        cent."""
        posted = totals_from_transaction(self.aiq.get_transaction(transaction_id))
        differences = [
            f"{name}: Bunny {to_cents(bunny)}, AIQ {aiq}"
            for name, bunny, aiq in (
                ("net", base.net, posted.net),
                ("tax", base.tax, posted.tax),
                ("gross", base.gross, posted.gross),
            )
            if bunny is not None and to_cents(bunny) != aiq
        ]
        if base.gross is None and sent is not None and to_cents(sent) != posted.gross:
            differences.append(f"gross: sent {to_cents(sent)}, AIQ {posted.gross}")
        return replace(
            base,
            transaction_id=transaction_id,
            aiq_gross=posted.gross,
            totals_match=not differences,
            differences=tuple(differences),
        )

    # -- writes, exactly once ------------------------------------------------------------------------

    def _write(self, doc: PlannedDocument, base: Outcome) -> int:
        """AIQ's transaction id for `doc`, writing it only when AIQ is known not to hold it."""
        write = aiq_documents.planned_write(doc, claim_key=base.key, kind=base.kind)
        entry = self.journal.entry(doc.reference)
        if entry is not None and entry.state in (WriteState.SENDING, WriteState.UNKNOWN):
            found = self._look_until(write, since=entry.sent_at, found_by=FoundBy.LOOKUP)
            if found is not None:
                return found
            if not self.manual:
                raise _OutcomeUnknown(write, entry, self.options.unknown_outcome_deadline)
            # A person's retry: it looked once more, and AIQ does not hold it; write it.
        existing = [] if doc.reference in self._looked else self._lookup(doc.reference, doc.target)
        if existing:
            self.journal.record_posted(write, existing[0].transaction_id, found_by=FoundBy.LOOKUP)
            return existing[0].transaction_id
        return self._send(doc, write)

    def _send(self, doc: PlannedDocument, write: PlannedWrite) -> int:
        entry = self.journal.begin_write(write, self.owner)
        try:
            created = aiq_documents.create(self.aiq, doc)
        except AiqDuplicateReference:
            found = self._look_until(write, since=entry.sent_at, found_by=FoundBy.DUPLICATE)
            if found is None:
                raise _OutcomeUnknown(write, entry, self.options.unknown_outcome_deadline) from None
            return found
        except AiqWriteOutcomeUnknown:
            found = self._look_until(write, since=entry.sent_at, found_by=FoundBy.LOOKUP)
            if found is None:
                raise _OutcomeUnknown(write, entry, self.options.unknown_outcome_deadline) from None
            return found
        except (AiqValidationError, AiqThrottledError, AiqTransportError) as exc:
            self.journal.record_rejected(write, str(exc))  # AIQ answered (or nothing left): nothing was written
            raise
        self.journal.record_posted(write, created.transaction_id, found_by=FoundBy.ANSWER)
        return created.transaction_id

    def _look_until(self, write: PlannedWrite, *, since: datetime | None, found_by: FoundBy) -> int | None:
        """Look for `write` in AIQ until the deadline (counted from when it was sent); record it when found."""
        start = since or self._clock()
        deadline = start + self.options.unknown_outcome_deadline
        pause = self.options.first_lookup_pause
        while True:
            found = self._lookup(write.reference, write.target)
            now = self._clock()
            if found:
                self.journal.record_posted(write, found[0].transaction_id, found_by=found_by, lookup_lag=now - start)
                return found[0].transaction_id
            if now >= deadline:
                return None
            self._sleep(max(0.0, min(pause, (deadline - now).total_seconds())))
            pause = min(pause * 2, 15.0)

    def _unknown(self, base: Outcome, unknown: _OutcomeUnknown) -> Outcome:
        sent = unknown.entry.sent_at if unknown.entry else None
        when = sent.strftime("%Y-%m-%d %H:%M:%S UTC") if sent else "earlier"
        what = unknown.write.summary or unknown.write.reference
        detail = (
            f"AIQ did not confirm the {what}, sent {when}, and it is not in AIQ after looking for "
            f"{int(unknown.looked_for.total_seconds())} s."
        )
        self.journal.record_unknown(unknown.write, detail)
        fix = (
            f"Look in AIQ for a {aiq_documents.target_name(unknown.write.target)} with External Reference "
            f"{unknown.write.reference}. Then retry it (aiq-pipeline retry {base.key}): the retry looks once more and "
            "records it if AIQ holds it, else posts it. Automatic retries never post it again."
        )
        return replace(base, reason_code=Reason.OUTCOME_UNKNOWN, reason=detail, fix=fix, retryable=False)

    # -- customers and allocations ----------------------------------------------------------------------

    def _ensure_customer(self, plan: PostingPlan) -> bool:
        """The plan's AIQ customer created unless AIQ has it, or brought up to date; True when this run created it."""
        existing = self._customer.existing if self._customer else None
        if plan.customer is None or (existing is not None and existing.code != plan.customer_code):
            return False  # nothing known to write, or the document posts to another customer (a mirrored credit)
        if existing is not None:
            changes = changed_fields(existing, plan.customer)
            if changes:
                self._write_customer(plan.customer_code, changes, lambda: update_customer(self.aiq, existing, changes))
            return False
        desired = plan.customer
        self._write_customer(plan.customer_code, None, lambda: ensure_customer(self.aiq, plan.customer_code, desired))
        return True

    def _write_customer(
        self, code: str, changes: Mapping[str, str | None] | None, write: Callable[[], Customer]
    ) -> None:
        """One write of an AIQ customer, under the customer's own claim and journaled like any write."""
        key = f"CUSTOMER:{code}"
        holder = self.journal.claim(
            key, self.owner, process=this_process(), lease=self.options.claim_lease, is_dead=is_dead
        )
        if holder is not None:
            raise ClaimLost(f"AIQ customer {code} is being written by run {holder.owner}")
        what = "update " + ", ".join(sorted(changes)) if changes else "create"
        # Each distinct update is its own journal row (an update never repeats once recorded); a create is one row.
        reference = (
            key
            if changes is None
            else f"{key}:{hashlib.sha256(repr(sorted(changes.items())).encode()).hexdigest()[:12]}"
        )
        planned = PlannedWrite(reference, key, "customer", "CUSTOMER", summary=f"customer {code}: {what}")
        try:
            entry = self.journal.entry(reference)
            if entry is not None and entry.state == WriteState.POSTED:
                return
            self.journal.begin_write(planned, self.owner)
            customer = write()
            self.journal.record_posted(planned, customer.account_id, found_by=FoundBy.ANSWER)
        finally:
            self.journal.release(key, self.owner)
        self.customers.remember(customer)
        if self._customer is not None:
            self._customer = CustomerResolution(self._customer.match, customer)

    def _customer_details(self, created: bool) -> dict[str, str]:
        if self._customer is None:
            return {}
        how = "created" if created else self._customer.match.how
        return {"customer_match": how}

    def _allocate(self, allocation: PlannedAllocation, posted: Mapping[str, PostedDocument], key: str) -> Decimal:
        """Allocate what the plan asks for and both documents still have outstanding; 0 when nothing is left."""
        write = PlannedWrite(allocation.reference, key, "allocation", "ALLOCATION")
        entry = self.journal.entry(allocation.reference)
        if entry is not None and entry.state == WriteState.POSTED:
            return ZERO
        debit, credit = posted[allocation.target].transaction_id, posted[allocation.source].transaction_id
        for _ in range(3):
            amount = self._to_allocate(allocation, debit, credit)
            if amount is None or amount <= 0:
                self.journal.record_posted(replace(write, gross=ZERO), 0, found_by=FoundBy.LOOKUP)
                return ZERO
            self.journal.begin_write(replace(write, gross=amount), self.owner)
            try:
                self.aiq.allocate_transactions(
                    debit,
                    credit,
                    amount=amount,
                    allocation_date=allocation.date or self._clock().date(),
                    reference=allocation.source,
                )
            except (AiqWriteOutcomeUnknown, AiqOverAllocation):
                continue  # re-read what is outstanding and allocated: it says whether (and what) was applied
            except AiqValidationError as exc:
                self.journal.record_rejected(write, str(exc))
                if exc.code in UNALLOCATABLE_CODES:
                    self._notes.append(_unallocated_note(allocation, exc))
                    return ZERO
                raise
            self.journal.record_posted(replace(write, gross=amount), 0, found_by=FoundBy.ANSWER)
            return amount
        raise AiqTransportError("the allocation's outcome stayed unknown", operation="AllocateTransactions")

    def _to_allocate(self, allocation: PlannedAllocation, debit: int, credit: int) -> Decimal | None:
        """What to allocate now: min(outstanding of both), read fresh, and for a set amount no more than is still
        missing between the two; None when AIQ does not say (allocating blind could double it)."""
        outstanding = self._outstanding(allocation)
        if outstanding is None or allocation.amount is None:
            return outstanding
        missing = to_cents(allocation.amount) - to_cents(self.aiq.allocated_between(debit, credit))
        return min(outstanding, missing)

    def _outstanding(self, allocation: PlannedAllocation) -> Decimal | None:
        source = self._lookup(allocation.source, allocation.source_type)
        target = self._lookup(allocation.target, allocation.target_type)
        if not source or not target:
            # AIQ's look-up may show a new document only after a while (unverified): allocate on a later attempt.
            missing = allocation.target if source else allocation.source
            raise AiqTransportError(
                f"AIQ does not show {missing} by its reference yet, so what is outstanding is unknown",
                operation="GetTransactionsByExternalReference",
            )
        amounts = [found[0].outstanding_amount for found in (source, target)]
        if any(a is None for a in amounts):
            return None
        return to_cents(min(abs(a) for a in amounts if a is not None))


def _unallocated_note(allocation: PlannedAllocation, exc: AiqValidationError) -> str:
    return (
        f"AIQ does not allocate {allocation.source} to {allocation.target} ({exc.code}): both stay open on the "
        "customer's account, whose balance is right all the same"
    )


def _with_facts(base: Outcome, facts: Facts) -> Outcome:
    return replace(
        base,
        number=facts.number,
        customer_code=facts.customer_code,
        external_reference=facts.external_reference,
        currency=facts.currency,
        net=facts.net,
        tax=facts.tax,
        gross=facts.gross,
    )


def _plan_details(plan: PostingPlan) -> dict[str, str]:
    main = plan.main
    details = {
        "posting_date": main.date.isoformat(),
        "bunny_issue_date": plan.bunny_issue_date.isoformat() if plan.bunny_issue_date else "",
        "posting_date_moved": str(plan.posting_date_moved).lower(),
        "exchange_rate": str(main.exchange_rate),
        "exchange_rate_source": plan.exchange_rate_source,
    }
    if len(plan.documents) > 1:
        details["aiq_documents"] = ", ".join(d.reference for d in plan.documents)
    return details


def _failure(base: Outcome, exc: ClaimLost | BunnyError | AiqError) -> Outcome:
    """The outcome for an error that stopped this document (what the Bunny document says is kept)."""
    if isinstance(exc, ClaimLost):
        return replace(
            base,
            reason_code=Reason.BEING_POSTED,
            reason=f"{exc}; this run stopped before writing.",
            fix="Nothing to do: the run that took it over posts it.",
            retryable=True,
        )
    if isinstance(exc, BunnyError):
        if exc.retryable:
            return _transient(base, exc, "Bunny")
        return replace(
            base,
            reason_code=Reason.BUNNY_ERROR,
            reason=f"Bunny refused a read: {exc}",
            fix="Check the Bunny API client's scopes and the BUNNY_* settings (aiq-pipeline doctor).",
        )
    if isinstance(exc, AiqThrottledError | AiqTransportError):
        return _transient(base, exc, "AccountsIQ")
    return replace(
        base,
        reason_code=exc.code or Reason.AIQ_ERROR,
        reason=f"AccountsIQ refused: {exc}",
        fix="Check the AIQ settings with `aiq-pipeline doctor`, then retry.",
    )


def _transient(base: Outcome, exc: Exception, where: str) -> Outcome:
    return replace(
        base,
        reason_code=Reason.TRANSIENT,
        reason=f"{where} did not answer properly ({exc}).",
        fix=TRANSIENT_FIX,
        retryable=True,
    )


def _preflight(base: Outcome, exc: PreflightFailed) -> Outcome:
    return replace(
        base,
        reason_code=str(exc.problems[0].code),
        reason=" ".join(p.message for p in exc.problems),
        fix=" ".join(dict.fromkeys(p.fix for p in exc.problems)),
    )


def _record(outcome: Outcome, run_id: str) -> OutcomeRecord:
    posted = outcome.status in (Status.POSTED, Status.ALREADY_POSTED)
    return OutcomeRecord(
        claim_key=outcome.key,
        kind=outcome.kind,
        outcome=str(outcome.status),
        source_id=outcome.source_id,
        number=outcome.number,
        customer_code=outcome.customer_code,
        external_reference=outcome.external_reference,
        aiq_transaction_id=outcome.transaction_id,
        currency=outcome.currency,
        net=outcome.net,
        tax=outcome.tax,
        gross=outcome.gross,
        aiq_gross=outcome.aiq_gross,
        reason_code=outcome.reason_code,
        reason=outcome.reason,
        fix=outcome.fix,
        retryable=outcome.retryable if outcome.status == Status.FAILED else None,
        posted_at=utcnow() if posted else None,
        run_id=run_id,
    )
