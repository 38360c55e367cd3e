"""AllocateTransactions (which pairs, how much, which code) and GetAllocationsByTransactionId (each listing shape),
validated against the WSDL schema (the `soap` fixture)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aiq_emulators.accountsiq.state import validated_options
from aiq_pipeline_tests.emulators.accountsiq.conftest import Soap, credit_note_xml, invoice_xml, lookup_xml
from aiq_pipeline_tests.emulators.accountsiq.test_receipts import lookup_receipts_xml, receipt_xml
from aiq_pipeline_tests.emulators.accountsiq.test_refunds import allocate, journal_line_xml, journal_xml

CREATE = "CreateBatchSalesInvoiceGetBackTransactionID"


def ids(soap: Soap) -> dict[str, str]:
    """An invoice (123.00), a receipt (100.00), a credit note (61.50) and a refund (20.00) of EXISTING-001."""
    return {
        "SI": soap.call(CREATE, invoice_xml(reference="INV-1")).text("transactionID") or "",
        "SR": soap.call("SaveSalesReceiptGetBackTransactionID", receipt_xml(amount="100.00")).text("transactionID")
        or "",
        "SN": soap.call("CreateBatchSalesCreditNoteGetBackTransactionID", credit_note_xml(net="50.00")).text(
            "transactionID"
        )
        or "",
        "SD": soap.call(
            "PostSalesDebitJournalGetBackTransactionID", journal_xml(lines=journal_line_xml(amount="20.00"))
        ).text("transactionID")
        or "",
    }


def outstanding(soap: Soap, query: str) -> Decimal:
    return Decimal(soap.call("GetTransactionsByExternalReference", query).text("OutstandingAmount") or "nan")


def allocations(soap: Soap, transaction_id: str) -> list[tuple[str | None, str | None, str | None, str | None]]:
    answer = soap.call("GetAllocationsByTransactionId", f"<transactionId>{transaction_id}</transactionId>")
    assert answer.status == "Success"
    return [
        (dto.findtext("{*}TransactionID"), entry.findtext("{*}AllocatedToTransactionID"),
         entry.findtext("{*}AllocationAmount"), entry.findtext("{*}AllocatedToExternalReference"))
        for dto in answer.root.iterfind(".//{*}WSAllocationTransactionDTO")
        for entry in dto.iterfind(".//{*}WSAllocationEntryDTO")
    ]  # fmt: skip


def test_receipt_to_invoice_moves_both_outstanding_amounts(soap: Soap) -> None:
    t = ids(soap)
    assert allocate(soap, t["SI"], t["SR"], "100.00").status == "Success"
    assert outstanding(soap, lookup_xml("INV-1")) == Decimal("23.00")
    assert outstanding(soap, lookup_receipts_xml("BUNNY-PAY-1")) == Decimal("0")
    assert allocate(soap, t["SI"], t["SN"], "23.00").status == "Success"  # credit note -> the rest of the invoice
    assert outstanding(soap, lookup_xml("INV-1")) == Decimal("0")
    assert outstanding(soap, lookup_xml("BUNNY-CN-1")) == Decimal("-38.50")
    assert allocate(soap, t["SD"], t["SN"], "20.00").status == "Success"  # refund -> credit note
    assert outstanding(soap, lookup_xml("BUNNY-CN-1")) == Decimal("-18.50")


@pytest.mark.parametrize(
    ("pair", "amount", "code"),
    [
        (("SI", "SR"), "100.01", "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT"),
        (("SI", "SR"), "0", "TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO"),
        (("SI", "SD"), "1.00", "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"),
        (("SN", "SR"), "1.00", "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"),
        (("SI", "SI"), "1.00", "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"),
    ],
)
def test_allocation_rules(soap: Soap, pair: tuple[str, str], amount: str, code: str) -> None:
    t = ids(soap)
    answer = allocate(soap, t[pair[0]], t[pair[1]], amount)
    assert (answer.status, answer.error_code) == ("Failure", code)
    assert outstanding(soap, lookup_xml("INV-1")) == Decimal("123.00")


def test_cross_account_and_unknown_ids_are_refused(soap: Soap) -> None:
    t = ids(soap)
    other = soap.call(CREATE, invoice_xml(customer="EXISTING-002", reference="INV-2")).text("transactionID") or ""
    assert allocate(soap, other, t["SR"], "1.00").error_code == "TRANSACTION_CANNOT_ALLOCATE_CROSS_ACCOUNT"
    assert allocate(soap, "999999", t["SR"], "1.00").error_code == "TRANSACTION_NOT_FOUND"


def test_a_fully_allocated_side_and_the_over_allocation_code_option(soap: Soap, emulator) -> None:
    t = ids(soap)
    allocate(soap, t["SI"], t["SR"], "100.00")
    assert (
        allocate(soap, t["SI"], t["SR"], "1.00").error_code == "TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION"
    )
    code = "INVALID_STATE_TRANSACTION_OUSTANDING_AMOUNT_IS_LESS_THAN_ALLOCATION_PLUS_DISCOUNT_AMOUNT"
    emulator[1].set_options(over_allocation_error_code=code)
    assert allocate(soap, t["SI"], t["SN"], "23.01").error_code == code
    with pytest.raises(ValueError, match="VisorExceptionCodes"):
        validated_options({"over_allocation_error_code": "NOT_A_CODE"})


def test_wiki_table_reading_refuses_a_refund_against_a_credit_note(soap: Soap, emulator) -> None:
    emulator[1].set_options(allocation_pairs="wiki_table")
    t = ids(soap)
    assert allocate(soap, t["SD"], t["SN"], "20.00").error_code == "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"
    assert allocate(soap, t["SI"], t["SR"], "10.00").status == "Success"
    assert allocate(soap, t["SI"], t["SN"], "10.00").status == "Success"


def test_allocations_are_listed_from_either_side(soap: Soap) -> None:
    t = ids(soap)
    allocate(soap, t["SI"], t["SR"], "100.00")
    allocate(soap, t["SN"], t["SI"], "23.00")
    assert allocations(soap, t["SI"]) == [
        (t["SI"], t["SR"], "100.00", "BUNNY-PAY-1"),
        (t["SI"], t["SN"], "23.00", "BUNNY-CN-1"),
    ]
    assert allocations(soap, t["SR"]) == [(t["SR"], t["SI"], "100.00", "INV-1")]
    assert allocations(soap, t["SD"]) == []  # one DTO for the transaction, no entries
    answer = soap.call("GetAllocationsByTransactionId", f"<transactionId>{t['SD']}</transactionId>")
    assert answer.texts("TransactionID") == [t["SD"]]


def test_per_counterpart_listing_and_signed_amounts(soap: Soap, emulator) -> None:
    t = ids(soap)
    allocate(soap, t["SI"], t["SR"], "100.00")
    allocate(soap, t["SN"], t["SI"], "23.00")
    emulator[1].set_options(allocations_listing="per_counterpart", allocation_amount_sign="signed")
    # One DTO per counterpart, its entry pointing back at the invoice; amounts signed by the DTO's side (credits).
    assert allocations(soap, t["SI"]) == [
        (t["SR"], t["SI"], "-100.00", "INV-1"),
        (t["SN"], t["SI"], "-23.00", "INV-1"),
    ]
    assert allocations(soap, t["SD"]) == []


@pytest.mark.parametrize("transaction_id", ["999999", "string", ""])
def test_allocations_of_an_unknown_transaction(soap: Soap, transaction_id: str) -> None:
    answer = soap.call("GetAllocationsByTransactionId", f"<transactionId>{transaction_id}</transactionId>")
    assert (answer.status, answer.error_code) == ("Failure", "TRANSACTION_NOT_FOUND")
