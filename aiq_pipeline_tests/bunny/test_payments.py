"""The client reads payments and their applications to invoices (issue 12) from the Bunny emulator over HTTP:
filtered by entity, updatedAt and processing state, in bulk by id, money as Decimal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aiq_pipeline.bunny import BunnyClient

TAXED = {"items": [{"charge": "SUB-MONTHLY", "tax_rate": "23"}], "release": True}  # 60.27


@pytest.fixture
def bunny(base_url: str) -> Iterator[BunnyClient]:
    httpx.post(f"{base_url}/_emulator/reset").raise_for_status()
    with BunnyClient(
        base_url=base_url, client_id="demo-bunny-client", client_secret="demo-bunny-secret", backoff_base=0
    ) as client:
        yield client


def _post(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{base_url}/_emulator/{path}", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _invoice(base_url: str, account: str = "ACME") -> str:
    return str(_post(base_url, "invoices", {"account": account, **TAXED})["ids"][0])


def test_payments_with_their_applications(base_url: str, bunny: BunnyClient) -> None:
    a, b = _invoice(base_url), _invoice(base_url)
    over = _post(base_url, "payments", {"account": "ACME", "invoices": [a, b], "amount": "130.00", "fees": "2.10"})
    pending = _post(base_url, "payments", {"account": "ACME", "invoices": [_invoice(base_url)], "pending": True})
    us = _post(base_url, "payments", {"account": "YANKEE", "invoices": ["11"]})  # entity 2
    payments = {p.id: p for p in bunny.iter_payments("1")}
    assert set(payments) == {over["id"], pending["id"]} and us["id"] not in payments
    paid = payments[over["id"]]
    assert (paid.amount, paid.fees, paid.amount_unapplied) == (Decimal("130"), Decimal("2.1"), Decimal("9.46"))
    assert (paid.state, paid.processing_state, paid.is_succeeded) == ("PARTIALLY_APPLIED", "SUCCEEDED", True)
    assert (paid.entity_id, paid.account_id, paid.currency_code, paid.payment_processor) == ("1", "1", "EUR", "stripe")
    assert paid.received_at is not None and paid.completed_at is not None
    assert [(x.invoice_id, x.amount) for x in paid.applications] == [(a, Decimal("60.27")), (b, Decimal("60.27"))]
    assert all(x.payment_id == paid.id and x.currency_code == "EUR" for x in paid.applications)
    assert not payments[pending["id"]].is_succeeded and payments[pending["id"]].applications == ()
    succeeded = list(bunny.iter_payments("1", processing_states={"SUCCEEDED"}))
    assert [p.id for p in succeeded] == [over["id"]]
    later = list(bunny.iter_payments("1", updated_since=paid.updated_at + timedelta(seconds=1)))
    assert paid.id not in {p.id for p in later}


def test_a_payment_by_id_and_in_bulk(base_url: str, bunny: BunnyClient) -> None:
    invoice_id = _invoice(base_url)
    taken = _post(base_url, "payments", {"account": "ACME", "invoices": [invoice_id], "amount": "20.00"})
    one = bunny.get_payment(taken["id"])
    many = bunny.get_payments([taken["id"], "404"])
    assert bunny.get_payment("404") is None
    assert one is not None and list(many) == [taken["id"]] and many[taken["id"]] == one
    assert [(x.invoice_id, x.amount) for x in one.applications] == [(invoice_id, Decimal("20"))]


def test_the_invoice_lists_what_was_applied_to_it(base_url: str, bunny: BunnyClient) -> None:
    invoice_id = _invoice(base_url)
    first = _post(base_url, "payments", {"account": "ACME", "invoices": [invoice_id], "amount": "20.00"})
    second = _post(base_url, "payments", {"account": "ACME", "invoices": [invoice_id]})
    invoice = bunny.get_invoice(invoice_id)
    assert invoice is not None and invoice.state == "PAID"
    assert [(x.payment_id, x.amount) for x in invoice.payment_applications] == [
        (first["id"], Decimal("20")),
        (second["id"], Decimal("40.27")),
    ]
    assert (invoice.amount_paid, invoice.amount_due) == (Decimal("60.27"), Decimal("0"))
