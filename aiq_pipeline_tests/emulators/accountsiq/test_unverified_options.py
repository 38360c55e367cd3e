"""The options for readings of AIQ nobody could verify (README.md, "Unverified readings"), over real HTTP.

Each option is changed at run time through `POST /_emulator/options` (or a fault rule) and, in the last test, set
at start with `start_emulator(options=...)`.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from aiq_emulators.accountsiq import SERVICE_PATH, EmulatorOptions, start_emulator
from aiq_pipeline_tests.emulators.accountsiq.conftest import (
    NIL,
    NS,
    Clock,
    Soap,
    aiq_header,
    credit_note_xml,
    envelope,
    invoice_xml,
    lookup_xml,
)

CREATE = "CreateBatchSalesInvoiceGetBackTransactionID"
CREATE_NOTE = "CreateBatchSalesCreditNoteGetBackTransactionID"
JULY = (
    "<query><FromDate>2026-07-01T00:00:00</FromDate><ToDate>2026-07-31T00:00:00</ToDate>"
    "<FromCreationDate>1900-01-01T00:00:00</FromCreationDate><ToCreationDate>2999-12-31T00:00:00</ToCreationDate>"
    f"<Skip>0</Skip><FromPeriodDate {NIL}/><ToPeriodDate {NIL}/>"
    "<ExcludeReconciliationInformation>true</ExcludeReconciliationInformation></query>"
)


def options(soap: Soap, **values: object) -> httpx.Response:
    return soap.http.post("/_emulator/options", json=values)


def references(soap: Soap, reference: str) -> list[str]:
    return soap.call("GetTransactionsByExternalReference", lookup_xml(reference)).texts("ExternalReference")


# --- the control route ---------------------------------------------------------------------------------------


def test_options_route_reads_changes_and_resets(soap: Soap) -> None:
    defaults = soap.http.get("/_emulator/options").json()
    assert defaults["lookup_lag_seconds"] == 0 and defaults["unique_external_references"] is False
    changed = options(soap, lookup_lag_seconds=5, tax_rate_unit="fraction")
    assert changed.status_code == 200
    assert (changed.json()["lookup_lag_seconds"], changed.json()["tax_rate_unit"]) == (5, "fraction")
    assert soap.http.get("/_emulator/options").json()["tax_rate_unit"] == "fraction"
    assert soap.http.delete("/_emulator/options").json() == defaults


@pytest.mark.parametrize(
    "payload",
    [
        {"lookup_lag_seconds": 5, "tax_rate_unit": "per-mille"},
        {"slow_commit_seconds": -1},
        {"no_such_option": True},
        {"closed_period_error_code": "NOT_A_CODE"},
        {"reference_match": "regex"},
    ],
    ids=["one-bad-value-of-two", "negative-duration", "unknown-name", "code-not-in-wsdl", "unknown-reading"],
)
def test_options_route_refuses_bad_values_and_changes_nothing(soap: Soap, payload: dict[str, object]) -> None:
    before = soap.http.get("/_emulator/options").json()
    refused = soap.http.post("/_emulator/options", json=payload)
    assert refused.status_code == 422 and refused.json()["error"]
    assert soap.http.get("/_emulator/options").json() == before


# --- reference look-ups that lag ------------------------------------------------------------------------------


def test_lookup_lag_hides_a_new_document_from_listings_but_not_from_get_transaction(soap: Soap, clock: Clock) -> None:
    assert options(soap, lookup_lag_seconds=30).status_code == 200
    created = soap.call(CREATE, invoice_xml(reference="LAG-1", date="2026-07-10T00:00:00"))
    transaction_id = created.text("transactionID")
    assert created.status == "Success" and int(transaction_id or 0) > 0

    lookup = soap.call("GetTransactionsByExternalReference", lookup_xml("LAG-1"))
    assert lookup.status == "Success" and lookup.texts("TransactionID") == []
    assert transaction_id not in soap.call("GetTransactionsBy", JULY).texts("TransactionID")
    by_id = soap.call("GetTransaction", f"<transactionID>{transaction_id}</transactionID>")
    assert by_id.status == "Success" and by_id.text("ExternalReference") == "LAG-1"

    clock.advance(29)
    assert references(soap, "LAG-1") == []
    clock.advance(1)
    assert references(soap, "LAG-1") == ["LAG-1"]
    assert transaction_id in soap.call("GetTransactionsBy", JULY).texts("TransactionID")


# --- commits that answer late -----------------------------------------------------------------------------------


def _create_with_timeout(soap: Soap, reference: str, timeout: float) -> httpx.Response:
    body = envelope(CREATE, invoice_xml(reference=reference), aiq_header(soap.login()))
    with httpx.Client(base_url=soap.base_url, timeout=timeout) as impatient:
        return impatient.post(
            SERVICE_PATH, content=body, headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": NS + CREATE}
        )


def test_slow_commit_option_commits_then_answers_after_the_client_gave_up(soap: Soap) -> None:
    soap.login()
    assert options(soap, slow_commit_seconds=2).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        _create_with_timeout(soap, "SLOW-1", timeout=0.3)
    assert references(soap, "SLOW-1") == ["SLOW-1"]  # committed before the late answer
    assert soap.http.get("/_emulator/stats").json()["faults"]["slow_commit"] == 1
    # Reads are never delayed by it.
    assert soap.call("GetTaxCodeList").status == "Success"


def test_slow_commit_fault_rule_delays_only_the_calls_it_names(soap: Soap) -> None:
    soap.login()
    missing_latency = soap.http.post("/_emulator/faults", json={"kind": "slow_commit", "operations": [CREATE]})
    assert missing_latency.status_code == 422
    rule = {"kind": "slow_commit", "latency_ms": 2000, "operations": [CREATE], "count": 1}
    assert soap.http.post("/_emulator/faults", json=rule).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        _create_with_timeout(soap, "SLOW-RULE-1", timeout=0.3)
    answered = _create_with_timeout(soap, "SLOW-RULE-2", timeout=5)  # the rule is spent
    assert answered.status_code == 200
    assert references(soap, "SLOW-RULE-1") == ["SLOW-RULE-1"]


# --- unique external references -------------------------------------------------------------------------------


def test_unique_external_references_off_stores_duplicates(soap: Soap) -> None:
    assert soap.call(CREATE, invoice_xml(reference="TWICE")).status == "Success"
    assert soap.call(CREATE, invoice_xml(reference="TWICE")).status == "Success"
    assert references(soap, "TWICE") == ["TWICE", "TWICE"]


def test_unique_external_references_on_refuses_a_second_document_of_the_same_type(soap: Soap) -> None:
    assert options(soap, unique_external_references=True).status_code == 200
    assert soap.call(CREATE, invoice_xml(reference="ONCE-1")).status == "Success"
    again = soap.call(CREATE, invoice_xml(reference="ONCE-1"))
    assert (again.status, again.error_code, again.text("transactionID")) == (
        "Failure",
        "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS",
        "-1",
    )
    assert soap.call(CREATE_NOTE, credit_note_xml(reference="NOTE-ONCE")).status == "Success"
    note_again = soap.call(CREATE_NOTE, credit_note_xml(reference="NOTE-ONCE"))
    # The WSDL has no credit-note code for it: the invoice one.
    assert note_again.error_code == "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS"
    # Per document type: a credit note may carry an invoice's reference.
    assert soap.call(CREATE_NOTE, credit_note_xml(reference="ONCE-1")).status == "Success"
    assert references(soap, "ONCE-1") == ["ONCE-1", "ONCE-1"]


# --- how a reference is matched ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "expected"),
    [("exact", ["REF-1"]), ("ignore_case", ["REF-1", "ref-1"]), ("prefix", ["REF-1", "REF-10", "ref-1"])],
)
def test_reference_match_readings(soap: Soap, match: str, expected: list[str]) -> None:
    for reference in ("REF-1", "REF-10", "ref-1", "XREF-1"):
        assert soap.call(CREATE, invoice_xml(reference=reference)).status == "Success"
    assert options(soap, reference_match=match).status_code == 200
    assert sorted(references(soap, "REF-1")) == expected


# --- issue 15's readings of reference data -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "posting", "vat"), [("word", "Posting", "VAT"), ("upper", "POSTING", "VAT"), ("letter", "P", "V")]
)
def test_account_type_spellings(soap: Soap, spelling: str, posting: str, vat: str) -> None:
    assert options(soap, account_type_spelling=spelling).status_code == 200
    answer = soap.call("GetChartOfAccounts")
    types = dict(zip(answer.texts("Code"), answer.texts("AccountType"), strict=True))
    assert (types["4000"], types["2200"]) == (posting, vat)
    # The spelling is only what AIQ shows: posting to a posting account still works.
    assert soap.call(CREATE, invoice_xml(reference=f"SPELL-{spelling}")).status == "Success"


def test_tax_rate_units(soap: Soap) -> None:
    assert dict(zip(*(soap.call("GetTaxCodeList").texts(n) for n in ("Code", "Rate")), strict=True))["V02"] == "13.5"
    assert options(soap, tax_rate_unit="fraction").status_code == 200
    rates = dict(zip(*(soap.call("GetTaxCodeList").texts(n) for n in ("Code", "Rate")), strict=True))
    assert (Decimal(rates["V01"]), Decimal(rates["V02"])) == (Decimal("0.23"), Decimal("0.135"))


def test_period_list_without_a_date(soap: Soap) -> None:
    every_year = soap.call("GetPeriodList", f"<pointInTime {NIL}/>").texts("FinancialYear")
    assert len(every_year) == 36 and set(every_year) == {"2025", "2026", "2027"}
    assert options(soap, period_list_without_date="current_year").status_code == 200
    current = soap.call("GetPeriodList", f"<pointInTime {NIL}/>").texts("FinancialYear")
    assert current == ["2026"] * 12  # the emulator's clock is in 2026
    # A date still picks its own year.
    assert set(soap.call("GetPeriodList", "<pointInTime>2025-03-01T00:00:00</pointInTime>").texts("FinancialYear")) == {
        "2025"
    }


def test_exchange_rate_direction_through_the_route(soap: Soap) -> None:
    rate = "<currencyCode>GBP</currencyCode>"
    assert Decimal(soap.call("GetCurrencyExchangeRate", rate).text("Result") or "") == Decimal("1.17")
    assert options(soap, exchange_rate_direction="divide").status_code == 200
    assert Decimal(soap.call("GetCurrencyExchangeRate", rate).text("Result") or "") == Decimal("0.854701")


# --- every reading set at start -------------------------------------------------------------------------------


def test_every_reading_can_be_set_at_start() -> None:
    clock = Clock()
    start = EmulatorOptions(
        unique_external_references=True,
        lookup_lag_seconds=60,
        reference_match="prefix",
        account_type_spelling="letter",
        tax_rate_unit="fraction",
        period_list_without_date="current_year",
        exchange_rate_direction="divide",
    )
    with start_emulator(options=start, clock=clock) as (base_url, _handle):
        soap = Soap(base_url)
        try:
            assert soap.http.get("/_emulator/options").json()["reference_match"] == "prefix"
            assert soap.call(CREATE, invoice_xml(reference="START-1")).status == "Success"
            assert soap.call(CREATE, invoice_xml(reference="START-1")).error_code == (
                "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS"
            )
            assert references(soap, "START") == []  # lagging
            clock.advance(60)
            assert references(soap, "START") == ["START-1"]  # and matched as a prefix
            assert "P" in soap.call("GetChartOfAccounts").texts("AccountType")
            assert "0.23" in soap.call("GetTaxCodeList").texts("Rate")
            assert len(soap.call("GetPeriodList", f"<pointInTime {NIL}/>").texts("PeriodID")) == 12
            rate = soap.call("GetCurrencyExchangeRate", "<currencyCode>GBP</currencyCode>").text("Result")
            assert Decimal(rate or "") == Decimal("0.854701")
        finally:
            soap.close()


def test_an_invalid_option_at_start_is_refused() -> None:
    with (
        pytest.raises(ValueError, match="lookup_lag_seconds"),
        start_emulator(options=EmulatorOptions(lookup_lag_seconds=-5)),
    ):
        pass


def test_empty_lookup_answer_readings(soap: Soap) -> None:
    assert soap.call("GetTransactionsByExternalReference", lookup_xml("NOBODY-1")).status == "Success"
    assert options(soap, empty_lookup_answer="transaction_not_found").status_code == 200
    empty = soap.call("GetTransactionsByExternalReference", lookup_xml("NOBODY-1"))
    assert (empty.status, empty.error_code) == ("Failure", "TRANSACTION_NOT_FOUND")
    assert soap.call(CREATE, invoice_xml(reference="SOMEBODY-1")).status == "Success"
    assert references(soap, "SOMEBODY-1") == ["SOMEBODY-1"]  # a match still answers Success
