"""SOAP transport rules (faults for bad requests, WSDL), fault injection, stats, persistence and concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from aiq_emulators.accountsiq import SERVICE_PATH, start_emulator
from aiq_pipeline_tests.emulators.accountsiq.conftest import (
    NS,
    Soap,
    check_response,
    envelope,
    invoice_xml,
    lookup_xml,
)

CREATE = "CreateBatchSalesInvoiceGetBackTransactionID"


def _fault_string(response: httpx.Response) -> str:
    answer = check_response(response)
    assert answer.status_code == 500
    assert answer.root.findtext("faultcode") == "soap:Client"
    return answer.root.findtext("faultstring") or ""


def test_malformed_xml_is_a_client_fault(soap: Soap) -> None:
    assert "error in XML" in _fault_string(soap.raw(b"<soap:Envelope", f'"{NS}GetCustomer"'))


def test_entity_expansion_is_refused(soap: Soap) -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    _fault_string(soap.raw(bomb, f'"{NS}GetCustomer"'))


def test_unknown_soap_action_is_a_client_fault(soap: Soap) -> None:
    text = _fault_string(soap.raw(envelope("GetCustomer", ""), f'"{NS}NoSuchOperation"'))
    assert "did not recognize" in text


def test_unimplemented_wsdl_operation_is_a_client_fault(soap: Soap) -> None:
    _fault_string(soap.raw(envelope("GetStockItemList", ""), f'"{NS}GetStockItemList"'))


def test_body_not_matching_action_is_a_client_fault(soap: Soap) -> None:
    _fault_string(soap.raw(envelope("GetCustomer", ""), f'"{NS}GetTaxCodeList"'))


def test_schema_invalid_body_is_a_client_fault(soap: Soap) -> None:
    body = envelope(CREATE, invoice_xml(rate="lots"))
    assert "ExchangeRate" in _fault_string(soap.raw(body, f'"{NS}{CREATE}"'))
    missing_required = envelope("GetTransaction", "")
    assert "transactionID" in _fault_string(soap.raw(missing_required, f'"{NS}GetTransaction"'))


def test_dispatch_falls_back_to_body_element_without_soap_action(soap: Soap) -> None:
    body = envelope("TokenGet", "<clientId>demo-aiq-client</clientId><clientSecret>demo-aiq-secret</clientSecret>")
    answer = check_response(soap.raw(body, None))
    assert answer.status == "Success"


def test_wsdl_served_with_request_host(soap: Soap) -> None:
    response = soap.http.get(SERVICE_PATH, params={"wsdl": ""})
    assert response.status_code == 200
    assert f'location="{soap.base_url}{SERVICE_PATH}"' in response.text
    assert "eu1.accountsiq.com" not in response.text


def test_throttle_next_n_calls_then_recovers(soap: Soap) -> None:
    soap.login()
    soap.http.post("/_emulator/faults", json={"kind": "throttle", "count": 2, "operations": ["GetTaxCodeList"]})
    codes = [soap.call("GetTaxCodeList").error_code for _ in range(3)]
    assert codes == ["OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS"] * 2 + ["SUCCESS"]
    assert soap.call("GetChartOfAccounts").status == "Success"  # other operations unaffected
    stats = soap.http.get("/_emulator/stats").json()
    assert stats["faults"]["throttle"] == 2 and stats["calls"]["GetTaxCodeList"] == 3


def test_throttle_on_write_applies_nothing_and_returns_minus_one(soap: Soap) -> None:
    soap.login()
    soap.http.post("/_emulator/faults", json={"kind": "throttle", "count": 1})
    answer = soap.call(CREATE, invoice_xml(reference="THROTTLED"))
    assert (answer.error_code, answer.text("transactionID")) == ("OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS", "-1")
    assert soap.call("GetTransactionsByExternalReference", lookup_xml("THROTTLED")).texts("TransactionID") == []


def test_token_get_throttle_uses_wsresult3_shape(soap: Soap) -> None:
    soap.http.post("/_emulator/faults", json={"rules": [{"kind": "throttle", "count": 1, "operations": ["TokenGet"]}]})
    answer = soap.call("TokenGet", "<clientId>demo-aiq-client</clientId><clientSecret>demo-aiq-secret</clientSecret>")
    assert (answer.status, answer.error_code, answer.text("HasExpired")) == (
        "Failure",
        "OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS",
        None,
    )


def test_fractional_faults_are_seeded_and_repeatable(soap: Soap) -> None:
    soap.login()

    def run() -> list[str | None]:
        soap.http.delete("/_emulator/faults")
        soap.http.post("/_emulator/faults", json={"kind": "throttle", "fraction": 0.5, "seed": 7})
        return [soap.call("GetTaxCodeList").error_code for _ in range(12)]

    first, second = run(), run()
    assert first == second
    assert 0 < first.count("OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS") < 12


def test_http_500_for_next_call(soap: Soap) -> None:
    soap.login()
    soap.http.post("/_emulator/faults", json={"kind": "http_500", "count": 1})
    response = soap.raw(envelope("GetTaxCodeList", "", ""), f'"{NS}GetTaxCodeList"')
    answer = check_response(response)
    assert answer.status_code == 500 and answer.root.findtext("faultcode") == "soap:Server"
    assert soap.call("GetTaxCodeList").status == "Success"


def test_latency_is_added(soap: Soap) -> None:
    soap.login()
    soap.http.post("/_emulator/faults", json={"kind": "latency", "latency_ms": 300, "count": 1})
    response = soap.raw(envelope("GetTaxCodeList", ""), f'"{NS}GetTaxCodeList"')
    assert response.elapsed.total_seconds() >= 0.3


def test_bad_fault_rule_is_rejected(soap: Soap) -> None:
    assert soap.http.post("/_emulator/faults", json={"kind": "explode"}).status_code == 422


def test_commit_then_drop_applies_the_write_and_breaks_the_connection(soap: Soap) -> None:
    soap.login()
    soap.http.post("/_emulator/faults", json={"kind": "drop_after_commit", "count": 1, "operations": [CREATE]})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        soap.call(CREATE, invoice_xml(reference="DROPPED"))
    # the write happened: a read-before-write retry finds it
    found = soap.call("GetTransactionsByExternalReference", lookup_xml("DROPPED"))
    assert len(found.texts("TransactionID")) == 1
    assert soap.http.get("/_emulator/stats").json()["faults"]["drop_after_commit"] == 1


def test_drop_after_commit_ignores_reads(soap: Soap) -> None:
    soap.login()
    soap.http.post("/_emulator/faults", json={"kind": "drop_after_commit"})
    assert soap.call("GetTaxCodeList").status == "Success"


def test_reset_restores_the_demo_tenant(soap: Soap) -> None:
    assert soap.call(CREATE, invoice_xml(reference="GONE")).status == "Success"
    soap.http.post("/_emulator/reset", json={})
    soap.token = None  # tokens are part of the data and were reset too
    assert soap.call("GetTransactionsByExternalReference", lookup_xml("GONE")).texts("TransactionID") == []
    assert soap.http.get("/_emulator/stats").json()["total_calls"] == 2  # TokenGet + lookup since the reset


def test_state_survives_a_restart(tmp_path: Path) -> None:
    with start_emulator(state_dir=tmp_path) as (url, _):
        first = Soap(url)
        posted = first.call(CREATE, invoice_xml(reference="KEEP"))
        token = first.login()
        first.close()
    assert (tmp_path / "accountsiq-state.json").exists()
    with start_emulator(state_dir=tmp_path) as (url, _):
        second = Soap(url)
        second.token = token  # the token issued before the restart is still valid
        found = second.call("GetTransactionsByExternalReference", lookup_xml("KEEP"))
        assert found.texts("TransactionID") == [posted.text("transactionID")]
        # ids keep counting up, never reused
        again = second.call(CREATE, invoice_xml(reference="KEEP2"))
        assert int(again.text("transactionID")) > int(posted.text("transactionID"))
        second.close()


def test_concurrent_creates_lose_no_writes(tmp_path: Path) -> None:
    with start_emulator(state_dir=tmp_path) as (url, handle):
        token = Soap(url).login()
        errors: list[str] = []

        def worker(index: int) -> None:
            client = Soap(url)
            client.token = token
            for j in range(5):
                answer = client.call(CREATE, invoice_xml(reference=f"CONC-{index}-{j}"))
                if answer.status != "Success":
                    errors.append(str(answer.error_code))
            client.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        entity = handle.state.data.entities["DEMO01"]
        assert len(entity.transactions) == 40
        assert len({t.internal_number for t in entity.transactions.values()}) == 40
    with start_emulator(state_dir=tmp_path) as (_, reloaded):
        assert len(reloaded.state.data.entities["DEMO01"].transactions) == 40
