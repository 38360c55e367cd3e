"""Which AIQ bank account money moves through, and at which rate.

A payment goes to the bank account mapped for its processor and currency (AIQ_PIPELINE_BANK_ACCOUNTS), never to a
guessed one. The account must be an active Bank account of AIQ's chart; its own currency (GetBankList) must be the
payment's or AIQ's base currency, which gives the rate AIQ wants on the bank side (BankExchangeRate).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from aiq_pipeline.sync.documents.context import LedgerSnapshot, PaymentAccounts
from aiq_pipeline.sync.documents.plan import PlannedLine
from aiq_pipeline.sync.money import ZERO
from aiq_pipeline.sync.problems import Problem, ProblemCode

ONE = Decimal(1)


@dataclass(frozen=True)
class Bank:
    code: str
    exchange_rate: Decimal | None  # the bank's currency to base; None while the document's own rate is unknown


def bank_for(
    label: str,
    processor: str | None,
    currency: str,
    rate: Decimal | None,
    accounts: PaymentAccounts,
    ledger: LedgerSnapshot,
) -> tuple[Bank | None, list[Problem]]:
    """The mapped bank account for money of `currency` through `processor`, or the problems saying why none."""
    name = (processor or "").strip() or "no processor"
    code = accounts.bank_for(processor, currency)
    if code is None:
        key = (processor or "").strip().lower() or "*"
        return None, [
            Problem(
                ProblemCode.UNMAPPED_BANK_ACCOUNT,
                f"{label} came through {name} in {currency}, and no AIQ bank account is mapped for that processor "
                "and currency.",
                f"Add {key}:{currency}=<AIQ bank account code> to AIQ_PIPELINE_BANK_ACCOUNTS, then retry.",
            )
        ]
    problem = _bank_account_problem(code, ledger, label)
    if problem is not None:
        return None, [problem]
    bank_currency = (ledger.banks or {}).get(code.upper()) or currency
    bank_currency = bank_currency.strip().upper()
    if bank_currency == ledger.base_currency:
        return Bank(code, ONE), []
    if bank_currency == currency:
        return Bank(code, rate), []
    return None, [
        Problem(
            ProblemCode.BANK_CURRENCY_MISMATCH,
            f"{label} is in {currency}, but AIQ bank account {code} (mapped for {name}) holds {bank_currency}.",
            f"Map {name} in {currency} to a bank account in {currency} or in {ledger.base_currency} "
            "(AIQ_PIPELINE_BANK_ACCOUNTS), then retry.",
        )
    ]


def _bank_account_problem(code: str, ledger: LedgerSnapshot, label: str) -> Problem | None:
    account = ledger.accounts.get(code.upper())
    is_bank = ledger.banks is not None and code.upper() in ledger.banks
    if account is None and not is_bank:
        return Problem(
            ProblemCode.NOT_A_BANK_ACCOUNT,
            f"AIQ bank account {code}, mapped for {label}, does not exist in AIQ.",
            f"Create bank account {code} in AIQ, or map an existing one in AIQ_PIPELINE_BANK_ACCOUNTS; then retry.",
        )
    if account is not None and not account.is_active:
        return Problem(
            ProblemCode.INACTIVE_GL_ACCOUNT,
            f"AIQ bank account {code}, mapped for {label}, is inactive.",
            f"Reactivate {code} in AIQ, or map another bank account in AIQ_PIPELINE_BANK_ACCOUNTS; then retry.",
        )
    if not is_bank and account is not None and not account.is_bank:
        return Problem(
            ProblemCode.NOT_A_BANK_ACCOUNT,
            f"AIQ account {code}, mapped for {label}, is a {account.account_type or 'non-bank'} account, not a Bank "
            "account: AIQ takes receipts and refunds only through its bank accounts.",
            "Map a Bank account in AIQ_PIPELINE_BANK_ACCOUNTS, then retry.",
        )
    return None


def money_line(account: str, description: str, amount: Decimal, item_id: str, source: str) -> PlannedLine:
    """A line of a receipt, refund or journal: an amount to one account, no tax."""
    return PlannedLine(
        gl_account_code=account,
        tax_code="",
        description=description,
        net_amount=amount,
        tax_rate=ZERO,
        tax_amount=ZERO,
        item_id=item_id,
        gl_source=source,
    )
