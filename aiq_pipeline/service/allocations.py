"""Allocating one AIQ document against another, exactly once.

AIQ has no key for an allocation, so what is allocated is decided from what AIQ shows, read fresh: never more than
both documents still have outstanding, and for a set amount (a payment's applied amount) never more than is still
missing between the two. A repeat after a lost answer therefore allocates nothing more. A pair AIQ refuses to
allocate at all (which pairs it takes is UNVERIFIED) is left open and said so: allocations never change what the
customer owes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import (
    AiqOverAllocation,
    AiqTransportError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
)
from aiq_pipeline.service.lookups import Lookups, one
from aiq_pipeline.store.journal import FoundBy, PlannedWrite, PostingJournal, WriteState
from aiq_pipeline.sync.documents.context import PostedDocument
from aiq_pipeline.sync.documents.plan import PlannedAllocation
from aiq_pipeline.sync.money import ZERO, to_cents

# AIQ refusing to pair two documents at all: they stay unallocated.
UNALLOCATABLE_CODES = frozenset({"TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"})


class Allocator:
    def __init__(
        self,
        aiq: AccountsIQClient,
        journal: PostingJournal,
        lookups: Lookups,
        *,
        owner: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.aiq, self.journal, self.lookups, self.owner, self._clock = aiq, journal, lookups, owner, clock

    def allocate(
        self, allocation: PlannedAllocation, posted: Mapping[str, PostedDocument], key: str, notes: list[str]
    ) -> Decimal:
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
                    notes.append(_unallocated_note(allocation, exc))
                    return ZERO
                raise
            self.journal.record_posted(replace(write, gross=amount), 0, found_by=FoundBy.ANSWER)
            return amount
        raise AiqTransportError("the allocation's outcome stayed unknown", operation="AllocateTransactions")

    def _to_allocate(self, allocation: PlannedAllocation, debit: int, credit: int) -> Decimal | None:
        """min(outstanding of both), read fresh, and for a set amount no more than is still missing between the
        two; None when AIQ does not say (allocating blind could double it)."""
        outstanding = self._outstanding(allocation)
        if outstanding is None or allocation.amount is None:
            return outstanding
        missing = to_cents(allocation.amount) - to_cents(self.aiq.allocated_between(debit, credit))
        return min(outstanding, missing)

    def _outstanding(self, allocation: PlannedAllocation) -> Decimal | None:
        source = one(allocation.source, self.lookups.fresh(allocation.source, allocation.source_type))
        target = one(allocation.target, self.lookups.fresh(allocation.target, allocation.target_type))
        if source is None or target is None:
            # AIQ's look-up may show a new document only after a while (unverified): allocate on a later attempt.
            missing = allocation.target if source else allocation.source
            raise AiqTransportError(
                f"AIQ does not show {missing} by its reference yet, so what is outstanding is unknown",
                operation="GetTransactionsByExternalReference",
            )
        amounts = [found.outstanding_amount for found in (source, target)]
        if any(a is None for a in amounts):
            return None
        return to_cents(min(abs(a) for a in amounts if a is not None))


def _unallocated_note(allocation: PlannedAllocation, exc: AiqValidationError) -> str:
    return (
        f"AIQ does not allocate {allocation.source} to {allocation.target} ({exc.code}): both stay open on the "
        "customer's account, whose balance is right all the same"
    )
