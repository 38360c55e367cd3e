"""What a planner decides for one Bunny document: post these AIQ documents (and allocate them), skip it, or wait.

A planner is pure: it gets the Bunny document and a `PlanContext`, and returns a `Decision` or raises
`PreflightFailed` with every problem found. The posting service does the rest (claim, look, write, record) the same
way for every kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from aiq_pipeline.sync.customer import DesiredCustomer
from aiq_pipeline.sync.money import money_sum


class AiqTarget(StrEnum):
    """The AIQ document a plan writes (AIQ's two-letter transaction types)."""

    SALES_INVOICE = "SI"
    SALES_CREDIT_NOTE = "SN"


@dataclass(frozen=True)
class PlannedLine:
    gl_account_code: str
    tax_code: str
    description: str
    net_amount: Decimal
    tax_rate: Decimal  # fraction, 0..1
    tax_amount: Decimal
    item_id: str
    gl_source: str  # "charge" | "default" | "rounding" | "bad_debt"
    source_items: tuple[str, ...] = ()  # every Bunny item this line carries (netting merges credits into a line)


@dataclass(frozen=True)
class PlannedDocument:
    """One AIQ document, exactly as it will be sent (amounts positive: the document type gives the sign)."""

    target: AiqTarget
    reference: str  # AIQ ExternalReference: derived from the Bunny document alone
    customer_code: str
    currency_code: str
    date: date  # the AIQ posting date
    due_date: date | None
    description: str
    exchange_rate: Decimal
    lines: tuple[PlannedLine, ...]
    period_name: str | None
    financial_year: int

    @property
    def net(self) -> Decimal:
        return money_sum(line.net_amount for line in self.lines)

    @property
    def tax(self) -> Decimal:
        return money_sum(line.tax_amount for line in self.lines)

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax


@dataclass(frozen=True)
class PlannedAllocation:
    """Allocate document `source` against `target` in AIQ (both posted by then), for what both still have
    outstanding: allocating is then idempotent, since a repeat finds nothing outstanding."""

    source: str  # reference of the credit (credit note)
    target: str  # reference of the debit (invoice)
    date: date | None

    @property
    def reference(self) -> str:
        """The journal's key for this allocation."""
        return f"{self.source}>{self.target}"


@dataclass(frozen=True)
class PostingPlan:
    kind: str
    source_id: str
    customer_code: str
    customer: DesiredCustomer | None  # what AIQ's customer should hold (None: created from nothing we know)
    documents: tuple[PlannedDocument, ...]
    allocations: tuple[PlannedAllocation, ...] = ()
    bunny_issue_date: date | None = None
    exchange_rate_source: str = "base"  # base | bunny | configured | aiq
    notes: tuple[str, ...] = ()  # what the planner changed or decided, in words, for the metadata

    @property
    def main(self) -> PlannedDocument:
        return self.documents[0]

    @property
    def posting_date_moved(self) -> bool:
        return self.bunny_issue_date is not None and self.bunny_issue_date != self.main.date


@dataclass(frozen=True)
class Skip:
    """Nothing to post, and nothing wrong (e.g. voided in Bunny before it was posted)."""

    reason: str
    code: str = "SKIPPED"


@dataclass(frozen=True)
class Wait:
    """Not yet: something the document needs is not in AIQ yet (retryable; the sensor tries again)."""

    code: str
    reason: str
    fix: str
    details: dict[str, str] = field(default_factory=dict)


Decision = PostingPlan | Skip | Wait
