"""Bunny in bulk (issue 13): many invoices or credit notes by id in one paged `filter: "id in [...]"` request per
page of ids, the same models as the single reads, and a one-by-one fallback when the server refuses the filter."""

from __future__ import annotations

from typing import Any

import httpx

from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline_tests.bunny.fake_bunny import FakeBunny, connection, currencies_handler
from aiq_pipeline_tests.bunny.invoice_samples import invoice_node


def _client(base_url: str, **options: Any) -> BunnyClient:
    return BunnyClient(
        base_url=base_url, client_id="demo-bunny-client", client_secret="demo-bunny-secret", backoff_base=0, **options
    )


def _invoice_requests(base_url: str) -> int:
    counters: dict[str, int] = httpx.get(f"{base_url}/_emulator/stats").json()["counters"]
    return counters.get("graphql.field.invoices", 0)


def test_many_invoices_in_one_request_per_page_of_ids(base_url: str) -> None:
    httpx.post(f"{base_url}/_emulator/reset").raise_for_status()
    made = httpx.post(
        f"{base_url}/_emulator/invoices",
        json={"account": "ACME", "count": 230, "release": True, "items": [{"charge": "SUB-MONTHLY", "tax_rate": "23"}]},
    ).json()["ids"]
    wanted = [*reversed(made), "1", "999999", made[0]]  # any order, an unknown id, a repeat
    with _client(base_url) as client:
        client.get_invoice("1")  # currencies read once, outside the count
        before = _invoice_requests(base_url)
        found = client.get_invoices(wanted)
        requests = _invoice_requests(base_url) - before
        singles = {i: client.get_invoice(i) for i in (made[0], made[-1], "1")}
    assert requests == 3  # 231 ids at 100 per request
    assert list(found) == [*reversed(made), "1"]  # the order asked, unknown ids left out, no repeats
    assert all(found[i] == single for i, single in singles.items())


def test_credit_notes_by_id(base_url: str) -> None:
    httpx.post(f"{base_url}/_emulator/reset").raise_for_status()
    invoice_id = httpx.post(f"{base_url}/_emulator/invoices", json={"account": "ACME", "release": True}).json()["ids"][
        0
    ]
    note_id = httpx.post(f"{base_url}/_emulator/invoices/{invoice_id}/write_off").json()["credit_note_id"]
    with _client(base_url, page_size=1) as client:
        one = client.get_credit_note(note_id)
        many = client.get_credit_notes([note_id, "1", "404"])
        assert client.get_credit_note("404") is None
    assert one is not None and one.is_write_off and one.credited_invoice_id == invoice_id
    assert list(many) == [note_id, "1"] and many[note_id] == one and many["1"].kind == "REFUND"


def test_refused_id_filter_falls_back_to_single_reads_and_remembers() -> None:
    nodes = {str(n): invoice_node(str(n)) for n in range(1, 6)}
    fake = FakeBunny()
    fake.handlers["Currencies"] = currencies_handler

    def invoices(variables: dict[str, Any]) -> Any:
        return httpx.Response(200, json={"data": {"invoices": None}, "errors": [{"message": "Malformed filter"}]})

    fake.handlers["Invoices"] = invoices
    fake.handlers["Invoice"] = lambda v: {"invoice": nodes.get(v["id"])}
    with fake.client(page_size=2) as client:
        first = client.get_invoices(["1", "2", "3", "9"])
        second = client.get_invoices(["4", "5"])
    assert list(first) == ["1", "2", "3"] and list(second) == ["4", "5"]
    assert len(fake.calls("Invoices")) == 1  # refused once, then not asked again
    assert fake.calls("Invoices")[0].variables["filter"] == "id in ['1', '2']"
    assert [c.variables["id"] for c in fake.calls("Invoice")] == ["1", "2", "3", "9", "4", "5"]


def test_a_server_that_ignores_the_filter_still_yields_only_what_was_asked() -> None:
    everything = [invoice_node(str(n)) for n in range(1, 8)]
    fake = FakeBunny()
    fake.handlers["Currencies"] = currencies_handler
    fake.handlers["Invoices"] = lambda v: {"invoices": connection(everything, v)}
    with fake.client() as client:
        found = client.get_invoices(["6", "2"])
    assert list(found) == ["6", "2"]
