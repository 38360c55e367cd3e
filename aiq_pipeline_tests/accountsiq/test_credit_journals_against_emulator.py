"""Sales credit journals (type SC) through the production client over real HTTP against the emulator's payments
tenant: a payment's processor fees (the customer credited, the bank-charges account debited) and account credit
applied to an invoice (the customer credited, a customer-credits account debited), looked up by reference under type
SC, allocated to an invoice under both `allocation_pairs` readings, and posted exactly once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from aiq_pipeline.accountsiq import (
    SALES_CREDIT_JOURNAL_TYPE,
    SALES_CREDIT_TYPES,
    AccountsIQClient,
    AiqDuplicateReference,
    AiqOverAllocation,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
    BatchLine,
    BatchSalesInvoice,
    JournalLine,
    SalesCreditJournal,
    SalesReceipt,
    ledger_sign,
    outstanding_by_account,
)
from aiq_pipeline_tests.accountsiq.conftest import Money

SC = (SALES_CREDIT_JOURNAL_TYPE,)
POST = "PostSalesCreditJournalGetBackTransactionID"
LINE = BatchLine("4000", "V01", "Subscription", Decimal("100.00"), Decimal("0.23"), Decimal("23.00"))
DAY = date(2026, 7, 6)
FEES_ACCOUNT, CREDITS_ACCOUNT = "6900", "2150"  # the payments tenant's Bank charges and Customer credits (Posting)


def fees(reference: str = "BUNNY-FEES-1", amount: str = "2.50", **changes: object) -> SalesCreditJournal:
    """Built as the posting service builds it (keywords, one line, no bank exchange rate)."""
    values: dict[str, object] = {
        "customer_code": "EXISTING-001",
        "transaction_date": DAY,
        "external_reference": reference,
        "lines": (
            JournalLine(
                gl_account_code=str(changes.pop("gl_account_code", FEES_ACCOUNT)),
                description="Processor fees of BUNNY-PAY-1",
                amount=Decimal(amount),
                bank_exchange_rate=None,
            ),
        ),
        "exchange_rate": Decimal(1),
    }
    values.update(changes)
    return SalesCreditJournal(**values)  # type: ignore[arg-type]


def invoice(client: AccountsIQClient, reference: str = "INV-1") -> int:
    return client.create_batch_sales_invoice_get_back_transaction_id(
        BatchSalesInvoice("EXISTING-001", date(2026, 7, 2), reference, "Invoice", (LINE,))  # 123.00
    ).transaction_id


def test_sc_is_a_credit_side_type() -> None:
    assert SALES_CREDIT_JOURNAL_TYPE == "SC" and SALES_CREDIT_JOURNAL_TYPE in SALES_CREDIT_TYPES
    assert ledger_sign("SC") == ledger_sign("sc ") == -1


def test_fees_are_a_credit_journal_debiting_the_fees_account(money: Money) -> None:
    client = money.client()
    created = client.post_sales_credit_journal_get_back_transaction_id(fees())
    assert created.transaction_id > 0 and created.reference is None
    [found] = client.get_transactions_by_external_reference("BUNNY-FEES-1", types=SC)
    assert (found.transaction_id, found.transaction_type, found.internal_number) == (
        created.transaction_id,
        "SC",
        "SC000001",
    )
    assert found.signed_control_amount == found.signed_outstanding_amount == Decimal("-2.50")
    assert [(line.gl_account_code, line.is_control_line, line.amount) for line in found.lines] == [
        ("1100", True, Decimal("-2.50")),
        (FEES_ACCOUNT, False, Decimal("2.50")),
    ]
    transaction = client.get_transaction(created.transaction_id)
    assert (transaction.transaction_type, transaction.gross_amount) == ("SalesCreditJournal", Decimal("2.50"))
    assert transaction.internal_number == "SC000001"
    assert client.get_transactions_by_external_reference("BUNNY-FEES-1", types=("SD",)) == []


def test_account_credit_applied_to_an_invoice_settles_it(money: Money) -> None:
    """Account credit of 23.00 applied to an invoice of 123.00, the rest paid by a receipt: all settled."""
    client = money.client()
    invoice_id = invoice(client)
    credit = client.post_sales_credit_journal_get_back_transaction_id(
        fees("CREDIT-1", "23.00", gl_account_code=CREDITS_ACCOUNT)
    )
    client.allocate_transactions(invoice_id, credit.transaction_id, amount=Decimal("23.00"), allocation_date=DAY)
    receipt = client.save_sales_receipt_get_back_transaction_id(
        SalesReceipt("EXISTING-001", "1200", DAY, Decimal("100.00"), "PAY-1", "Card payment")
    )
    client.allocate_transactions(invoice_id, receipt.transaction_id, amount=Decimal("100.00"), allocation_date=DAY)
    rows = [
        r for r in client.get_transactions_by(date(2026, 7, 1), date(2026, 7, 31)) if r.account_code == "EXISTING-001"
    ]
    assert sorted(row.transaction_type or "" for row in rows) == ["SC", "SI", "SR"]
    assert [row.signed_outstanding_amount for row in rows] == [Decimal(0)] * 3
    [allocation] = client.get_allocations_by_transaction_id(credit.transaction_id)
    assert (allocation.other_transaction_id, allocation.amount, allocation.other_transaction_type) == (
        invoice_id,
        Decimal("23.00"),
        "SI",
    )
    # The customer owes nothing: the balance is 123.00 - 23.00 - 100.00, from both sides of the cross-check.
    assert client.get_customer_balances(date(2026, 7, 31), ["EXISTING-001"])["EXISTING-001"].balance == 0
    assert outstanding_by_account(rows) == {"EXISTING-001": Decimal(0)}


def test_a_credit_journal_left_on_account_is_part_of_the_balance(money: Money) -> None:
    client = money.client()
    invoice(client)
    client.post_sales_credit_journal_get_back_transaction_id(fees(amount="3.00"))
    rows = [
        r for r in client.get_transactions_by(date(2026, 7, 1), date(2026, 7, 31)) if r.account_code == "EXISTING-001"
    ]
    assert outstanding_by_account(rows) == {"EXISTING-001": Decimal("120.00")}
    assert client.get_customer_balances(date(2026, 7, 31), ["EXISTING-001"])["EXISTING-001"].balance == Decimal(
        "120.00"
    )
    money.handle.set_options(summary_amount_sign="magnitude")  # header amounts positive: signed by the type
    rows = [
        r for r in client.get_transactions_by(date(2026, 7, 1), date(2026, 7, 31)) if r.account_code == "EXISTING-001"
    ]
    assert outstanding_by_account(rows) == {"EXISTING-001": Decimal("120.00")}


@pytest.mark.parametrize("pairs", ["debit_credit", "wiki_table"])
def test_allocating_fees_to_an_invoice_under_each_pairs_reading(money: Money, pairs: str) -> None:
    money.handle.set_options(allocation_pairs=pairs)
    client = money.client()
    invoice_id = invoice(client)
    credit = client.post_sales_credit_journal_get_back_transaction_id(fees()).transaction_id
    if pairs == "debit_credit":
        client.allocate_transactions(invoice_id, credit, amount=Decimal("2.50"), allocation_date=DAY)
        assert client.allocated_between(credit, invoice_id) == Decimal("2.50")
        expected = Decimal(0)
    else:
        with money.raises(AiqValidationError) as raised:
            client.allocate_transactions(invoice_id, credit, amount=Decimal("2.50"), allocation_date=DAY)
        assert raised.value.code == "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"
        assert not isinstance(raised.value, AiqOverAllocation)
        assert client.allocated_between(credit, invoice_id) == Decimal(0)
        expected = Decimal("-2.50")
    [found] = client.get_transactions_by_external_reference("BUNNY-FEES-1", types=SC)
    assert found.signed_outstanding_amount == expected
    # The customer's balance is the same either way: allocations never change it.
    assert client.get_customer_balances(date(2026, 7, 31), ["EXISTING-001"])["EXISTING-001"].balance == Decimal(
        "120.50"
    )


def test_over_allocating_a_credit_journal_is_an_over_allocation(money: Money) -> None:
    client = money.client()
    invoice_id = invoice(client)
    credit = client.post_sales_credit_journal_get_back_transaction_id(fees()).transaction_id
    with money.raises(AiqOverAllocation) as raised:
        client.allocate_transactions(invoice_id, credit, amount=Decimal("2.51"), allocation_date=DAY)
    assert raised.value.code == "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT"


def test_a_foreign_customer_credit_journal_is_in_its_currency(money: Money) -> None:
    client = money.client()
    client.post_sales_credit_journal_get_back_transaction_id(
        fees("GBP-1", "10.00", customer_code="EXISTING-002", exchange_rate=Decimal("1.17"))
    )
    [found] = client.get_transactions_by_external_reference("GBP-1", types=SC)
    assert (found.currency_code, found.signed_control_amount) == ("GBP", Decimal("-10.00"))
    assert [line.bc_amount for line in found.lines] == [Decimal("-11.70"), Decimal("11.70")]


def test_a_refused_credit_journal_names_aiqs_code(money: Money) -> None:
    client = money.client()
    for bad, code in (
        (fees(amount="-1.00"), "JOURNAL_ENTRY_CANNOT_HAVE_NEGATIVE_AMOUNTS"),
        (fees(gl_account_code="1100"), "JOURNAL_ENTRY_CANNOT_POST_TO_CONTROL_ACCOUNT"),
        (fees(gl_account_code="9999"), "GLACCOUNT_CODE_DOES_NOT_EXIST"),
        (fees(gl_account_code="1200"), "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),  # a bank line needs its rate
        (fees(transaction_date=date(2026, 5, 31)), "DATE_IS_OUT_OF_RANGE"),
        (fees(customer_code="NOBODY"), "CUSTOMER_CODE_DOES_NOT_EXIST"),
        (fees(lines=()), "JOURNAL_ENTRY_LINES_MUST_HAVE_ROWS"),
        (fees(exchange_rate=Decimal(0)), "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),
    ):
        with money.raises(AiqValidationError) as raised:
            client.post_sales_credit_journal_get_back_transaction_id(bad)
        assert raised.value.code == code
        assert not isinstance(raised.value, AiqDuplicateReference)
    assert client.get_transactions_by_external_reference("BUNNY-FEES-1", types=SC) == []


def test_a_lost_answer_is_unknown_and_the_credit_journal_exists_once(money: Money) -> None:
    client = money.client()
    client.get_entities_by_token()
    money.handle.faults.add({"kind": "drop_after_commit", "operations": [POST], "count": 1})
    with money.raises(AiqWriteOutcomeUnknown):
        client.post_sales_credit_journal_get_back_transaction_id(fees())
    assert money.calls(POST) == 1  # never re-sent by the client
    assert len(client.get_transactions_by_external_reference("BUNNY-FEES-1", types=SC)) == 1


def test_a_slow_commit_is_an_unknown_outcome(money: Money) -> None:
    client = money.client(timeout=0.3)
    client.get_entities_by_token()
    money.handle.set_options(slow_commit_seconds=2)
    with money.raises(AiqWriteOutcomeUnknown):
        client.post_sales_credit_journal_get_back_transaction_id(fees())
    assert money.calls(POST) == 1
    money.handle.set_options(slow_commit_seconds=0)
    assert len(client.get_transactions_by_external_reference("BUNNY-FEES-1", types=SC)) == 1


def test_throttling_and_token_rejection_are_resent_and_post_once(money: Money) -> None:
    client = money.client()
    client.get_entities_by_token()
    money.handle.faults.add({"kind": "throttle", "operations": [POST], "count": 2})
    client.post_sales_credit_journal_get_back_transaction_id(fees("THROTTLED"))
    assert money.calls(POST) == 3
    money.handle.expire_tokens()
    client.post_sales_credit_journal_get_back_transaction_id(fees("EXPIRED"))
    assert money.calls(POST) == 5  # the rejected call and its one repeat after renewal
    for reference in ("THROTTLED", "EXPIRED"):
        assert len(client.get_transactions_by_external_reference(reference, types=SC)) == 1


def test_a_taken_reference_is_a_duplicate_when_aiq_enforces_it(money: Money) -> None:
    money.handle.set_options(unique_external_references=True)
    client = money.client()
    client.post_sales_credit_journal_get_back_transaction_id(fees())
    with money.raises(AiqDuplicateReference) as raised:
        client.post_sales_credit_journal_get_back_transaction_id(fees())
    assert (raised.value.reference, raised.value.code) == ("BUNNY-FEES-1", "JOURNAL_ENTRY_REFERENCE_ALREADY_EXISTS")
    assert raised.value.operation == POST
    assert len(client.get_transactions_by_external_reference("BUNNY-FEES-1", types=SC)) == 1


def test_sent_again_after_a_lost_answer_it_is_refused_as_a_duplicate_when_aiq_enforces_it(money: Money) -> None:
    money.handle.set_options(unique_external_references=True)
    client = money.client()
    client.get_entities_by_token()
    money.handle.faults.add({"kind": "drop_after_commit", "operations": [POST], "count": 1})
    with money.raises(AiqWriteOutcomeUnknown):
        client.post_sales_credit_journal_get_back_transaction_id(fees())
    with money.raises(AiqDuplicateReference):
        client.post_sales_credit_journal_get_back_transaction_id(fees())
    assert len(client.get_transactions_by_external_reference("BUNNY-FEES-1", types=SC)) == 1
