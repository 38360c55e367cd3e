"""Reasons a document cannot be posted, written for the finance person who has to fix them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ProblemCode(StrEnum):
    # the document itself
    NOT_FOUND = "NOT_FOUND"
    NOT_POSTABLE = "NOT_POSTABLE"
    WRONG_ENTITY = "WRONG_ENTITY"
    NO_LINES = "NO_LINES"
    NEGATIVE_LINE = "NEGATIVE_LINE"
    TOTALS_MISMATCH = "TOTALS_MISMATCH"
    MISSING_CUSTOMER_DATA = "MISSING_CUSTOMER_DATA"
    AMBIGUOUS_CUSTOMER = "AMBIGUOUS_CUSTOMER"
    # GL mapping
    UNMAPPED_CHARGE = "UNMAPPED_CHARGE"
    UNKNOWN_GL_ACCOUNT = "UNKNOWN_GL_ACCOUNT"
    INACTIVE_GL_ACCOUNT = "INACTIVE_GL_ACCOUNT"
    NOT_POSTING_ACCOUNT = "NOT_POSTING_ACCOUNT"
    DEPARTMENTAL_ACCOUNT = "DEPARTMENTAL_ACCOUNT"
    # tax
    UNKNOWN_TAX_CODE = "UNKNOWN_TAX_CODE"
    INVALID_TAX_RATE = "INVALID_TAX_RATE"
    TAX_RATE_MISMATCH = "TAX_RATE_MISMATCH"
    TAX_ROUNDING = "TAX_ROUNDING"
    TAX_MAPPING_INVALID = "TAX_MAPPING_INVALID"
    # ledger state
    CLOSED_PERIOD = "CLOSED_PERIOD"
    NO_OPEN_PERIOD = "NO_OPEN_PERIOD"
    # currency
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    NO_EXCHANGE_RATE = "NO_EXCHANGE_RATE"
    # credit notes
    UNMATCHED_CREDIT_LINE = "UNMATCHED_CREDIT_LINE"
    NO_CREDITED_INVOICE = "NO_CREDITED_INVOICE"
    NOT_VOIDED = "NOT_VOIDED"
    NO_BAD_DEBT_ACCOUNT = "NO_BAD_DEBT_ACCOUNT"
    REVERSAL_MISMATCH = "REVERSAL_MISMATCH"
    # payments
    UNMAPPED_BANK_ACCOUNT = "UNMAPPED_BANK_ACCOUNT"
    NOT_A_BANK_ACCOUNT = "NOT_A_BANK_ACCOUNT"
    BANK_CURRENCY_MISMATCH = "BANK_CURRENCY_MISMATCH"
    NO_FEES_ACCOUNT = "NO_FEES_ACCOUNT"
    NO_ACCOUNT_CREDIT_ACCOUNT = "NO_ACCOUNT_CREDIT_ACCOUNT"
    PAYMENT_AMOUNTS = "PAYMENT_AMOUNTS"


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    message: str  # what is wrong, naming the document, line, charge or account
    fix: str  # what to do, and where (Bunny or AIQ)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message} Fix: {self.fix}"


class PreflightFailed(Exception):
    """Raised by a planner when a document must not be posted; carries every problem found, not just the first,
    so one look at the exception tells finance everything to fix before the retry."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("PreflightFailed needs at least one problem")
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def codes(self) -> tuple[ProblemCode, ...]:
        return tuple(p.code for p in self.problems)
