"""The pure bank-day reconciliation: AIQ's receipts and refunds per day and bank account against Bunny's payments
received (less fees) and refunds paid back; every difference found, nothing invented, Decimal exact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from aiq_pipeline.sync.bank_reconciliation import BankReconciliation, MoneyProblem, reconcile_bank_days
from aiq_pipeline.sync.documents.context import PaymentAccounts

D = Decimal
NO_FEES = D("0")
JUNE = (date(2026, 6, 1), date(2026, 6, 30))
ACCOUNTS = PaymentAccounts(banks={("stripe", "EUR"): "1200", ("stripe", "GBP"): "1210", ("manual", "*"): "1230"})


@dataclass(frozen=True)
class Application:
    id: str
    invoice_id: str | None
    amount: Decimal | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Payment:
    id: str
    amount: Decimal
    fees: Decimal | None = NO_FEES
    processing_state: str = "SUCCEEDED"
    payment_processor: str | None = "stripe"
    currency_code: str | None = "EUR"
    received_at: datetime | None = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)
    applications: tuple[Application, ...] = ()
    account_id: str | None = "1"
    entity_id: str | None = "1"
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)
    account: None = None


@dataclass(frozen=True)
class Note:
    id: str
    credited_invoice_id: str | None
    amount: Decimal
    kind: str | None = "REFUND"
    state: str = "READY"
    currency_code: str | None = "EUR"
    issued_at: date | None = date(2026, 6, 10)
    number: str | None = None


@dataclass(frozen=True)
class Row:
    transaction_id: int
    external_reference: str | None
    control_amount: Decimal
    transaction_type: str = "SR"
    transaction_date: date | None = date(2026, 6, 3)
    bank_account_code: str | None = "1200"
    currency_code: str | None = "EUR"
    account_code: str | None = "BNY-1"
    lines: tuple[object, ...] = field(default=())


def receipt(tid: int, payment_id: str, amount: str, **kw: object) -> Row:
    """A receipt as the AIQ emulator signs it by default: a credit, negative."""
    return Row(tid, f"BUNNY-PAY-{payment_id}", -D(amount), **kw)  # type: ignore[arg-type]


def refund(tid: int, note_id: str, amount: str, **kw: object) -> Row:
    return Row(tid, f"BUNNY-RFND-{note_id}", D(amount), transaction_type="SD", **kw)  # type: ignore[arg-type]


def reconcile(
    payments: Sequence[Payment] = (),
    notes: Sequence[Note] = (),
    rows: Sequence[Row] = (),
    *,
    payment_amount: str = "gross",
    sync_start: date | None = None,
    period_starts: Sequence[date] = (),
) -> BankReconciliation:
    return reconcile_bank_days(
        month=JUNE,
        payments=payments,
        credit_notes=notes,
        aiq_transactions=rows,
        accounts=ACCOUNTS,
        payment_amount=payment_amount,
        sync_start=sync_start,
        period_starts=period_starts,
    )


def test_receipts_equal_to_payments_less_fees_per_day_and_bank_pass() -> None:
    payments = [
        Payment("1", D("123.00"), fees=D("3.87")),
        Payment("2", D("50.10"), fees=D("1.75")),
        Payment("3", D("20.00"), currency_code="GBP", received_at=datetime(2026, 6, 4, tzinfo=UTC)),
    ]
    rows = [
        receipt(1, "1", "119.13"),
        receipt(2, "2", "48.35"),
        receipt(3, "3", "20.00", bank_account_code="1210", currency_code="GBP", transaction_date=date(2026, 6, 4)),
    ]
    result = reconcile(payments, rows=rows)
    assert result.passed, result.differences
    assert result.matched == 3
    days = {(d.day, d.bank_account, d.currency): d for d in result.days}
    eur = days[(date(2026, 6, 3), "1200", "EUR")]
    assert (eur.bunny_count, eur.bunny_amount, eur.aiq_count, eur.aiq_amount) == (2, D("167.48"), 2, D("167.48"))
    assert days[(date(2026, 6, 4), "1210", "GBP")].aiq_amount == D("20.00")


def test_net_of_fees_reading_banks_the_amount_as_bunny_shows_it() -> None:
    payments = [Payment("1", D("119.13"), fees=D("3.87"))]
    assert reconcile(payments, rows=[receipt(1, "1", "119.13")], payment_amount="net_of_fees").passed
    gross = reconcile(payments, rows=[receipt(1, "1", "119.13")], payment_amount="gross")
    (difference,) = gross.differences
    assert (difference.problem, difference.bunny_amount, difference.aiq_amount) == (
        MoneyProblem.AMOUNT_DIFFERS,
        D("115.26"),
        D("119.13"),
    )


def test_a_missing_receipt_and_a_receipt_bunny_does_not_know_are_both_listed() -> None:
    result = reconcile([Payment("1", D("10.00"))], rows=[receipt(9, "999", "10.00")])
    assert not result.passed
    found = {d.external_reference: d for d in result.differences}
    assert found["BUNNY-PAY-1"].problem == MoneyProblem.MISSING_IN_AIQ
    assert (found["BUNNY-PAY-1"].bunny_amount, found["BUNNY-PAY-1"].aiq_amount) == (D("10.00"), None)
    assert found["BUNNY-PAY-999"].problem == MoneyProblem.NOT_IN_BUNNY
    assert (found["BUNNY-PAY-999"].bunny_amount, found["BUNNY-PAY-999"].aiq_amount) == (None, D("10.00"))
    assert found["BUNNY-PAY-999"].aiq_transaction_ids == (9,)
    # The day's totals agree by sum (10.00 each) but not by document: the differences say so, the check fails.
    (day,) = result.days
    assert (day.bunny_amount, day.aiq_amount) == (D("10.00"), D("10.00"))


def test_duplicate_wrong_bank_wrong_day_and_one_cent_are_named() -> None:
    payments = [Payment("1", D("10.00")), Payment("2", D("20.00")), Payment("3", D("30.00")), Payment("4", D("40.00"))]
    rows = [
        receipt(1, "1", "10.00"),
        receipt(2, "1", "10.00"),
        receipt(3, "2", "20.00", bank_account_code="1230"),
        receipt(4, "3", "30.00", transaction_date=date(2026, 6, 5)),
        receipt(5, "4", "40.01"),
    ]
    problems = {d.external_reference: d.problem for d in reconcile(payments, rows=rows).differences}
    assert problems == {
        "BUNNY-PAY-1": MoneyProblem.DUPLICATE_IN_AIQ,
        "BUNNY-PAY-2": MoneyProblem.BANK_DIFFERS,
        "BUNNY-PAY-3": MoneyProblem.DATE_DIFFERS,
        "BUNNY-PAY-4": MoneyProblem.AMOUNT_DIFFERS,
    }


def test_an_unmapped_processor_is_listed_and_summed_into_no_bank() -> None:
    result = reconcile([Payment("1", D("10.00"), payment_processor="paypal"), Payment("2", D("5.00"))])
    found = {d.external_reference: d for d in result.differences}
    assert found["BUNNY-PAY-1"].problem == MoneyProblem.UNMAPPED_PROCESSOR
    assert found["BUNNY-PAY-1"].bunny_bank is None and "paypal" in found["BUNNY-PAY-1"].detail
    assert found["BUNNY-PAY-2"].problem == MoneyProblem.MISSING_IN_AIQ
    assert {(d.bank_account, d.bunny_amount) for d in result.days} == {("1200", D("5.00"))}


def test_pending_and_failed_payments_expect_nothing_and_disputed_ones_do() -> None:
    payments = [
        Payment("1", D("10.00"), processing_state="PENDING"),
        Payment("2", D("10.00"), processing_state="FAILED"),
        Payment("3", D("10.00"), processing_state="DISPUTED"),
    ]
    result = reconcile(payments, rows=[receipt(3, "3", "10.00")])
    assert result.passed and result.matched == 1


def test_money_of_other_months_and_before_the_sync_start() -> None:
    may = Payment("1", D("10.00"), received_at=datetime(2026, 5, 31, 23, 0, tzinfo=UTC))
    early = Payment("2", D("10.00"), received_at=datetime(2026, 6, 2, tzinfo=UTC))
    result = reconcile([may, early], sync_start=date(2026, 6, 3))
    assert result.passed and result.optional_absent == 1 and result.days == ()
    # Present though optional: compared like any other.
    held = reconcile(
        [early], rows=[receipt(1, "2", "9.99", transaction_date=date(2026, 6, 2))], sync_start=date(2026, 6, 3)
    )
    assert [d.problem for d in held.differences] == [MoneyProblem.AMOUNT_DIFFERS]


def test_a_receipt_moved_out_of_a_closed_period_belongs_to_the_day_aiq_dated_it() -> None:
    payment = Payment("1", D("10.00"), received_at=datetime(2026, 5, 20, tzinfo=UTC))
    moved = receipt(1, "1", "10.00", transaction_date=date(2026, 6, 1))
    june = reconcile([payment], rows=[moved], period_starts=[date(2026, 5, 1), date(2026, 6, 1)])
    assert june.passed and june.matched == 1
    may = reconcile_bank_days(
        month=(date(2026, 5, 1), date(2026, 5, 31)),
        payments=[payment],
        credit_notes=[],
        aiq_transactions=[moved],
        accounts=ACCOUNTS,
        period_starts=[date(2026, 5, 1), date(2026, 6, 1)],
    )
    assert may.passed and may.days == ()
    # Not on a period's first day: a plain difference, in both months.
    late = receipt(1, "1", "10.00", transaction_date=date(2026, 6, 2))
    assert [d.problem for d in reconcile([payment], rows=[late]).differences] == [MoneyProblem.NOT_IN_BUNNY]


def test_a_refund_of_a_paid_invoice_is_money_out_of_the_payments_bank() -> None:
    paid = Payment("1", D("123.00"), applications=(Application("a", "7", D("123.00")),), payment_processor="manual")
    note = Note("5", "7", D("20.00"))
    rows = [
        receipt(1, "1", "123.00", bank_account_code="1230"),
        refund(2, "5", "20.00", transaction_date=date(2026, 6, 10), bank_account_code="1230"),
    ]
    result = reconcile([paid], [note], rows)
    assert result.passed, result.differences
    refunds = [d for d in result.days if d.kind == "refunds"]
    assert [(d.day, d.bank_account, d.bunny_amount, d.aiq_amount) for d in refunds] == [
        (date(2026, 6, 10), "1230", D("20.00"), D("20.00"))
    ]


def test_refunds_pay_back_no_more_than_was_paid_and_nothing_for_unpaid_invoices() -> None:
    partly = Payment("1", D("50.00"), applications=(Application("a", "7", D("50.00")),))
    notes = [Note("5", "7", D("123.00")), Note("6", "8", D("10.00")), Note("7", "7", D("1.00"), kind="WRITE_OFF")]
    result = reconcile([partly], notes, [receipt(1, "1", "50.00")])
    (missing,) = result.differences
    assert (missing.external_reference, missing.problem, missing.bunny_amount) == (
        "BUNNY-RFND-5",
        MoneyProblem.MISSING_IN_AIQ,
        D("50.00"),
    )


def test_someone_elses_receipts_are_counted_beside_never_a_difference() -> None:
    rows = [Row(1, "LODGEMENT 17", D("-99.99")), Row(2, None, D("-0.01"))]
    result = reconcile(rows=rows)
    assert result.passed and result.other_aiq_documents == 2
    (day,) = result.days
    assert (day.other_count, day.other_amount, day.aiq_count, day.bunny_count) == (2, D("100.00"), 0, 0)


def test_amounts_are_exact_decimal_cents_whatever_sign_aiq_gives() -> None:
    payments = [Payment(str(i), D("0.10")) for i in range(3)]
    rows = [receipt(i, str(i), "0.10") for i in range(2)] + [Row(9, "BUNNY-PAY-2", D("0.10"))]  # magnitude reading
    result = reconcile(payments, rows=rows)
    assert result.passed
    (day,) = result.days
    assert day.aiq_amount == D("0.30") and isinstance(day.aiq_amount, Decimal)
