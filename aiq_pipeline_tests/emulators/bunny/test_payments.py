"""Payments and payment applications in the Bunny emulator (issue 12), over real HTTP: take one in full, in part
or more than is due; a pending one completes or fails; refunds become REFUND credit notes; query, filter, persist."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aiq_emulators.bunny.app import start_emulator

from .conftest import Live

PAYMENT = """query($id: ID!) { payment(id: $id) {
  id amount fees amountUnapplied state processingState currencyId accountId entity { id } paymentProcessor
  receivedAt completedAt errorCode remoteTransactionId
  appliedToInvoices { nodes { id state } } } }"""
INVOICE = """query($id: ID!) { invoice(id: $id) { state amount amountPaid amountDue
  paymentApplications { id paymentId invoiceId amount currencyId } payments { nodes { id } } } }"""
TAXED = {"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "tax_rate": "23"}], "release": True}  # 60.27


def invoice(live: Live, **spec: Any) -> str:
    response = live.http.post(f"{live.url}/_emulator/invoices", json={**TAXED, **spec})
    assert response.status_code == 201, response.text
    return str(response.json()["ids"][0])


def pay(live: Live, status: int = 201, **body: Any) -> dict[str, Any]:
    response = live.http.post(f"{live.url}/_emulator/payments", json={"account": "ACME", **body})
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def read(live: Live, query: str, object_id: str) -> dict[str, Any]:
    body = live.gql(query, {"id": object_id})
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


def test_payment_in_full(live: Live) -> None:
    invoice_id = invoice(live)
    taken = pay(live, invoices=[invoice_id], fees="1.80", processor="stripe")
    assert taken["applications"] == [{"invoice_id": invoice_id, "amount": "60.27"}] and taken["unapplied"] == "0.00"
    payment = read(live, PAYMENT, taken["id"])
    assert (payment["amount"], payment["fees"], payment["amountUnapplied"]) == (60.27, 1.8, 0.0)
    assert (payment["state"], payment["processingState"], payment["paymentProcessor"]) == (
        "APPLIED",
        "SUCCEEDED",
        "stripe",
    )
    assert payment["entity"] == {"id": "1"} and payment["accountId"] == "1" and payment["completedAt"]
    assert payment["appliedToInvoices"]["nodes"] == [{"id": invoice_id, "state": "PAID"}]
    paid = read(live, INVOICE, invoice_id)
    assert (paid["state"], paid["amountPaid"], paid["amountDue"]) == ("PAID", 60.27, 0.0)
    assert paid["paymentApplications"][0]["paymentId"] == taken["id"] and paid["payments"]["nodes"] == [
        {"id": taken["id"]}
    ]


def test_partial_and_over_payments(live: Live) -> None:
    first, second = invoice(live), invoice(live)
    partial = pay(live, invoices=[first], amount="30.00")
    assert read(live, PAYMENT, partial["id"])["state"] == "APPLIED"  # all of its 30.00 went to the invoice
    half = read(live, INVOICE, first)
    assert (half["state"], half["amountPaid"], half["amountDue"]) == ("NOT_DUE", 30.0, 30.27)
    over = pay(live, invoices=[first, second], amount="100.00")
    assert over["applications"] == [
        {"invoice_id": first, "amount": "30.27"},
        {"invoice_id": second, "amount": "60.27"},
    ]
    payment = read(live, PAYMENT, over["id"])
    assert (payment["state"], payment["amountUnapplied"]) == ("PARTIALLY_APPLIED", 9.46)  # left on the account
    assert {read(live, INVOICE, i)["state"] for i in (first, second)} == {"PAID"}


def test_pending_payment_completes_or_fails(live: Live) -> None:
    first, second = invoice(live), invoice(live)
    pending = pay(live, invoices=[first], pending=True)
    assert pending["processing_state"] == "PENDING" and pending["applications"] == []
    assert read(live, INVOICE, first)["state"] == "PROCESSING_PAYMENT"
    done = live.http.post(f"{live.url}/_emulator/payments/{pending['id']}/complete").json()
    assert done["processing_state"] == "SUCCEEDED" and done["applications"][0]["amount"] == "60.27"
    assert read(live, INVOICE, first)["state"] == "PAID"
    doomed = pay(live, invoices=[second], pending=True)
    failed = live.http.post(
        f"{live.url}/_emulator/payments/{doomed['id']}/fail", json={"error_code": "insufficient_funds"}
    )
    assert failed.status_code == 200 and failed.json()["processing_state"] == "FAILED"
    payment = read(live, PAYMENT, doomed["id"])
    assert (payment["processingState"], payment["errorCode"], payment["state"]) == (
        "FAILED",
        "insufficient_funds",
        "UNAPPLIED",
    )
    assert read(live, INVOICE, second)["state"] == "NOT_DUE"
    assert live.http.post(f"{live.url}/_emulator/payments/{doomed['id']}/complete").status_code == 409


def test_refunds_are_refund_credit_notes_up_to_what_was_applied(live: Live) -> None:
    invoice_id = invoice(live)
    taken = pay(live, invoices=[invoice_id], amount="70.00")  # 9.73 over: not refundable this way
    url = f"{live.url}/_emulator/payments/{taken['id']}/refund"
    assert live.http.post(url, json={"amount": "70.00"}).status_code == 409
    part = live.http.post(url, json={"amount": "10.00"})
    assert part.status_code == 201 and part.json()["credit_notes"][0]["amount"] == "10.00"
    rest = live.http.post(url).json()["credit_notes"]
    assert [(n["invoice_id"], n["amount"]) for n in rest] == [(invoice_id, "50.27")]
    assert live.http.post(url).status_code == 409  # nothing left to refund
    notes = live.gql(
        "query($f: String) { creditNotes(filter: $f) { nodes { kind state amount creditedInvoiceId } } }",
        {"f": f"creditedInvoiceId = '{invoice_id}'"},
    )["data"]["creditNotes"]["nodes"]
    assert [(n["kind"], n["amount"]) for n in notes] == [("REFUND", 10.0), ("REFUND", 50.27)]


def test_payments_are_listed_and_filtered(live: Live) -> None:
    a, b = invoice(live), invoice(live)
    pay(live, invoices=[a])
    pay(live, invoices=[b], pending=True)
    query = "query($f: String) { payments(filter: $f) { totalCount nodes { id processingState } } }"
    everything = live.gql(query, {"f": "entityId = '1'"})["data"]["payments"]
    succeeded = live.gql(query, {"f": "entityId = '1' and processingState in ['SUCCEEDED']"})["data"]["payments"]
    assert (everything["totalCount"], succeeded["totalCount"]) == (2, 1)
    applications = live.gql(
        "query($f: String) { paymentApplications(filter: $f) { nodes { invoiceId amount } } }",
        {"f": f"invoiceId in ['{a}', '{b}']"},
    )["data"]["paymentApplications"]["nodes"]
    assert applications == [{"invoiceId": a, "amount": 60.27}]


def test_payment_amount_reading(live: Live) -> None:
    taken = pay(live, invoices=[invoice(live)], fees="1.80")
    assert live.http.post(f"{live.url}/_emulator/options", json={"payment_amount": "net_of_fees"}).status_code == 200
    payment = read(live, PAYMENT, taken["id"])
    assert (payment["amount"], payment["fees"]) == (58.47, 1.8)  # what reached the bank


@pytest.mark.parametrize(
    "body",
    [
        {"invoices": ["4"]},  # VOIDED
        {"invoices": ["9"]},  # another customer's invoice
        {"invoices": ["1"]},  # already PAID
        {"invoices": [], "amount": "0"},
        {"invoices": ["2"], "fees": "100"},  # fees above the amount
    ],
)
def test_payments_bunny_would_refuse(live: Live, body: dict[str, Any]) -> None:
    pay(live, status=409, **body)


def test_payments_persist_across_a_restart(tmp_path: Any) -> None:
    state = tmp_path / "state"
    with start_emulator(state_dir=state) as (url, _handle):
        invoice_id = httpx.post(f"{url}/_emulator/invoices", json=TAXED).json()["ids"][0]
        payment_id = httpx.post(f"{url}/_emulator/payments", json={"account": "ACME", "invoices": [invoice_id]}).json()[
            "id"
        ]
    with start_emulator(state_dir=state) as (url, handle):
        assert [p.id for p in handle.store.tenant.payments] == [payment_id]
        assert [a.invoice_id for a in handle.store.tenant.payment_applications] == [invoice_id]
        assert handle.store.find("invoices", invoice_id).state == "PAID"
