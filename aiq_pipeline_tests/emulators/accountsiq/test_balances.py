"""GetCustomerBalanceInformation: what each customer owes as at a date, debit positive, untouched by allocations;
validated against the WSDL schema (the `soap` fixture)."""

from __future__ import annotations

from decimal import Decimal

from aiq_pipeline_tests.emulators.accountsiq.conftest import Soap, credit_note_xml, invoice_xml
from aiq_pipeline_tests.emulators.accountsiq.test_receipts import receipt_xml
from aiq_pipeline_tests.emulators.accountsiq.test_refunds import allocate, journal_line_xml, journal_xml


def balances(soap: Soap, edt: str, codes: list[str] | None = None) -> dict[str, tuple[Decimal, str | None]]:
    listed = "".join(f"<string>{code}</string>" for code in codes or [])
    answer = soap.call("GetCustomerBalanceInformation", f"<edt>{edt}</edt><customerCodes>{listed}</customerCodes>")
    assert answer.status == "Success"
    return {
        row.findtext("{*}AccountCode") or "": (
            Decimal(row.findtext("{*}Balance") or "nan"),
            row.findtext("{*}CurrencyCode"),
        )
        for row in answer.root.iterfind(".//{*}AccountBalanceInformation")
    }


def test_balance_sums_every_transaction_and_ignores_allocations(soap: Soap) -> None:
    invoice = soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(date="2026-07-01T00:00:00"))
    receipt = soap.call("SaveSalesReceiptGetBackTransactionID", receipt_xml(amount="100.00"))  # dated 3 July
    note = credit_note_xml(net="50.00", date="2026-07-04T00:00:00")
    soap.call("CreateBatchSalesCreditNoteGetBackTransactionID", note)
    refund = journal_xml(lines=journal_line_xml(amount="20.00"), date="2026-07-05T00:00:00")
    soap.call("PostSalesDebitJournalGetBackTransactionID", refund)
    # 123.00 - 100.00 - 61.50 + 20.00
    assert balances(soap, "2026-07-31T00:00:00", ["EXISTING-001"]) == {"EXISTING-001": (Decimal("-18.50"), "EUR")}
    assert balances(soap, "2026-07-03T00:00:00", ["EXISTING-001"]) == {"EXISTING-001": (Decimal("23.00"), "EUR")}
    allocate(soap, invoice.text("transactionID") or "", receipt.text("transactionID") or "", "100.00")
    assert balances(soap, "2026-07-31T00:00:00", ["EXISTING-001"])["EXISTING-001"][0] == Decimal("-18.50")


def test_no_codes_lists_every_customer_and_unknown_codes_are_left_out(soap: Soap) -> None:
    soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(customer="EXISTING-002", rate="1.17"))
    everyone = balances(soap, "2026-12-31T00:00:00")
    assert everyone == {
        "EXISTING-001": (Decimal(0), "EUR"),
        "EXISTING-002": (Decimal("123.00"), "GBP"),
        "EXISTING-003": (Decimal(0), "USD"),
    }
    assert balances(soap, "2026-12-31T00:00:00", ["EXISTING-002", "NOBODY"]) == {
        "EXISTING-002": (Decimal("123.00"), "GBP")
    }
