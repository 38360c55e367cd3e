"""Reconcile what each customer owes: AIQ's balance against Bunny's amount due, customer by customer.

Bunny's side, per customer, is built from the documents the sync posts (so the two sides can agree):

- the `amountDue` of the customer's invoices the sync posts: issued from the sync start date (or earlier when AIQ
  holds them: posted history), up to the as-at date, in a synced state, not a component of a consolidated
  invoice. Bunny's `amountDue` is the invoice less account credit applied, payments applied and write-offs
  (aiq_pipeline/bunny/MONEY.md, UNVERIFIED). An invoice whose total is negative counts at that total: the sync
  posts it as a credit note the customer keeps, where Bunny's `amountDue` shows nothing due. An invoice voided
  after it was posted (AIQ holds it or its reversal) counts at 0, the pair's sum;
- less the money of the customer's received payments (SUCCEEDED or DISPUTED, received from the sync start date up
  to the as-at date) that is applied to no invoice: `amountUnapplied` (an overpayment, left on the account in AIQ
  too). When Bunny leaves `amountUnapplied` out it is what the customer paid (the `payment_amount` reading) less
  the applications, which is what the receipt and its fees journal leave unallocated in AIQ.

UNVERIFIED: that this sum is what Bunny itself calls the account's balance. Bunny's schema has no documented
account balance field; this is the figure its documents add up to, and what AIQ holds when every invoice, credit
note, payment, refund and account credit is posted.

AIQ's side, per customer: GetCustomerBalanceInformation as at the date (positive when the customer owes), cross-
checked with the sum of the outstanding amounts of the customer's transactions (AIQ against itself: it differs
when AIQ's balance and its transactions disagree, or when an allocation crosses the as-at date). A customer AIQ
gave no balance for is missing, never zero.

Which AIQ customer a Bunny document counts for: the one AIQ holds it on (by its reference), else the customer its
Bunny account maps to (the posting's matching rules, done by the caller). Every customer on one side only is
listed; so is every customer whose figures differ, with both figures, its code and currency.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from aiq_pipeline.sync.bank_reconciliation import NET_OF_FEES, is_received, received_on
from aiq_pipeline.sync.documents.invoice import SYNCED_INVOICE_STATES, VOIDED
from aiq_pipeline.sync.identity import (
    CUSTOMER_PREFIX,
    invoice_credit_reference,
    invoice_reference,
    payment_reference,
    void_credit_reference,
    void_reference,
)
from aiq_pipeline.sync.inputs import BunnyPayment
from aiq_pipeline.sync.money import ZERO, money_sum, to_cents

OUR_REFERENCE_PREFIX = "BUNNY-"


class BalanceProblem(StrEnum):
    BALANCE_DIFFERS = "BALANCE_DIFFERS"  # both sides know the customer; the amounts differ
    ONLY_IN_BUNNY = "ONLY_IN_BUNNY"  # Bunny's documents name the customer; AIQ gave no balance for it
    ONLY_IN_AIQ = "ONLY_IN_AIQ"  # AIQ holds our documents (or a balance) for a customer Bunny has nothing for
    CURRENCY_DIFFERS = "CURRENCY_DIFFERS"  # Bunny's documents are in another currency than AIQ's customer
    AIQ_SELF_DISAGREES = "AIQ_SELF_DISAGREES"  # AIQ's balance is not the sum of its transactions' outstanding
    BUNNY_AMOUNT_UNKNOWN = "BUNNY_AMOUNT_UNKNOWN"  # Bunny gave no amountDue for one of the customer's invoices
    AMBIGUOUS_CUSTOMER = "AMBIGUOUS_CUSTOMER"  # the Bunny account matches several AIQ customers


# --- inputs ------------------------------------------------------------------------------------------------


class BunnyInvoiceDue(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def currency_code(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def issued_at(self) -> date | None: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def amount_due(self) -> Decimal | None: ...
    @property
    def merged_to_invoice_id(self) -> str | None: ...


class BunnyPaymentMoney(BunnyPayment, Protocol):
    @property
    def amount_unapplied(self) -> Decimal | None: ...


class AiqBalance(Protocol):
    """GetCustomerBalanceInformation's AccountBalanceInformation."""

    @property
    def account_code(self) -> str: ...
    @property
    def balance(self) -> Decimal: ...
    @property
    def currency_code(self) -> str | None: ...


class AiqLedgerRow(Protocol):
    """A GetTransactionsBy row of one of the compared customers."""

    @property
    def transaction_id(self) -> int: ...
    @property
    def account_code(self) -> str | None: ...
    @property
    def external_reference(self) -> str | None: ...
    @property
    def signed_outstanding_amount(self) -> Decimal | None: ...


# --- Bunny's side ------------------------------------------------------------------------------------------


def unapplied(payment: BunnyPaymentMoney, payment_amount: str) -> Decimal:
    """The payment's money applied to no invoice: Bunny's amountUnapplied, or what the customer paid less the
    applications when Bunny leaves it out."""
    if payment.amount_unapplied is not None:
        return to_cents(payment.amount_unapplied)
    paid = to_cents(payment.amount)
    if payment_amount == NET_OF_FEES:
        paid += to_cents(payment.fees or ZERO)
    return paid - money_sum(to_cents(a.amount or ZERO) for a in payment.applications)


@dataclass
class _Owed:
    """What Bunny's documents say one AIQ customer owes, per currency."""

    by_currency: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    accounts: set[str] = field(default_factory=set)
    invoices: int = 0
    payments: int = 0
    unknown: list[str] = field(default_factory=list)  # invoices without amountDue


# --- results -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerBalanceRow:
    customer_code: str
    currency: str | None
    bunny_amount_due: Decimal | None  # None: Bunny has nothing for this customer (or not every figure)
    aiq_balance: Decimal | None  # None: AIQ gave no balance for this customer
    aiq_outstanding: Decimal | None  # the sum of its transactions' outstanding amounts; None: not read
    aiq_other_outstanding: Decimal | None  # of which on AIQ transactions without one of our references
    bunny_accounts: tuple[str, ...]
    invoices: int
    payments: int
    problem: BalanceProblem | None
    detail: str

    @property
    def matches(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        return f"customer {self.customer_code} [{self.problem or 'OK'}]: {self.detail}"


@dataclass(frozen=True)
class BalanceReconciliation:
    as_of: date
    rows: tuple[CustomerBalanceRow, ...]  # every compared customer, those that differ and those that agree
    ignored_aiq_customers: int = 0  # our AIQ customers with a zero balance and none of our transactions

    @property
    def differences(self) -> tuple[CustomerBalanceRow, ...]:
        return tuple(row for row in self.rows if not row.matches)

    @property
    def passed(self) -> bool:
        return not self.differences

    def describe(self) -> str:
        if self.passed:
            return f"{len(self.rows)} customer balance(s) agree as at {self.as_of}"
        return f"{len(self.differences)} of {len(self.rows)} customer balance(s) differ as at {self.as_of}"


# --- the reconciliation ------------------------------------------------------------------------------------


def _upper(text: str | None) -> str:
    return (text or "").strip().upper()


def _held_on(rows: Iterable[AiqLedgerRow]) -> dict[str, str]:
    """Our reference (upper case) -> the AIQ customer holding it (the first seen)."""
    held: dict[str, str] = {}
    for row in rows:
        reference = _upper(row.external_reference)
        if reference.startswith(OUR_REFERENCE_PREFIX) and row.account_code:
            held.setdefault(reference, _upper(row.account_code))
    return held


def _add(before: Decimal | None, amount: Decimal | None) -> Decimal | None:
    return None if before is None or amount is None else before + to_cents(amount)


def _outstanding(rows: Iterable[AiqLedgerRow]) -> tuple[dict[str, Decimal | None], dict[str, Decimal | None]]:
    """Per customer: the outstanding of all its transactions, and of those not ours; None where AIQ left one out."""
    total: dict[str, Decimal | None] = {}
    other: dict[str, Decimal | None] = {}
    for row in rows:
        code = _upper(row.account_code)
        amount = row.signed_outstanding_amount
        total[code] = _add(total.get(code, ZERO), amount)
        other.setdefault(code, ZERO)
        if not _upper(row.external_reference).startswith(OUR_REFERENCE_PREFIX):
            other[code] = _add(other[code], amount)
    return total, other


def _in_scope(day: date | None, posted: bool, sync_start: date | None, as_of: date) -> bool:
    """Up to the as-at date, and from the sync start unless AIQ holds it (`posted`: history posted before)."""
    if day is None or day > as_of:
        return False
    return sync_start is None or day >= sync_start or posted


def _held_of(invoice_id: str, held: Mapping[str, str]) -> tuple[str | None, bool]:
    """The customer code AIQ holds the invoice under (its SI, or for a negative invoice its SN alone; None: neither),
    and whether AIQ holds any of the invoice or its reversal (the SN, or for a negative invoice the SI alone)."""
    own = [r.upper() for r in (invoice_reference(invoice_id), invoice_credit_reference(invoice_id))]
    reversal = [r.upper() for r in (void_reference(invoice_id), void_credit_reference(invoice_id))]
    code = next((held[r] for r in own if r in held), None)
    return code, code is not None or any(r in held for r in reversal)


def _bunny_side(
    invoices: Iterable[BunnyInvoiceDue],
    payments: Iterable[BunnyPaymentMoney],
    account_codes: Mapping[str, str],
    held: Mapping[str, str],
    *,
    as_of: date,
    sync_start: date | None,
    payment_amount: str,
) -> dict[str, _Owed]:
    owed: dict[str, _Owed] = defaultdict(_Owed)
    for invoice in invoices:
        held_under, any_held = _held_of(invoice.id, held)
        # Voided after it was posted: it and its reversal stay in AIQ, nothing due together; counted at 0 so the
        # customer holding them is compared, not listed as AIQ's alone.
        voided_pair = invoice.state == VOIDED and any_held
        if (invoice.state not in SYNCED_INVOICE_STATES and not voided_pair) or invoice.merged_to_invoice_id is not None:
            continue
        if not _in_scope(invoice.issued_at, held_under is not None, sync_start, as_of):
            continue
        if to_cents(invoice.amount) == 0 and held_under is None:
            continue  # a zero-value invoice AIQ does not hold owes nothing (and may never post)
        code = held_under or account_codes.get(invoice.account_id)
        if code is None:
            continue  # an ambiguous account: listed apart
        entry = owed[code]
        entry.accounts.add(invoice.account_id)
        entry.invoices += 1
        currency = _upper(invoice.currency_code)
        if voided_pair:
            entry.by_currency[currency] += ZERO
        elif invoice.amount_due is None:
            entry.unknown.append(invoice.id)
            entry.by_currency[currency] += ZERO
        elif to_cents(invoice.amount) < 0:
            # A negative total posts as a credit note alone: the customer is owed it, though Bunny shows nothing due.
            entry.by_currency[currency] += min(to_cents(invoice.amount_due), to_cents(invoice.amount))
        else:
            entry.by_currency[currency] += to_cents(invoice.amount_due)
    for payment in payments:
        reference = payment_reference(payment.id)
        if not is_received(payment) or not _in_scope(
            received_on(payment), reference.upper() in held, sync_start, as_of
        ):
            continue
        account = payment.account_id or (payment.account.id if payment.account else "")
        code = held.get(reference.upper()) or account_codes.get(account)
        if code is None:
            continue
        entry = owed[code]
        entry.accounts.add(account)
        entry.payments += 1
        entry.by_currency[_upper(payment.currency_code)] -= unapplied(payment, payment_amount)
    return owed


def _row(
    code: str,
    currency: str | None,
    owed: _Owed | None,
    bunny: Decimal | None,
    balance: AiqBalance | None,
    outstanding: Decimal | None,
    other: Decimal | None,
    problem: BalanceProblem | None,
    detail: str,
) -> CustomerBalanceRow:
    return CustomerBalanceRow(
        customer_code=code,
        currency=currency,
        bunny_amount_due=bunny,
        aiq_balance=to_cents(balance.balance) if balance is not None else None,
        aiq_outstanding=outstanding,
        aiq_other_outstanding=other,
        bunny_accounts=tuple(sorted(owed.accounts)) if owed else (),
        invoices=owed.invoices if owed else 0,
        payments=owed.payments if owed else 0,
        problem=problem,
        detail=detail,
    )


def _compare(
    code: str,
    owed: _Owed | None,
    balance: AiqBalance | None,
    outstanding: Decimal | None,
    other: Decimal | None,
    holds_ours: bool,
) -> list[CustomerBalanceRow]:
    aiq_currency = (_upper(balance.currency_code) or None) if balance is not None else None
    if owed is None:
        assert balance is not None
        why = "holds our documents" if holds_ours else f"has a balance of {to_cents(balance.balance)}"
        return [
            _row(
                code,
                aiq_currency,
                None,
                None,
                balance,
                outstanding,
                other,
                BalanceProblem.ONLY_IN_AIQ,
                f"AIQ customer {code} {why} ({to_cents(balance.balance)} {aiq_currency or ''}); Bunny has no invoice "
                "or payment of it that the sync posts",
            )
        ]
    rows = []
    currencies = sorted(owed.by_currency) or [aiq_currency or ""]
    for currency in currencies:
        bunny = to_cents(owed.by_currency.get(currency, ZERO))
        shown = currency or aiq_currency
        figures = f"Bunny {bunny} {shown or ''}".rstrip()
        if owed.unknown:
            listed = ", ".join(sorted(owed.unknown))
            rows.append(
                _row(code, shown, owed, None, balance, outstanding, other, BalanceProblem.BUNNY_AMOUNT_UNKNOWN,
                     f"Bunny gave no amountDue for invoice(s) {listed}: the customer's amount due is unknown")
            )  # fmt: skip
            continue
        if balance is None:
            rows.append(
                _row(code, shown, owed, bunny, None, None, None, BalanceProblem.ONLY_IN_BUNNY,
                     f"{figures} due from {len(owed.accounts)} account(s); AIQ gave no balance for customer {code}")
            )  # fmt: skip
            continue
        aiq = to_cents(balance.balance)
        if aiq_currency and currency and currency != aiq_currency:
            rows.append(
                _row(code, shown, owed, bunny, balance, outstanding, other, BalanceProblem.CURRENCY_DIFFERS,
                     f"{figures}, but AIQ's customer {code} is in {aiq_currency} ({aiq})")
            )  # fmt: skip
            continue
        problems = []
        if bunny != aiq:
            problems.append((BalanceProblem.BALANCE_DIFFERS, f"{figures}, AIQ {aiq} (difference {aiq - bunny})"))
            if other:
                problems.append((BalanceProblem.BALANCE_DIFFERS, f"{other} of AIQ's is on transactions not ours"))
        if outstanding is not None and outstanding != aiq:
            problems.append(
                (BalanceProblem.AIQ_SELF_DISAGREES, f"AIQ's balance {aiq}, its transactions' outstanding {outstanding}")
            )
        if problems:
            detail = "; ".join(text for _, text in problems)
            rows.append(_row(code, shown, owed, bunny, balance, outstanding, other, problems[0][0], detail))
        else:
            rows.append(_row(code, shown, owed, bunny, balance, outstanding, other, None, f"{figures}, AIQ {aiq}"))
    return rows


def reconcile_balances(
    *,
    as_of: date,
    invoices: Iterable[BunnyInvoiceDue],
    payments: Iterable[BunnyPaymentMoney],
    account_codes: Mapping[str, str],
    aiq_balances: Mapping[str, AiqBalance],
    aiq_transactions: Iterable[AiqLedgerRow] | None = None,
    aiq_customers: Iterable[str] = (),
    ambiguous: Mapping[str, Sequence[str]] | None = None,
    sync_start: date | None = None,
    payment_amount: str = "gross",
) -> BalanceReconciliation:
    """Every customer's AIQ balance as at `as_of` against what Bunny's documents say it owes.

    `account_codes`: Bunny account id -> the AIQ customer code it maps to (the posting's rules); `ambiguous`: Bunny
    account id -> the AIQ codes it matches when it matches several (listed, not compared). `aiq_balances`: AIQ's
    answer by customer code (a code it left out is a customer AIQ does not have). `aiq_transactions`: the compared
    customers' transactions up to `as_of` (every date), for the cross-check and to see which of our documents
    AIQ holds on which customer; None: not read, no cross-check. `aiq_customers`: further AIQ customer codes to
    list when they hold our documents or a balance (those the sync created, BNY-...), though Bunny has nothing for
    them.
    """
    rows_in = list(aiq_transactions) if aiq_transactions is not None else []
    held = _held_on(rows_in)
    outstanding, other = _outstanding(rows_in) if aiq_transactions is not None else ({}, {})
    balances = {_upper(code): b for code, b in aiq_balances.items()}
    codes = {account: _upper(code) for account, code in account_codes.items()}
    owed = _bunny_side(
        invoices, payments, codes, held, as_of=as_of, sync_start=sync_start, payment_amount=payment_amount
    )
    holders = Counter(held.values())
    candidates = {_upper(c) for c in aiq_customers} | set(holders)
    rows: list[CustomerBalanceRow] = []
    ignored = 0
    for code in sorted(set(owed) | (candidates & set(balances)) | (set(holders) - set(balances))):
        balance = balances.get(code)
        if code not in owed and balance is not None and not holders[code] and to_cents(balance.balance) == 0:
            ignored += 1  # a customer shell: nothing of ours, nothing owed
            continue
        if code not in owed and balance is None:
            rows.append(
                _row(code, None, None, None, None, outstanding.get(code), other.get(code), BalanceProblem.ONLY_IN_AIQ,
                     f"AIQ customer {code} holds {holders[code]} of our document(s) but gave no balance for it; "
                     "Bunny has nothing of it that the sync posts")
            )  # fmt: skip
            continue
        rows += _compare(code, owed.get(code), balance, outstanding.get(code), other.get(code), holders[code] > 0)
    for account, matched in sorted((ambiguous or {}).items()):
        rows.append(
            CustomerBalanceRow(
                customer_code=", ".join(matched),
                currency=None,
                bunny_amount_due=None,
                aiq_balance=None,
                aiq_outstanding=None,
                aiq_other_outstanding=None,
                bunny_accounts=(account,),
                invoices=0,
                payments=0,
                problem=BalanceProblem.AMBIGUOUS_CUSTOMER,
                detail=f"Bunny account {account} matches AIQ customers {', '.join(matched)}: not compared",
            )
        )
    return BalanceReconciliation(as_of=as_of, rows=tuple(rows), ignored_aiq_customers=ignored)


def is_our_customer(code: str) -> bool:
    """An AIQ customer code this sync derives (BNY-<id> or BNY_<...>_<digest>)."""
    upper = code.strip().upper()
    return upper.startswith((f"{CUSTOMER_PREFIX}-", f"{CUSTOMER_PREFIX}_"))
