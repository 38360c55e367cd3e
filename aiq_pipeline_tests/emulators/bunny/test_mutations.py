"""Mutations: invoice lifecycle, financial accounts, charge mapping, scopes (E2, E6)."""

from __future__ import annotations

import datetime as dt

import pytest

RELEASE = (
    "mutation($id: ID!) { invoiceRelease(id: $id) { errors invoice { id state number issuedAt dueAt updatedAt } } }"
)
VOID = "mutation($id: ID!) { invoiceVoid(id: $id) { errors invoice { id state updatedAt } } }"
FA_CREATE = """mutation($a: FinancialAccountAttributes!) { financialAccountCreate(attributes: $a) {
  errors financialAccount { id code name accountType defaultAccount entityId externalId source active
    priceListChargeIds } } }"""
FA_UPDATE = """mutation($id: ID!, $a: FinancialAccountAttributes!) { financialAccountUpdate(id: $id, attributes: $a) {
  errors financialAccount { id code name defaultAccount active priceListChargeIds updatedAt } } }"""
DEFAULTS = (
    "{ financialAccounts(first: 100, filter: \"entityId = '1' and accountType = 'earned_revenue' and "
    'defaultAccount is true") { nodes { id code } } }'
)


def test_release_assigns_number_issue_date_and_bumps_updated_at(live):
    live.handle.store.set_clock(dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC))
    before = live.gql('{ invoice(id: "3") { updatedAt number state } }')["data"]["invoice"]
    assert before["state"] == "DRAFT" and before["number"] is None
    released = live.gql(RELEASE, {"id": "3"})["data"]["invoiceRelease"]
    assert released["errors"] is None
    invoice = released["invoice"]
    assert invoice["state"] == "NOT_DUE" and invoice["number"] == "INV-1009"
    assert invoice["issuedAt"] == "2026-11-25" and invoice["dueAt"] == "2026-12-25"
    assert invoice["updatedAt"] == "2026-11-25T12:00:00Z" > before["updatedAt"]
    second = live.gql(RELEASE, {"id": "10"})["data"]["invoiceRelease"]["invoice"]
    assert second["number"] == "INV-1010"  # the entity's sequence moves on
    again = live.gql(RELEASE, {"id": "3"})
    assert again["data"] == {"invoiceRelease": None} and again["errors"][0]["path"] == ["invoiceRelease"]


def test_release_with_past_due_date_goes_to_due(live):
    [invoice_id] = live.handle.create_invoices({"account": "ACME", "net_payment_days": 0})
    assert live.gql(RELEASE, {"id": invoice_id})["data"]["invoiceRelease"]["invoice"]["state"] == "DUE"


@pytest.mark.parametrize(
    ("invoice_id", "voidable"), [("2", True), ("9", True), ("1", False), ("3", False), ("4", False)]
)
def test_void_only_from_unpaid_states(live, invoice_id, voidable):
    body = live.gql(VOID, {"id": invoice_id})
    if voidable:
        assert body["data"]["invoiceVoid"]["invoice"]["state"] == "VOIDED"
    else:
        assert body["data"] == {"invoiceVoid": None}
        assert body["errors"][0]["path"] == ["invoiceVoid"] and "cannot be voided" in body["errors"][0]["message"]


def test_financial_account_create_duplicate_code_is_top_level_error(live):
    attributes = {
        "entityId": "1",
        "code": "8000",
        "name": "Sundry",
        "accountType": "earned_revenue",
        "externalId": "8000",
        "source": "accountsiq",
    }
    created = live.gql(FA_CREATE, {"a": attributes})["data"]["financialAccountCreate"]
    assert created["errors"] is None and created["financialAccount"]["code"] == "8000"
    assert created["financialAccount"]["active"] is True
    duplicate = live.gql(FA_CREATE, {"a": {**attributes, "name": "Other"}})
    assert duplicate["data"] == {"financialAccountCreate": None}
    assert duplicate["errors"][0]["path"] == ["financialAccountCreate"]
    assert duplicate["errors"][0]["message"] == "Code has already been taken"
    # the same code in another entity is fine: uniqueness is per entity
    other = live.gql(FA_CREATE, {"a": {**attributes, "entityId": "2"}})["data"]["financialAccountCreate"]
    assert other["financialAccount"]["entityId"] == "2"
    missing = live.gql(FA_CREATE, {"a": {"entityId": "1", "code": "9"}})
    assert missing["data"] == {"financialAccountCreate": None} and "can't be blank" in missing["errors"][0]["message"]


def test_default_account_is_exclusive_per_type_and_entity(live):
    assert [n["code"] for n in live.gql(DEFAULTS)["data"]["financialAccounts"]["nodes"]] == ["4000"]
    new = live.gql(
        FA_CREATE,
        {
            "a": {
                "entityId": "1",
                "code": "4020",
                "name": "Usage",
                "accountType": "earned_revenue",
                "defaultAccount": True,
            }
        },
    )["data"]["financialAccountCreate"]["financialAccount"]
    assert [n["code"] for n in live.gql(DEFAULTS)["data"]["financialAccounts"]["nodes"]] == ["4020"]
    entity2 = live.gql("""{ financialAccounts(filter: "entityId = '2' and accountType = 'earned_revenue'")
        { nodes { defaultAccount } } }""")["data"]["financialAccounts"]["nodes"]
    assert entity2 == [{"defaultAccount": True}]  # other entity untouched
    four_thousand = live.gql('{ financialAccount(code: "4000") { id } }')["data"]["financialAccount"]["id"]
    live.gql(FA_UPDATE, {"id": four_thousand, "a": {"defaultAccount": True}})
    assert [n["code"] for n in live.gql(DEFAULTS)["data"]["financialAccounts"]["nodes"]] == ["4000"]
    assert new["defaultAccount"] is True


def test_update_maps_charges_and_delete_unmaps(live):
    fa = live.gql('{ financialAccount(code: "4010") { id } }')["data"]["financialAccount"]["id"]
    updated = live.gql(FA_UPDATE, {"id": fa, "a": {"priceListChargeIds": ["2", "3"], "active": False}})
    account = updated["data"]["financialAccountUpdate"]["financialAccount"]
    assert account["priceListChargeIds"] == ["2", "3"] and account["active"] is False
    charge = live.gql('{ priceListCharge(id: "3") { financialAccountId } }')["data"]["priceListCharge"]
    assert charge == {"financialAccountId": fa}
    deleted = live.gql(
        "mutation($id: ID!) { financialAccountDelete(id: $id) { errors financialAccount { id } } }", {"id": fa}
    )["data"]["financialAccountDelete"]
    assert deleted == {"errors": None, "financialAccount": {"id": fa}}
    assert live.gql('{ priceListCharge(id: "3") { financialAccountId } }')["data"]["priceListCharge"] == {
        "financialAccountId": None
    }
    recreated = live.gql(
        FA_CREATE, {"a": {"entityId": "1", "code": "4010", "name": "Again", "accountType": "payments"}}
    )
    new_id = recreated["data"]["financialAccountCreate"]["financialAccount"]["id"]
    assert new_id != fa  # ids are never reused
    lookup = "query($id: ID) { financialAccount(id: $id) { code name } }"
    assert live.gql(lookup, {"id": new_id})["data"]["financialAccount"] == {"code": "4010", "name": "Again"}
    assert live.gql(lookup, {"id": fa})["data"]["financialAccount"] is None
    unknown = live.gql(FA_UPDATE, {"id": "999", "a": {"name": "x"}})
    assert unknown["data"] == {"financialAccountUpdate": None} and unknown["errors"][0]["path"] == [
        "financialAccountUpdate"
    ]


def test_price_list_charge_update_repoints_account(live):
    fa = live.gql('{ financialAccount(code: "4000") { id } }')["data"]["financialAccount"]["id"]
    body = live.gql(
        """mutation($id: ID!, $a: PriceListChargeAttributes!) { priceListChargeUpdate(id: $id, attributes: $a)
        { errors priceListCharge { code financialAccount { code } taxCode } } }""",
        {"id": "4", "a": {"financialAccountId": fa, "taxCode": "V02"}},
    )
    assert body["data"]["priceListChargeUpdate"] == {
        "errors": None,
        "priceListCharge": {"code": "LEGACY-ADDON", "financialAccount": {"code": "4000"}, "taxCode": "V02"},
    }


REFUND = "mutation($id: ID!) { invoiceRefund(invoiceId: $id) { errors creditNote { id amount } } }"


def test_invoice_refund_creates_credit_note_per_line(live):
    assert live.http.post(f"{live.url}/_emulator/invoices/9/pay").status_code == 200  # a refund returns money paid
    body = live.gql("""mutation { invoiceRefund(invoiceId: "9") { errors creditNote { kind state creditedInvoiceId
        amount subtotal taxAmount entityId creditNoteItems { invoiceItemId amount taxAmount } } } }""")
    note = body["data"]["invoiceRefund"]["creditNote"]
    assert note["kind"] == "REFUND" and note["creditedInvoiceId"] == "9" and note["entityId"] == "1"
    assert (note["subtotal"], note["taxAmount"], note["amount"]) == (135.0, 31.05, 166.05)
    assert note["creditNoteItems"] == [{"invoiceItemId": "11", "amount": 135.0, "taxAmount": 31.05}]
    notes = live.gql("{ creditNotes(filter: \"creditedInvoiceId = '9'\") { totalCount } }")["data"]["creditNotes"]
    assert notes["totalCount"] == 1


def _refund_notes(live, invoice_id):
    query = "query($f: String) { creditNotes(filter: $f) { nodes { kind amount } } }"
    return live.gql(query, {"f": f"creditedInvoiceId = '{invoice_id}'"})["data"]["creditNotes"]["nodes"]


def test_a_refund_beyond_what_was_paid_is_refused_with_a_clear_error(live):
    """Bunny's docs: a refund is "up to the paid amount" (UNVERIFIED that Bunny enforces it: `refund_bound`)."""
    body = live.gql(REFUND, {"id": "9"})  # DUE, nothing paid
    assert body["data"] == {"invoiceRefund": None}
    (error,) = body["errors"]
    assert error["path"] == ["invoiceRefund"]
    assert error["message"] == (
        "Invoice 9 cannot be refunded 166.05: a refund is up to the paid amount, and its amountPaid 0.00 less 0.00 "
        "already refunded leaves 0.00"
    )
    refused = live.http.post(f"{live.url}/_emulator/invoices/9/refund", json={"amounts": {"11": "10.00"}})
    assert refused.status_code == 409 and "up to the paid amount" in refused.json()["error"]
    assert _refund_notes(live, "9") == []
    invoice = live.gql('{ invoice(id: "9") { state amountPaid amountDue } }')["data"]["invoice"]
    assert invoice == {"state": "DUE", "amountPaid": 0.0, "amountDue": 166.05}


def test_refunds_are_bounded_by_what_was_paid_less_earlier_refunds(live):
    taken = live.http.post(f"{live.url}/_emulator/payments", json={"account": "2", "invoices": ["9"], "amount": "100"})
    assert taken.status_code == 201, taken.text
    assert live.gql(REFUND, {"id": "9"})["errors"][0]["message"].endswith("leaves 100.00")  # 166.05 asked
    url = f"{live.url}/_emulator/invoices/9/refund"
    first = live.http.post(url, json={"amounts": {"11": "50.00"}})  # 50.00 + 11.50 tax
    assert first.status_code == 201, first.text
    over = live.http.post(url, json={"amounts": {"11": "40.00"}})  # 49.20 of the 38.50 left
    assert over.status_code == 409
    assert over.json()["error"].endswith("amountPaid 100.00 less 61.50 already refunded leaves 38.50")
    assert live.http.post(url, json={"amounts": {"11": "30.00"}}).status_code == 201  # 36.90
    # The payment's own refund route meets the invoice's bound too: 1.60 of its 100.00 is left on the invoice.
    by_payment = live.http.post(f"{live.url}/_emulator/payments/{taken.json()['id']}/refund", json={"amount": "5"})
    assert by_payment.status_code == 409 and "leaves 1.60" in by_payment.json()["error"]
    assert [n["amount"] for n in _refund_notes(live, "9")] == [61.5, 36.9]


def test_under_refund_bound_none_an_unpaid_invoice_is_refunded_and_stays_due(live):
    assert live.http.post(f"{live.url}/_emulator/options", json={"refund_bound": "none"}).status_code == 200
    refunded = live.gql(REFUND, {"id": "9"})["data"]["invoiceRefund"]
    assert refunded["errors"] is None and refunded["creditNote"]["amount"] == 166.05
    invoice = live.gql('{ invoice(id: "9") { state amountPaid amountDue } }')["data"]["invoice"]
    assert invoice == {"state": "DUE", "amountPaid": 0.0, "amountDue": 166.05}
    assert live.http.post(f"{live.url}/_emulator/options", json={"refund_bound": "sometimes"}).status_code == 400


def test_mutation_without_scope_answers_payload_errors_and_null_resource(live):
    token = live.token("standard:read billing:read")
    body = live.gql(
        FA_CREATE, {"a": {"entityId": "1", "code": "7", "name": "x", "accountType": "payments"}}, token=token
    )
    payload = body["data"]["financialAccountCreate"]
    assert payload["financialAccount"] is None
    assert payload["errors"][0].startswith("Missing required permission")
    assert "errors" not in body
    assert live.gql('{ financialAccount(code: "7") { id } }')["data"]["financialAccount"] is None  # nothing created
    released = live.gql(RELEASE, {"id": "3"}, token=token)["data"]["invoiceRelease"]
    assert released["invoice"] is None and released["errors"]


def test_query_without_scope_is_null_plus_top_level_error(live):
    token = live.token("standard:read")
    body = live.gql('{ entity(id: "1") { name } invoice(id: "1") { id } }', token=token)
    assert body["data"] == {"entity": {"name": "Demo Trading Ltd"}, "invoice": None}
    assert body["errors"][0]["path"] == ["invoice"] and "billing:read" in body["errors"][0]["message"]
    charges = live.gql('{ priceListCharge(id: "1") { id } }', token=live.token("billing:read"))
    assert charges["data"] == {"priceListCharge": None} and "product:read" in charges["errors"][0]["message"]
