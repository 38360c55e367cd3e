"""Refunds paid out to a customer: sales debit journals (type SD) crediting a bank account, and their allocation
to a credit note or a receipt. Every answer is validated against the WSDL schema (the `soap` fixture)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aiq_pipeline_tests.emulators.accountsiq.conftest import (
    NIL,
    Answer,
    Soap,
    credit_note_xml,
    invoice_xml,
    lookup_xml,
)
from aiq_pipeline_tests.emulators.accountsiq.test_receipts import receipt_xml

POST = "PostSalesDebitJournalGetBackTransactionID"


def journal_line_xml(*, gl: str = "1200", amount: str = "50.00", bank_rate: str | None = "1",
                     description: str = "Refund") -> str:  # fmt: skip
    rate = (
        f"<BankExchangeRate>{bank_rate}</BankExchangeRate>" if bank_rate is not None else f"<BankExchangeRate {NIL}/>"
    )
    return (
        f"<WSLedgerJournalLine><GLAccountCode>{gl}</GLAccountCode><Description>{description}</Description>"
        f"<Amount>{amount}</Amount>{rate}</WSLedgerJournalLine>"
    )


def journal_xml(*, customer: str = "EXISTING-001", reference: str | None = "BUNNY-REFUND-1", lines: str | None = None,
                date: str = "2026-07-05T00:00:00", rate: str = "1") -> str:  # fmt: skip
    ref = f"<ExternalReference>{reference}</ExternalReference>" if reference is not None else ""
    return (
        f"<journal><AccountCode>{customer}</AccountCode><ExchangeRate>{rate}</ExchangeRate>{ref}"
        f"<TransactionDate>{date}</TransactionDate><Lines>{lines if lines is not None else journal_line_xml()}</Lines>"
        "</journal>"
    )


def lookup_typed(reference: str, kind: str) -> str:
    return (
        f"<query><ExternalReference>{reference}</ExternalReference><FromDate>2000-01-01T00:00:00</FromDate>"
        f"<ToDate>2100-01-01T00:00:00</ToDate><TypesFilter><string>{kind}</string></TypesFilter></query>"
    )


def allocate(soap: Soap, first: str, second: str, amount: str) -> Answer:
    return soap.call(
        "AllocateTransactions",
        f"<transactionID_1>{first}</transactionID_1><transactionID_2>{second}</transactionID_2>"
        f"<allocationReference>ALLOC</allocationReference><allocationAmount>{amount}</allocationAmount>"
        "<allocationDate>2026-07-05T00:00:00</allocationDate>",
    )


def test_refund_is_an_sd_debit_out_of_the_bank(soap: Soap) -> None:
    created = soap.call(POST, journal_xml())
    assert (created.status, created.error_code) == ("Success", "SUCCESS")
    transaction_id = created.text("transactionID")
    found = soap.call("GetTransactionsByExternalReference", lookup_typed("BUNNY-REFUND-1", "SD"))
    assert found.texts("TransactionID") == [transaction_id]
    assert (found.text("TransactionType"), found.text("TransactionBankGLAccountNumber")) == ("SD", "1200")
    assert Decimal(found.text("ControlAmount")) == Decimal(found.text("OutstandingAmount")) == Decimal("50.00")
    assert list(zip(found.texts("GLAccountCode"), map(Decimal, found.texts("Amount")), strict=True)) == [
        ("1100", Decimal("50.00")),
        ("1200", Decimal("-50.00")),
    ]
    transaction = soap.call("GetTransaction", f"<transactionID>{transaction_id}</transactionID>")
    assert transaction.text("TransactionType") == "SalesDebitJournal"
    assert transaction.texts("IsBankLine") == ["false", "true"]


def test_a_journal_line_may_credit_a_posting_account_too(soap: Soap) -> None:
    lines = journal_line_xml(amount="40.00") + journal_line_xml(gl="8000", amount="2.50", bank_rate=None)
    assert soap.call(POST, journal_xml(lines=lines)).status == "Success"
    found = soap.call("GetTransactionsByExternalReference", lookup_typed("BUNNY-REFUND-1", "SD"))
    assert Decimal(found.text("ControlAmount")) == Decimal("42.50")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"rate": "0"}, "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),
        ({"customer": "NOBODY"}, "CUSTOMER_CODE_DOES_NOT_EXIST"),
        ({"reference": None}, "JOURNAL_ENTRY_MUST_HAVE_A_REFERENCE"),
        ({"reference": " "}, "JOURNAL_ENTRY_CANNOT_HAVE_AN_EMPTY_REFERENCE"),
        ({"reference": "R" * 51}, "JOURNAL_ENTRY_REFERENCE_IS_TOO_LONG"),
        ({"date": "2026-01-15T00:00:00"}, "DATE_IS_OUT_OF_RANGE"),
        ({"lines": ""}, "JOURNAL_ENTRY_LINES_MUST_HAVE_ROWS"),
        ({"lines": journal_line_xml(amount="-5.00")}, "JOURNAL_ENTRY_CANNOT_HAVE_NEGATIVE_AMOUNTS"),
        ({"lines": journal_line_xml(gl="1100")}, "JOURNAL_ENTRY_CANNOT_POST_TO_CONTROL_ACCOUNT"),
        ({"lines": journal_line_xml(gl="2200")}, "JOURNAL_ENTRY_CANNOT_POST_TO_CONTROL_ACCOUNT"),
        ({"lines": journal_line_xml(gl="9999")}, "GLACCOUNT_CODE_DOES_NOT_EXIST"),
        ({"lines": journal_line_xml(gl="4099", bank_rate=None)}, "GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST"),
        ({"lines": journal_line_xml(bank_rate=None)}, "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),
        ({"lines": journal_line_xml(description="d" * 501)}, "JOURNAL_ENTRY_LINE_DESCRIPTION_IS_TOO_LONG"),
    ],
)
def test_refund_rules(soap: Soap, changes: dict, code: str) -> None:
    answer = soap.call(POST, journal_xml(**changes))
    assert (answer.status, answer.error_code, answer.text("transactionID")) == ("Failure", code, "-1")


def test_unique_references_refuse_a_second_journal(soap: Soap, emulator) -> None:
    emulator[1].set_options(unique_external_references=True)
    assert soap.call(POST, journal_xml()).status == "Success"
    again = soap.call(POST, journal_xml())
    assert again.error_code == "JOURNAL_ENTRY_REFERENCE_ALREADY_EXISTS"


def test_refund_allocates_to_a_credit_note_and_to_a_receipt_but_not_to_an_invoice(soap: Soap) -> None:
    note = soap.call("CreateBatchSalesCreditNoteGetBackTransactionID", credit_note_xml(net="40.65"))  # 50.00 gross
    refund = soap.call(POST, journal_xml(lines=journal_line_xml(amount="50.00")))
    assert allocate(soap, refund.text("transactionID"), note.text("transactionID"), "50.00").status == "Success"
    for reference, kind in (("BUNNY-CN-1", "SN"), ("BUNNY-REFUND-1", "SD")):
        row = soap.call("GetTransactionsByExternalReference", lookup_typed(reference, kind))
        assert Decimal(row.text("OutstandingAmount")) == 0

    receipt = soap.call("SaveSalesReceiptGetBackTransactionID", receipt_xml(amount="30.00"))
    second = soap.call(POST, journal_xml(reference="BUNNY-REFUND-2", lines=journal_line_xml(amount="30.00")))
    assert allocate(soap, receipt.text("transactionID"), second.text("transactionID"), "30.00").status == "Success"

    invoice = soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(reference="INV-X"))
    third = soap.call(POST, journal_xml(reference="BUNNY-REFUND-3"))
    refused = allocate(soap, invoice.text("transactionID"), third.text("transactionID"), "10.00")
    assert refused.error_code == "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"
    assert Decimal(soap.call("GetTransactionsByExternalReference", lookup_xml("INV-X")).text("OutstandingAmount")) == (
        Decimal("123.00")
    )
