"""Reconcile one month of money through the bank: AIQ's receipts and refunds per day and bank account against the
Bunny payments received and the refunds paid back.

What AIQ should hold for each Bunny document (references from `identity`, amounts and banks as the posters post
them, sync/documents/payment.py and refund.py):

- a received payment (SUCCEEDED or DISPUTED): one sales receipt (SR) `BUNNY-PAY-<id>` of what reached the bank,
  the amount less the processor's fees (`Payment.amount` read as `payment_amount` says: `gross`, fees inside, or
  `net_of_fees`), into the bank account mapped for its processor and currency, dated when it was received;
- a REFUND credit note of an invoice that payments paid: one sales debit journal (SD) `BUNNY-RFND-<credit note id>`
  of the money paid back, the credit note's amount up to what those payments applied to the invoice, out of the
  bank account mapped for the processor of the latest of them, dated like the credit note. A refund of an invoice
  nobody paid pays nothing back and is not compared here (its credit note is, in the document reconciliation);
- pending and failed payments: nothing.

A payment (or refund) whose processor and currency have no bank account mapped is listed as UNMAPPED_PROCESSOR
and summed into no bank: a guess would hide it.

Totals are per (day, bank account, currency, kind): Bunny's on the day the money moved in Bunny and the mapped bank,
AIQ's on the day and bank AIQ holds. The same document compared one by one says why a total differs (missing,
duplicated, another amount, bank or day). AIQ receipts and refunds without one of our references are someone
else's: counted beside the totals (`other_*`), never a difference; a bank statement shows them too.

Which month a document belongs to follows the document reconciliation: AIQ's posting month, so a document moved
out of a closed period to the first day of an open one (the `first_open_day` policy) belongs to the day AIQ dated
it. Documents dated before the sync start date are optional: absent is fine, present must match.

Amounts are magnitudes of AIQ's control amounts (AIQ's sign of receipts in the summaries is a reading, the AIQ
emulator's README: summary_amount_sign); exact Decimal cents throughout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from aiq_pipeline.sync.documents.context import PaymentAccounts
from aiq_pipeline.sync.documents.credit_note import ISSUED_CREDIT_NOTE_STATES
from aiq_pipeline.sync.documents.payment import RECEIVED_STATES
from aiq_pipeline.sync.identity import PAYMENT_PREFIX, REFUND_PREFIX, payment_reference, refund_reference
from aiq_pipeline.sync.inputs import AiqTransactionRow, BunnyPayment
from aiq_pipeline.sync.money import ZERO, money_sum, to_cents

RECEIPT_TYPE = "SR"
REFUND_TYPE = "SD"
KIND_RECEIPTS = "receipts"
KIND_REFUNDS = "refunds"
REFUND = "REFUND"
NET_OF_FEES = "net_of_fees"


class MoneyProblem(StrEnum):
    MISSING_IN_AIQ = "MISSING_IN_AIQ"  # Bunny moved money; AIQ holds no receipt (refund) for it
    NOT_IN_BUNNY = "NOT_IN_BUNNY"  # AIQ holds one of our receipts (refunds); Bunny has no such money this month
    DUPLICATE_IN_AIQ = "DUPLICATE_IN_AIQ"  # more than one AIQ receipt (refund) for one Bunny payment (refund)
    AMOUNT_DIFFERS = "AMOUNT_DIFFERS"
    BANK_DIFFERS = "BANK_DIFFERS"  # in AIQ through another bank account than the one mapped
    DATE_DIFFERS = "DATE_DIFFERS"  # in AIQ on another day of the month
    CURRENCY_DIFFERS = "CURRENCY_DIFFERS"
    UNMAPPED_PROCESSOR = "UNMAPPED_PROCESSOR"  # no bank account mapped for its processor and currency


# --- inputs (the clients' models satisfy these; see sync.inputs) ------------------------------------------


class BunnyRefundNote(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def number(self) -> str | None: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def credited_invoice_id(self) -> str | None: ...
    @property
    def currency_code(self) -> str | None: ...
    @property
    def issued_at(self) -> date | None: ...
    @property
    def amount(self) -> Decimal: ...


class AiqMoneyTransaction(AiqTransactionRow, Protocol):
    """A look-up row with the bank account of a receipt or refund (TransactionBankGLAccountNumber)."""

    @property
    def bank_account_code(self) -> str | None: ...


# --- what Bunny says moved through the bank ---------------------------------------------------------------


def received_on(payment: BunnyPayment) -> date:
    """The day the money was received, as the payment planner dates the receipt."""
    moment: datetime = payment.received_at or payment.completed_at or payment.created_at or payment.updated_at
    return moment.date()


def is_received(payment: BunnyPayment) -> bool:
    """Money received (SUCCEEDED, or DISPUTED after it succeeded): the payments the sync posts."""
    return (payment.processing_state or "").strip().upper() in RECEIVED_STATES


def banked_amount(payment: BunnyPayment, payment_amount: str) -> Decimal:
    """What reached the bank: the amount less the processor's fees (`Payment.amount` read as `payment_amount`)."""
    amount = to_cents(payment.amount)
    return amount if payment_amount == NET_OF_FEES else amount - to_cents(payment.fees or ZERO)


def applied_to(payment: BunnyPayment, invoice_id: str) -> Decimal:
    return money_sum(to_cents(a.amount or ZERO) for a in payment.applications if a.invoice_id == invoice_id)


@dataclass(frozen=True)
class BunnyMoney:
    """One movement of money Bunny shows: a payment received or a refund paid back."""

    kind: str  # receipts | refunds
    reference: str  # the AIQ reference it posts under
    bunny_id: str  # payment id, or credit note id
    label: str
    day: date  # Bunny's day
    currency: str
    amount: Decimal  # magnitude, in `currency`
    processor: str | None
    bank: str | None  # mapped bank account; None: unmapped
    moved_to: date | None = None  # the day AIQ moved it to out of a closed period (a period's first day)

    @property
    def ledger_day(self) -> date:
        """The day AIQ should hold it on."""
        return self.moved_to or self.day


def bunny_receipts(
    payments: Iterable[BunnyPayment], accounts: PaymentAccounts, payment_amount: str
) -> list[BunnyMoney]:
    """Every received payment as the receipt it posts as (pending and failed ones post nothing)."""
    found = []
    for payment in payments:
        if not is_received(payment):
            continue
        currency = (payment.currency_code or "").strip().upper()
        found.append(
            BunnyMoney(
                kind=KIND_RECEIPTS,
                reference=payment_reference(payment.id),
                bunny_id=payment.id,
                label=f"Bunny payment {payment.id}",
                day=received_on(payment),
                currency=currency,
                amount=banked_amount(payment, payment_amount),
                processor=payment.payment_processor,
                bank=accounts.bank_for(payment.payment_processor, currency),
            )
        )
    return found


def bunny_refunds(
    notes: Iterable[BunnyRefundNote], payments: Sequence[BunnyPayment], accounts: PaymentAccounts
) -> list[BunnyMoney]:
    """Every issued REFUND credit note that pays money back: the invoice it credits was paid by received payments;
    the money is the note's amount up to what they applied there, through the latest one's processor."""
    found = []
    for note in notes:
        invoice_id = note.credited_invoice_id
        if (note.kind or "").upper() != REFUND or not invoice_id or note.state not in ISSUED_CREDIT_NOTE_STATES:
            continue
        if note.issued_at is None:
            continue
        paid = [p for p in payments if is_received(p) and applied_to(p, invoice_id) > 0]
        amount = min(to_cents(note.amount), money_sum(applied_to(p, invoice_id) for p in paid))
        if amount <= 0:
            continue
        latest = max(paid, key=lambda p: (p.received_at or p.created_at or datetime.min, p.id))
        currency = (note.currency_code or latest.currency_code or "").strip().upper()
        found.append(
            BunnyMoney(
                kind=KIND_REFUNDS,
                reference=refund_reference(note.id),
                bunny_id=note.id,
                label=f"Bunny refund credit note {note.number or note.id} (payment {latest.id})",
                day=note.issued_at,
                currency=currency,
                amount=amount,
                processor=latest.payment_processor,
                bank=accounts.bank_for(latest.payment_processor, currency),
            )
        )
    return found


# --- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankDayTotals:
    """Counts and amounts of one kind of money on one day through one bank account in one currency."""

    day: date
    bank_account: str
    currency: str
    kind: str  # receipts | refunds
    bunny_count: int = 0
    bunny_amount: Decimal = ZERO
    aiq_count: int = 0
    aiq_amount: Decimal = ZERO
    other_count: int = 0  # AIQ documents of the kind without one of our references (not compared)
    other_amount: Decimal = ZERO

    @property
    def matches(self) -> bool:
        return (self.bunny_count, self.bunny_amount) == (self.aiq_count, self.aiq_amount)


@dataclass(frozen=True)
class MoneyDifference:
    """One payment or refund that differs, is missing on either side, or has no bank account mapped."""

    problem: MoneyProblem
    kind: str  # receipts | refunds
    external_reference: str
    bunny_id: str | None
    processor: str | None
    currency: str | None
    bunny_day: date | None
    aiq_day: date | None
    bunny_bank: str | None
    aiq_bank: str | None
    bunny_amount: Decimal | None
    aiq_amount: Decimal | None
    aiq_transaction_ids: tuple[int, ...]
    detail: str

    def __str__(self) -> str:
        return f"{self.external_reference} [{self.problem}]: {self.detail}"


@dataclass(frozen=True)
class BankReconciliation:
    month: str  # YYYY-MM
    days: tuple[BankDayTotals, ...]
    differences: tuple[MoneyDifference, ...]
    matched: int  # Bunny payments and refunds found in AIQ exactly once, equal
    other_aiq_documents: int = 0
    optional_absent: int = 0  # before the sync start date, not in AIQ

    @property
    def passed(self) -> bool:
        return not self.differences and all(day.matches for day in self.days)

    def describe(self) -> str:
        if self.passed:
            return f"receipts and refunds agree ({self.matched} matched, {len(self.days)} bank day(s))"
        wrong = [f"{d.day} {d.bank_account} {d.kind} {d.currency}" for d in self.days if not d.matches]
        parts = [f"{len(self.differences)} payment(s)/refund(s) differ"]
        if wrong:
            parts.append("bank days differ: " + ", ".join(wrong))
        return "; ".join(parts)


# --- the reconciliation -----------------------------------------------------------------------------------


def _type_of(kind: str) -> str:
    return RECEIPT_TYPE if kind == KIND_RECEIPTS else REFUND_TYPE


def _ours(summary: AiqMoneyTransaction) -> str | None:
    """receipts | refunds for one of our receipts or refunds; None for anything else."""
    reference = (summary.external_reference or "").upper()
    kind = (summary.transaction_type or "").upper()
    if kind == RECEIPT_TYPE and reference.startswith(PAYMENT_PREFIX):
        return KIND_RECEIPTS
    if kind == REFUND_TYPE and reference.startswith(REFUND_PREFIX):
        return KIND_REFUNDS
    return None


def _amount(summary: AiqMoneyTransaction) -> Decimal:
    return abs(to_cents(summary.control_amount))


def _upper(text: str | None) -> str:
    return (text or "").strip().upper()


@dataclass
class _Builder:
    month: str
    first: date
    last: date
    ours: dict[str, list[AiqMoneyTransaction]]  # upper reference -> AIQ documents of the month
    bunny: dict[tuple[date, str, str, str], list[Decimal]] = field(default_factory=lambda: defaultdict(list))
    aiq: dict[tuple[date, str, str, str], list[Decimal]] = field(default_factory=lambda: defaultdict(list))
    other: dict[tuple[date, str, str, str], list[Decimal]] = field(default_factory=lambda: defaultdict(list))
    differences: list[MoneyDifference] = field(default_factory=list)
    matched: int = 0
    optional_absent: int = 0

    def count_aiq(self, kind: str, found: Iterable[AiqMoneyTransaction]) -> None:
        for summary in found:
            key = (
                summary.transaction_date or self.first,
                _upper(summary.bank_account_code),
                _upper(summary.currency_code),
                kind,
            )
            self.aiq[key].append(_amount(summary))

    def differ(
        self,
        problem: MoneyProblem,
        money: BunnyMoney | None,
        reference: str,
        found: Sequence[AiqMoneyTransaction],
        detail: str,
        kind: str | None = None,
    ) -> None:
        first = found[0] if found else None
        self.differences.append(
            MoneyDifference(
                problem=problem,
                kind=money.kind if money else (kind or KIND_RECEIPTS),
                external_reference=reference,
                bunny_id=money.bunny_id if money else None,
                processor=money.processor if money else None,
                currency=(money.currency if money else None) or (_upper(first.currency_code) if first else None),
                bunny_day=money.day if money else None,
                aiq_day=first.transaction_date if first else None,
                bunny_bank=money.bank if money else None,
                aiq_bank=first.bank_account_code if first else None,
                bunny_amount=money.amount if money else None,
                aiq_amount=_amount(first) if first else None,
                aiq_transaction_ids=tuple(t.transaction_id for t in found),
                detail=detail,
            )
        )

    def check(self, money: BunnyMoney, *, required: bool) -> None:
        found = self.ours.pop(money.reference.upper(), [])
        self.count_aiq(money.kind, found)
        if money.bank is None:
            held = f"AIQ holds it in bank account {found[0].bank_account_code}" if found else "AIQ holds nothing"
            self.differ(
                MoneyProblem.UNMAPPED_PROCESSOR,
                money,
                money.reference,
                found,
                f"{money.label}: {money.amount} {money.currency} on {money.day} through "
                f"{money.processor or 'no processor'}, and no AIQ bank account is mapped for that processor and "
                f"currency (AIQ_PIPELINE_BANK_ACCOUNTS); {held}",
            )
            return
        if not found and not required:
            self.optional_absent += 1
            return
        self.bunny[(money.ledger_day, money.bank.upper(), money.currency, money.kind)].append(money.amount)
        if not found:
            self.differ(
                MoneyProblem.MISSING_IN_AIQ,
                money,
                money.reference,
                found,
                f"{money.label}: {money.amount} {money.currency} on {money.ledger_day} into {money.bank}; AIQ has no "
                f"{_type_of(money.kind)} {money.reference}",
            )
            return
        problems = _problems(money, found)
        if problems:
            self.differ(
                problems[0][0], money, money.reference, found, f"{money.label}: " + "; ".join(d for _, d in problems)
            )
        else:
            self.matched += 1

    def leftovers(self) -> None:
        for found in self.ours.values():
            kind = _ours(found[0]) or KIND_RECEIPTS
            self.count_aiq(kind, found)
            reference = found[0].external_reference or ""
            ids = ", ".join(str(t.transaction_id) for t in found)
            self.differ(
                MoneyProblem.NOT_IN_BUNNY,
                None,
                reference,
                found,
                f"AIQ holds {_type_of(kind)} {reference} (transaction {ids}) of {_amount(found[0])} "
                f"{_upper(found[0].currency_code)} on {found[0].transaction_date} in bank account "
                f"{found[0].bank_account_code}; Bunny has no such {'payment' if kind == KIND_RECEIPTS else 'refund'} "
                f"in {self.month}",
                kind,
            )

    def result(self, other_documents: int) -> BankReconciliation:
        keys = sorted(set(self.bunny) | set(self.aiq) | set(self.other))
        days = tuple(
            BankDayTotals(
                day=key[0],
                bank_account=key[1],
                currency=key[2],
                kind=key[3],
                bunny_count=len(self.bunny.get(key, [])),
                bunny_amount=money_sum(self.bunny.get(key, [])),
                aiq_count=len(self.aiq.get(key, [])),
                aiq_amount=money_sum(self.aiq.get(key, [])),
                other_count=len(self.other.get(key, [])),
                other_amount=money_sum(self.other.get(key, [])),
            )
            for key in keys
        )
        return BankReconciliation(
            month=self.month,
            days=days,
            differences=tuple(sorted(self.differences, key=lambda d: (d.external_reference, d.problem))),
            matched=self.matched,
            other_aiq_documents=other_documents,
            optional_absent=self.optional_absent,
        )


def _problems(money: BunnyMoney, found: Sequence[AiqMoneyTransaction]) -> list[tuple[MoneyProblem, str]]:
    problems: list[tuple[MoneyProblem, str]] = []
    held = found[0]
    if len(found) > 1:
        ids = ", ".join(str(t.transaction_id) for t in found)
        problems.append((MoneyProblem.DUPLICATE_IN_AIQ, f"AIQ holds {len(found)} documents (transactions {ids})"))
    if _amount(held) != money.amount:
        problems.append((MoneyProblem.AMOUNT_DIFFERS, f"amount: Bunny {money.amount}, AIQ {_amount(held)}"))
    if held.bank_account_code is not None and _upper(held.bank_account_code) != _upper(money.bank):
        problems.append((MoneyProblem.BANK_DIFFERS, f"bank account: mapped {money.bank}, AIQ {held.bank_account_code}"))
    if held.transaction_date is not None and held.transaction_date != money.ledger_day:
        problems.append((MoneyProblem.DATE_DIFFERS, f"day: Bunny {money.ledger_day}, AIQ {held.transaction_date}"))
    if held.currency_code and _upper(held.currency_code) != money.currency:
        problems.append((MoneyProblem.CURRENCY_DIFFERS, f"currency: Bunny {money.currency}, AIQ {held.currency_code}"))
    return problems


def _placed(money: BunnyMoney, moved_to: Mapping[str, date]) -> BunnyMoney:
    """`money` on AIQ's day when AIQ moved it out of a closed period (to a later period's first day)."""
    moved = moved_to.get(money.reference.upper())
    return replace(money, moved_to=moved) if moved is not None and moved > money.day else money


def _moved(transactions: Iterable[AiqMoneyTransaction], period_starts: frozenset[date]) -> dict[str, date]:
    moved: dict[str, date] = {}
    for summary in transactions:
        day = summary.transaction_date
        if day is not None and day in period_starts and _ours(summary) is not None:
            reference = (summary.external_reference or "").upper()
            moved[reference] = min(day, moved.get(reference, day))
    return moved


def reconcile_bank_days(
    *,
    month: tuple[date, date],
    payments: Iterable[BunnyPayment],
    credit_notes: Iterable[BunnyRefundNote],
    aiq_transactions: Iterable[AiqMoneyTransaction],
    accounts: PaymentAccounts,
    payment_amount: str = "gross",
    sync_start: date | None = None,
    period_starts: Iterable[date] = (),
) -> BankReconciliation:
    """Compare the month's Bunny payments received and refunds paid back with the month's AIQ receipts (SR) and
    refunds (SD), per document and per (day, bank account, currency, kind).

    `month` is (first day, last day). Inputs may be wider than the month: Bunny documents are placed on their
    ledger day (see the module notes) and only the month's count; AIQ rows dated outside the month only say where a
    moved document went; AIQ rows of other types are ignored. `payments` should be all the entity's payments (a
    refund looks for the payments that paid its invoice, whenever they were received).
    """
    first, last = month
    payments = list(payments)
    transactions = list(aiq_transactions)
    moved_to = _moved(transactions, frozenset(period_starts))
    ours: dict[str, list[AiqMoneyTransaction]] = defaultdict(list)
    builder = _Builder(first.strftime("%Y-%m"), first, last, ours)
    other = 0
    for summary in transactions:
        day = summary.transaction_date
        if day is None or not first <= day <= last:
            continue
        kind = _ours(summary)
        if kind is not None:
            ours[(summary.external_reference or "").upper()].append(summary)
            continue
        type_code = _upper(summary.transaction_type)
        if type_code in (RECEIPT_TYPE, REFUND_TYPE) and summary.bank_account_code:
            other_kind = KIND_RECEIPTS if type_code == RECEIPT_TYPE else KIND_REFUNDS
            key = (day, _upper(summary.bank_account_code), _upper(summary.currency_code), other_kind)
            builder.other[key].append(_amount(summary))
            other += 1
    money = bunny_receipts(payments, accounts, payment_amount) + bunny_refunds(credit_notes, payments, accounts)
    for item in sorted(money, key=lambda m: (m.kind, m.reference)):
        item = _placed(item, moved_to)
        if first <= item.ledger_day <= last:
            builder.check(item, required=sync_start is None or item.day >= sync_start)
    builder.leftovers()
    return builder.result(other)
