"""Sales receipts through the production client over real HTTP against the emulator's payments tenant:
the same exactly-once contract as the document creates (unknown outcome, duplicate reference, throttling and token
rejection re-sent), AIQ's own duplicate check through PostPayAndAllocateSalesInvoice(s), and the read-back.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aiq_pipeline.accountsiq import (
    SALES_RECEIPT_TYPE,
    AiqDuplicateReference,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
    BatchLine,
    BatchSalesInvoice,
    CreatedTransaction,
    PayAndAllocate,
    SalesReceipt,
)
from aiq_pipeline_tests.accountsiq.conftest import Money

SR = (SALES_RECEIPT_TYPE,)
SAVE = "SaveSalesReceiptGetBackTransactionID"
PAY = "PostPayAndAllocateSalesInvoice"
PAY_MANY = "PostPayAndAllocateSalesInvoices"


def receipt(reference: str = "BUNNY-PAY-1", amount: str = "123.00", **changes: object) -> SalesReceipt:
    values: dict[str, object] = {
        "customer_code": "EXISTING-001",
        "bank_account_code": "1200",
        "payment_date": date(2026, 7, 3),
        "amount": Decimal(amount),
        "external_reference": reference,
        "description": "Card payment",
    }
    values.update(changes)
    return SalesReceipt(**values)  # type: ignore[arg-type]


def invoice(reference: str) -> BatchSalesInvoice:
    line = BatchLine("4000", "V01", "Subscription", Decimal("100.00"), Decimal("0.23"), Decimal("23.00"))
    return BatchSalesInvoice("EXISTING-001", date(2026, 7, 2), reference, "Invoice", (line,))


def test_a_receipt_is_created_and_read_back_as_an_sr_credit(money: Money) -> None:
    client = money.client()
    created = client.save_sales_receipt_get_back_transaction_id(receipt())
    assert created.transaction_id > 0 and created.reference is None
    [found] = client.get_transactions_by_external_reference("BUNNY-PAY-1", types=SR)
    assert (found.transaction_id, found.transaction_type, found.account_code) == (
        created.transaction_id,
        "SR",
        "EXISTING-001",
    )
    assert (found.bank_account_code, found.transaction_date) == ("1200", date(2026, 7, 3))
    assert found.signed_control_amount == found.signed_outstanding_amount == Decimal("-123.00")
    transaction = client.get_transaction(created.transaction_id)
    assert (transaction.transaction_type, transaction.gross_amount, transaction.tax_amount) == (
        "SalesReceipt",
        Decimal("123.00"),
        Decimal(0),
    )


def test_a_foreign_currency_receipt_into_its_own_bank(money: Money) -> None:
    client = money.client()
    gbp = receipt(customer_code="EXISTING-002", bank_account_code="1210", exchange_rate=Decimal("1.17"),
                  bank_exchange_rate=Decimal("1.17"))  # fmt: skip
    client.save_sales_receipt_get_back_transaction_id(gbp)
    [found] = client.get_transactions_by_external_reference("BUNNY-PAY-1", types=SR)
    assert (found.currency_code, found.bank_account_code) == ("GBP", "1210")


def test_a_refused_receipt_names_aiqs_code(money: Money) -> None:
    client = money.client()
    for bad, code in (
        (receipt(bank_account_code="4000"), "BANK_ACCOUNT_DOES_NOT_EXIST"),
        (receipt(amount="0"), "PAYMENT_AMOUNT_CANNOT_BE_ZERO"),
        (receipt(payment_date=date(2026, 5, 1)), "DATE_IS_OUT_OF_RANGE"),
    ):
        with money.raises(AiqValidationError) as raised:
            client.save_sales_receipt_get_back_transaction_id(bad)
        assert raised.value.code == code
    assert client.get_transactions_by_external_reference("BUNNY-PAY-1", types=SR) == []


def test_a_taken_reference_is_a_duplicate_to_resolve_when_aiq_enforces_it(money: Money) -> None:
    money.handle.set_options(unique_external_references=True)
    client = money.client()
    first = client.save_sales_receipt_get_back_transaction_id(receipt())
    with money.raises(AiqDuplicateReference) as raised:
        client.save_sales_receipt_get_back_transaction_id(receipt())
    assert (raised.value.reference, raised.value.code) == ("BUNNY-PAY-1", "RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS")
    [existing] = client.get_transactions_by_external_reference(raised.value.reference, types=SR)
    assert existing.transaction_id == first.transaction_id


def test_a_lost_answer_is_an_unknown_outcome_never_resent(money: Money) -> None:
    client = money.client()
    client.get_entities_by_token()
    money.handle.faults.add({"kind": "drop_after_commit", "operations": [SAVE], "count": 1})
    with money.raises(AiqWriteOutcomeUnknown):
        client.save_sales_receipt_get_back_transaction_id(receipt())
    assert money.calls(SAVE) == 1
    assert len(client.get_transactions_by_external_reference("BUNNY-PAY-1", types=SR)) == 1


def test_a_slow_commit_is_an_unknown_outcome(money: Money) -> None:
    client = money.client(timeout=0.3)
    client.get_entities_by_token()
    money.handle.set_options(slow_commit_seconds=2)
    with money.raises(AiqWriteOutcomeUnknown):
        client.save_sales_receipt_get_back_transaction_id(receipt())
    assert money.calls(SAVE) == 1
    money.handle.set_options(slow_commit_seconds=0)
    assert len(client.get_transactions_by_external_reference("BUNNY-PAY-1", types=SR)) == 1


def test_throttling_and_token_rejection_are_resent_and_post_once(money: Money) -> None:
    client = money.client()
    client.get_entities_by_token()
    money.handle.faults.add({"kind": "throttle", "operations": [SAVE], "count": 2})
    client.save_sales_receipt_get_back_transaction_id(receipt("THROTTLED"))
    assert money.calls(SAVE) == 3
    money.handle.expire_tokens()
    client.save_sales_receipt_get_back_transaction_id(receipt("EXPIRED"))
    assert money.calls(SAVE) == 5  # the rejected call and its one repeat after renewal
    for reference in ("THROTTLED", "EXPIRED"):
        assert len(client.get_transactions_by_external_reference(reference, types=SR)) == 1


def test_post_sales_receipt_has_aiq_check_the_reference(money: Money) -> None:
    client = money.client()
    created = client.post_sales_receipt(receipt())
    assert isinstance(created, CreatedTransaction) and created.transaction_id > 0
    with money.raises(AiqDuplicateReference) as raised:
        client.post_sales_receipt(receipt())
    assert (raised.value.reference, raised.value.code) == ("BUNNY-PAY-1", "RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS")
    [only] = client.get_transactions_by_external_reference("BUNNY-PAY-1", types=SR)
    assert only.transaction_id == created.transaction_id


def test_post_sales_receipt_sent_again_after_a_lost_answer_is_refused_as_a_duplicate(money: Money) -> None:
    client = money.client()
    client.get_entities_by_token()
    money.handle.faults.add({"kind": "drop_after_commit", "operations": [PAY], "count": 1})
    with money.raises(AiqWriteOutcomeUnknown):
        client.post_sales_receipt(receipt())
    with money.raises(AiqDuplicateReference):
        client.post_sales_receipt(receipt())
    assert len(client.get_transactions_by_external_reference("BUNNY-PAY-1", types=SR)) == 1


def test_receipts_in_bulk_fail_one_by_one(money: Money) -> None:
    client = money.client()
    client.post_sales_receipt(receipt("TAKEN"))
    outcomes = client.post_sales_receipts([receipt("BULK-1"), receipt("TAKEN"), receipt("BULK-2", amount="-1")])
    assert [o.external_reference for o in outcomes] == ["BULK-1", "TAKEN", "BULK-2"]
    assert outcomes[0].ok and outcomes[0].created is not None
    assert isinstance(outcomes[1].error, AiqDuplicateReference) and outcomes[1].error.reference == "TAKEN"
    assert isinstance(outcomes[2].error, AiqValidationError)
    assert outcomes[2].error.code == "PAYMENT_AMOUNT_CANNOT_BE_NEGATIVE"
    [bulk_1] = client.get_transactions_by_external_reference("BULK-1", types=SR)
    assert bulk_1.transaction_id == outcomes[0].created.transaction_id
    assert client.get_transactions_by_external_reference("BULK-2", types=SR) == []
    assert client.post_sales_receipts([]) == []


def test_a_bulk_call_whose_answer_is_lost_is_unknown_for_every_item(money: Money) -> None:
    client = money.client()
    client.get_entities_by_token()
    money.handle.faults.add({"kind": "drop_after_commit", "operations": [PAY_MANY], "count": 1})
    with money.raises(AiqWriteOutcomeUnknown):
        client.post_sales_receipts([receipt("LOST-1"), receipt("LOST-2")])
    assert money.calls(PAY_MANY) == 1
    # Sent again, AIQ's check refuses both: they had been applied.
    again = client.post_sales_receipts([receipt("LOST-1"), receipt("LOST-2")])
    assert all(isinstance(o.error, AiqDuplicateReference) for o in again)


def test_pay_and_allocate_posts_invoice_and_receipt_allocated(money: Money) -> None:
    client = money.client()
    query = PayAndAllocate(receipt=receipt(amount="100.00"), invoice=invoice("INV-PA"), allocate=True,
                           allocation_amount=Decimal("100.00"), allocation_date=date(2026, 7, 3),
                           allocation_reference="PAY-1", client_unique_reference="Q1")  # fmt: skip
    result = client.post_pay_and_allocate_sales_invoice(query)
    assert result.invoice_transaction_id and result.receipt_transaction_id
    assert result.client_unique_reference == "Q1"
    [inv] = client.get_transactions_by_external_reference("INV-PA", types=("SI",))
    [rec] = client.get_transactions_by_external_reference("BUNNY-PAY-1", types=SR)
    assert (inv.signed_outstanding_amount, rec.signed_outstanding_amount) == (Decimal("23.00"), Decimal(0))
    with money.raises(AiqDuplicateReference) as raised:
        client.post_pay_and_allocate_sales_invoice(PayAndAllocate(invoice=invoice("INV-PA")))
    assert (raised.value.reference, raised.value.code) == ("INV-PA", "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS")


def test_pay_and_allocate_many_matches_answers_by_client_reference(money: Money) -> None:
    client = money.client()
    queries = [PayAndAllocate(receipt=receipt(f"MANY-{i}"), client_unique_reference=f"C{i}") for i in range(3)]
    outcomes = client.post_pay_and_allocate_sales_invoices(queries)
    assert [o.client_unique_reference for o in outcomes] == ["C0", "C1", "C2"]
    ids = [o.result.receipt_transaction_id for o in outcomes if o.result is not None]
    assert len(set(ids)) == 3
    for i, transaction_id in enumerate(ids):
        [found] = client.get_transactions_by_external_reference(f"MANY-{i}", types=SR)
        assert found.transaction_id == transaction_id


def test_signed_amounts_survive_the_magnitude_reading(money: Money) -> None:
    client = money.client()
    client.save_sales_receipt_get_back_transaction_id(receipt())
    client.create_batch_sales_invoice_get_back_transaction_id(invoice("INV-SIGN"))
    for reading in ("signed", "magnitude"):
        money.handle.set_options(summary_amount_sign=reading)
        [rec] = client.get_transactions_by_external_reference("BUNNY-PAY-1", types=SR)
        [inv] = client.get_transactions_by_external_reference("INV-SIGN", types=("SI",))
        assert (rec.signed_outstanding_amount, inv.signed_outstanding_amount) == (Decimal("-123.00"), Decimal("123.00"))
        assert rec.signed_control_amount == Decimal("-123.00")
