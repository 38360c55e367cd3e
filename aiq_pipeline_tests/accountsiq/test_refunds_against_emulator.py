"""Refunds (money paid back to a customer) through the production client over real HTTP against the emulator's
payments tenant: a sales debit journal crediting the bank account, allocatable to the refund credit note so that the
customer's account in AIQ returns to what Bunny shows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aiq_pipeline.accountsiq import (
    SALES_DEBIT_JOURNAL_TYPE,
    AiqDuplicateReference,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    JournalLine,
    SalesDebitJournal,
    SalesReceipt,
    SalesRefund,
)
from aiq_pipeline_tests.accountsiq.conftest import Money

SD = (SALES_DEBIT_JOURNAL_TYPE,)
POST = "PostSalesDebitJournalGetBackTransactionID"
LINE = BatchLine("4000", "V01", "Subscription", Decimal("100.00"), Decimal("0.23"), Decimal("23.00"))


def refund(reference: str = "BUNNY-REFUND-1", amount: str = "123.00", **changes: object) -> SalesRefund:
    values: dict[str, object] = {
        "customer_code": "EXISTING-001",
        "bank_account_code": "1200",
        "refund_date": date(2026, 7, 6),
        "amount": Decimal(amount),
        "external_reference": reference,
        "description": "Refund of BUNNY-PAY-1",
    }
    values.update(changes)
    return SalesRefund(**values)  # type: ignore[arg-type]


def test_a_refund_is_a_debit_journal_out_of_the_bank(money: Money) -> None:
    client = money.client()
    created = client.post_sales_refund(refund())
    assert created.transaction_id > 0
    [found] = client.get_transactions_by_external_reference("BUNNY-REFUND-1", types=SD)
    assert (found.transaction_id, found.transaction_type, found.bank_account_code) == (
        created.transaction_id,
        "SD",
        "1200",
    )
    assert found.signed_control_amount == found.signed_outstanding_amount == Decimal("123.00")
    transaction = client.get_transaction(created.transaction_id)
    assert (transaction.transaction_type, transaction.gross_amount) == ("SalesDebitJournal", Decimal("123.00"))
    bank_line = [line for line in transaction.lines if line.gl_account_code == "1200"]
    assert [line.amount for line in bank_line] == [Decimal("-123.00")]


def test_receipt_then_refund_settles_the_customer_back_to_zero(money: Money) -> None:
    """Paid, then refunded in full: invoice, receipt, refund credit note and refund, allocated pairwise."""
    client = money.client()
    invoice = client.create_batch_sales_invoice_get_back_transaction_id(
        BatchSalesInvoice("EXISTING-001", date(2026, 7, 2), "INV-1", "Invoice", (LINE,))
    )
    receipt = client.save_sales_receipt_get_back_transaction_id(
        SalesReceipt("EXISTING-001", "1200", date(2026, 7, 3), Decimal("123.00"), "PAY-1", "Card payment")
    )
    client.allocate_transactions(
        invoice.transaction_id, receipt.transaction_id, amount=Decimal("123.00"), allocation_date=date(2026, 7, 3)
    )
    note = client.create_batch_sales_credit_note_get_back_transaction_id(
        BatchSalesCreditNote("EXISTING-001", date(2026, 7, 6), "CN-1", "Refund credit note", (LINE,))
    )
    paid_out = client.post_sales_refund(refund("REFUND-1"))
    client.allocate_transactions(
        paid_out.transaction_id, note.transaction_id, amount=Decimal("123.00"), allocation_date=date(2026, 7, 6)
    )
    rows = [
        row
        for row in client.get_transactions_by(date(2026, 7, 1), date(2026, 7, 31))
        if row.account_code == "EXISTING-001"
    ]
    assert sorted(row.transaction_type or "" for row in rows) == ["SD", "SI", "SN", "SR"]
    assert [row.signed_outstanding_amount for row in rows] == [Decimal(0)] * 4
    assert sum(row.signed_control_amount for row in rows) == 0  # the customer owes nothing, as in Bunny


def test_a_journal_may_credit_several_accounts(money: Money) -> None:
    client = money.client()
    journal = SalesDebitJournal(
        "EXISTING-001",
        date(2026, 7, 6),
        "JOURNAL-1",
        (
            JournalLine("1200", "Refund", Decimal("100.00"), bank_exchange_rate=Decimal(1)),
            JournalLine("6900", "Refund fee", Decimal("1.50")),
        ),
    )
    client.post_sales_debit_journal_get_back_transaction_id(journal)
    [found] = client.get_transactions_by_external_reference("JOURNAL-1", types=SD)
    assert found.signed_control_amount == Decimal("101.50")


def test_a_foreign_customer_is_refunded_from_a_bank_in_its_currency(money: Money) -> None:
    client = money.client()
    gbp = {"customer_code": "EXISTING-002", "exchange_rate": Decimal("1.17"), "bank_exchange_rate": Decimal("1.17")}
    client.post_sales_refund(refund("GBP-1", bank_account_code="1210", **gbp))
    with money.raises(AiqValidationError) as other_currency:
        client.post_sales_refund(refund("GBP-2", bank_account_code="1220", **gbp))  # a USD bank
    assert other_currency.value.code == "JOURNAL_ENTRY_CANNOT_POST_TO_FOREIGN_BANK_ACCOUNT"
    client.post_sales_refund(refund("GBP-3", bank_account_code="1200", **gbp))  # the base-currency bank
    money.handle.set_options(journal_foreign_bank="refused")
    with money.raises(AiqValidationError) as refused:
        client.post_sales_refund(refund("GBP-4", bank_account_code="1210", **gbp))
    assert refused.value.code == "JOURNAL_ENTRY_CANNOT_POST_TO_FOREIGN_BANK_ACCOUNT"


def test_a_refused_refund_names_aiqs_code(money: Money) -> None:
    client = money.client()
    for bad, code in (
        (refund(amount="-1.00"), "JOURNAL_ENTRY_CANNOT_HAVE_NEGATIVE_AMOUNTS"),
        (refund(bank_account_code="1100"), "JOURNAL_ENTRY_CANNOT_POST_TO_CONTROL_ACCOUNT"),
        (refund(refund_date=date(2026, 5, 31)), "DATE_IS_OUT_OF_RANGE"),
        (refund(customer_code="NOBODY"), "CUSTOMER_CODE_DOES_NOT_EXIST"),
    ):
        with money.raises(AiqValidationError) as raised:
            client.post_sales_refund(bad)
        assert raised.value.code == code
    assert client.get_transactions_by_external_reference("BUNNY-REFUND-1", types=SD) == []


def test_a_lost_answer_is_unknown_and_the_refund_exists_once(money: Money) -> None:
    client = money.client()
    client.get_entities_by_token()
    money.handle.faults.add({"kind": "drop_after_commit", "operations": [POST], "count": 1})
    with money.raises(AiqWriteOutcomeUnknown):
        client.post_sales_refund(refund())
    assert money.calls(POST) == 1
    assert len(client.get_transactions_by_external_reference("BUNNY-REFUND-1", types=SD)) == 1


def test_a_taken_reference_is_a_duplicate_when_aiq_enforces_it(money: Money) -> None:
    money.handle.set_options(unique_external_references=True)
    client = money.client()
    client.post_sales_refund(refund())
    with money.raises(AiqDuplicateReference) as raised:
        client.post_sales_refund(refund())
    assert (raised.value.reference, raised.value.code) == ("BUNNY-REFUND-1", "JOURNAL_ENTRY_REFERENCE_ALREADY_EXISTS")
