"""Every operation: the request validates against the WSDL (checked by ScriptedAiq) and the answer is typed."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from aiq_pipeline.accountsiq import (
    AccountsIQClient,
    AiqNotFoundError,
    AiqValidationError,
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    CreatedTransaction,
)
from aiq_pipeline.accountsiq.envelope import NIL_ATTR, SERVICE_NS
from aiq_pipeline_tests.accountsiq import sample_records as rec
from aiq_pipeline_tests.accountsiq.scripted_aiq import (
    CLIENT_ID,
    CLIENT_SECRET,
    ENTITY,
    SOAP_ACTION_PREFIX,
    ScriptedAiq,
    failure,
    result,
)


def q(name: str) -> str:
    return f"{{{SERVICE_NS}}}{name}"


def names(element) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.tag.rpartition("}")[2] for c in element]


LINE = BatchLine(
    gl_account_code="4000",
    tax_code="STD",
    description="Pro plan <monthly> & support",
    net_amount=Decimal("100.00"),
    tax_rate=Decimal("0.23"),
    tax_amount=Decimal("23.00"),
)
INVOICE = BatchSalesInvoice(
    customer_code="ACME",
    invoice_date=date(2025, 1, 31),
    external_reference="bunny-inv-1",
    description="Invoice INV-1",
    lines=(LINE, BatchLine("4010", "ZERO", "Setup", Decimal("1E+1"), Decimal(0), None, department_id="D1")),
    exchange_rate=Decimal("1"),
    due_date=date(2025, 3, 2),
)


def test_token_get_then_header_on_calls_and_http_headers(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script("GetEntitiesByToken", result("GetEntitiesByToken", result_xml=rec.entities(("ACME01", "Acme", "EUR"))))
    entities = client.get_entities_by_token()
    assert [(e.entity_id, e.name, e.base_currency) for e in entities] == [("ACME01", "Acme", "EUR")]
    token_call, call = aiq.seen
    assert token_call.operation == "TokenGet" and token_call.header is None
    assert token_call.param("clientId") == CLIENT_ID and token_call.param("clientSecret") == CLIENT_SECRET
    assert call.header is not None and call.access_token == "access-1"
    assert call.header.findtext(q("Entity")) == ENTITY
    assert names(call.header) == ["Entity", "AccessToken"]
    for seen in aiq.seen:
        assert seen.soap_action == SOAP_ACTION_PREFIX + seen.operation
        assert seen.content_type == "text/xml; charset=utf-8"
    assert client.request_count == 2
    # The token is reused: one more call is one more round trip.
    aiq.script("GetEntitiesByToken", result("GetEntitiesByToken", result_xml=""))
    assert client.get_entities_by_token() == []
    assert client.request_count == 3


def test_company_information(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script("GetCompanyInformation", result("GetCompanyInformation", result_xml=rec.COMPANY))
    info = client.get_company_information()
    assert info.company_name == "Acme & Sons Ltd"
    assert info.base_currency_code == "EUR" and info.locale_name == "en-IE"
    assert info.tax_registration_number == "IE1234567T"


def test_chart_of_accounts(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    xml = rec.gl_account("4000", "Sales <SaaS>") + rec.gl_account("1100", "Debtors", "Control", departmental=True)
    aiq.script("GetChartOfAccounts", result("GetChartOfAccounts", result_xml=xml))
    accounts = client.get_chart_of_accounts()
    assert [(a.code, a.description, a.is_posting, a.is_departmental) for a in accounts] == [
        ("4000", "Sales <SaaS>", True, False),
        ("1100", "Debtors", False, True),
    ]
    assert accounts[0].default_tax_id == "1" and accounts[0].gl_group == "Revenue"


def test_tax_code_list_rate_is_decimal(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script("GetTaxCodeList", result("GetTaxCodeList", result_xml=rec.tax("STD", "23.0000", True)))
    (code,) = client.get_tax_codes()
    assert code.code == "STD" and code.id == "7" and code.is_default
    assert code.rate == Decimal("23") and isinstance(code.rate, Decimal)


def test_period_list_sends_nil_point_in_time(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    xml = rec.period(1, 1, 2025, "2025-01-01T00:00:00", "2025-01-31T00:00:00", sales_closed=True)
    aiq.script("GetPeriodList", result("GetPeriodList", result_xml=xml))
    (period,) = client.get_periods()
    assert period.start_date == date(2025, 1, 1) and period.end_date == date(2025, 1, 31)
    assert period.sales_ledger_closed and period.financial_year == 2025 and period.period_name == "P1"
    sent = aiq.calls("GetPeriodList")[0].body.find(q("pointInTime"))
    assert sent is not None and sent.get(NIL_ATTR) == "true"


def test_period_list_with_point_in_time(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script("GetPeriodList", result("GetPeriodList", result_xml=""))
    assert client.get_period_list(date(2025, 2, 3)) == []
    assert aiq.calls("GetPeriodList")[0].param("pointInTime") == "2025-02-03T00:00:00"


def test_get_customer_found_and_missing(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(
        "GetCustomer",
        result("GetCustomer", result_xml=rec.customer("ACME", "Smith & <Sons>", account_id=11)),
        failure("GetCustomer", "CUSTOMER_CODE_DOES_NOT_EXIST"),
    )
    found = client.get_customer("ACME")
    assert found is not None and found.code == "ACME" and found.name == "Smith & <Sons>"
    assert found.account_id == 11 and found.row_version_number == "AAAAAAAB"
    assert found.other["ExternalApproverID"] is None and found.other["Fax"] == ""
    assert aiq.calls("GetCustomer")[0].param("customerCode") == "ACME"
    assert client.get_customer("NOPE") is None


def test_new_customer_from_defaults_round_trips_every_element(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script("GetNewCustomerFromDefaults", result("GetNewCustomerFromDefaults", result_xml=rec.customer(None, "")))
    aiq.script("UpdateCustomer", result("UpdateCustomer", status="Created", result_xml="true"))
    template = client.get_new_customer_from_defaults()
    assert template.code is None and template.account_id == 0
    template.code = "SMITH-SONS"
    template.name = "Smith & <Sons>"
    template.email = "billing@smith.example"
    assert client.update_customer(template, create=True) is True

    call = aiq.calls("UpdateCustomer")[0]
    assert call.param("create") == "true"
    sent = call.body.find(q("customer"))
    assert sent is not None
    got = {c.tag.rpartition("}")[2]: (c.text, c.get(NIL_ATTR)) for c in sent}
    # Everything AIQ gave comes back, with the modifications, nils kept nil.
    assert got["Name"] == ("Smith & <Sons>", None)
    assert got["Code"] == ("SMITH-SONS", None)
    assert got["Email"] == ("billing@smith.example", None)
    assert got["AreaID"] == ("DUB", None) and got["CreditTermID"] == ("30D", None)
    assert got["CreationDate"] == ("2024-03-27T15:55:51.5640000+00:00", None)
    assert got["ExternalApproverID"][1] == "true" and got["SalesRepresentativeID"][1] == "true"
    assert got["Fax"][0] in ("", None) and "Fax" in got
    assert got["CreditLimit"] == ("5000.00", None)
    # Escaped on the wire, not by hand.
    assert b"Smith &amp; &lt;Sons&gt;" in call.raw


def test_update_customer_outcomes(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script("GetCustomer", result("GetCustomer", result_xml=rec.customer("ACME", "Acme", account_id=11)))
    customer = client.get_customer("ACME")
    assert customer is not None
    aiq.script(
        "UpdateCustomer",
        result("UpdateCustomer", result_xml="true"),
        result("UpdateCustomer", status="NotCreated", code="CUSTOMER_CODE_DOES_NOT_EXIST", result_xml="false"),
        result("UpdateCustomer", status="Conflicted", code="OUTDATED_RECORD", result_xml="false"),
    )
    assert client.update_customer(customer, create=False) is True
    assert aiq.calls("UpdateCustomer")[0].param("create") == "false"
    with pytest.raises(AiqNotFoundError):
        client.update_customer(customer, create=False)
    with pytest.raises(AiqValidationError) as conflict:
        client.update_customer(customer, create=False)
    assert conflict.value.code == "OUTDATED_RECORD"


def test_create_batch_invoice_element_order_and_values(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    op = "CreateBatchSalesInvoiceGetBackTransactionID"
    aiq.script(op, result(op, result_xml="SI-000123", out_params="<transactionID>456</transactionID>"))
    created = client.create_batch_sales_invoice_get_back_transaction_id(INVOICE)
    assert created == CreatedTransaction(transaction_id=456, reference="SI-000123")
    inv = aiq.calls(op)[0].body.find(q("inv"))
    assert inv is not None
    assert names(inv) == [
        "CustomerCode", "InvoiceDate", "ExternalReference", "Description", "Lines", "ExchangeRate", "DueDate"
    ]  # fmt: skip
    assert inv.findtext(q("InvoiceDate")) == "2025-01-31T00:00:00"
    assert inv.findtext(q("DueDate")) == "2025-03-02T00:00:00"
    first, second = inv.find(q("Lines"))  # type: ignore[misc]
    assert names(first) == ["GLAccountCode", "TaxCode", "Description", "NetAmount", "TaxRate", "TaxAmount"]
    assert first.findtext(q("TaxRate")) == "0.23" and first.findtext(q("NetAmount")) == "100.00"
    assert first.findtext(q("Description")) == "Pro plan <monthly> & support"
    # Plain notation (no exponent), department sent, nil TaxAmount (AIQ computes it).
    assert second.findtext(q("NetAmount")) == "10" and second.findtext(q("DepartmentID")) == "D1"
    assert second.find(q("TaxAmount")).get(NIL_ATTR) == "true"  # type: ignore[union-attr]


def test_create_batch_invoice_failure_is_validation_error(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    op = "CreateBatchSalesInvoiceGetBackTransactionID"
    aiq.script(op, failure(op, "GLACCOUNT_CODE_DOES_NOT_EXIST", out_params="<transactionID>-1</transactionID>"))
    with pytest.raises(AiqValidationError) as raised:
        client.create_batch_sales_invoice_get_back_transaction_id(INVOICE)
    assert raised.value.code == "GLACCOUNT_CODE_DOES_NOT_EXIST"
    assert not isinstance(raised.value, AiqNotFoundError)  # a create is not a lookup
    assert len(aiq.calls(op)) == 1


def test_create_batch_credit_note_order(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    op = "CreateBatchSalesCreditNoteGetBackTransactionID"
    aiq.script(op, result(op, result_xml="SN-7", out_params="<transactionID>77</transactionID>"))
    note = BatchSalesCreditNote(
        customer_code="ACME",
        credit_note_date=date(2025, 2, 1),
        external_reference="bunny-cn-1",
        description="Credit",
        lines=(LINE,),
        exchange_rate=Decimal("1.0850"),
    )
    assert client.create_batch_sales_credit_note_get_back_transaction_id(note).transaction_id == 77
    sent = aiq.calls(op)[0].body.find(q("creditNote"))
    assert sent is not None
    assert names(sent) == [
        "ExchangeRate",
        "CustomerCode",
        "CreditNoteDate",
        "ExternalReference",
        "Description",
        "Lines",
    ]
    assert sent.findtext(q("ExchangeRate")) == "1.0850"
    assert names(sent.find(q("Lines"))) == ["BatchSalesCreditNoteLine"]  # type: ignore[arg-type]


def test_bulk_per_item_results_in_input_order(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    op = "CreateBatchSalesInvoiceBulkGetBackTransactionIDs"
    statuses = (
        rec.wsresult_status()
        + rec.wsresult_status("Failure", "TAX_CODE_DOES_NOT_EXIST", "no tax")
        + (rec.wsresult_status())
    )
    aiq.script(
        op,
        failure(
            op,
            "UNKNOWN",
            result_xml=statuses,
            out_params="<transactionIDs><int>10</int><int>-1</int><int>12</int></transactionIDs>",
        ),
    )
    outcomes = client.create_batch_sales_invoice_bulk_get_back_transaction_ids([INVOICE, INVOICE, INVOICE])
    assert outcomes[0].created == CreatedTransaction(10, None) and outcomes[2].created == CreatedTransaction(12, None)
    assert outcomes[1].created is None and outcomes[1].index == 1
    assert isinstance(outcomes[1].error, AiqValidationError) and outcomes[1].error.code == "TAX_CODE_DOES_NOT_EXIST"
    sent = aiq.calls(op)[0].body.find(q("invoices"))
    assert sent is not None and names(sent) == ["BatchSalesInvoice"] * 3
    assert client.create_batch_sales_invoice_bulk_get_back_transaction_ids([]) == []


def test_transactions_by_external_reference_sends_wide_bounds(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    op = "GetTransactionsByExternalReference"
    aiq.script(op, result(op, result_xml=rec.transaction_summary(9, "bunny-inv-1")), result(op, result_xml=""))
    (summary,) = client.get_transactions_by_external_reference("bunny-inv-1", types=["SI"])
    assert summary.transaction_id == 9 and summary.external_reference == "bunny-inv-1"
    assert summary.control_amount == Decimal("123.00") and summary.transaction_date == date(2025, 1, 31)
    assert summary.is_batch_invoice_or_note and summary.internal_number == "SI-9"
    assert summary.creation_date is not None and summary.creation_date.replace(tzinfo=None) == datetime(
        2025, 1, 31, 10, 11, 12, 123456
    )
    assert [(d.is_control_line, d.is_tax_line, d.amount) for d in summary.lines] == [
        (True, False, Decimal("123.00")),
        (False, False, Decimal("-100.00")),
        (False, True, Decimal("-23.00")),
    ]
    query = aiq.calls(op)[0].body.find(q("query"))
    assert query is not None and names(query) == ["ExternalReference", "FromDate", "ToDate", "TypesFilter"]
    assert query.findtext(q("FromDate")) == "1900-01-01T00:00:00"
    assert query.findtext(q("ToDate")) == "2999-12-31T00:00:00"
    assert client.get_transactions_by_external_reference("nothing", types=["SI"]) == []


def test_get_transaction_totals_from_lines(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    lines = (
        rec.transaction_line(9, "1100", "123.00", "Control", control=True)
        + rec.transaction_line(9, "4000", "-100.00", "Net")
        + rec.transaction_line(9, "2200", "-23.00", "Tax")
    )
    xml = f"<Lines>{lines}</Lines><TransactionType>SalesBatchInvoice</TransactionType>"
    aiq.script(
        "GetTransaction",
        result("GetTransaction", result_xml=xml),
        failure("GetTransaction", "TRANSACTION_NOT_FOUND"),
    )
    tx = client.get_transaction(9)
    assert tx.transaction_type == "SalesBatchInvoice" and tx.transaction_id == 9
    assert (tx.gross_amount, tx.tax_amount, tx.net_amount) == (Decimal("123.00"), Decimal("23.00"), Decimal("100.00"))
    assert tx.external_reference == "bunny-inv-1" and tx.account_id == 11 and len(tx.lines) == 3
    assert aiq.calls("GetTransaction")[0].param("transactionID") == "9"
    with pytest.raises(AiqNotFoundError) as missing:
        client.get_transaction(10)
    assert missing.value.code == "TRANSACTION_NOT_FOUND"
