"""GetTransactionsBy: the period listing by transaction date, types filter and Skip paging.

Every answer passes through `Soap.call`, which validates it against the WSDL schema.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from aiq_emulators.accountsiq import operations
from aiq_pipeline_tests.emulators.accountsiq.conftest import NIL, Soap, credit_note_xml, invoice_xml

CREATE = "CreateBatchSalesInvoiceGetBackTransactionID"
CREATE_NOTE = "CreateBatchSalesCreditNoteGetBackTransactionID"
WIDE = "<FromCreationDate>1900-01-01T00:00:00</FromCreationDate><ToCreationDate>2999-12-31T00:00:00</ToCreationDate>"


def query_xml(
    from_date: str,
    to_date: str,
    *,
    skip: int = 0,
    types: tuple[str, ...] = (),
    creation: str = WIDE,
    period: tuple[str, str] | None = None,
) -> str:
    type_filter = "<TypesFilter>" + "".join(f"<string>{t}</string>" for t in types) + "</TypesFilter>" if types else ""
    if period is None:
        periods = f"<FromPeriodDate {NIL}/><ToPeriodDate {NIL}/>"
    else:
        periods = (
            f"<FromPeriodDate>{period[0]}T00:00:00</FromPeriodDate><ToPeriodDate>{period[1]}T00:00:00</ToPeriodDate>"
        )
    return (
        f"<query><FromDate>{from_date}T00:00:00</FromDate><ToDate>{to_date}T00:00:00</ToDate>{creation}"
        f"<Skip>{skip}</Skip>{type_filter}{periods}"
        "<ExcludeReconciliationInformation>true</ExcludeReconciliationInformation></query>"
    )


def post(soap: Soap, reference: str, day: str) -> str:
    answer = soap.call(CREATE, invoice_xml(reference=reference, date=f"{day}T00:00:00"))
    assert answer.status == "Success", answer.error_code
    return answer.text("transactionID") or ""


def references(soap: Soap, query: str) -> list[str]:
    answer = soap.call("GetTransactionsBy", query)
    assert (answer.status, answer.error_code) == ("Success", "SUCCESS")
    return answer.texts("ExternalReference")


def test_lists_transactions_by_transaction_date_inclusive(soap: Soap) -> None:
    post(soap, "JUN-30", "2026-06-30")
    post(soap, "JUL-01", "2026-07-01")
    post(soap, "JUL-31", "2026-07-31")
    post(soap, "AUG-01", "2026-08-01")
    assert references(soap, query_xml("2026-07-01", "2026-07-31")) == ["JUL-01", "JUL-31"]
    assert references(soap, query_xml("2026-06-01", "2026-08-31")) == ["JUN-30", "JUL-01", "JUL-31", "AUG-01"]
    assert references(soap, query_xml("2026-09-01", "2026-09-30")) == []


def test_summary_carries_amounts_type_and_lines(soap: Soap) -> None:
    transaction_id = post(soap, "BUNNY-INV-7", "2026-07-10")
    answer = soap.call("GetTransactionsBy", query_xml("2026-07-01", "2026-07-31"))
    assert answer.texts("TransactionID") == [transaction_id]
    assert (answer.text("TransactionType"), answer.text("IsBatchInvoiceOrNote")) == ("SI", "true")
    assert Decimal(answer.text("ControlAmount") or "") == Decimal("123.00")
    assert answer.texts("IsTaxLine") == ["false", "false", "true"]


def test_types_filter_separates_invoices_and_credit_notes(soap: Soap) -> None:
    post(soap, "BUNNY-INV-1", "2026-07-01")
    note = soap.call(CREATE_NOTE, credit_note_xml(reference="BUNNY-CN-1", date="2026-07-02T00:00:00"))
    assert note.status == "Success", note.error_code
    assert references(soap, query_xml("2026-07-01", "2026-07-31", types=("SN",))) == ["BUNNY-CN-1"]
    assert references(soap, query_xml("2026-07-01", "2026-07-31", types=("SI",))) == ["BUNNY-INV-1"]
    assert references(soap, query_xml("2026-07-01", "2026-07-31", types=("SI", "SN"))) == ["BUNNY-INV-1", "BUNNY-CN-1"]


def test_creation_and_period_date_ranges_filter_too(soap: Soap) -> None:
    post(soap, "JUL-05", "2026-07-05")  # created at the test clock's now (2026-07-01)
    created_later = (
        "<FromCreationDate>2026-07-02T00:00:00</FromCreationDate><ToCreationDate>2999-12-31T00:00:00</ToCreationDate>"
    )
    assert references(soap, query_xml("2026-07-01", "2026-07-31", creation=created_later)) == []
    # The emulator dates a transaction's period by the period's last day.
    assert references(soap, query_xml("2026-01-01", "2026-12-31", period=("2026-07-31", "2026-07-31"))) == ["JUL-05"]
    assert references(soap, query_xml("2026-01-01", "2026-12-31", period=("2026-08-31", "2026-08-31"))) == []


def test_skip_pages_in_transaction_id_order(soap: Soap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operations, "MAX_TRANSACTIONS_BY_ROWS", 2)
    posted = [post(soap, f"P-{n}", "2026-07-15") for n in range(5)]
    pages = [
        soap.call("GetTransactionsBy", query_xml("2026-07-01", "2026-07-31", skip=skip)).texts("TransactionID")
        for skip in (0, 2, 4, 6)
    ]
    assert pages == [posted[0:2], posted[2:4], posted[4:5], []]


def test_unauthenticated_call_is_refused_in_band(soap: Soap) -> None:
    answer = soap.call("GetTransactionsBy", query_xml("2026-07-01", "2026-07-31"), header="")
    assert (answer.status, answer.error_code) == ("Failure", "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID")
