"""The pure customer-balance reconciliation: AIQ's balance of each customer against Bunny's amount due (invoices'
amountDue less payments' unapplied money); every difference with both figures, customers on one side listed, a
missing balance never read as zero, Decimal exact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from aiq_pipeline.sync.balance_reconciliation import (
    BalanceProblem,
    BalanceReconciliation,
    is_our_customer,
    reconcile_balances,
)

D = Decimal
AS_OF = date(2026, 6, 30)
NO_FEES = D("0")
GROSS = D("123.00")
RECEIVED = datetime(2026, 6, 3, tzinfo=UTC)


@dataclass(frozen=True)
class Invoice:
    id: str
    amount_due: Decimal | None
    account_id: str = "1"
    amount: Decimal = GROSS
    state: str = "NOT_DUE"
    currency_code: str = "EUR"
    issued_at: date | None = date(2026, 6, 2)
    merged_to_invoice_id: str | None = None


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
    amount_unapplied: Decimal | None
    account_id: str | None = "1"
    fees: Decimal | None = NO_FEES
    processing_state: str = "SUCCEEDED"
    currency_code: str | None = "EUR"
    received_at: datetime | None = RECEIVED
    applications: tuple[Application, ...] = ()
    payment_processor: str | None = "stripe"
    entity_id: str | None = "1"
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime = RECEIVED
    account: None = None


@dataclass(frozen=True)
class Balance:
    account_code: str
    balance: Decimal
    currency_code: str | None = "EUR"


@dataclass(frozen=True)
class Row:
    transaction_id: int
    account_code: str | None
    external_reference: str | None
    signed_outstanding_amount: Decimal | None


def reconcile(
    invoices: Sequence[Invoice] = (),
    payments: Sequence[Payment] = (),
    balances: Sequence[Balance] = (),
    rows: Sequence[Row] | None = None,
    *,
    codes: Mapping[str, str] | None = None,
    aiq_customers: Sequence[str] = (),
    ambiguous: Mapping[str, Sequence[str]] | None = None,
    sync_start: date | None = None,
    payment_amount: str = "gross",
) -> BalanceReconciliation:
    return reconcile_balances(
        as_of=AS_OF,
        invoices=invoices,
        payments=payments,
        account_codes={"1": "BNY-1", "2": "BNY-2"} if codes is None else codes,
        aiq_balances={b.account_code: b for b in balances},
        aiq_transactions=rows,
        aiq_customers=aiq_customers,
        ambiguous=ambiguous,
        sync_start=sync_start,
        payment_amount=payment_amount,
    )


def by_code(result: BalanceReconciliation) -> dict[str, object]:
    return {r.customer_code: r for r in result.rows}


def test_amount_due_less_unapplied_money_equals_aiqs_balance() -> None:
    invoices = [Invoice("1", D("0.00")), Invoice("2", D("23.00")), Invoice("3", D("123.00"), account_id="2")]
    payments = [
        Payment("1", D("123.00"), D("0.00")),  # paid invoice 1
        Payment("2", D("150.00"), D("50.00")),  # paid 100 of invoice 2, 50 over
    ]
    balances = [Balance("BNY-1", D("-27.00")), Balance("BNY-2", D("123.00"))]
    result = reconcile(invoices, payments, balances)
    assert result.passed, result.differences
    first = next(r for r in result.rows if r.customer_code == "BNY-1")
    assert (first.bunny_amount_due, first.aiq_balance, first.invoices, first.payments) == (
        D("-27.00"),
        D("-27.00"),
        2,
        2,
    )
    assert first.currency == "EUR" and first.bunny_accounts == ("1",)


def test_a_difference_lists_both_figures_code_and_currency() -> None:
    result = reconcile([Invoice("1", D("123.00"))], [], [Balance("BNY-1", D("122.99"))])
    (row,) = result.differences
    assert (row.customer_code, row.currency, row.problem) == ("BNY-1", "EUR", BalanceProblem.BALANCE_DIFFERS)
    assert (row.bunny_amount_due, row.aiq_balance) == (D("123.00"), D("122.99"))
    assert "Bunny 123.00 EUR, AIQ 122.99" in row.detail


def test_a_customer_aiq_gave_no_balance_for_is_missing_not_zero() -> None:
    result = reconcile([Invoice("1", D("0.00"))], [Payment("1", D("123.00"), D("0.00"))], [])
    (row,) = result.differences
    assert (row.problem, row.bunny_amount_due, row.aiq_balance) == (BalanceProblem.ONLY_IN_BUNNY, D("0.00"), None)


def test_a_customer_only_in_aiq_is_listed_and_an_empty_shell_is_not() -> None:
    rows = [Row(1, "BNY-9", "BUNNY-INV-999", D("49.00"))]
    balances = [Balance("BNY-9", D("49.00")), Balance("BNY-8", D("0.00")), Balance("BNY-7", D("5.00"))]
    result = reconcile([], [], balances, rows, aiq_customers=["BNY-9", "BNY-8", "BNY-7"])
    found = by_code(result)
    assert set(found) == {"BNY-9", "BNY-7"} and result.ignored_aiq_customers == 1
    assert all(r.problem == BalanceProblem.ONLY_IN_AIQ and r.bunny_amount_due is None for r in result.rows)


def test_a_document_counts_for_the_customer_aiq_holds_it_on() -> None:
    # Account 1 maps to BNY-1 by the rules, but its invoice sits on ACME (matched earlier by VAT number).
    rows = [Row(1, "ACME", "BUNNY-INV-1", D("123.00"))]
    result = reconcile([Invoice("1", D("123.00"))], [], [Balance("ACME", D("123.00"))], rows)
    assert result.passed and [r.customer_code for r in result.rows] == ["ACME"]


def test_aiqs_balance_is_cross_checked_with_its_transactions() -> None:
    rows = [Row(1, "BNY-1", "BUNNY-INV-1", D("123.00")), Row(2, "BNY-1", "BUNNY-PAY-1", D("-100.00"))]
    agreed = reconcile([Invoice("1", D("23.00"))], [], [Balance("BNY-1", D("23.00"))], rows)
    assert agreed.passed and agreed.rows[0].aiq_outstanding == D("23.00")
    broken = [Row(1, "BNY-1", "BUNNY-INV-1", D("123.00")), Row(2, "BNY-1", "BUNNY-PAY-1", D("-99.00"))]
    (row,) = reconcile([Invoice("1", D("23.00"))], [], [Balance("BNY-1", D("23.00"))], broken).differences
    assert (row.problem, row.aiq_outstanding, row.aiq_balance) == (
        BalanceProblem.AIQ_SELF_DISAGREES,
        D("24.00"),
        D("23.00"),
    )
    unknown = [Row(1, "BNY-1", "BUNNY-INV-1", None)]
    result = reconcile([Invoice("1", D("23.00"))], [], [Balance("BNY-1", D("23.00"))], unknown)
    assert result.passed and result.rows[0].aiq_outstanding is None  # not read is not zero, and not a difference


def test_others_transactions_are_shown_apart_in_a_difference() -> None:
    rows = [Row(1, "BNY-1", "BUNNY-INV-1", D("123.00")), Row(2, "BNY-1", "HAND-1", D("10.00"))]
    (row,) = reconcile([Invoice("1", D("123.00"))], [], [Balance("BNY-1", D("133.00"))], rows).differences
    assert (row.problem, row.aiq_other_outstanding) == (BalanceProblem.BALANCE_DIFFERS, D("10.00"))
    assert "10.00 of AIQ's is on transactions not ours" in row.detail


def test_which_documents_count_for_bunny() -> None:
    invoices = [
        Invoice("1", D("10.00")),
        Invoice("2", D("20.00"), state="DRAFT"),
        Invoice("3", D("0.00"), state="VOIDED"),
        Invoice("4", D("40.00"), merged_to_invoice_id="9"),  # a component of a consolidated invoice
        Invoice("5", D("50.00"), issued_at=date(2026, 7, 1)),  # after the as-at date
        Invoice("6", D("60.00"), issued_at=date(2026, 5, 1)),  # before the sync start, not in AIQ
        Invoice("7", D("70.00"), issued_at=date(2026, 5, 2)),  # before the sync start, posted as history
        Invoice("8", D("0.00"), amount=D("0.00")),  # zero value, not in AIQ
    ]
    payments = [
        Payment("1", D("5.00"), D("5.00"), processing_state="PENDING"),
        Payment("2", D("5.00"), D("5.00"), processing_state="FAILED"),
        Payment("3", D("5.00"), D("1.00"), processing_state="DISPUTED"),
        Payment("4", D("5.00"), D("5.00"), received_at=datetime(2026, 5, 1, tzinfo=UTC)),
    ]
    rows = [
        Row(1, "BNY-1", "BUNNY-INV-7", D("70.00")),
        Row(2, "BNY-1", "BUNNY-INV-1", D("10.00")),
        Row(3, "BNY-1", "BUNNY-PAY-3", D("-1.00")),
    ]
    result = reconcile(invoices, payments, [Balance("BNY-1", D("79.00"))], rows, sync_start=date(2026, 6, 1))
    assert result.passed, result.differences
    (row,) = result.rows
    assert (row.bunny_amount_due, row.invoices, row.payments) == (D("79.00"), 2, 1)


def test_unapplied_money_when_bunny_leaves_it_out_follows_the_payment_amount_reading() -> None:
    applied = (Application("a", "1", D("100.00")),)
    gross = Payment("1", D("103.00"), None, fees=D("3.00"), applications=applied)
    assert reconcile([], [gross], [Balance("BNY-1", D("-3.00"))]).passed
    net = Payment("1", D("100.00"), None, fees=D("3.00"), applications=applied)
    assert reconcile([], [net], [Balance("BNY-1", D("-3.00"))], payment_amount="net_of_fees").passed


def test_currency_unknown_amount_due_and_ambiguous_accounts_are_differences() -> None:
    wrong = reconcile([Invoice("1", D("5.00"), currency_code="GBP")], [], [Balance("BNY-1", D("5.00"))])
    assert [(r.problem, r.currency) for r in wrong.differences] == [(BalanceProblem.CURRENCY_DIFFERS, "GBP")]
    unknown = reconcile([Invoice("1", None)], [], [Balance("BNY-1", D("5.00"))])
    assert [(r.problem, r.bunny_amount_due) for r in unknown.differences] == [
        (BalanceProblem.BUNNY_AMOUNT_UNKNOWN, None)
    ]
    ambiguous = reconcile([Invoice("1", D("5.00"))], [], [], codes={}, ambiguous={"1": ["ACME", "ACME2"]})
    (row,) = ambiguous.differences
    assert (row.problem, row.bunny_accounts) == (BalanceProblem.AMBIGUOUS_CUSTOMER, ("1",))


def test_sums_are_exact_decimal_cents() -> None:
    invoices = [Invoice(str(i), D("0.10")) for i in range(3)]
    result = reconcile(invoices, [], [Balance("BNY-1", D("0.3"))])
    assert result.passed
    assert result.rows[0].bunny_amount_due == D("0.30") and isinstance(result.rows[0].aiq_balance, Decimal)


def test_our_customer_codes() -> None:
    assert (
        is_our_customer("BNY-12")
        and is_our_customer("bny_x_ABC")
        and not is_our_customer("BNYX")
        and not is_our_customer("ACME")
    )


def test_a_negative_invoice_counts_as_the_credit_the_sync_posts_not_as_its_zero_amount_due() -> None:
    """Found by running the randomized invoices through the reconciliation: an invoice whose total is negative (a
    downgrade's proration) posts as a credit note alone, so AIQ owes the customer its amount, while Bunny shows it
    with amountDue 0; counting that 0 listed every customer with a downgrade as differing by the credit."""
    invoices = [
        Invoice("1", D("100.00"), amount=D("100.00")),
        Invoice("2", D("0.00"), amount=D("-20.35")),  # the emulator's (and the likeliest) reading: nothing due
        Invoice("3", D("-5.00"), amount=D("-5.00")),  # should Bunny show the credit as due: counted once
    ]
    rows = [
        Row(1, "BNY-1", "BUNNY-INV-1", D("100.00")),
        Row(2, "BNY-1", "BUNNY-INVCR-2", D("-20.35")),
        Row(3, "BNY-1", "BUNNY-INVCR-3", D("-5.00")),
    ]
    result = reconcile(invoices, [], [Balance("BNY-1", D("74.65"))], rows)
    assert result.passed, result.differences
    (row,) = result.rows
    assert (row.bunny_amount_due, row.invoices) == (D("74.65"), 3)


def test_a_customer_whose_only_documents_are_a_voided_pair_agrees_at_zero() -> None:
    """Found by running the randomized invoices through the reconciliation (seed 994503): an invoice voided after it
    was posted leaves its SI and its reversal in AIQ, zero together; Bunny's side skipped the voided invoice, so the
    customer, holding our documents, was listed ONLY_IN_AIQ at 0.00. A balance left by half a pair still differs."""
    voided = [Invoice("4", D("0.00"), state="VOIDED")]
    pair = [Row(1, "BNY-1", "BUNNY-INV-4", D("0.00")), Row(2, "BNY-1", "BUNNY-VOID-4", D("0.00"))]
    result = reconcile(voided, [], [Balance("BNY-1", D("0.00"))], pair, aiq_customers=["BNY-1"])
    assert result.passed, result.differences
    (row,) = result.rows
    assert (row.bunny_amount_due, row.aiq_balance, row.invoices) == (D("0.00"), D("0.00"), 1)
    half = [Row(1, "BNY-1", "BUNNY-INV-4", D("123.00"))]
    (row,) = reconcile(voided, [], [Balance("BNY-1", D("123.00"))], half, aiq_customers=["BNY-1"]).differences
    assert (row.problem, row.bunny_amount_due) == (BalanceProblem.BALANCE_DIFFERS, D("0.00"))


def test_a_customer_whose_only_documents_are_a_voided_negative_invoices_pair_agrees_at_zero() -> None:
    """A negative invoice posts as its credit note alone (INVCR) and its void as the reversal of that (VOIDCR): the
    pair is recognised by those references too (found in review)."""
    voided = [Invoice("4", D("0.00"), amount=D("-20.35"), state="VOIDED")]
    pair = [Row(1, "BNY-1", "BUNNY-INVCR-4", D("0.00")), Row(2, "BNY-1", "BUNNY-VOIDCR-4", D("0.00"))]
    result = reconcile(voided, [], [Balance("BNY-1", D("0.00"))], pair, aiq_customers=["BNY-1"])
    assert [r.problem for r in result.differences] == [], result.differences
    (row,) = result.rows
    assert (row.bunny_amount_due, row.aiq_balance, row.invoices) == (D("0.00"), D("0.00"), 1)


def test_a_negative_invoice_of_posted_history_counts_as_its_credit_note() -> None:
    """Issued before the sync start and held by AIQ as its INVCR (posted history): it counts, like a positive one."""
    invoices = [Invoice("5", D("0.00"), amount=D("-20.35"), issued_at=date(2026, 5, 2))]
    rows = [Row(1, "BNY-1", "BUNNY-INVCR-5", D("-20.35"))]
    result = reconcile(invoices, [], [Balance("BNY-1", D("-20.35"))], rows, sync_start=date(2026, 6, 1))
    assert result.passed, result.differences
