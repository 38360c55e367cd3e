"""Issue 10: both sides' answers read as AIQ means them.

- A failed look-up is an error, never "nothing there": only Success with no rows is an empty answer.
- Each look-up is narrowed by type (TypesFilter) and keeps only rows carrying exactly the reference asked for;
  an answer as long as AIQ's cap is truncated and raises.
- A create refused with `*_EXTERNAL_REFERENCE_ALREADY_EXISTS` raises AiqDuplicateReference naming the reference.
- One record read by its key (customer, transaction id) is absent only on that operation's own code.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from aiq_pipeline.accountsiq import (
    AccountsIQClient,
    AiqDuplicateReference,
    AiqLookupError,
    AiqLookupTruncated,
    AiqNotFoundError,
    AiqValidationError,
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    same_reference,
)
from aiq_pipeline.accountsiq.envelope import SERVICE_NS
from aiq_pipeline_tests.accountsiq import sample_records as rec
from aiq_pipeline_tests.accountsiq.scripted_aiq import ScriptedAiq, failure, result

LOOKUP = "GetTransactionsByExternalReference"
LINE = BatchLine("4000", "STD", "Plan", Decimal("100.00"), Decimal("0.23"), Decimal("23.00"))
INVOICE = BatchSalesInvoice("ACME", date(2025, 1, 31), "bunny-inv-1", "Invoice", (LINE,))
NOTE = BatchSalesCreditNote("ACME", date(2025, 2, 1), "bunny-cn-1", "Credit", (LINE,))


def q(name: str) -> str:
    return f"{{{SERVICE_NS}}}{name}"


def rows(*references: str) -> str:
    return "".join(rec.transaction_summary(n, ref) for n, ref in enumerate(references, start=1))


# --- what "nothing there" looks like -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "TRANSACTION_NOT_FOUND",
        "NOT_FOUND",
        "INVOICE_ID_DOES_NOT_EXIST",
        "CUSTOMER_CODE_DOES_NOT_EXIST",
        "INVALID_QUERY_MISSING_EXTERNAL_REFERENCE",
        "GETTRANSACTIONSBY_QUERY_TIMEOUT",
        "UNKNOWN",
    ],
)
def test_any_failure_of_the_reference_lookup_raises(client: AccountsIQClient, aiq: ScriptedAiq, code: str) -> None:
    aiq.script(LOOKUP, failure(LOOKUP, code))
    with pytest.raises(AiqLookupError) as raised:
        client.get_transactions_by_external_reference("bunny-inv-1", types=["SI"])
    assert raised.value.code == code and raised.value.operation == LOOKUP
    # Not a data error a caller might file away, and not "absent".
    assert not isinstance(raised.value, AiqValidationError)
    assert len(aiq.calls(LOOKUP)) == 1


@pytest.mark.parametrize("answer", ["", None], ids=["empty-result", "no-result"])
def test_only_success_without_rows_is_nothing_there(
    client: AccountsIQClient, aiq: ScriptedAiq, answer: str | None
) -> None:
    aiq.script(LOOKUP, result(LOOKUP, result_xml=answer))
    assert client.get_transactions_by_external_reference("bunny-inv-1", types=["SI"]) == []


# --- narrowed by type, exact reference, the cap ---------------------------------------------------------------


def test_types_are_sent_as_the_wsdl_types_filter(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(LOOKUP, result(LOOKUP, result_xml=""))
    client.get_transactions_by_external_reference("bunny-inv-1", types=["si", "SN", "SI"])
    query = aiq.calls(LOOKUP)[0].body.find(q("query"))
    assert query is not None
    assert [s.text for s in query.find(q("TypesFilter")) or []] == ["SI", "SN"]  # upper case, each once


@pytest.mark.parametrize("types", [[], [" "], "SI"], ids=["none", "blank", "a-bare-string"])
def test_a_lookup_without_types_is_refused_before_any_call(
    client: AccountsIQClient, aiq: ScriptedAiq, types: list[str] | str
) -> None:
    with pytest.raises((ValueError, TypeError)):
        client.get_transactions_by_external_reference("bunny-inv-1", types=types)
    assert aiq.seen == []


def test_rows_matched_only_as_a_prefix_or_pattern_are_dropped(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(LOOKUP, result(LOOKUP, result_xml=rows("bunny-inv-10", "bunny-inv-1", "x-bunny-inv-1", "bunny-inv-1%")))
    found = client.get_transactions_by_external_reference("bunny-inv-1", types=["SI"])
    assert [(s.transaction_id, s.external_reference) for s in found] == [(2, "bunny-inv-1")]


def test_reference_equality_is_sql_server_equality() -> None:
    assert same_reference("BUNNY-INV-1", "bunny-inv-1")
    assert same_reference("bunny-inv-1  ", "bunny-inv-1")
    assert not same_reference("bunny-inv-10", "bunny-inv-1")
    assert not same_reference(" bunny-inv-1", "bunny-inv-1")
    assert not same_reference(None, "bunny-inv-1")


def test_an_answer_as_long_as_the_cap_is_truncated(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    client.lookup_row_cap = 3
    # None of the rows is the reference asked for: without the cap check this would read as "not posted".
    aiq.script(LOOKUP, result(LOOKUP, result_xml=rows("bunny-inv-10", "bunny-inv-11", "bunny-inv-12")))
    with pytest.raises(AiqLookupTruncated) as raised:
        client.get_transactions_by_external_reference("bunny-inv-1", types=["SI"])
    assert (raised.value.rows, raised.value.cap) == (3, 3)
    assert isinstance(raised.value, AiqLookupError)
    aiq.script(LOOKUP, result(LOOKUP, result_xml=rows("bunny-inv-10", "bunny-inv-1")))
    assert [s.transaction_id for s in client.get_transactions_by_external_reference("bunny-inv-1", types=["SI"])] == [2]


def test_the_default_cap_is_aiqs_2000(client: AccountsIQClient) -> None:
    assert client.lookup_row_cap == 2000


# --- duplicate references on create --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "document", "code"),
    [
        ("CreateBatchSalesInvoiceGetBackTransactionID", INVOICE, "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS"),
        ("CreateBatchSalesCreditNoteGetBackTransactionID", NOTE, "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS"),
        ("CreateBatchSalesInvoiceGetBackTransactionID", INVOICE, "RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS"),
    ],
    ids=["invoice", "credit-note", "receipt-code"],
)
def test_reference_already_exists_is_a_duplicate_naming_the_reference(
    client: AccountsIQClient,
    aiq: ScriptedAiq,
    operation: str,
    document: BatchSalesInvoice | BatchSalesCreditNote,
    code: str,
) -> None:
    aiq.script(operation, failure(operation, code, out_params="<transactionID>-1</transactionID>"))
    with pytest.raises(AiqDuplicateReference) as raised:
        if isinstance(document, BatchSalesInvoice):
            client.create_batch_sales_invoice_get_back_transaction_id(document)
        else:
            client.create_batch_sales_credit_note_get_back_transaction_id(document)
    assert raised.value.reference == document.external_reference
    assert (raised.value.code, raised.value.operation) == (code, operation)
    assert isinstance(raised.value, AiqValidationError)  # AIQ refused; nothing was written
    assert len(aiq.calls(operation)) == 1


def test_other_refusals_stay_plain_validation_errors(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    op = "CreateBatchSalesInvoiceGetBackTransactionID"
    aiq.script(op, failure(op, "INVOICE_NUMBER_ALREADY_EXISTS", out_params="<transactionID>-1</transactionID>"))
    with pytest.raises(AiqValidationError) as raised:
        client.create_batch_sales_invoice_get_back_transaction_id(INVOICE)
    assert type(raised.value) is AiqValidationError


# --- one record by its key -----------------------------------------------------------------------------------


def test_customer_absent_only_on_its_own_code(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(
        "GetCustomer",
        failure("GetCustomer", "CUSTOMER_CODE_DOES_NOT_EXIST"),
        failure("GetCustomer", "NOT_FOUND"),
        failure("GetCustomer", "CUSTOMER_ID_DOES_NOT_EXIST"),
    )
    assert client.get_customer("ACME") is None
    for code in ("NOT_FOUND", "CUSTOMER_ID_DOES_NOT_EXIST"):
        with pytest.raises(AiqLookupError) as raised:
            client.get_customer("ACME")
        assert raised.value.code == code


def test_transaction_by_id_absent_only_on_its_own_code(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(
        "GetTransaction",
        failure("GetTransaction", "TRANSACTION_NOT_FOUND"),
        failure("GetTransaction", "NOT_FOUND"),
    )
    with pytest.raises(AiqNotFoundError) as missing:
        client.get_transaction(9)
    assert missing.value.code == "TRANSACTION_NOT_FOUND"
    with pytest.raises(AiqLookupError) as failed:
        client.get_transaction(9)
    assert failed.value.code == "NOT_FOUND" and not isinstance(failed.value, AiqNotFoundError)


def test_transaction_by_id_reads_reference_and_number(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    lines = rec.transaction_line(9, "1100", "123.00", "Control", control=True) + rec.transaction_line(
        9, "4000", "-123.00", "Net"
    )
    xml = f"<Lines>{lines}</Lines><TransactionType>SalesBatchInvoice</TransactionType>"
    aiq.script("GetTransaction", result("GetTransaction", result_xml=xml))
    found = client.get_transaction(9)
    assert (found.transaction_id, found.external_reference, found.internal_number) == (9, "bunny-inv-1", "SI-9")


def test_a_bulk_item_refused_as_duplicate_names_its_own_reference(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    op = "CreateBatchSalesInvoiceBulkGetBackTransactionIDs"
    second = BatchSalesInvoice("ACME", date(2025, 1, 31), "bunny-inv-2", "Invoice", (LINE,))
    statuses = rec.wsresult_status() + rec.wsresult_status("Failure", "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS")
    ids = "<transactionIDs><int>10</int><int>-1</int></transactionIDs>"
    aiq.script(op, failure(op, "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS", result_xml=statuses, out_params=ids))
    first_outcome, second_outcome = client.create_batch_sales_invoice_bulk_get_back_transaction_ids([INVOICE, second])
    assert first_outcome.created is not None and first_outcome.created.transaction_id == 10
    duplicate = second_outcome.error
    assert isinstance(duplicate, AiqDuplicateReference) and duplicate.reference == "bunny-inv-2"
