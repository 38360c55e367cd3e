"""Conformance against the vendor's contract files: the WSDL (through zeep) and the Postman collection."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
import zeep
import zeep.exceptions

from aiq_emulators.accountsiq import SERVICE_PATH
from aiq_emulators.accountsiq.contract import SERVICE_NS, WSDL_PATH, service_schema
from aiq_emulators.accountsiq.operations import HANDLERS, Code
from aiq_pipeline_tests.emulators.accountsiq.conftest import CLIENT_ID, CLIENT_SECRET, Soap, check_response
from aiq_pipeline_tests.reference import reference_file

POSTMAN = reference_file("accountsiq/AccountsIQ-EU1-2_0.postman_collection.json")


def test_every_error_code_used_exists_in_the_wsdl_enum() -> None:
    enum = set(service_schema().types["VisorExceptionCodes"].enumeration)
    assert {code.value for code in Code} - enum == set()


def test_every_handler_is_a_wsdl_operation() -> None:
    elements = service_schema().elements
    assert all(name in elements and f"{name}Response" in elements for name in HANDLERS)


@pytest.fixture
def zeep_service(emulator) -> Iterator[zeep.proxy.ServiceProxy]:
    base_url, _ = emulator
    client = zeep.Client(str(WSDL_PATH), settings=zeep.Settings(strict=True))
    yield client.create_service(f"{{{SERVICE_NS}}}Integration_2_0Soap", base_url + SERVICE_PATH)


def test_zeep_end_to_end(zeep_service) -> None:
    service = zeep_service
    token = service.TokenGet(clientId=CLIENT_ID, clientSecret=CLIENT_SECRET)
    assert token.Status == "Success" and token.Result.AccessToken
    header = {"AiqSoapHeader": {"Entity": "DEMO01", "AccessToken": token.Result.AccessToken}}

    entities = service.GetEntitiesByToken(_soapheaders=header)
    assert [e.EntityID for e in entities.Result.WSEntity] == ["DEMO01"]
    chart = service.GetChartOfAccounts(_soapheaders=header)
    assert "4000" in [line.Code for line in chart.Result.WSChartOfAccountLine]
    taxes = service.GetTaxCodeList(_soapheaders=header)
    assert {t.Code: t.Rate for t in taxes.Result.Tax}["V01"] == Decimal("23")
    periods = service.GetPeriodList(pointInTime=None, _soapheaders=header)
    assert len(periods.Result.WSFinancialPeriodDTO) == 36
    assert service.GetCompanyInformation(_soapheaders=header).Result.BaseCurrencyCode == "EUR"

    template = service.GetNewCustomerFromDefaults(_soapheaders=header).Result
    template.Code, template.Name = "BUNNY-ZEEP", "Zeep Customer"
    saved = service.UpdateCustomer(customer=template, create=True, _soapheaders=header)
    assert (saved.Status, saved.Result) == ("Created", True)
    customer = service.GetCustomer(customerCode="BUNNY-ZEEP", _soapheaders=header).Result
    assert customer.AccountID > 0 and customer.CurrencyCode == "EUR"
    assert "BUNNY-ZEEP" in [c.Code for c in service.GetCustomerList(_soapheaders=header).Result.Customer]

    invoice = {
        "CustomerCode": "BUNNY-ZEEP",
        "InvoiceDate": datetime(2026, 7, 1),
        "ExternalReference": "ZEEP-INV-1",
        "Description": "Zeep invoice",
        "Lines": {
            "BatchSalesInvoiceLine": [
                {
                    "GLAccountCode": "4000",
                    "TaxCode": "V01",
                    "Description": "Subscription",
                    "NetAmount": Decimal("80.00"),
                    "TaxRate": 0.23,
                    "TaxAmount": Decimal("18.40"),
                }
            ]
        },
        "ExchangeRate": Decimal("1"),
    }
    created = service.CreateBatchSalesInvoiceGetBackTransactionID(inv=invoice, _soapheaders=header)
    result = created.CreateBatchSalesInvoiceGetBackTransactionIDResult
    assert result.Status == "Success" and created.transactionID > 0

    query = {"ExternalReference": "ZEEP-INV-1", "FromDate": datetime(2026, 1, 1), "ToDate": datetime(2026, 12, 31)}
    found = service.GetTransactionsByExternalReference(query=query, _soapheaders=header)
    (summary,) = found.Result.WSTransactionSummary
    assert (summary.TransactionID, summary.TransactionType, summary.ControlAmount) == (
        created.transactionID,
        "SI",
        Decimal("98.40"),
    )
    transaction = service.GetTransaction(transactionID=created.transactionID, _soapheaders=header)
    assert transaction.Result.TransactionType == "SalesBatchInvoice"
    assert sum(line.Amount for line in transaction.Result.Lines.TransactionLine) == 0


def test_zeep_reads_failures_with_minus_one(zeep_service) -> None:
    service = zeep_service
    token = service.TokenGet(clientId=CLIENT_ID, clientSecret=CLIENT_SECRET)
    header = {"AiqSoapHeader": {"Entity": "DEMO01", "AccessToken": token.Result.AccessToken}}
    invoice = {
        "CustomerCode": "NOBODY",
        "InvoiceDate": datetime(2026, 7, 1),
        "ExternalReference": "X",
        "Description": "x",
        "Lines": {"BatchSalesInvoiceLine": []},
        "ExchangeRate": Decimal("1"),
    }
    created = service.CreateBatchSalesInvoiceGetBackTransactionID(inv=invoice, _soapheaders=header)
    assert created.CreateBatchSalesInvoiceGetBackTransactionIDResult.ErrorCode == "CUSTOMER_CODE_DOES_NOT_EXIST"
    assert created.transactionID == -1
    bad = service.TokenGet(clientId=CLIENT_ID, clientSecret="wrong")
    assert (bad.Status, bad.Result) == ("Failure", None)


def test_zeep_unknown_operation_raises_soap_fault(emulator) -> None:
    base_url, _ = emulator
    client = zeep.Client(str(WSDL_PATH))
    service = client.create_service(f"{{{SERVICE_NS}}}Integration_2_0Soap", base_url + SERVICE_PATH)
    with pytest.raises(zeep.exceptions.Fault):
        service.GetUserInformation()


def _postman_requests() -> dict[str, dict]:
    data = json.loads(POSTMAN.read_text(encoding="utf-8"))
    found: dict[str, dict] = {}

    def walk(items: list[dict]) -> None:
        for item in items:
            if "item" in item:
                walk(item["item"])
            elif item["name"] in HANDLERS:
                found[item["name"]] = item["request"]

    walk(data["item"])
    return found


POSTMAN_REQUESTS = _postman_requests()


def test_postman_covers_every_implemented_operation() -> None:
    # The vendor collection has no GetEntitiesByToken request; zeep and test_auth cover it.
    assert set(HANDLERS) - set(POSTMAN_REQUESTS) == {"GetEntitiesByToken"}


@pytest.mark.parametrize("operation", sorted(POSTMAN_REQUESTS))
def test_postman_request_is_accepted(soap: Soap, operation: str) -> None:
    request = POSTMAN_REQUESTS[operation]
    token = soap.login()
    values = {
        "aiq_client_id": CLIENT_ID,
        "aiq_client_secret": CLIENT_SECRET,
        "aiq_entity": "DEMO01",
        "aiq_token": token,
        "aiq_refresh_token": soap.refresh_token or "",
    }
    body = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], request["body"]["raw"])
    headers = {h["key"]: h["value"] for h in request["header"]}
    assert request["url"]["raw"].endswith(SERVICE_PATH)
    response = soap.raw(body.encode(), headers["SOAPAction"])
    answer = check_response(response)  # HTTP 200 and schema-valid
    assert answer.status_code == 200, answer.root.findtext("faultstring")
    status = answer.status
    assert status in {"Success", "Created", "Failure"}
    if status == "Failure":  # the samples use placeholder data ("string", 100): a real business code is fine
        assert answer.error_code in set(service_schema().types["VisorExceptionCodes"].enumeration)
        assert not answer.error_code.startswith("OAUTH_"), answer.error_code


def test_zeep_payments_end_to_end(zeep_service) -> None:
    """Receipts, refunds, allocations, balances and the bank list as a strict WSDL client sends and reads them."""
    service = zeep_service
    token = service.TokenGet(clientId=CLIENT_ID, clientSecret=CLIENT_SECRET)
    header = {"AiqSoapHeader": {"Entity": "DEMO01", "AccessToken": token.Result.AccessToken}}
    line = {
        "GLAccountCode": "4000",
        "TaxCode": "V01",
        "Description": "Subscription",
        "NetAmount": Decimal("100.00"),
        "TaxRate": 0.23,
        "TaxAmount": Decimal("23.00"),
    }
    invoice = {
        "CustomerCode": "EXISTING-001",
        "InvoiceDate": datetime(2026, 7, 1),
        "ExternalReference": "Z-INV",
        "Description": "Invoice",
        "Lines": {"BatchSalesInvoiceLine": [line]},
        "ExchangeRate": Decimal(1),
    }
    receipt = {
        "CustomerCode": "EXISTING-001",
        "CheckReference": "Z-PAY",
        "PaymentAmount": Decimal("150.00"),
        "BankAccountCode": "1200",
        "PaymentDate": datetime(2026, 7, 2),
        "ExchangeRate": Decimal(1),
        "BankExchangeRate": Decimal(1),
        "Description": "Card",
    }
    query = {
        "PerformExternalReferenceDuplicateCheckOnInvoice": True,
        "PerformExternalReferenceDuplicateCheckOnReceipt": True,
        "BatchInvoice": invoice,
        "Receipt": receipt,
        "PerformAllocation": True,
        "AllocationDate": None,
        "AllocationAmount": Decimal(0),
        "ClientUniqueReference": "Z1",
        "EnforceCreditLimit": False,
    }
    paid = service.PostPayAndAllocateSalesInvoice(query=query, _soapheaders=header)
    assert paid.Status == "Success" and paid.Result.ClientUniqueReference == "Z1"
    invoice_id, receipt_id = paid.Result.InvoiceTransactionID, paid.Result.ReceiptTransactionID

    journal = {
        "AccountCode": "EXISTING-001",
        "ExchangeRate": Decimal(1),
        "ExternalReference": "Z-REFUND",
        "TransactionDate": datetime(2026, 7, 3),
        "Lines": {
            "WSLedgerJournalLine": [
                {
                    "GLAccountCode": "1200",
                    "Description": "Refund",
                    "Amount": Decimal("27.00"),
                    "BankExchangeRate": Decimal(1),
                }
            ]
        },
    }
    refund = service.PostSalesDebitJournalGetBackTransactionID(journal=journal, _soapheaders=header)
    assert refund.PostSalesDebitJournalGetBackTransactionIDResult.Status == "Success"
    allocated = service.AllocateTransactions(
        transactionID_1=refund.transactionID,
        transactionID_2=receipt_id,
        allocationReference="Z-ALLOC",
        allocationAmount=Decimal("27.00"),
        allocationDate=datetime(2026, 7, 3),
        _soapheaders=header,
    )
    assert allocated.Status == "Success"

    listed = service.GetAllocationsByTransactionId(transactionId=str(receipt_id), _soapheaders=header)
    [dto] = listed.Result.WSAllocationTransactionDTO
    entries = {e.AllocatedToTransactionID: e.AllocationAmount for e in dto.AllocationEntries.WSAllocationEntryDTO}
    assert entries == {invoice_id: Decimal("123.00"), refund.transactionID: Decimal("27.00")}

    balances = service.GetCustomerBalanceInformation(
        edt=datetime(2026, 7, 31), customerCodes={"string": ["EXISTING-001"]}, _soapheaders=header
    )
    [balance] = balances.Result.AccountBalanceInformation
    assert (balance.AccountCode, balance.Balance) == ("EXISTING-001", Decimal("0.00"))  # 123 - 150 + 27
    assert [b.Code for b in service.GetBankList(_soapheaders=header).Result.Bank] == ["1200"]
    assert [c.CurrencyCode for c in service.GetCurrencies(_soapheaders=header).Result.WSCurrency] == [
        "EUR",
        "GBP",
        "USD",
    ]


def test_zeep_sales_credit_journal_end_to_end(zeep_service) -> None:
    """A sales credit journal (fees) as a strict WSDL client sends it, read back and allocated to an invoice."""
    service = zeep_service
    token = service.TokenGet(clientId=CLIENT_ID, clientSecret=CLIENT_SECRET)
    header = {"AiqSoapHeader": {"Entity": "DEMO01", "AccessToken": token.Result.AccessToken}}
    line = {"GLAccountCode": "4000", "TaxCode": "V01", "Description": "Subscription", "NetAmount": Decimal("100.00"),
            "TaxRate": 0.23, "TaxAmount": Decimal("23.00")}  # fmt: skip
    invoice = {"CustomerCode": "EXISTING-001", "InvoiceDate": datetime(2026, 7, 1), "ExternalReference": "Z-INV",
               "Description": "Invoice", "Lines": {"BatchSalesInvoiceLine": [line]},
               "ExchangeRate": Decimal(1)}  # fmt: skip
    created = service.CreateBatchSalesInvoiceGetBackTransactionID(inv=invoice, _soapheaders=header)
    journal = {
        "AccountCode": "EXISTING-001",
        "ExchangeRate": Decimal(1),
        "ExternalReference": "Z-FEES",
        "TransactionDate": datetime(2026, 7, 3),
        "Lines": {
            "WSLedgerJournalLine": [
                {"GLAccountCode": "8000", "Description": "Fees", "Amount": Decimal("3.00"), "BankExchangeRate": None}
            ]
        },
    }
    fees = service.PostSalesCreditJournalGetBackTransactionID(journal=journal, _soapheaders=header)
    assert fees.PostSalesCreditJournalGetBackTransactionIDResult.Status == "Success" and fees.transactionID > 0
    query = {"ExternalReference": "Z-FEES", "FromDate": datetime(2000, 1, 1), "ToDate": datetime(2100, 1, 1),
             "TypesFilter": {"string": ["SC"]}}  # fmt: skip
    [row] = service.GetTransactionsByExternalReference(query=query, _soapheaders=header).Result.WSTransactionSummary
    assert (row.TransactionID, row.TransactionType, row.ControlAmount) == (fees.transactionID, "SC", Decimal("-3.00"))
    read = service.GetTransaction(transactionID=fees.transactionID, _soapheaders=header)
    assert read.Result.TransactionType == "SalesCreditJournal"
    allocated = service.AllocateTransactions(
        transactionID_1=created.transactionID,
        transactionID_2=fees.transactionID,
        allocationReference="Z-ALLOC",
        allocationAmount=Decimal("3.00"),
        allocationDate=datetime(2026, 7, 3),
        _soapheaders=header,
    )
    assert allocated.Status == "Success"
    refused = service.PostSalesCreditJournalGetBackTransactionID(
        journal=journal | {"ExternalReference": None}, _soapheaders=header
    )
    assert (refused.PostSalesCreditJournalGetBackTransactionIDResult.ErrorCode, refused.transactionID) == (
        "JOURNAL_ENTRY_MUST_HAVE_A_REFERENCE",
        -1,
    )
