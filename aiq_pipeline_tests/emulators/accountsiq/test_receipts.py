"""Sales receipts (type SR) and PostPayAndAllocateSalesInvoice(s): rules, postings, read-back, options and faults.

Every answer is validated against the WSDL schema (the `soap` fixture), so element order and types are the vendor's.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from aiq_pipeline_tests.emulators.accountsiq.conftest import NIL, Soap, invoice_xml, lookup_xml

SAVE = "SaveSalesReceiptGetBackTransactionID"
PAY = "PostPayAndAllocateSalesInvoice"
PAY_MANY = "PostPayAndAllocateSalesInvoices"


def receipt_xml(
    *,
    customer: str = "EXISTING-001",
    reference: str | None = "BUNNY-PAY-1",
    amount: str = "123.00",
    bank: str | None = "1200",
    date: str = "2026-07-03T00:00:00",
    rate: str = "1",
    bank_rate: str = "1",
    description: str = "Card payment",
    element: str = "salesReceipt",
) -> str:
    ref = f"<CheckReference>{reference}</CheckReference>" if reference is not None else ""
    bank_el = f"<BankAccountCode>{bank}</BankAccountCode>" if bank is not None else ""
    return (
        f"<{element}><CustomerCode>{customer}</CustomerCode>{ref}<PaymentAmount>{amount}</PaymentAmount>{bank_el}"
        f"<PaymentDate>{date}</PaymentDate><ExchangeRate>{rate}</ExchangeRate>"
        f"<BankExchangeRate>{bank_rate}</BankExchangeRate><Description>{description}</Description></{element}>"
    )


def pay_query_xml(
    *,
    receipt: str | None = None,
    invoice: str | None = None,
    allocate: bool = False,
    amount: str = "0",
    check_receipt: bool = True,
    check_invoice: bool = True,
    unique: str | None = None,
    element: str = "query",
) -> str:
    flag = {True: "true", False: "false"}
    return (
        f"<{element}><PerformExternalReferenceDuplicateCheckOnInvoice>{flag[check_invoice]}"
        "</PerformExternalReferenceDuplicateCheckOnInvoice>"
        f"<PerformExternalReferenceDuplicateCheckOnReceipt>{flag[check_receipt]}"
        "</PerformExternalReferenceDuplicateCheckOnReceipt>"
        f"{invoice or ''}{receipt or ''}<PerformAllocation>{flag[allocate]}</PerformAllocation>"
        f"<AllocationDate {NIL}/><AllocationAmount>{amount}</AllocationAmount>"
        + (f"<ClientUniqueReference>{unique}</ClientUniqueReference>" if unique else "")
        + f"<EnforceCreditLimit>false</EnforceCreditLimit></{element}>"
    )


def lookup_receipts_xml(reference: str) -> str:
    return (
        f"<query><ExternalReference>{reference}</ExternalReference><FromDate>2000-01-01T00:00:00</FromDate>"
        "<ToDate>2100-01-01T00:00:00</ToDate><TypesFilter><string>SR</string></TypesFilter></query>"
    )


def test_receipt_posts_an_sr_transaction_crediting_the_customer(soap: Soap) -> None:
    created = soap.call(SAVE, receipt_xml(amount="123.00"))
    assert (created.status, created.error_code) == ("Success", "SUCCESS")
    transaction_id = created.text("transactionID")
    assert int(transaction_id) > 0

    found = soap.call("GetTransactionsByExternalReference", lookup_receipts_xml("BUNNY-PAY-1"))
    assert found.texts("TransactionID") == [transaction_id]
    assert (found.text("TransactionType"), found.text("IsBatchInvoiceOrNote")) == ("SR", "false")
    assert found.text("AccountCode") == "EXISTING-001"
    assert found.text("TransactionBankGLAccountNumber") == "1200"
    # A credit: signed negative, and nothing allocated yet.
    assert Decimal(found.text("ControlAmount")) == Decimal("-123.00")
    assert Decimal(found.text("OutstandingAmount")) == Decimal("-123.00")
    lines = list(zip(found.texts("GLAccountCode"), found.texts("IsControlLine"), strict=True))
    amounts = [Decimal(a) for a in found.texts("Amount")]
    assert lines == [("1100", "true"), ("1200", "false")]
    assert amounts == [Decimal("-123.00"), Decimal("123.00")]

    transaction = soap.call("GetTransaction", f"<transactionID>{transaction_id}</transactionID>")
    assert transaction.text("TransactionType") == "SalesReceipt"
    assert transaction.texts("IsBankLine") == ["false", "true"]
    assert transaction.texts("BroadType") == ["Control", "None"]
    assert transaction.texts("ExternalReference") == ["BUNNY-PAY-1"] * 2


def test_receipt_shows_in_transactions_by_and_reduces_no_invoice(soap: Soap) -> None:
    soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(reference="INV-R"))
    soap.call(SAVE, receipt_xml(reference="PAY-R", amount="50.00"))
    query = (
        "<query><FromDate>2026-07-01T00:00:00</FromDate><ToDate>2026-07-31T00:00:00</ToDate>"
        "<FromCreationDate>2000-01-01T00:00:00</FromCreationDate><ToCreationDate>2100-01-01T00:00:00</ToCreationDate>"
        f"<Skip>0</Skip><TypesFilter><string>SR</string></TypesFilter><FromPeriodDate {NIL}/><ToPeriodDate {NIL}/>"
        "<ExcludeReconciliationInformation>true</ExcludeReconciliationInformation></query>"
    )
    listed = soap.call("GetTransactionsBy", query)
    assert listed.texts("ExternalReference") == ["PAY-R"]
    invoice = soap.call("GetTransactionsByExternalReference", lookup_xml("INV-R"))
    assert Decimal(invoice.text("OutstandingAmount")) == Decimal(invoice.text("ControlAmount")) == Decimal("123.00")


def test_receipt_in_foreign_currency_converts_to_base(soap: Soap) -> None:
    soap.call(SAVE, receipt_xml(customer="EXISTING-002", amount="100.00", rate="1.17", bank_rate="1"))
    found = soap.call("GetTransactionsByExternalReference", lookup_receipts_xml("BUNNY-PAY-1"))
    assert (found.text("CurrencyCode"), Decimal(found.text("ControlBCAmount"))) == ("GBP", Decimal("-117.00"))


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"rate": "0"}, "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),
        ({"bank_rate": "-1"}, "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),
        ({"customer": "NOBODY"}, "CUSTOMER_CODE_DOES_NOT_EXIST"),
        ({"customer": "existing-001"}, "ACCOUNT_CODE_MUST_BE_UPPER_CASE"),
        ({"reference": None}, "CHECK_REFERENCE_IS_NULL"),
        ({"reference": ""}, "CHECK_REFERENCE_IS_EMPTY"),
        ({"reference": "R" * 51}, "CHECK_REFERENCE_IS_TOO_LONG"),
        ({"amount": "0"}, "PAYMENT_AMOUNT_CANNOT_BE_ZERO"),
        ({"amount": "-5.00"}, "PAYMENT_AMOUNT_CANNOT_BE_NEGATIVE"),
        ({"bank": None}, "BANK_ACCOUNT_DOES_NOT_EXIST"),
        ({"bank": "9999"}, "BANK_ACCOUNT_DOES_NOT_EXIST"),
        ({"bank": "4000"}, "BANK_ACCOUNT_DOES_NOT_EXIST"),  # a Posting account is not a bank account
        ({"description": "d" * 501}, "TRANSACTION_LINE_DESCRIPTION_IS_TOO_LONG"),
        ({"date": "2026-05-31T00:00:00"}, "DATE_IS_OUT_OF_RANGE"),  # sales ledger closed before June 2026
        ({"date": "2031-01-01T00:00:00"}, "DATE_IS_OUT_OF_RANGE"),  # no period
    ],
)
def test_receipt_rules(soap: Soap, changes: dict, code: str) -> None:
    answer = soap.call(SAVE, receipt_xml(**changes))
    assert (answer.status, answer.error_code, answer.text("transactionID")) == ("Failure", code, "-1")
    assert (
        soap.call("GetTransactionsByExternalReference", lookup_receipts_xml("BUNNY-PAY-1")).texts("TransactionID") == []
    )


def test_receipt_references_duplicate_unless_unique_references_is_on(soap: Soap, emulator) -> None:
    assert soap.call(SAVE, receipt_xml()).status == "Success"
    assert soap.call(SAVE, receipt_xml()).status == "Success"
    assert (
        len(soap.call("GetTransactionsByExternalReference", lookup_receipts_xml("BUNNY-PAY-1")).texts("TransactionID"))
        == 2
    )
    emulator[1].set_options(unique_external_references=True)
    again = soap.call(SAVE, receipt_xml())
    assert (again.error_code, again.text("transactionID")) == ("RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS", "-1")
    # An invoice with the same reference is another type: no clash.
    assert (
        soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(reference="BUNNY-PAY-1")).status
        == "Success"
    )


def test_magnitude_option_reports_receipt_amounts_positive(soap: Soap, emulator) -> None:
    soap.call(SAVE, receipt_xml(amount="80.00"))
    emulator[1].set_options(summary_amount_sign="magnitude")
    found = soap.call("GetTransactionsByExternalReference", lookup_receipts_xml("BUNNY-PAY-1"))
    assert [Decimal(found.text(n)) for n in ("ControlAmount", "OutstandingAmount", "ControlBCAmount")] == [
        Decimal("80.00")
    ] * 3
    # The GL lines keep their debit/credit signs.
    assert [Decimal(a) for a in found.texts("Amount")] == [Decimal("-80.00"), Decimal("80.00")]


def test_save_sales_receipt_answers_true(soap: Soap) -> None:
    answer = soap.call("SaveSalesReceipt", receipt_xml())
    assert (answer.status, answer.text("Result")) == ("Success", "true")


def test_drop_after_commit_applies_the_receipt(soap: Soap, emulator) -> None:
    emulator[1].faults.add({"kind": "drop_after_commit", "operations": [SAVE], "count": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        soap.call(SAVE, receipt_xml())
    assert (
        len(soap.call("GetTransactionsByExternalReference", lookup_receipts_xml("BUNNY-PAY-1")).texts("TransactionID"))
        == 1
    )


def test_throttle_applies_nothing(soap: Soap, emulator) -> None:
    emulator[1].faults.add({"kind": "throttle", "operations": [SAVE], "count": 1})
    answer = soap.call(SAVE, receipt_xml())
    assert (answer.error_code, answer.text("transactionID")) == ("OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS", "-1")
    assert (
        soap.call("GetTransactionsByExternalReference", lookup_receipts_xml("BUNNY-PAY-1")).texts("TransactionID") == []
    )


# ---------------------------------------------------------------- PostPayAndAllocateSalesInvoice


def test_pay_and_allocate_receipt_only_checks_the_reference(soap: Soap) -> None:
    first = soap.call(PAY, pay_query_xml(receipt=receipt_xml(element="Receipt"), unique="ONE"))
    assert first.status == "Success"
    receipt_id = first.text("ReceiptTransactionID")
    assert int(receipt_id) > 0
    assert first.root.find(".//{*}InvoiceTransactionID").get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    assert first.text("ClientUniqueReference") == "ONE"
    again = soap.call(PAY, pay_query_xml(receipt=receipt_xml(element="Receipt")))
    assert (again.status, again.error_code) == ("Failure", "RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS")
    # Without the flag (and unique references off) the duplicate is stored.
    assert (
        soap.call(PAY, pay_query_xml(receipt=receipt_xml(element="Receipt"), check_receipt=False)).status == "Success"
    )


def test_pay_and_allocate_posts_invoice_receipt_and_allocation_atomically(soap: Soap) -> None:
    invoice = invoice_xml(reference="INV-PA", element="BatchInvoice")  # 100 + 23 VAT
    answer = soap.call(PAY, pay_query_xml(invoice=invoice, receipt=receipt_xml(element="Receipt", amount="100.00"),
                                          allocate=True))  # fmt: skip
    assert answer.status == "Success"
    invoice_row = soap.call("GetTransactionsByExternalReference", lookup_xml("INV-PA"))
    receipt_row = soap.call("GetTransactionsByExternalReference", lookup_receipts_xml("BUNNY-PAY-1"))
    # Allocation defaulted to the smaller of the two: the invoice keeps 23.00 outstanding, the receipt nothing.
    assert Decimal(invoice_row.text("OutstandingAmount")) == Decimal("23.00")
    assert Decimal(receipt_row.text("OutstandingAmount")) == Decimal("0")


def test_pay_and_allocate_rolls_everything_back_when_a_step_fails(soap: Soap) -> None:
    invoice = invoice_xml(reference="INV-RB", element="BatchInvoice")
    bad_receipt = receipt_xml(element="Receipt", bank="9999")
    answer = soap.call(PAY, pay_query_xml(invoice=invoice, receipt=bad_receipt, allocate=True))
    assert (answer.status, answer.error_code) == ("Failure", "BANK_ACCOUNT_DOES_NOT_EXIST")
    assert soap.call("GetTransactionsByExternalReference", lookup_xml("INV-RB")).texts("TransactionID") == []
    over = soap.call(PAY, pay_query_xml(invoice=invoice, receipt=receipt_xml(element="Receipt"), allocate=True,
                                        amount="500.00"))  # fmt: skip
    assert over.error_code == "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT"
    assert soap.call("GetTransactionsByExternalReference", lookup_xml("INV-RB")).texts("TransactionID") == []
    # The numbers taken by the rolled-back documents are given back.
    assert soap.call(SAVE, receipt_xml()).text("transactionID") is not None
    assert (
        soap.call("GetTransactionsByExternalReference", lookup_receipts_xml("BUNNY-PAY-1")).text("InternalNumber")
        == "SR000001"
    )


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (pay_query_xml(), "MISSING_QUERY_PARAMETER_INVOICE_AND_OR_RECEIPT"),
        (pay_query_xml(receipt=receipt_xml(element="Receipt"), allocate=True),
         "MISSING_QUERY_PARAMETER_CANNOT_ALLOCATE_WITHOUT_BOTH_INVOICE_AND_RECEIPT"),
        (pay_query_xml(receipt=receipt_xml(element="Receipt"), amount="5"),
         "ALLOCATION_DETAILS_PRESENT_BUT_ALLOCATION_NOT_REQUESTED"),
        (pay_query_xml(invoice=invoice_xml(element="BatchInvoice"),
                       receipt=receipt_xml(element="Receipt", customer="EXISTING-002")),
         "TRANSACTION_CANNOT_ALLOCATE_CROSS_ACCOUNT"),
    ],
)  # fmt: skip
def test_pay_and_allocate_query_rules(soap: Soap, query: str, code: str) -> None:
    answer = soap.call(PAY, query)
    assert (answer.status, answer.error_code) == ("Failure", code)


def test_pay_and_allocate_checks_invoice_reference_per_customer(soap: Soap) -> None:
    soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(reference="INV-DUP"))
    invoice = invoice_xml(reference="INV-DUP", element="BatchInvoice")
    answer = soap.call(PAY, pay_query_xml(invoice=invoice))
    assert answer.error_code == "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS"
    other = invoice_xml(reference="INV-DUP", element="BatchInvoice", customer="EXISTING-002")
    assert soap.call(PAY, pay_query_xml(invoice=other)).status == "Success"


def test_pay_and_allocate_many_items_are_independent(soap: Soap) -> None:
    soap.call(SAVE, receipt_xml(reference="TAKEN"))
    queries = "".join(
        pay_query_xml(receipt=receipt_xml(element="Receipt", reference=ref), unique=f"Q{i}",
                      element="WSPostPayAndAllocateSalesInvoiceQuery")
        for i, ref in enumerate(["NEW-1", "TAKEN", "NEW-2"])
    )  # fmt: skip
    answer = soap.call(PAY_MANY, f"<queries>{queries}</queries>")
    assert (answer.status, answer.error_code) == ("Failure", "RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS")
    items = answer.root.findall(".//{*}WSResult2OfWSPostPayAndAllocateSalesInvoiceResult")
    statuses = [item.findtext("{*}Status") for item in items]
    echoes = [item.findtext("{*}Result/{*}ClientUniqueReference") for item in items]
    assert statuses == ["Success", "Failure", "Success"]
    assert echoes == ["Q0", "Q1", "Q2"]
    for reference in ("NEW-1", "NEW-2"):
        assert (
            len(soap.call("GetTransactionsByExternalReference", lookup_receipts_xml(reference)).texts("TransactionID"))
            == 1
        )
