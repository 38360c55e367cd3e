"""The emulator's money follows the money table (aiq_pipeline/bunny/MONEY.md), and each UNVERIFIED reading is an
option set at start or at run time, over real HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from aiq_emulators.bunny.app import OPTIONS_ENV, options_from_env, start_emulator
from aiq_emulators.bunny.shapes import SHAPES, shape

from .conftest import Live

MONEY = """query($id: ID!) { invoice(id: $id) {
  id number state subtotal taxAmount taxRate amount credits amountDue amountPaid couponApplied baseCurrencyTotal
  mergedToInvoice { id } mergedInvoices { id }
  invoiceItems { id position subtotal discount amount taxAmount taxRate taxCode vatCode isCredit isCoupon couponId
    kind prorationRate creditedItem { id } } } }"""

# Two lines at two VAT rates (one discounted), a proration credit crediting the first line, a 10 % coupon and
# 20.00 of account credit applied: every shape of issue 11 on one invoice.
REAL_WORLD: dict[str, Any] = {
    "account": "ACME",
    "credits": "20.00",
    "items": [
        {"charge": "SUB-MONTHLY", "quantity": 2, "price": "100.00", "discount": "20.00", "tax_rate": "23",
         "tax_code": "V01", "kind": "SUBSCRIBE"},
        {"charge": "PRO-SERVICES", "quantity": 1, "price": "150.00", "tax_rate": "13.5", "tax_code": "V02",
         "charge_kind": "quote"},
        {"charge": "SUB-MONTHLY", "quantity": 1, "price": "-50.00", "tax_rate": "23", "tax_code": "V01",
         "is_credit": True, "kind": "UPDATE", "proration_rate": "0.5", "credits_line": 1,
         "line_text": "Unused time on Basic"},
    ],
    "coupons": [{"code": "WINTER", "percent": "10"}],
}  # fmt: skip


def create(live: Live, spec: dict[str, Any], *, release: bool = True, count: int = 1) -> list[str]:
    response = live.http.post(f"{live.url}/_emulator/invoices", json={**spec, "release": release, "count": count})
    assert response.status_code == 201, response.text
    return response.json()["ids"]


def money(live: Live, invoice_id: str) -> dict[str, Any]:
    body = live.gql(MONEY, {"id": invoice_id})
    assert "errors" not in body, body
    return body["data"]["invoice"]


def set_options(live: Live, **options: Any) -> dict[str, Any]:
    response = live.http.post(f"{live.url}/_emulator/options", json=options)
    assert response.status_code == 200, response.text
    return response.json()


def d(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def test_default_readings_of_a_real_world_invoice(live: Live) -> None:
    invoice = money(live, create(live, REAL_WORLD)[0])
    first, services, credit, coupon = invoice["invoiceItems"]
    assert (d(first["subtotal"]), d(first["discount"]), d(first["amount"]), d(first["taxAmount"])) == (
        Decimal("200"), Decimal("20"), Decimal("180"), Decimal("41.4")
    )  # fmt: skip
    assert (first["taxRate"], services["taxRate"], services["taxAmount"]) == (23.0, 13.5, 20.25)
    assert credit["isCredit"] and not credit["isCoupon"] and credit["creditedItem"] == {"id": first["id"]}
    assert (credit["amount"], credit["taxAmount"], credit["kind"], credit["prorationRate"]) == (
        -50.0,
        -11.5,
        "UPDATE",
        50.0,
    )
    assert coupon["isCoupon"] and coupon["couponId"] == "WINTER" and coupon["kind"] == "COUPON"
    assert (coupon["amount"], coupon["taxAmount"]) == (-33.0, -7.59)  # 10 % of the 330.00 purchase, at 23 %
    # Invoice: subtotal = line amounts, amount = nets + taxes (not less the credit), credit only cuts amountDue.
    assert (d(invoice["subtotal"]), d(invoice["taxAmount"]), d(invoice["amount"])) == (
        Decimal("247"), Decimal("42.56"), Decimal("289.56")
    )  # fmt: skip
    assert (invoice["credits"], invoice["amountPaid"], invoice["amountDue"]) == (20.0, 0.0, 269.56)
    assert invoice["couponApplied"] and invoice["taxRate"] is None  # two rates: no single invoice rate
    assert invoice["state"] == "NOT_DUE" and invoice["baseCurrencyTotal"] == 289.56


@pytest.mark.parametrize(
    ("options", "expect"),
    [
        ({"subtotal_semantics": "before_discount"}, {"subtotal": 267.0, "amount": 289.56}),
        ({"amount_includes_credits": True}, {"amount": 269.56, "credits": 20.0, "amountDue": 269.56}),
        ({"credit_lines": "in_credits"}, {"subtotal": 297.0, "credits": 70.0, "amount": 289.56}),
        (
            {"credit_lines": "in_credits", "amount_includes_credits": True},
            {"subtotal": 297.0, "credits": 70.0, "amount": 269.56, "amountDue": 269.56},
        ),
        ({"tax_rate_units": "fraction"}, {"taxAmount": 42.56}),
    ],
)
def test_invoice_readings_switch_at_run_time(live: Live, options: dict[str, Any], expect: dict[str, Any]) -> None:
    invoice_id = create(live, REAL_WORLD)[0]
    assert set_options(live, **options).items() >= options.items()
    invoice = money(live, invoice_id)
    assert {key: invoice[key] for key in expect} == expect
    lines = invoice["invoiceItems"]
    assert sum(d(i["amount"]) for i in lines) + sum(d(i["taxAmount"]) for i in lines) == Decimal("289.56")


def test_line_readings_switch_at_run_time(live: Live) -> None:
    invoice_id = create(live, REAL_WORLD)[0]
    set_options(
        live, item_amount_semantics="before_discount", tax_rate_units="fraction", proration_rate_units="fraction"
    )
    first, services, credit, _coupon = money(live, invoice_id)["invoiceItems"]
    assert (first["subtotal"], first["discount"], first["amount"]) == (200.0, 20.0, 200.0)
    assert (first["taxRate"], services["taxRate"], credit["prorationRate"]) == (0.23, 0.135, 0.5)
    assert first["taxAmount"] == 41.4  # the tax is still on the discounted net


def test_coupon_folded_into_the_discounts(live: Live) -> None:
    invoice_id = create(live, REAL_WORLD)[0]
    set_options(live, coupon_shape="discount")
    invoice = money(live, invoice_id)
    lines = invoice["invoiceItems"]
    assert not any(i["isCoupon"] for i in lines) and invoice["couponApplied"]
    first, services, _credit = lines
    # 33.00 spread over the positive nets 180 and 150: 18.00 and 15.00, each taxed at its own rate.
    assert (first["discount"], first["amount"], first["taxAmount"]) == (38.0, 162.0, 37.26)
    assert (services["discount"], services["amount"], services["taxAmount"]) == (15.0, 135.0, 18.23)
    assert invoice["amount"] == pytest.approx(162 + 135 - 50 + 37.26 + 18.23 - 11.5)


def test_fixed_coupon_above_the_purchase_leaves_zero_and_the_invoice_is_paid(live: Live) -> None:
    spec = {"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "price": "49.00", "tax_rate": "23"}],
            "coupons": [{"code": "FREE", "amount": "500.00"}]}  # fmt: skip
    trial = money(live, create(live, spec)[0])
    assert (trial["amount"], trial["amountDue"], trial["state"]) == (0.0, 0.0, "PAID")
    assert trial["invoiceItems"][1]["amount"] == -49.0  # the rest of the coupon is discarded
    set_options(live, zero_invoice_state="normal")
    zero = money(live, create(live, {"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "price": "0"}]})[0])
    assert (zero["amount"], zero["state"]) == (0.0, "NOT_DUE")


def test_tax_rounded_once_per_document(live: Live) -> None:
    line = {"charge": "API-USAGE", "quantity": 2, "price": "0.05", "tax_rate": "23"}  # 0.10 net, 0.023 tax
    invoice_id = create(live, {"account": "ACME", "items": [line, line, line]})[0]
    per_line = money(live, invoice_id)
    assert (per_line["taxAmount"], per_line["amount"]) == (0.06, 0.36)
    set_options(live, tax_rounding="per_document")
    per_document = money(live, invoice_id)
    assert (per_document["taxAmount"], per_document["amount"]) == (0.07, 0.37)
    assert sum(i["taxAmount"] for i in per_document["invoiceItems"]) == pytest.approx(0.06)


def test_tax_code_from_the_charge_as_a_tax_engine_writes_it(live: Live) -> None:
    updated = live.gql(
        'mutation { priceListChargeUpdate(id: "1", attributes: {taxCode: "SW054000"}) { errors } }'
    )  # SUB-MONTHLY
    assert updated["data"]["priceListChargeUpdate"]["errors"] is None
    invoice_id = create(live, REAL_WORLD)[0]
    assert money(live, invoice_id)["invoiceItems"][0]["taxCode"] == "V01"
    set_options(live, tax_code_source="charge")
    codes = [i["taxCode"] for i in money(live, invoice_id)["invoiceItems"]]
    assert codes == ["SW054000", None, "SW054000", "SW054000"]  # PRO-SERVICES has no tax code


def test_country_format(live: Live) -> None:
    query = (
        '{ account(code: "ACME") { billingCountry taxNumber billingContact { email } } '
        'entity(id: "1") { billingCountry } }'
    )
    assert live.gql(query)["data"]["account"] == {
        "billingCountry": "IE", "taxNumber": "IE9876543W", "billingContact": {"email": "ap@acme.example"}
    }  # fmt: skip
    set_options(live, country_format="name")
    data = live.gql(query)["data"]
    assert (data["account"]["billingCountry"], data["entity"]["billingCountry"]) == ("Ireland", "Ireland")


@pytest.mark.parametrize(
    ("reading", "component_state", "combined_state"),
    [("components_consolidated", "CONSOLIDATED", "NOT_DUE"), ("combined_consolidated", "MERGED", "CONSOLIDATED")],
)
def test_consolidated_billing(live: Live, reading: str, component_state: str, combined_state: str) -> None:
    queued = create(live, {"account": "ACME", "queued": True, "credits": "5.00"}, count=2)
    assert {money(live, i)["state"] for i in queued} == {"QUEUED"}
    response = live.http.post(f"{live.url}/_emulator/invoices/consolidate", json={"ids": queued})
    assert response.status_code == 201, response.text
    combined_id = response.json()["id"]
    set_options(live, consolidation=reading)
    combined = money(live, combined_id)
    assert combined["state"] == combined_state and combined["number"]
    assert combined["mergedInvoices"] == [{"id": i} for i in queued]
    # Both lines (49.00 each, taxed at the default 23 %: 60.27), the credits summed.
    assert (combined["amount"], combined["credits"]) == (120.54, 10.0)
    for part in (money(live, i) for i in queued):
        assert part["state"] == component_state and part["mergedToInvoice"] == {"id": combined_id}
        assert part["amountDue"] == 0.0
    states = live.gql(
        "query($f: String) { invoices(filter: $f) { nodes { id } } }", {"f": f"state = '{combined_state}'"}
    )
    assert {"id": combined_id} in states["data"]["invoices"]["nodes"]
    again = live.http.post(f"{live.url}/_emulator/invoices/consolidate", json={"ids": queued})
    assert again.status_code == 409


def test_write_off_is_the_unpaid_amount_per_line(live: Live) -> None:
    invoice_id = create(live, REAL_WORLD)[0]
    response = live.http.post(f"{live.url}/_emulator/invoices/{invoice_id}/write_off")
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "269.56"  # 289.56 less the 20.00 credit applied
    note = live.gql(
        """query($id: ID!) { creditNote(id: $id) { kind state amount subtotal taxAmount amountApplied amountUnapplied
           creditedInvoiceId creditNoteItems { invoiceItemId amount taxAmount taxCode } } }""",
        {"id": response.json()["credit_note_id"]},
    )["data"]["creditNote"]
    assert (note["kind"], note["state"], note["amount"], note["amountApplied"], note["amountUnapplied"]) == (
        "WRITE_OFF", "APPLIED", 269.56, 269.56, 0.0
    )  # fmt: skip
    assert [i["taxCode"] for i in note["creditNoteItems"]] == ["V01", "V02"]  # positive lines only
    assert sum(d(i["amount"]) + d(i["taxAmount"]) for i in note["creditNoteItems"]) == Decimal("269.56")
    invoice = money(live, invoice_id)
    assert (invoice["state"], invoice["amountDue"]) == ("UNPAID", 0.0)
    again = live.http.post(f"{live.url}/_emulator/invoices/{invoice_id}/write_off")
    assert again.status_code == 409


def test_write_off_mutation_answers_the_invoice_as_the_sdl_types_it(live: Live) -> None:
    invoice_id = create(live, {"account": "ACME"})[0]
    live.http.post(f"{live.url}/_emulator/invoices/{invoice_id}/credits", json={"amount": "10.00"}).raise_for_status()
    body = live.gql(
        "mutation($id: ID!) { invoiceWriteOff(invoiceId: $id) { errors creditNote { id state amountDue credits } } }",
        {"id": invoice_id},
    )
    assert body["data"]["invoiceWriteOff"] == {
        "errors": None,
        "creditNote": {"id": invoice_id, "state": "UNPAID", "amountDue": 0.0, "credits": 10.0},
    }
    refused = live.gql('mutation { invoiceWriteOff(invoiceId: "1") { errors } }')  # invoice 1 is PAID
    assert refused["data"] == {"invoiceWriteOff": None} and "written off" in refused["errors"][0]["message"]


def test_credit_applied_later_settles_the_invoice(live: Live) -> None:
    spec = {"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "tax_rate": "23"}]}
    invoice_id = create(live, spec)[0]  # 49.00 + 11.27
    url = f"{live.url}/_emulator/invoices/{invoice_id}/credits"
    assert live.http.post(url, json={"amount": "100"}).status_code == 409
    assert live.http.post(url, json={"amount": "10.27"}).status_code == 200
    assert money(live, invoice_id)["amountDue"] == 50.0
    assert live.http.post(url, json={"amount": "50"}).status_code == 200
    invoice = money(live, invoice_id)
    assert (invoice["state"], invoice["amount"], invoice["credits"]) == ("PAID", 60.27, 60.27)
    assert invoice["amountDue"] == 0.0


@pytest.mark.parametrize(
    "bad",
    [
        {"items": [{"charge": "SUB-MONTHLY", "kind": "coupon"}]},  # enum spelled as the SDL does: COUPON
        {"items": [{"charge": "SUB-MONTHLY", "is_credit": True, "price": "5"}]},  # credit lines are negative
        {"items": [{"charge": "SUB-MONTHLY", "credits_line": 1}]},  # a credit names an earlier line
        {"items": [{"charge": "SUB-MONTHLY", "colour": "red"}]},
        {"coupons": [{"code": "X", "percent": "10", "amount": "5"}]},
        {"credits": "1000"},
    ],
)
def test_control_route_refuses_shapes_bunny_would_not_hold(live: Live, bad: dict[str, Any]) -> None:
    response = live.http.post(f"{live.url}/_emulator/invoices", json={"account": "ACME", **bad})
    assert response.status_code == 400, response.text


def test_options_are_validated_persisted_and_survive_reset(tmp_path: Any) -> None:
    state = tmp_path / "state"
    with start_emulator(state_dir=state, options={"tax_rate_units": "fraction"}) as (url, _handle):
        assert httpx.get(f"{url}/_emulator/options").json()["tax_rate_units"] == "fraction"
        assert httpx.post(f"{url}/_emulator/options", json={"tax_rate_units": "per-mille"}).status_code == 400
        assert httpx.post(f"{url}/_emulator/options", json={"no_such_reading": 1}).status_code == 400
        httpx.post(f"{url}/_emulator/options", json={"country_format": "name"}).raise_for_status()
    with start_emulator(state_dir=state) as (url, _handle):  # resumed: the run-time change was persisted
        assert httpx.get(f"{url}/_emulator/options").json()["country_format"] == "name"
        httpx.post(f"{url}/_emulator/reset").raise_for_status()  # back to the seed: no start options this time
        assert httpx.get(f"{url}/_emulator/options").json()["country_format"] == "alpha2"
    with start_emulator(options={"tax_rate_units": "fraction"}) as (url, _handle):
        httpx.post(f"{url}/_emulator/options", json={"tax_rate_units": "percent"}).raise_for_status()
        httpx.post(f"{url}/_emulator/reset").raise_for_status()  # the start options are part of the seed
        assert httpx.get(f"{url}/_emulator/options").json()["tax_rate_units"] == "fraction"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_real_world_shape_is_created_and_adds_up(live: Live, name: str) -> None:
    invoice = money(live, create(live, shape(name), release=not SHAPES[name].get("queued"))[0])
    lines = invoice["invoiceItems"]
    nets = sum(d(i["amount"]) for i in lines)
    taxes = sum(d(i["taxAmount"]) for i in lines)
    assert (d(invoice["subtotal"]), d(invoice["taxAmount"]), d(invoice["amount"])) == (nets, taxes, nets + taxes)
    assert d(invoice["amountDue"]) == max(Decimal(0), nets + taxes - d(invoice["credits"]))
    assert invoice["state"] == (
        "QUEUED" if name == "queued_for_consolidation" else "PAID" if invoice["amountDue"] == 0 else "NOT_DUE"
    )
    if name == "several_tax_rates":
        assert [i["taxRate"] for i in lines] == [23.0, 13.5, 0.0, 0.0, 0.0]
        assert [i["vatCode"] for i in lines][3:] == ["RC", "EXPORT"]
    if name == "proration_downgrade":
        assert nets + taxes < 0


def test_options_from_the_environment_for_the_command_line() -> None:
    assert options_from_env({}) is None
    given = options_from_env({OPTIONS_ENV: '{"tax_rate_units": "fraction", "consolidation": "combined_consolidated"}'})
    assert given is not None and (given.tax_rate_units, given.consolidation) == ("fraction", "combined_consolidated")
    with pytest.raises(ValueError, match=OPTIONS_ENV):
        options_from_env({OPTIONS_ENV: '{"tax_rate_units": "basis points"}'})


@pytest.mark.parametrize("field", ["credits", "number"])
def test_filter_fields_bunny_may_not_know_are_refused_under_their_reading(live: Live, field: str) -> None:
    (credited,) = create(live, REAL_WORLD)  # 20.00 of account credit applied
    text = "credits > 0" if field == "credits" else f"number = '{money(live, credited)['number']}'"
    query = "query($f: String) { invoices(filter: $f, first: 100) { nodes { id } } }"
    assert credited in [n["id"] for n in live.gql(query, {"f": text})["data"]["invoices"]["nodes"]]
    set_options(live, **{f"{field}_filter": "refused"})
    refused = live.gql(query, {"f": text})
    assert not (refused.get("data") or {}).get("invoices") and refused["errors"][0]["message"] == "Malformed filter"
    assert live.gql(query, {"f": "entityId = '1'"})["data"]["invoices"]["nodes"]  # other fields still filter
