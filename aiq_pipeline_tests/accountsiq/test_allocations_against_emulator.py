"""Allocations through the production client over real HTTP against the emulator's payments tenant: receipt to
invoice, refund to credit note, credit note to invoice; outstanding amounts on both sides; over-allocation; the
typed read-back under every listing reading; and exactly once after an unknown outcome, by looking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from aiq_pipeline.accountsiq import (
    AccountsIQClient,
    AiqNotFoundError,
    AiqOverAllocation,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    SalesReceipt,
    SalesRefund,
)
from aiq_pipeline_tests.accountsiq.conftest import Money

LINE = BatchLine("4000", "V01", "Subscription", Decimal("100.00"), Decimal("0.23"), Decimal("23.00"))
DAY = date(2026, 7, 4)


@dataclass
class Ledger:
    invoice: int  # 123.00
    receipt: int  # 100.00
    credit_note: int  # 123.00
    refund: int  # 30.00


def post_ledger(client: AccountsIQClient) -> Ledger:
    return Ledger(
        invoice=client.create_batch_sales_invoice_get_back_transaction_id(
            BatchSalesInvoice("EXISTING-001", date(2026, 7, 2), "INV-1", "Invoice", (LINE,))
        ).transaction_id,
        receipt=client.save_sales_receipt_get_back_transaction_id(
            SalesReceipt("EXISTING-001", "1200", date(2026, 7, 3), Decimal("100.00"), "PAY-1", "Card payment")
        ).transaction_id,
        credit_note=client.create_batch_sales_credit_note_get_back_transaction_id(
            BatchSalesCreditNote("EXISTING-001", date(2026, 7, 4), "CN-1", "Credit", (LINE,))
        ).transaction_id,
        refund=client.post_sales_refund(
            SalesRefund("EXISTING-001", "1200", date(2026, 7, 5), Decimal("30.00"), "REFUND-1", "Refund")
        ).transaction_id,
    )


def outstanding(client: AccountsIQClient, reference: str, kind: str) -> Decimal | None:
    [row] = client.get_transactions_by_external_reference(reference, types=(kind,))
    return row.signed_outstanding_amount


def test_each_pair_moves_both_outstanding_amounts_and_reads_back(money: Money) -> None:
    client = money.client()
    t = post_ledger(client)
    client.allocate_transactions(t.invoice, t.receipt, amount=Decimal("100.00"), allocation_date=DAY, reference="A1")
    client.allocate_transactions(t.credit_note, t.invoice, amount=Decimal("23.00"), allocation_date=DAY)
    client.allocate_transactions(t.refund, t.credit_note, amount=Decimal("30.00"), allocation_date=DAY)
    assert outstanding(client, "INV-1", "SI") == Decimal(0)
    assert outstanding(client, "PAY-1", "SR") == Decimal(0)
    assert outstanding(client, "CN-1", "SN") == Decimal("-70.00")
    assert outstanding(client, "REFUND-1", "SD") == Decimal(0)

    on_invoice = client.get_allocations_by_transaction_id(t.invoice)
    assert [(a.other_transaction_id, a.amount, a.allocation_date) for a in on_invoice] == [
        (t.receipt, Decimal("100.00"), DAY),
        (t.credit_note, Decimal("23.00"), DAY),
    ]
    assert [(a.other_transaction_type, a.other_external_reference) for a in on_invoice] == [
        ("SR", "PAY-1"),
        ("SN", "CN-1"),
    ]
    assert {a.transaction_id for a in on_invoice} == {t.invoice}
    on_note = client.get_allocations_by_transaction_id(t.credit_note)
    assert {(a.other_transaction_id, a.amount) for a in on_note} == {
        (t.invoice, Decimal("23.00")),
        (t.refund, Decimal("30.00")),
    }
    assert client.allocated_between(t.refund, t.credit_note) == Decimal("30.00")
    assert client.allocated_between(t.receipt, t.credit_note) == Decimal(0)


@pytest.mark.parametrize("listing", ["per_transaction", "per_counterpart"])
@pytest.mark.parametrize("sign", ["positive", "signed"])
def test_every_listing_reading_gives_the_same_allocations(money: Money, listing: str, sign: str) -> None:
    client = money.client()
    t = post_ledger(client)
    client.allocate_transactions(t.invoice, t.receipt, amount=Decimal("100.00"), allocation_date=DAY)
    client.allocate_transactions(t.refund, t.credit_note, amount=Decimal("30.00"), allocation_date=DAY)
    money.handle.set_options(allocations_listing=listing, allocation_amount_sign=sign)
    for asked, other, amount in ((t.invoice, t.receipt, "100.00"), (t.receipt, t.invoice, "100.00"),
                                 (t.credit_note, t.refund, "30.00")):  # fmt: skip
        [allocation] = client.get_allocations_by_transaction_id(asked)
        assert (allocation.transaction_id, allocation.other_transaction_id, allocation.amount) == (
            asked,
            other,
            Decimal(amount),
        )
    assert client.get_allocations_by_transaction_id(post_ledger_extra(client)) == []


def post_ledger_extra(client: AccountsIQClient) -> int:
    return client.save_sales_receipt_get_back_transaction_id(
        SalesReceipt("EXISTING-001", "1200", DAY, Decimal("5.00"), "PAY-X", "Unallocated")
    ).transaction_id


def test_over_allocation_is_refused_with_aiqs_code(money: Money) -> None:
    client = money.client()
    t = post_ledger(client)
    with money.raises(AiqOverAllocation) as more:
        client.allocate_transactions(t.invoice, t.receipt, amount=Decimal("100.01"), allocation_date=DAY)
    assert more.value.code == "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT"
    client.allocate_transactions(t.refund, t.credit_note, amount=Decimal("30.00"), allocation_date=DAY)
    with money.raises(AiqOverAllocation) as full:
        client.allocate_transactions(t.refund, t.credit_note, amount=Decimal("1.00"), allocation_date=DAY)
    assert full.value.code == "TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION"
    assert client.allocated_between(t.refund, t.credit_note) == Decimal("30.00")


def test_incompatible_pairs_are_validation_errors_not_over_allocations(money: Money) -> None:
    client = money.client()
    t = post_ledger(client)
    with money.raises(AiqValidationError) as raised:
        client.allocate_transactions(t.receipt, t.credit_note, amount=Decimal("1.00"), allocation_date=DAY)
    assert raised.value.code == "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"
    assert not isinstance(raised.value, AiqOverAllocation)


def test_the_other_over_allocation_reading_is_still_an_over_allocation(money: Money) -> None:
    money.handle.set_options(
        over_allocation_error_code="INVALID_STATE_TRANSACTION_OUSTANDING_AMOUNT_IS_LESS_THAN_ALLOCATION_PLUS_DISCOUNT_AMOUNT"
    )
    client = money.client()
    t = post_ledger(client)
    with money.raises(AiqOverAllocation):
        client.allocate_transactions(t.invoice, t.credit_note, amount=Decimal("500.00"), allocation_date=DAY)


def test_an_unknown_outcome_is_settled_by_looking_and_applied_once(money: Money) -> None:
    client = money.client()
    t = post_ledger(client)
    money.handle.faults.add({"kind": "drop_after_commit", "operations": ["AllocateTransactions"], "count": 1})
    with money.raises(AiqWriteOutcomeUnknown):
        client.allocate_transactions(t.invoice, t.receipt, amount=Decimal("100.00"), allocation_date=DAY)
    assert money.calls("AllocateTransactions") == 1  # never re-sent by the client
    applied = client.allocated_between(t.invoice, t.receipt)
    assert applied == Decimal("100.00")  # it landed: the caller records it and sends nothing more
    assert len(client.get_allocations_by_transaction_id(t.receipt)) == 1


def test_allocations_of_an_unknown_transaction_are_not_found(money: Money) -> None:
    client = money.client()
    with money.raises(AiqNotFoundError) as raised:
        client.get_allocations_by_transaction_id(987654)
    assert raised.value.code == "TRANSACTION_NOT_FOUND"
