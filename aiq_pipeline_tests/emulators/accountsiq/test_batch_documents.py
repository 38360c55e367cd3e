"""Batch sales invoices and credit notes: rules (first failure wins), postings and read-back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aiq_pipeline_tests.emulators.accountsiq.conftest import (
    Soap,
    credit_note_xml,
    invoice_xml,
    line_xml,
    lookup_xml,
)

CREATE = "CreateBatchSalesInvoiceGetBackTransactionID"


def test_invoice_posts_a_transaction_with_gl_lines(soap: Soap) -> None:
    lines = line_xml(net="100.00", tax_rate="0.23") + line_xml(
        gl="4010", tax="V02", net="10.10", tax_rate="0.135", tax_amount="1.40"
    )
    created = soap.call(CREATE, invoice_xml(lines=lines, reference="BUNNY-INV-7"))
    assert (created.status, created.error_code) == ("Success", "SUCCESS")
    transaction_id = created.text("transactionID")
    assert int(transaction_id) > 0 and created.text("Result").startswith("SI")

    found = soap.call("GetTransactionsByExternalReference", lookup_xml("BUNNY-INV-7"))
    assert found.texts("TransactionID") == [transaction_id]
    assert (found.text("TransactionType"), found.text("IsBatchInvoiceOrNote")) == ("SI", "true")
    # gross = 100 + 23.00 (computed: nil TaxAmount) + 10.10 + 1.40 (as given)
    assert Decimal(found.text("ControlAmount")) == Decimal("134.50")
    details = list(
        zip(found.texts("GLAccountCode"), found.texts("IsControlLine"), found.texts("IsTaxLine"), strict=True)
    )
    amounts = [Decimal(a) for a in found.texts("Amount")]
    assert details == [
        ("1100", "true", "false"),
        ("4000", "false", "false"),
        ("2200", "false", "true"),
        ("4010", "false", "false"),
        ("2200", "false", "true"),
    ]
    assert amounts == [Decimal("134.50"), Decimal("-100.00"), Decimal("-23.00"), Decimal("-10.10"), Decimal("-1.40")]
    assert sum(amounts) == 0

    transaction = soap.call("GetTransaction", f"<transactionID>{transaction_id}</transactionID>")
    assert (transaction.status, transaction.text("TransactionType")) == ("Success", "SalesBatchInvoice")
    assert transaction.texts("ExternalReference") == ["BUNNY-INV-7"] * 5


def test_tax_amount_nil_rounds_half_up(soap: Soap) -> None:
    soap.call(CREATE, invoice_xml(lines=line_xml(net="0.50", tax_rate="0.23"), reference="ROUND"))  # 0.115 -> 0.12
    found = soap.call("GetTransactionsByExternalReference", lookup_xml("ROUND"))
    assert Decimal(found.text("ControlAmount")) == Decimal("0.62")


def test_foreign_currency_base_amounts_multiply_by_exchange_rate(soap: Soap) -> None:
    created = soap.call(CREATE, invoice_xml(customer="EXISTING-002", rate="1.17", reference="FX-1"))
    assert created.status == "Success"
    found = soap.call("GetTransactionsByExternalReference", lookup_xml("FX-1"))
    assert found.text("CurrencyCode") == "GBP"
    assert Decimal(found.text("ControlAmount")) == Decimal("123.00")
    assert Decimal(found.text("ControlBCAmount")) == Decimal("143.91")  # 100*1.17 + 23*1.17


def test_plain_create_returns_internal_number(soap: Soap) -> None:
    answer = soap.call("CreateBatchSalesInvoice", invoice_xml(reference="PLAIN"))
    number = answer.text("Result")
    assert answer.status == "Success" and number
    found = soap.call("GetTransactionsByExternalReference", lookup_xml("PLAIN"))
    assert found.text("InternalNumber") == number


def test_duplicate_external_references_are_stored_and_both_returned(soap: Soap) -> None:
    first = soap.call(CREATE, invoice_xml(reference="DUP"))
    second = soap.call(CREATE, invoice_xml(reference="DUP"))
    assert first.status == second.status == "Success"
    found = soap.call("GetTransactionsByExternalReference", lookup_xml("DUP"))
    assert sorted(found.texts("TransactionID")) == sorted([first.text("transactionID"), second.text("transactionID")])


def test_unique_external_reference_switch(soap: Soap) -> None:
    soap.http.post("/_emulator/options", json={"unique_external_references": True})
    assert soap.call(CREATE, invoice_xml(reference="ONCE")).status == "Success"
    again = soap.call(CREATE, invoice_xml(reference="ONCE"))
    assert (again.status, again.error_code, again.text("transactionID")) == (
        "Failure",
        "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS",
        "-1",
    )


def test_lookup_of_unknown_reference_is_empty_success(soap: Soap) -> None:
    found = soap.call("GetTransactionsByExternalReference", lookup_xml("NEVER"))
    assert found.status == "Success" and found.texts("TransactionID") == [] and found.text("Result") == ""


def test_lookup_date_window_and_type_filter(soap: Soap) -> None:
    soap.call(CREATE, invoice_xml(reference="WIN", date="2026-07-15T00:00:00"))
    outside = (
        "<query><ExternalReference>WIN</ExternalReference><FromDate>2026-08-01T00:00:00</FromDate>"
        "<ToDate>2026-08-31T00:00:00</ToDate></query>"
    )
    assert soap.call("GetTransactionsByExternalReference", outside).texts("TransactionID") == []
    only_sn = (
        "<query><ExternalReference>WIN</ExternalReference><FromDate>2026-01-01T00:00:00</FromDate>"
        "<ToDate>2026-12-31T00:00:00</ToDate><TypesFilter><string>SN</string></TypesFilter></query>"
    )
    assert soap.call("GetTransactionsByExternalReference", only_sn).texts("TransactionID") == []


def test_get_unknown_transaction(soap: Soap) -> None:
    answer = soap.call("GetTransaction", "<transactionID>999999</transactionID>")
    assert (answer.status, answer.error_code) == ("Failure", "TRANSACTION_NOT_FOUND")


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (invoice_xml(customer="existing-001"), "ACCOUNT_CODE_MUST_BE_UPPER_CASE"),
        (invoice_xml(customer="C" * 51), "ACCOUNT_CODE_IS_TOO_LONG"),
        (invoice_xml(customer="NOBODY"), "CUSTOMER_CODE_DOES_NOT_EXIST"),
        (invoice_xml(reference=None), "INVOICE_EXTERNAL_REFERENCE_IS_NULL"),
        (invoice_xml(reference=""), "INVOICE_EXTERNAL_REFERENCE_IS_EMPTY"),
        (invoice_xml(reference="R" * 51), "INVOICE_EXTERNAL_REFERENCE_IS_TOO_LONG"),
        (invoice_xml(description="D" * 501), "TRANSACTION_LINE_DESCRIPTION_IS_TOO_LONG"),
        (invoice_xml(rate="0"), "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),
        (invoice_xml(rate="-1.2"), "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),
        (invoice_xml(date="2026-05-31T00:00:00"), "DATE_IS_OUT_OF_RANGE"),  # closed sales period
        (invoice_xml(date="2030-01-01T00:00:00"), "DATE_IS_OUT_OF_RANGE"),  # no period at all
        (invoice_xml(lines=""), "BATCH_INVOICE_WITH_NO_INVOICE_LINES"),
        (invoice_xml(lines=line_xml(gl=None)), "BATCH_INVOICE_LINE_MISSING_GL_ACCOUNT"),
        (invoice_xml(lines=line_xml(description=None)), "BATCH_INVOICE_LINE_MISSING_DESCRIPTION"),
        (invoice_xml(lines=line_xml(description="L" * 501)), "TRANSACTION_LINE_DESCRIPTION_IS_TOO_LONG"),
        (invoice_xml(lines=line_xml(gl="abc")), "GLACCOUNT_CODE_IS_NOT_UPPERCASE"),
        (invoice_xml(lines=line_xml(gl="9999")), "GLACCOUNT_CODE_DOES_NOT_EXIST"),
        (invoice_xml(lines=line_xml(gl="4900")), "GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST"),
        (invoice_xml(lines=line_xml(gl="1100")), "GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST"),
        (invoice_xml(lines=line_xml(gl="4099")), "GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST"),  # inactive
        (invoice_xml(lines=line_xml(gl="4030")), "GLACCOUNT_NO_DEPARTMENT_IS_DEPARTMENTAL"),
        (invoice_xml(lines=line_xml(tax="v01")), "TAX_CODE_IS_NOT_UPPERCASE"),
        (invoice_xml(lines=line_xml(tax="V99")), "TAX_CODE_DOES_NOT_EXIST"),
        (invoice_xml(lines=line_xml(tax=None)), "TAX_CODE_IS_NULL"),
        (invoice_xml(lines=line_xml(tax_rate="23")), "TAX_RATE_IS_MORE_THAN_100_PERCENT"),
        (invoice_xml(lines=line_xml(net="-1.00")), "BATCH_INVOICE_TOTAL_GROSS_AMT_NEGATIVE"),
        (invoice_xml(lines=line_xml(tax_amount="-200.00")), "BATCH_INVOICE_TOTAL_GROSS_AMT_NEGATIVE"),
    ],
)
def test_invoice_rules(soap: Soap, document: str, code: str) -> None:
    answer = soap.call(CREATE, document)
    assert (answer.status, answer.error_code, answer.text("transactionID")) == ("Failure", code, "-1")
    assert answer.text("Result") is None
    # nothing was posted
    assert soap.call("GetTransactionsByExternalReference", lookup_xml("BUNNY-INV-1")).texts("TransactionID") == []


def test_departmental_gl_with_department_posts(soap: Soap) -> None:
    answer = soap.call(CREATE, invoice_xml(lines=line_xml(gl="4030", department="NORTH")))
    assert answer.status == "Success"


def test_first_failing_rule_wins(soap: Soap) -> None:
    # both the customer and the GL are wrong: the header rule is checked first
    answer = soap.call(CREATE, invoice_xml(customer="NOBODY", lines=line_xml(gl="9999")))
    assert answer.error_code == "CUSTOMER_CODE_DOES_NOT_EXIST"


def test_closed_period_code_is_configurable(soap: Soap) -> None:
    bad = soap.http.post("/_emulator/options", json={"closed_period_error_code": "NOT_A_CODE"})
    assert bad.status_code == 422
    soap.http.post(
        "/_emulator/options", json={"closed_period_error_code": "SALES_LEDGER_OF_PREVIOUS_PERIOD_NOT_CLOSED"}
    )
    answer = soap.call(CREATE, invoice_xml(date="2026-01-10T00:00:00"))
    assert answer.error_code == "SALES_LEDGER_OF_PREVIOUS_PERIOD_NOT_CLOSED"


def test_credit_note_posts_mirror_image_and_allocates(soap: Soap) -> None:
    invoice = soap.call(CREATE, invoice_xml(reference="INV-A"))
    note = soap.call("CreateBatchSalesCreditNoteGetBackTransactionID", credit_note_xml(reference="CN-A", net="50.00"))
    assert note.status == "Success" and note.text("Result").startswith("SN")
    found = soap.call("GetTransactionsByExternalReference", lookup_xml("CN-A"))
    assert (found.text("TransactionType"), Decimal(found.text("ControlAmount"))) == ("SN", Decimal("-61.50"))
    transaction = soap.call("GetTransaction", f"<transactionID>{note.text('transactionID')}</transactionID>")
    assert transaction.text("TransactionType") == "SalesBatchCreditNote"

    allocate = (
        f"<transactionID_1>{invoice.text('transactionID')}</transactionID_1>"
        f"<transactionID_2>{note.text('transactionID')}</transactionID_2><allocationReference>ALLOC</allocationReference>"
        "<allocationAmount>61.50</allocationAmount><allocationDate>2026-07-03T00:00:00</allocationDate>"
    )
    assert soap.call("AllocateTransactions", allocate).status == "Success"
    after = soap.call("GetTransactionsByExternalReference", lookup_xml("INV-A"))
    assert Decimal(after.text("OutstandingAmount")) == Decimal("61.50")
    again = soap.call("AllocateTransactions", allocate)  # the credit note has nothing left
    assert again.error_code == "TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION"


def test_credit_note_rules_use_credit_note_codes(soap: Soap) -> None:
    empty = (
        "<creditNote><ExchangeRate>1</ExchangeRate><CustomerCode>EXISTING-001</CustomerCode>"
        "<CreditNoteDate>2026-07-02T00:00:00</CreditNoteDate><ExternalReference>CN</ExternalReference>"
        "<Description>x</Description><Lines/></creditNote>"
    )
    answer = soap.call("CreateBatchSalesCreditNoteGetBackTransactionID", empty)
    assert (answer.error_code, answer.text("transactionID")) == ("BATCH_CREDIT_NOTE_WITH_NO_LINES", "-1")
    negative = soap.call("CreateBatchSalesCreditNoteGetBackTransactionID", credit_note_xml(net="-5"))
    assert negative.error_code == "BATCH_CREDIT_NOTE_TOTAL_GROSS_AMT_NEGATIVE"


def test_bulk_items_are_independent(soap: Soap) -> None:
    good = invoice_xml(reference="BULK-1", element="BatchSalesInvoice")
    bad = invoice_xml(reference="BULK-2", lines=line_xml(gl="4900"), element="BatchSalesInvoice")
    good2 = invoice_xml(reference="BULK-3", element="BatchSalesInvoice")
    answer = soap.call("CreateBatchSalesInvoiceBulkGetBackTransactionIDs", f"<invoices>{good}{bad}{good2}</invoices>")
    assert (answer.texts("Status")[0], answer.error_code) == ("Failure", "GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST")
    assert answer.texts("Status")[1:] == ["Success", "Failure", "Success"]
    ids = answer.texts("int")
    assert ids[1] == "-1" and int(ids[0]) > 0 and int(ids[2]) > 0
    assert soap.call("GetTransactionsByExternalReference", lookup_xml("BULK-3")).texts("TransactionID") == [ids[2]]
