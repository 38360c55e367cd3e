"""Customer balances through the production client over real HTTP: GetCustomerBalanceInformation, and the same
figure from the transactions' side-signed outstanding amounts (under both summary sign readings)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from aiq_pipeline.accountsiq import (
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    SalesReceipt,
    SalesRefund,
    outstanding_by_account,
)
from aiq_pipeline_tests.accountsiq.conftest import Money

LINE = BatchLine("4000", "V01", "Subscription", Decimal("100.00"), Decimal("0.23"), Decimal("23.00"))


@pytest.mark.parametrize("reading", ["signed", "magnitude"])
def test_balance_from_aiq_equals_the_sum_of_outstanding_amounts(money: Money, reading: str) -> None:
    money.handle.set_options(summary_amount_sign=reading)
    client = money.client()
    invoice = client.create_batch_sales_invoice_get_back_transaction_id(
        BatchSalesInvoice("EXISTING-001", date(2026, 7, 2), "INV-1", "Invoice", (LINE,))
    )
    receipt = client.save_sales_receipt_get_back_transaction_id(
        SalesReceipt("EXISTING-001", "1200", date(2026, 7, 3), Decimal("150.00"), "PAY-1", "Overpayment")
    )
    client.allocate_transactions(
        invoice.transaction_id, receipt.transaction_id, amount=Decimal("123.00"), allocation_date=date(2026, 7, 3)
    )
    client.create_batch_sales_credit_note_get_back_transaction_id(
        BatchSalesCreditNote("EXISTING-001", date(2026, 7, 4), "CN-1", "Credit", (LINE,))
    )
    client.post_sales_refund(
        SalesRefund("EXISTING-001", "1200", date(2026, 7, 5), Decimal("27.00"), "REFUND-1", "Part of the overpayment")
    )
    client.create_batch_sales_invoice_get_back_transaction_id(
        BatchSalesInvoice("EXISTING-002", date(2026, 7, 2), "INV-2", "Invoice", (LINE,), Decimal("1.17"))
    )

    balances = client.get_customer_balances(date(2026, 7, 31))
    assert set(balances) == {"EXISTING-001", "EXISTING-002", "EXISTING-003"}
    # 123.00 - 150.00 - 123.00 + 27.00: the customer has 123.00 of credit (the overpayment less the refund, plus
    # the credit note).
    assert (balances["EXISTING-001"].balance, balances["EXISTING-001"].currency_code) == (Decimal("-123.00"), "EUR")
    assert (balances["EXISTING-002"].balance, balances["EXISTING-002"].currency_code) == (Decimal("123.00"), "GBP")

    rows = client.get_transactions_by(date(2026, 7, 1), date(2026, 7, 31))
    from_rows = outstanding_by_account(rows)
    assert from_rows == {"EXISTING-001": Decimal("-123.00"), "EXISTING-002": Decimal("123.00")}

    one = client.get_customer_balances(date(2026, 7, 3), ["EXISTING-001", "NOBODY"])
    assert list(one) == ["EXISTING-001"] and one["EXISTING-001"].balance == Decimal("-27.00")
    account = one["EXISTING-001"].account_id
    mine = client.get_transactions_by(date(2026, 7, 1), date(2026, 7, 31), account_ids=[account])
    assert {row.account_code for row in mine} == {"EXISTING-001"} and len(mine) == 4


def test_customer_codes_must_be_a_collection(money: Money) -> None:
    with pytest.raises(TypeError):
        money.client().get_customer_balances(date(2026, 7, 31), "EXISTING-001")
