"""Bulk creates (issue 13) over real HTTP: the documented reading (INFERRED/UNVERIFIED, README "Unverified
readings"): items independent, one WSResultStatus per item in input order, ids aligned with -1 for a failed item,
overall Failure if any item failed; and the faults that apply to them."""

from __future__ import annotations

import httpx
import pytest

from aiq_emulators.accountsiq import EmulatorHandle
from aiq_pipeline_tests.emulators.accountsiq.conftest import Soap, invoice_xml, line_xml, lookup_xml

INVOICES = "CreateBatchSalesInvoiceBulkGetBackTransactionIDs"
NOTES = "CreateBatchSalesCreditNoteBulkGetBackTransactionIDs"


def note(reference: str, *, lines: str | None = None) -> str:
    lines = line_xml(net="10.00", element="BatchSalesCreditNoteLine") if lines is None else lines
    return (
        "<BatchSalesCreditNote><ExchangeRate>1</ExchangeRate><CustomerCode>EXISTING-001</CustomerCode>"
        f"<CreditNoteDate>2026-07-02T00:00:00</CreditNoteDate><ExternalReference>{reference}</ExternalReference>"
        f"<Description>Credit</Description><Lines>{lines}</Lines></BatchSalesCreditNote>"
    )


def found(soap: Soap, reference: str) -> list[str]:
    return soap.call("GetTransactionsByExternalReference", lookup_xml(reference)).texts("TransactionID")


def test_credit_note_bulk_items_are_independent(soap: Soap) -> None:
    answer = soap.call(NOTES, f"<creditNotes>{note('BCN-1')}{note('BCN-2', lines='')}{note('BCN-3')}</creditNotes>")
    statuses = answer.texts("Status")
    assert (statuses[0], answer.error_code) == ("Failure", "BATCH_CREDIT_NOTE_WITH_NO_LINES")
    assert statuses[1:] == ["Success", "Failure", "Success"]
    ids = answer.texts("int")
    assert ids[1] == "-1" and int(ids[0]) > 0 and int(ids[2]) > 0
    assert (found(soap, "BCN-1"), found(soap, "BCN-2"), found(soap, "BCN-3")) == ([ids[0]], [], [ids[2]])
    one = soap.call("GetTransaction", f"<transactionID>{ids[2]}</transactionID>")
    assert one.text("TransactionType") == "SalesBatchCreditNote"


def test_all_items_posted_is_an_overall_success(soap: Soap) -> None:
    answer = soap.call(NOTES, f"<creditNotes>{note('BCN-OK-1')}{note('BCN-OK-2')}</creditNotes>")
    assert answer.texts("Status") == ["Success", "Success", "Success"] and answer.error_code == "SUCCESS"


def test_a_duplicate_inside_one_bulk_call_fails_alone_when_references_are_unique(soap: Soap) -> None:
    soap.http.post("/_emulator/options", json={"unique_external_references": True})
    docs = "".join(invoice_xml(reference=r, element="BatchSalesInvoice") for r in ("BU-1", "BU-1", "BU-2"))
    answer = soap.call(INVOICES, f"<invoices>{docs}</invoices>")
    assert answer.texts("Status")[1:] == ["Success", "Failure", "Success"]
    assert answer.texts("ErrorCode")[2] == "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS"
    assert len(found(soap, "BU-1")) == 1


@pytest.mark.parametrize("operation", [INVOICES, NOTES])
def test_drop_after_commit_applies_to_bulk_calls(
    soap: Soap, emulator: tuple[str, EmulatorHandle], operation: str
) -> None:
    soap.login()
    emulator[1].faults.add({"kind": "drop_after_commit", "operations": [operation]})
    if operation == INVOICES:
        docs = "".join(invoice_xml(reference=f"DROP-{n}", element="BatchSalesInvoice") for n in (1, 2))
        inner = f"<invoices>{docs}</invoices>"
    else:
        inner = f"<creditNotes>{note('DROP-1')}{note('DROP-2')}</creditNotes>"
    with pytest.raises(httpx.HTTPError):
        soap.call(operation, inner)
    assert len(found(soap, "DROP-1")) == len(found(soap, "DROP-2")) == 1  # both committed, the answer lost
    assert emulator[1].stats.snapshot()["faults"] == {"drop_after_commit": 1}
