"""What a planner decides for one Bunny document: post these AIQ documents (and allocate them), skip it, or wait.

A planner is pure: it gets the Bunny document and a `PlanContext`, and returns a `Decision` or raises
`PreflightFailed` with every problem found. The posting service does the rest (claim, look, write, record) the same
way for every kind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from aiq_pipeline.sync.customer import DesiredCustomer
from aiq_pipeline.sync.money import money_sum

# A document waits while AIQ lacks an invoice it credits, reverses or settles (retryable; re-run once it is posted).
INVOICE_NOT_POSTED = "INVOICE_NOT_POSTED"


class AiqTarget(StrEnum):
    """The AIQ document a plan writes (AIQ's two-letter transaction types)."""

    SALES_INVOICE = "SI"
    SALES_CREDIT_NOTE = "SN"
    SALES_RECEIPT = "SR"  # money in: a payment, into a bank account
    SALES_DEBIT_JOURNAL = "SD"  # money out: a refund, out of a bank account (the vendor's refund route)
    SALES_CREDIT_JOURNAL = "SC"  # the customer credited against a GL account: processor fees, account credit

    @property
    def is_credit(self) -> bool:
        """On the credit side of the customer's account (lowers what the customer owes)."""
        return self in (AiqTarget.SALES_CREDIT_NOTE, AiqTarget.SALES_RECEIPT, AiqTarget.SALES_CREDIT_JOURNAL)


@dataclass(frozen=True)
class PlannedLine:
    gl_account_code: str
    tax_code: str
    description: str
    net_amount: Decimal
    tax_rate: Decimal  # fraction, 0..1
    tax_amount: Decimal
    item_id: str
    gl_source: str  # "charge" | "default" | "rounding" | "bad_debt" | "bank" | "fees" | "account_credit"
    source_items: tuple[str, ...] = ()  # every Bunny item this line carries (netting merges credits into a line)


@dataclass(frozen=True)
class PlannedDocument:
    """One AIQ document, exactly as it will be sent (amounts positive: the document type gives the sign)."""

    target: AiqTarget
    reference: str  # AIQ ExternalReference: derived from the Bunny document alone
    customer_code: str
    currency_code: str
    date: dt.date  # the AIQ posting date
    due_date: dt.date | None
    description: str
    exchange_rate: Decimal
    lines: tuple[PlannedLine, ...]
    period_name: str | None
    financial_year: int
    # receipts and refunds: the bank account's currency to base (1 for a base-currency bank); None elsewhere
    bank_exchange_rate: Decimal | None = None

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
    """Allocate credit-side document `source` against debit-side `target` in AIQ (both posted by then).

    Without `amount`: what both still have outstanding (a credit note settling its invoice). With `amount`: that
    much in all between the two (a payment's applied amount), less what AIQ already shows allocated between them.
    Either way a repeat allocates nothing more, and never more than both have outstanding."""

    source: str  # reference of the credit (credit note, receipt, credit journal)
    target: str  # reference of the debit (invoice, refund)
    date: dt.date | None
    amount: Decimal | None = None
    source_type: AiqTarget = AiqTarget.SALES_CREDIT_NOTE
    target_type: AiqTarget = AiqTarget.SALES_INVOICE

    @property
    def reference(self) -> str:
        """The journal's key for this allocation (a changed amount is a new row: the total is what counts)."""
        base = f"{self.source}>{self.target}"
        return base if self.amount is None else f"{base}@{self.amount}"


@dataclass(frozen=True)
class PostingPlan:
    kind: str
    source_id: str
    customer_code: str
    customer: DesiredCustomer | None  # what AIQ's customer should hold (None: created from nothing we know)
    documents: tuple[PlannedDocument, ...]
    allocations: tuple[PlannedAllocation, ...] = ()
    bunny_issue_date: dt.date | None = None
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
