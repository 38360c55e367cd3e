"""Reading both sides for the money part of the monthly reconciliation (clients already open), then comparing (pure,
in `sync.bank_reconciliation` and `sync.balance_reconciliation`), and the results as table rows.

- Receipts and refunds per day and bank account: the month's AIQ receipts (SR) and refunds (SD) come with the
  month's documents in one GetTransactionsBy listing (`reconcile_month`); Bunny's payments and credit notes are
  read whole (Bunny has no filter on the day money moved). A Bunny payment or refund of the month dated in a closed
  AIQ period that the month lacks is looked up by reference (one call each), as documents are.
- Customer balances, as at the month's last day, in the month in progress only: Bunny states what is due now, not
  what was due at an earlier month's end. AIQ is asked for its customers once (GetCustomerList, the accounts are
  matched by the posting's rules), for their balances once (GetCustomerBalanceInformation for the codes named),
  and for their transactions of every date up to then (GetTransactionsBy filtered by those customers, in chunks),
  the cross-check and the map of which customer holds which of our documents.

Nothing here is compared when payments are not synced (no bank account mapped, AIQ_PIPELINE_BANK_ACCOUNTS): AIQ
then holds no receipts, and every paid invoice would differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.models import CustomerBalance, TransactionSummary
from aiq_pipeline.bunny.models import Account, CreditNote, Invoice, Payment
from aiq_pipeline.sync.balance_reconciliation import BalanceReconciliation, is_our_customer, reconcile_balances
from aiq_pipeline.sync.bank_reconciliation import (
    RECEIPT_TYPE,
    REFUND_TYPE,
    BankReconciliation,
    bunny_receipts,
    bunny_refunds,
    reconcile_bank_days,
)
from aiq_pipeline.sync.customer import AmbiguousCustomer, match_customer
from aiq_pipeline.sync.documents.context import PaymentAccounts
from aiq_pipeline.sync.identity import customer_code

MONEY_TYPES = (RECEIPT_TYPE, REFUND_TYPE)
LOOKUP_TO = date(2100, 1, 1)
EARLIEST = date(1900, 1, 1)  # GetTransactionsBy needs a FromDate: "every date" for one customer's transactions
ACCOUNT_CHUNK = 500  # customers per GetTransactionsBy (AccountIDsFilter) call
DEFAULT_MATCH = ("code", "vat", "email")
NOT_SYNCED = "money not compared: no AIQ bank account is mapped (AIQ_PIPELINE_BANK_ACCOUNTS), so payments do not sync"


@dataclass(frozen=True)
class MoneySettings:
    """How payments post, as the reconciliation needs it (from the posting rules)."""

    accounts: PaymentAccounts = field(default_factory=PaymentAccounts)
    payment_amount: str = "gross"  # Payment.amount: gross (fees inside) or net_of_fees
    customer_match: tuple[str, ...] = DEFAULT_MATCH

    @property
    def payments_synced(self) -> bool:
        return bool(self.accounts.banks)


# --- the bank days -------------------------------------------------------------------------------------------


def reconcile_bank_month(
    aiq: AccountsIQClient,
    *,
    first: date,
    last: date,
    payments: Sequence[Payment],
    credit_notes: Sequence[CreditNote],
    month_transactions: Sequence[TransactionSummary],
    closed: Sequence[tuple[date, date]],
    period_starts: Sequence[date],
    settings: MoneySettings,
    sync_start: date | None,
) -> BankReconciliation:
    """The month's receipts and refunds per day and bank. `month_transactions` holds the month's SR and SD (any other
    type is ignored); `closed` the closed AIQ periods (start, end)."""
    money = bunny_receipts(payments, settings.accounts, settings.payment_amount) + bunny_refunds(
        credit_notes, payments, settings.accounts
    )
    held = {(t.external_reference or "").upper() for t in month_transactions}
    moved: list[TransactionSummary] = []
    for item in money:
        if item.day < first or item.day > last or item.reference.upper() in held:
            continue
        if any(start <= item.day <= end for start, end in closed):
            kind = RECEIPT_TYPE if item.kind == "receipts" else REFUND_TYPE
            found = aiq.get_transactions_by_external_reference(
                item.reference, types=[kind], from_date=last, to_date=LOOKUP_TO
            )
            moved += [t for t in found if t.transaction_date is not None and t.transaction_date > last]
    return reconcile_bank_days(
        month=(first, last),
        payments=payments,
        credit_notes=credit_notes,
        aiq_transactions=[*month_transactions, *moved],
        accounts=settings.accounts,
        payment_amount=settings.payment_amount,
        sync_start=sync_start,
        period_starts=period_starts,
    )


# --- the customer balances -----------------------------------------------------------------------------------


def _account_codes(
    aiq: AccountsIQClient, invoices: Sequence[Invoice], payments: Sequence[Payment], rules: Sequence[str]
) -> tuple[dict[str, str], dict[str, tuple[str, ...]], list[str]]:
    """Bunny account id -> AIQ customer code (the posting's matching), the ambiguous ones, and AIQ's own customer
    codes that this sync derives (BNY-...)."""
    customers = aiq.get_customer_list()
    accounts: dict[str, Account | None] = {}
    for account_id, account in [
        *((i.account_id, i.account) for i in invoices),
        *((p.account_id or (p.account.id if p.account else ""), p.account) for p in payments),
    ]:
        accounts[account_id] = accounts.get(account_id) or account
    codes: dict[str, str] = {}
    ambiguous: dict[str, tuple[str, ...]] = {}
    for account_id, account in accounts.items():
        if not account_id:
            continue
        if account is None:
            codes[account_id] = customer_code(account_id)
            continue
        found = match_customer(account, customers, rules)
        if isinstance(found, AmbiguousCustomer):
            ambiguous[account_id] = found.codes
        else:
            codes[account_id] = found.code
    ours = sorted({c.code for c in customers if c.code and is_our_customer(c.code)})
    return codes, ambiguous, ours


def _customer_transactions(
    aiq: AccountsIQClient, balances: dict[str, CustomerBalance], as_of: date
) -> list[TransactionSummary]:
    ids = sorted({b.account_id for b in balances.values() if b.account_id})
    rows: list[TransactionSummary] = []
    for start in range(0, len(ids), ACCOUNT_CHUNK):
        rows += aiq.get_transactions_by(EARLIEST, as_of, account_ids=ids[start : start + ACCOUNT_CHUNK])
    return rows


def reconcile_customer_balances(
    aiq: AccountsIQClient,
    *,
    invoices: Sequence[Invoice],
    payments: Sequence[Payment],
    as_of: date,
    settings: MoneySettings,
    sync_start: date | None,
) -> BalanceReconciliation:
    """Every customer's AIQ balance as at `as_of` against Bunny's amount due (see the module notes for the calls)."""
    codes, ambiguous, ours = _account_codes(aiq, invoices, payments, settings.customer_match)
    asked = sorted(set(codes.values()) | set(ours))
    balances = aiq.get_customer_balances(as_of, asked) if asked else {}
    transactions = _customer_transactions(aiq, balances, as_of) if balances else []
    return reconcile_balances(
        as_of=as_of,
        invoices=invoices,
        payments=payments,
        account_codes=codes,
        aiq_balances=balances,
        aiq_transactions=transactions,
        aiq_customers=ours,
        ambiguous=ambiguous,
        sync_start=sync_start,
        payment_amount=settings.payment_amount,
    )


# --- the results as rows -------------------------------------------------------------------------------------


def bank_day_rows(bank: BankReconciliation | None) -> list[dict[str, Any]]:
    """One row per day, bank account, currency and kind: counts and amounts on both sides (Decimal)."""
    if bank is None:
        return []
    return [
        {
            "day": d.day,
            "bank_account": d.bank_account,
            "currency": d.currency,
            "kind": d.kind,
            "bunny_count": d.bunny_count,
            "aiq_count": d.aiq_count,
            "bunny_amount": d.bunny_amount,
            "aiq_amount": d.aiq_amount,
            "other_count": d.other_count,
            "other_amount": d.other_amount,
            "matches": d.matches,
        }
        for d in bank.days
    ]


def money_difference_rows(bank: BankReconciliation | None) -> list[dict[str, Any]]:
    """One row per payment or refund that differs, with both sides' figures."""
    if bank is None:
        return []
    return [
        {
            "external_reference": d.external_reference,
            "problem": str(d.problem),
            "kind": d.kind,
            "bunny_id": d.bunny_id,
            "processor": d.processor,
            "currency": d.currency,
            "bunny_day": d.bunny_day,
            "aiq_day": d.aiq_day,
            "bunny_bank": d.bunny_bank,
            "aiq_bank": d.aiq_bank,
            "bunny_amount": d.bunny_amount,
            "aiq_amount": d.aiq_amount,
            "aiq_transaction_ids": ",".join(str(i) for i in d.aiq_transaction_ids),
            "detail": d.detail,
        }
        for d in bank.differences
    ]


def balance_rows(balances: BalanceReconciliation | None, *, differences_only: bool = False) -> list[dict[str, Any]]:
    """One row per customer compared (or per differing one): both figures, code and currency."""
    if balances is None:
        return []
    return [
        {
            "customer_code": r.customer_code,
            "currency": r.currency,
            "problem": str(r.problem) if r.problem else None,
            "bunny_amount_due": r.bunny_amount_due,
            "aiq_balance": r.aiq_balance,
            "aiq_outstanding": r.aiq_outstanding,
            "aiq_other_outstanding": r.aiq_other_outstanding,
            "bunny_accounts": ",".join(r.bunny_accounts),
            "invoices": r.invoices,
            "payments": r.payments,
            "matches": r.matches,
            "detail": r.detail,
        }
        for r in balances.rows
        if not (differences_only and r.matches)
    ]
