"""Persistence across restarts, fixtures, test hooks and every fault kind."""

from __future__ import annotations

import json
import time

import httpx

from aiq_emulators.bunny.app import start_emulator
from aiq_emulators.bunny.sample_tenant import sample_tenant

PROBE = "{ invoices(first: 1) { totalCount } }"


def test_state_persists_across_restart(tmp_path):
    state = tmp_path / "state"
    with start_emulator(state_dir=state) as (url, _), httpx.Client() as http:
        token = http.post(
            f"{url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "demo-bunny-client",
                "client_secret": "demo-bunny-secret",
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        query = (
            'mutation { financialAccountCreate(attributes: {entityId: "1", code: "8000", name: "Sundry", '
            "accountType: earned_revenue}) { financialAccount { id } } }"
        )
        assert http.post(f"{url}/graphql", json={"query": query}, headers=headers).status_code == 200
        created = http.post(f"{url}/_emulator/invoices", json={"account": "ACME", "count": 3, "release": True})
        ids = created.json()["ids"]
    saved = json.loads((state / "bunny-state.json").read_text())
    assert any(fa["code"] == "8000" for fa in saved["financial_accounts"])
    with start_emulator(state_dir=state) as (url, handle), httpx.Client() as http:
        assert handle.store.find("financial_accounts", code="8000") is not None
        assert [handle.store.find("invoices", i).state for i in ids] == ["NOT_DUE"] * 3
        # the token issued before the restart is still valid, like a real server restart
        query = '{ financialAccount(code: "8000") { name } }'
        body = http.post(f"{url}/graphql", json={"query": query}, headers=headers).json()
        assert body["data"]["financialAccount"] == {"name": "Sundry"}


def test_fixture_file_seeds_the_tenant(tmp_path):
    tenant = sample_tenant()
    tenant.invoices = tenant.invoices[:2]
    fixture = tmp_path / "fixture.json"
    fixture.write_text(tenant.model_dump_json())
    with start_emulator(fixture=fixture) as (_, handle):
        assert [i.id for i in handle.store.tenant.invoices] == ["1", "2"]


def test_control_routes_create_release_pay_void_reset(live):
    http, url = live.http, live.url
    created = http.post(
        f"{url}/_emulator/invoices",
        json={
            "account": "NORDIC",
            "currency": "EUR",
            "count": 2,
            "items": [{"charge": "PRO-SERVICES", "quantity": 2, "taxRate": "23", "taxCode": "V01"}],
        },
    )
    assert created.status_code == 201
    ids = created.json()["ids"]
    invoice = live.gql(
        "query($id: ID!) { invoice(id: $id) { state amount invoiceItems { amount taxAmount } } }", {"id": ids[0]}
    )["data"]["invoice"]
    assert invoice == {"state": "DRAFT", "amount": 369.0, "invoiceItems": [{"amount": 300.0, "taxAmount": 69.0}]}
    released = http.post(f"{url}/_emulator/invoices/release", json={"entity_id": "1"}).json()["released"]
    assert set(ids) | {"3", "10"} == set(released)
    assert http.post(f"{url}/_emulator/invoices/{ids[0]}/pay").json()["state"] == "PAID"
    assert http.post(f"{url}/_emulator/invoices/{ids[0]}/void").status_code == 409
    assert http.post(f"{url}/_emulator/invoices/{ids[1]}/void").json()["state"] == "VOIDED"
    assert http.post(f"{url}/_emulator/invoices/999/void").status_code == 404
    assert http.post(f"{url}/_emulator/invoices", json={"account": "nobody"}).status_code == 400
    stats = http.get(f"{url}/_emulator/stats").json()
    assert stats["tenant"]["invoices"] == 14 and stats["counters"]["graphql.requests"] >= 1
    assert http.post(f"{url}/_emulator/reset").status_code == 200
    assert len(live.handle.store.tenant.invoices) == 12


def _arm(live, **spec):
    response = live.http.post(f"{live.url}/_emulator/faults", json=spec)
    assert response.status_code == 201, response.text


def test_fault_429_with_retry_after_for_next_n(live):
    token = live.token()
    _arm(live, kind="status", status=429, retry_after=2, count=2)
    first, second, third = (live.post(PROBE, token=token) for _ in range(3))
    assert first.status_code == second.status_code == 429 and first.headers["Retry-After"] == "2"
    assert third.status_code == 200


def test_fault_500_by_fraction_and_operation_filter(live):
    token = live.token()
    _arm(live, kind="status", status=500, fraction=0.5, seed=1, operation="invoices")
    statuses = [live.post(PROBE, token=token).status_code for _ in range(40)]
    assert 5 < statuses.count(500) < 35 and statuses.count(200) + statuses.count(500) == 40
    other = [live.post("{ currencies { totalCount } }", token=token).status_code for _ in range(10)]
    assert other == [200] * 10  # filter: only the `invoices` root field is affected


def test_fault_expire_token_gives_401_then_new_token_works(live):
    token = live.token()
    _arm(live, kind="expire_token", count=1)
    assert live.post(PROBE, token=token).status_code == 401
    assert live.post(PROBE, token=token).status_code == 401  # it stays dead: the client must refresh
    assert live.post(PROBE, token=live.token()).status_code == 200


def test_fault_latency_and_token_endpoint_faults(live):
    token = live.token()
    _arm(live, kind="latency", latency_ms=300, count=1)
    started = time.monotonic()
    assert live.post(PROBE, token=token).status_code == 200
    assert time.monotonic() - started >= 0.3
    _arm(live, kind="status", status=503, path="/oauth/token", count=1)
    response = live.http.post(f"{live.url}/oauth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 503
    assert live.http.delete(f"{live.url}/_emulator/faults").json() == {"cleared": True}
    counters = live.http.get(f"{live.url}/_emulator/stats").json()["counters"]
    assert counters["faults.latency"] == 1 and counters["faults.status"] == 1


def test_bad_fault_spec_is_rejected(live):
    response = live.http.post(f"{live.url}/_emulator/faults", json={"kind": "explode"})
    assert response.status_code == 400


def test_concurrent_mutations_keep_ids_unique(live):
    from concurrent.futures import ThreadPoolExecutor

    token = live.token()
    query = (
        'mutation($c: String) { financialAccountCreate(attributes: {entityId: "1", code: $c, name: "N", '
        "accountType: payments}) { financialAccount { id } } }"
    )

    def create(n: int) -> str:
        body = live.gql(query, {"c": f"C{n}"}, token=token)
        return body["data"]["financialAccountCreate"]["financialAccount"]["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(40)))
    assert len(set(ids)) == 40
