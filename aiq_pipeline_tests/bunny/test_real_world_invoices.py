"""The client reads every money and state field of MONEY.md, as Decimal, from real-world invoices the Bunny
emulator serves over HTTP: negative lines, coupons, several tax rates, credits, consolidation, write-offs."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aiq_pipeline.bunny import BunnyClient, Invoice
from aiq_pipeline.bunny.decoding import DecodingError, invoice

REAL_WORLD: dict[str, Any] = {
    "account": "ACME",
    "credits": "20.00",
    "items": [
        {"charge": "SUB-MONTHLY", "quantity": 2, "price": "100.00", "discount": "20.00", "tax_rate": "23",
         "tax_code": "V01"},
        {"charge": "PRO-SERVICES", "price": "150.00", "tax_rate": "13.5", "tax_code": "V02", "charge_kind": "quote"},
        {"charge": "SUB-MONTHLY", "price": "-50.00", "tax_rate": "23", "tax_code": "V01", "is_credit": True,
         "kind": "UPDATE", "proration_rate": "0.5", "credits_line": 1},
        {"charge": "SUB-MONTHLY", "price": "-10.00", "tax_rate": "0", "vat_code": "RC", "is_credit": True,
         "line_text": "Goodwill credit"},
    ],
    "coupons": [{"code": "WINTER", "percent": "10"}],
}  # fmt: skip


@pytest.fixture
def bunny(base_url: str) -> Iterator[BunnyClient]:
    httpx.post(f"{base_url}/_emulator/reset").raise_for_status()
    with BunnyClient(
        base_url=base_url, client_id="demo-bunny-client", client_secret="demo-bunny-secret", backoff_base=0
    ) as client:
        yield client


def _post(base_url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{base_url}/_emulator/{path}", json=body or {})
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def _create(base_url: str, spec: dict[str, Any], **extra: Any) -> str:
    return str(_post(base_url, "invoices", {**spec, "release": True, **extra})["ids"][0])


def _get(client: BunnyClient, invoice_id: str) -> Invoice:
    found = client.get_invoice(invoice_id)
    assert found is not None
    return found


def test_every_money_field_of_a_real_world_invoice(base_url: str, bunny: BunnyClient) -> None:
    inv = _get(bunny, _create(base_url, REAL_WORLD))
    first, services, proration, goodwill, coupon = inv.items
    assert (first.subtotal, first.discount, first.amount, first.tax_amount) == (
        Decimal("200"), Decimal("20"), Decimal("180"), Decimal("41.4")
    )  # fmt: skip
    assert (first.tax_rate, services.tax_rate, first.tax_code, services.tax_code) == (
        Decimal("23"), Decimal("13.5"), "V01", "V02"
    )  # fmt: skip
    assert proration.is_credit and proration.kind == "UPDATE" and proration.credited_item_id == first.id
    assert (proration.amount, proration.tax_amount, proration.proration_rate) == (
        Decimal("-50"), Decimal("-11.5"), Decimal("50")
    )  # fmt: skip
    assert goodwill.is_credit and goodwill.vat_code == "RC" and goodwill.credited_item_id is None
    assert coupon.is_coupon and coupon.coupon_id == "WINTER" and coupon.kind == "COUPON"
    assert coupon.amount == Decimal("-33")  # 10 % of the 330.00 purchase
    assert [item.position for item in inv.items] == [1, 2, 3, 4, 5]
    nets = sum((i.amount for i in inv.items), Decimal(0))
    taxes = sum((i.tax_amount for i in inv.items), Decimal(0))
    assert (inv.subtotal, inv.tax_amount, inv.amount) == (nets, taxes, nets + taxes)
    assert (inv.credits, inv.amount_paid, inv.amount_due) == (Decimal("20"), Decimal("0"), inv.amount - 20)
    assert inv.coupon_applied and inv.tax_rate is None and inv.paid_at is None
    assert not inv.is_consolidation_component and inv.merged_invoice_ids == ()
    money = [inv.subtotal, inv.tax_amount, inv.amount, inv.credits, inv.amount_due, inv.amount_paid]
    money += [v for i in inv.items for v in (i.subtotal, i.amount, i.tax_amount, i.discount, i.tax_rate)]
    assert all(isinstance(v, Decimal) for v in money)


def test_the_customer_fields(bunny: BunnyClient) -> None:
    inv = _get(bunny, "1")
    assert inv.account is not None
    account = inv.account
    assert (account.code, account.billing_country, account.tax_number, account.email, account.entity_id) == (
        "ACME", "IE", "IE9876543W", "ap@acme.example", "1"
    )  # fmt: skip
    assert account.tax_number_validated is None


def test_rates_in_fractions_arrive_exact(base_url: str, bunny: BunnyClient) -> None:
    invoice_id = _create(base_url, REAL_WORLD)
    _post(base_url, "options", {"tax_rate_units": "fraction", "proration_rate_units": "fraction"})
    inv = _get(bunny, invoice_id)
    assert [i.tax_rate for i in inv.items[:3]] == [Decimal("0.23"), Decimal("0.135"), Decimal("0.23")]
    assert inv.items[2].proration_rate == Decimal("0.5")


def test_paid_and_zero_value_invoices(base_url: str, bunny: BunnyClient) -> None:
    paid = _get(bunny, "1")  # the sample tenant's PAID invoice
    assert paid.state == "PAID" and paid.paid_at is not None
    assert (paid.amount_paid, paid.amount_due) == (paid.amount, Decimal("0"))
    trial = _get(bunny, _create(base_url, {"account": "ACME", "coupons": [{"code": "TRIAL", "percent": "100"}]}))
    assert (trial.amount, trial.amount_due, trial.state) == (Decimal("0"), Decimal("0"), "PAID")


def test_consolidated_invoices_name_each_other(base_url: str, bunny: BunnyClient) -> None:
    queued = [_create(base_url, {"account": "ACME", "queued": True}) for _ in range(2)]
    combined_id = str(_post(base_url, "invoices/consolidate", {"ids": queued})["id"])
    combined = _get(bunny, combined_id)
    assert combined.merged_invoice_ids == tuple(queued) and combined.is_postable
    for part in (_get(bunny, i) for i in queued):
        assert part.state == "CONSOLIDATED" and part.is_consolidation_component
        assert part.merged_to_invoice_id == combined_id and part.amount_due == 0
    refs = {r.id: r for r in bunny.iter_invoice_refs("1", updated_since=None)}
    assert refs[queued[0]].merged_to_invoice_id == combined_id and refs[combined_id].merged_to_invoice_id is None


def test_write_off_and_refund_credit_notes(base_url: str, bunny: BunnyClient) -> None:
    written = _create(base_url, REAL_WORLD)
    _post(base_url, f"invoices/{written}/write_off")
    refunded = _create(base_url, {"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "tax_rate": "23"}]})
    _post(base_url, f"invoices/{refunded}/pay")  # a refund is up to the paid amount (`refund_bound`)
    _post(base_url, f"invoices/{refunded}/refund")
    notes = {n.credited_invoice_id: n for n in bunny.iter_credit_notes("1")}
    write_off, refund = notes[written], notes[refunded]
    assert write_off.is_write_off and write_off.state == "APPLIED"
    assert (write_off.amount, write_off.amount_applied, write_off.amount_unapplied) == (
        _get(bunny, written).amount - 20, write_off.amount, Decimal("0")
    )  # fmt: skip
    assert [i.tax_code for i in write_off.items] == ["V01", "V02"]
    assert not refund.is_write_off and (refund.kind, refund.state, refund.amount) == (
        "REFUND",
        "READY",
        Decimal("60.27"),
    )
    item = refund.items[0]
    assert (item.quantity, item.price, item.amount, item.tax_amount) == (
        1,
        Decimal("49"),
        Decimal("49"),
        Decimal("11.27"),
    )
    assert item.id is not None and _get(bunny, written).state == "UNPAID"


def test_a_boolean_that_is_not_one_is_a_decoding_error() -> None:
    node = {"id": "1", "state": "DUE", "entity": {"id": "1"}, "accountId": "1", "currencyId": "EUR",
            "subtotal": 1, "taxAmount": 0, "amount": 1, "updatedAt": "2026-01-01T00:00:00Z",
            "invoiceItems": [{"id": "2", "subtotal": 1, "amount": 1, "isCredit": "yes"}]}  # fmt: skip
    with pytest.raises(DecodingError):
        invoice(node, str)
    node["invoiceItems"][0]["isCredit"] = None  # a server that does not send the flag: not a credit line
    assert not invoice(node, str).items[0].is_credit
