"""Reads: Relay pagination, server-side filters passed as variables with a client-side fallback, currencies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from aiq_pipeline.bunny import BunnyQueryError
from aiq_pipeline.bunny.client import NEWEST_FIRST
from aiq_pipeline_tests.bunny.fake_bunny import FakeBunny, connection, currencies_handler
from aiq_pipeline_tests.bunny.invoice_samples import invoice_node, ref_node

INVOICES = [
    invoice_node("1", updated_at="2026-06-01T08:00:00Z"),
    invoice_node("2", updated_at="2026-06-02T08:00:00Z", state="DRAFT"),
    invoice_node("3", updated_at="2026-06-03T08:00:00+02:00", entity_id="2", currency_id="3"),
    invoice_node("4", updated_at="2026-06-04T08:00:00Z", state="PAID"),
    invoice_node("5", updated_at="2026-06-05T08:00:00.123456+00:00"),
]


@pytest.fixture
def bunny() -> FakeBunny:
    fake = FakeBunny()
    fake.handlers["Currencies"] = currencies_handler
    fake.handlers["Invoices"] = lambda v: {"invoices": connection(INVOICES, v)}
    fake.handlers["InvoiceRefs"] = lambda v: {"invoices": connection([ref_node(n) for n in INVOICES], v)}
    return fake


def test_pagination_walks_three_pages_with_cursors(bunny: FakeBunny) -> None:
    with bunny.client(page_size=2) as client:
        ids = [ref.id for ref in client.iter_invoice_refs("1", updated_since=None)]
    assert ids == ["1", "2", "4", "5"]  # entity 2's invoice never comes out
    calls = bunny.calls("InvoiceRefs")
    assert [c.variables["after"] for c in calls] == [None, "2", "4"]
    assert {c.variables["first"] for c in calls} == {2}


def test_default_page_size_is_100(bunny: FakeBunny) -> None:
    with bunny.client() as client:
        list(client.iter_invoice_refs("1", updated_since=None))
    assert bunny.calls("InvoiceRefs")[0].variables["first"] == 100


@pytest.mark.parametrize("size", [0, 101])
def test_page_size_above_100_is_refused(bunny: FakeBunny, size: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        bunny.client(page_size=size)


def test_pagination_that_does_not_advance_is_an_error(bunny: FakeBunny) -> None:
    stuck = {"nodes": [ref_node(INVOICES[0])], "pageInfo": {"hasNextPage": True, "endCursor": "same"}}
    bunny.handlers["InvoiceRefs"] = lambda _: {"invoices": stuck}
    with bunny.client() as client, pytest.raises(BunnyQueryError, match="did not advance"):
        list(client.iter_invoice_refs("1", updated_since=None))
    assert len(bunny.calls("InvoiceRefs")) == 2


def test_filter_is_a_variable_combining_entity_updated_and_state(bunny: FakeBunny) -> None:
    since = datetime(2026, 6, 2, 8, 0, 0, 500_000, tzinfo=UTC)
    with bunny.client(filter_time_margin=timedelta(0)) as client:
        refs = list(client.iter_invoice_refs("1", updated_since=since, states=["PAID", "NOT_DUE"]))
    call = bunny.calls("InvoiceRefs")[0]
    assert call.variables["filter"] == (
        "entityId = '1' and updatedAt is on or after '2026-06-02T08:00:00' and state in ['NOT_DUE', 'PAID']"
    )
    assert "entityId" not in call.query  # the document itself carries no values
    # The fake ignores the filter, so this also proves the client-side check is exact (>= since, states).
    assert [r.id for r in refs] == ["4", "5"]
    assert refs[1].updated_at == datetime(2026, 6, 5, 8, 0, 0, 123456, tzinfo=UTC)


def test_server_filter_bound_is_widened_by_the_margin(bunny: FakeBunny) -> None:
    since = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
    with bunny.client() as client:
        list(client.iter_invoice_refs("1", updated_since=since))
    assert "updatedAt is on or after '2026-06-01T18:00:00'" in bunny.calls("InvoiceRefs")[0].variables["filter"]


def test_naive_updated_since_is_refused(bunny: FakeBunny) -> None:
    with bunny.client() as client, pytest.raises(ValueError, match="timezone-aware"):
        list(client.iter_invoice_refs("1", updated_since=datetime(2026, 6, 1)))


def test_malformed_filter_falls_back_and_remembers(bunny: FakeBunny) -> None:
    def refs(variables: dict[str, Any]) -> Any:
        if variables.get("filter") and ("state in" in variables["filter"] or "updatedAt" in variables["filter"]):
            return httpx.Response(200, json={"data": {"invoices": None}, "errors": [{"message": "Malformed filter"}]})
        return {"invoices": connection([ref_node(n) for n in INVOICES], variables)}

    bunny.handlers["InvoiceRefs"] = refs
    since = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    with bunny.client(page_size=2) as client:
        first = [r.id for r in client.iter_invoice_refs("1", updated_since=since, states={"NOT_DUE"})]
        second = [r.id for r in client.iter_invoice_refs("1", updated_since=since, states={"NOT_DUE"})]
    assert first == second == ["5"]
    filters = [c.variables["filter"] for c in bunny.calls("InvoiceRefs")]
    assert filters[0].endswith("state in ['NOT_DUE']")
    assert "state" not in filters[1] and "updatedAt" in filters[1]
    assert filters[2:] == ["entityId = '1'"] * (len(filters) - 2)
    # The second run starts at the accepted filter: 3 pages of 2 (4 refs of entity 1 + 1 of entity 2).
    assert len(filters) == 2 + 3 + 3


def test_malformed_filter_on_the_last_fallback_is_raised(bunny: FakeBunny) -> None:
    bunny.handlers["FinancialAccounts"] = lambda _: httpx.Response(
        200, json={"data": {"financialAccounts": None}, "errors": [{"message": "Malformed filter"}]}
    )
    with bunny.client() as client, pytest.raises(BunnyQueryError, match="Malformed filter"):
        list(client.iter_financial_accounts("1"))
    assert [c.variables["filter"] for c in bunny.calls("FinancialAccounts")] == ["entityId = '1'", None]


def test_iter_invoices_decodes_full_invoices_with_iso_currency(bunny: FakeBunny) -> None:
    with bunny.client(page_size=2) as client:
        invoices = list(client.iter_invoices("1", states={"NOT_DUE", "PAID"}))
    assert [i.id for i in invoices] == ["1", "4", "5"]
    first = invoices[0]
    assert first.currency_code == "EUR" and first.base_currency_code == "EUR"
    assert first.entity_id == "1" and first.account_id == "77"
    assert first.account is not None and first.account.billing_contact is not None
    assert first.account.billing_contact.full_name == "Ada Byrne"
    assert first.account.currency_code == "EUR"
    item = first.items[0]
    assert (item.price_list_charge_id, item.price_list_charge_code, item.charge_type) == (
        "5",
        "SUB",
        "SubscriptionCharge",
    )
    # Currencies are read once per client, not once per invoice.
    assert len(bunny.calls("Currencies")) == 1


def test_get_invoice_resolves_a_currency_id_that_is_not_iso(bunny: FakeBunny) -> None:
    bunny.handlers["Invoice"] = lambda v: {"invoice": invoice_node(v["id"], currency_id="3", entity_id="2")}
    with bunny.client() as client:
        invoice = client.get_invoice("3")
    assert invoice is not None and invoice.currency_code == "USD"


def test_unknown_currency_id_rereads_currencies_then_fails(bunny: FakeBunny) -> None:
    bunny.handlers["Invoice"] = lambda v: {"invoice": invoice_node(v["id"], currency_id="99")}
    with bunny.client() as client, pytest.raises(BunnyQueryError, match="unknown currency id '99'"):
        client.get_invoice("1")
    assert len(bunny.calls("Currencies")) == 1


def test_dedupes_an_invoice_seen_on_two_pages(bunny: FakeBunny) -> None:
    more = {"hasNextPage": True, "endCursor": "a"}
    last = {"hasNextPage": False, "endCursor": "b"}
    pages = {
        None: {"nodes": [ref_node(INVOICES[0]), ref_node(INVOICES[1])], "pageInfo": more},
        "a": {"nodes": [ref_node(INVOICES[1]), ref_node(INVOICES[3])], "pageInfo": last},
    }
    bunny.handlers["InvoiceRefs"] = lambda v: {"invoices": pages[v["after"]]}
    with bunny.client() as client:
        assert [r.id for r in client.iter_invoice_refs("1", updated_since=None)] == ["1", "2", "4"]


def test_credit_notes_financial_accounts_and_charges(bunny: FakeBunny) -> None:
    note = {
        "id": "c1", "number": "CN-1", "state": "APPLIED", "kind": "REFUND", "entityId": "1", "accountId": "77",
        "creditedInvoiceId": "1", "currencyId": "1", "issuedAt": "2026-06-03", "subtotal": 10.1, "taxAmount": 2.32,
        "amount": 12.42, "updatedAt": "2026-06-03T00:00:00Z",
        "creditNoteItems": [{"invoiceItemId": "101", "lineText": "x", "subtotal": 10.1, "amount": 10.1,
                             "taxAmount": 2.32, "taxCode": "V01"}],
    }  # fmt: skip
    other_entity = {**note, "id": "c2", "entityId": "2"}
    accounts = [
        {"id": "1", "code": None, "name": "Earned revenue", "accountType": "earned_revenue", "active": True,
         "defaultAccount": True, "entityId": "1", "source": "bunny", "priceListChargeIds": ["5"]},
        {"id": "2", "code": "4000", "name": "Other entity", "accountType": "earned_revenue", "active": True,
         "defaultAccount": False, "entityId": "2"},
    ]  # fmt: skip
    charges = [
        {"id": "5", "code": "SUB", "name": "Sub", "taxCode": None, "financialAccountId": None,
         "financialAccount": None},
        {"id": "6", "code": "PRO", "name": "Pro", "taxCode": "V01", "financialAccountId": "3",
         "financialAccount": {"id": "3", "code": "4010"}},
    ]  # fmt: skip
    bunny.handlers["CreditNotes"] = lambda v: {"creditNotes": connection([note, other_entity], v)}
    bunny.handlers["FinancialAccounts"] = lambda v: {"financialAccounts": connection(accounts, v)}
    bunny.handlers["PriceListCharges"] = lambda v: {"priceListCharges": connection(charges, v)}
    with bunny.client() as client:
        notes = list(client.iter_credit_notes("1", updated_since=datetime(2026, 6, 1, tzinfo=UTC)))
        fas = list(client.iter_financial_accounts("1"))
        plcs = list(client.iter_price_list_charges())
    assert [n.id for n in notes] == ["c1"]
    assert notes[0].currency_code == "EUR" and str(notes[0].amount) == "12.42"
    assert notes[0].items[0].invoice_item_id == "101"
    assert [(f.id, f.code, f.default_account, f.price_list_charge_ids) for f in fas] == [("1", None, True, ("5",))]
    assert [(c.code, c.financial_account_id, c.financial_account_code) for c in plcs] == [
        ("SUB", None, None),
        ("PRO", "3", "4010"),
    ]
    assert bunny.calls("FinancialAccounts")[0].variables["filter"] == "entityId = '1'"


def test_get_entity_and_current_scopes(bunny: FakeBunny) -> None:
    bunny.handlers["Entity"] = lambda v: {"entity": {"id": v["id"], "name": "Demo Trading Ltd", "baseCurrencyId": "1"}}
    bunny.handlers["CurrentUser"] = lambda _: {"currentUser": {"scopes": ["billing:read"], "entityId": None}}
    with bunny.client() as client:
        entity = client.get_entity("1")
        assert client.current_scopes() == frozenset({"billing:read"})
    assert entity is not None and (entity.id, entity.name, entity.base_currency_code) == (
        "1",
        "Demo Trading Ltd",
        "EUR",
    )


def test_credit_notes_are_asked_newest_first_and_a_read_from_the_newest_known_stops_on_reaching_it(
    bunny: FakeBunny,
) -> None:
    def note(i: int, minute: int) -> dict[str, Any]:
        return {
            "id": f"c{i}", "number": f"CN-{i}", "state": "APPLIED", "kind": "REFUND", "entityId": "1",
            "accountId": "77", "creditedInvoiceId": "1", "currencyId": "1", "issuedAt": "2026-06-03",
            "subtotal": 1, "taxAmount": 0, "amount": 1, "updatedAt": f"2026-06-03T00:{minute:02d}:00Z",
            "creditNoteItems": [],
        }  # fmt: skip

    notes = [note(i, i) for i in range(1, 8)]  # c7 newest; c8 arrives after the last look
    notes.append(note(8, 9))

    def answer(v: dict[str, Any]) -> Any:
        sort = v.get("sort")
        listed = sorted(notes, key=lambda n: n["updatedAt"], reverse=sort == NEWEST_FIRST) if sort else notes
        return {"creditNotes": connection(listed, v)}

    bunny.handlers["CreditNotes"] = answer
    known = datetime(2026, 6, 3, 0, 7, tzinfo=UTC)
    with bunny.client(page_size=3) as client:
        found = [n.id for n in client.iter_credit_notes("1", updated_since=known, newest_known=known)]
    assert found == ["c8", "c7"]
    # c8 c7 c6: the page reaches c7, the newest seen before; the stop waits for Bunny to show it sorts (once a
    # process: one note of the whole list oldest first, c1, one newest first, c8).
    assert [c.variables["first"] for c in bunny.calls("CreditNotes")] == [3, 1, 1]
