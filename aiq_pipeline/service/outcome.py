"""What posting one Bunny document came to: one type for every kind (invoice, credit note, void reversal, payment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Status(StrEnum):
    POSTED = "posted"  # written to AIQ by this attempt
    ALREADY_POSTED = "already_posted"  # AIQ held it already (journal or look-up): nothing written
    SKIPPED = "skipped"  # nothing to post, nothing wrong (e.g. voided before it was posted)
    NOTHING_TO_POST = "nothing_to_post"  # a zero-value document: AIQ gets nothing
    FAILED = "failed"  # not posted: `reason_code`, `reason` and `fix` say why


class Reason(StrEnum):
    """Reason codes the posting service itself gives (planners' codes are `ProblemCode`s; AIQ's are its own)."""

    TRANSIENT = "TRANSIENT"  # AIQ or Bunny did not answer properly: retried automatically
    BEING_POSTED = "BEING_POSTED"  # another live run holds the document's claim
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"  # sent, unanswered, not found by looking until the deadline
    INTERRUPTED = "INTERRUPTED"  # the run posting it died first (read from the instance, not given here)
    BAD_KEY = "BAD_KEY"  # the partition key names no document of this asset's kinds
    BUNNY_ERROR = "BUNNY_ERROR"
    AIQ_ERROR = "AIQ_ERROR"
    AIQ_VALIDATION = "AIQ_VALIDATION"
    ALLOCATION_FAILED = "ALLOCATION_FAILED"
    DUPLICATE_IN_AIQ = "DUPLICATE_IN_AIQ"  # AIQ holds two live documents with one of our references


@dataclass(frozen=True)
class Outcome:
    key: str  # the partition key
    kind: str  # invoice | credit_note | void | payment
    status: Status
    source_id: str = ""
    number: str | None = None  # the Bunny document's number, as people quote it
    customer_code: str | None = None
    external_reference: str | None = None
    currency: str | None = None
    # Bunny's totals of the document
    net: Decimal | None = None
    tax: Decimal | None = None
    gross: Decimal | None = None
    # What AIQ holds (the main document) and whether it equals Bunny to the cent
    transaction_id: int | None = None
    aiq_gross: Decimal | None = None
    totals_match: bool | None = None
    differences: tuple[str, ...] = ()
    duplicates: int = 0  # AIQ documents beyond the first with the reference (always 0 when all is well)
    related_transaction_id: int | None = None  # the AIQ document it was allocated against
    allocated: Decimal | None = None
    customer_created: bool = False
    reason_code: str | None = None
    reason: str | None = None
    fix: str | None = None
    retryable: bool = False
    details: Mapping[str, str] = field(default_factory=dict)  # how it was dated, converted, netted...

    def __post_init__(self) -> None:
        # Codes may arrive as enums (Reason, ProblemCode): kept as plain text, which every store and Dagster takes.
        if self.reason_code is not None:
            object.__setattr__(self, "reason_code", str(self.reason_code))

    @property
    def ok(self) -> bool:
        return self.status != Status.FAILED
