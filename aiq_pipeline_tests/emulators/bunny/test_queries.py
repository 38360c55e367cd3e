"""Queries over the sample tenant: shapes, money, union charges, pagination, filters, validation (E3-E5, E9)."""

from __future__ import annotations

import base64

import pytest

INVOICE = """
query($id: ID!) { invoice(id: $id) {
  id number state currencyId subtotal taxAmount amount issuedAt updatedAt entity { id }
  account { name code billingCity billingContact { fullName email } }
  invoiceItems { id quantity price subtotal discount amount taxAmount taxCode
    charge { __typename
      ... on SubscriptionCharge { priceListChargeId priceListCharge { code financialAccount { code } } }
      ... on QuoteCharge { priceListChargeId priceListCharge { code financialAccount { code } } } } } } }
"""


def _ids(live, filter_text, **extra):
    args = {"filter": filter_text, "first": 100, **extra}
    data = live.gql(
        "query($filter: String, $first: Int, $sort: String) { invoices(filter: $filter, first: $first, sort: $sort) "
        "{ totalCount nodes { id } } }",
        args,
    )
    assert "errors" not in data, data
    return [n["id"] for n in data["data"]["invoices"]["nodes"]]


def test_invoice_money_semantics_and_union_charges(sample):
    invoice = sample.gql(INVOICE, {"id": "9"})["data"]["invoice"]  # PRO-SERVICES 150 with 15 discount, 23 %
    item = invoice["invoiceItems"][0]
    assert (item["subtotal"], item["discount"], item["amount"], item["taxAmount"]) == (150.0, 15.0, 135.0, 31.05)
    assert (invoice["subtotal"], invoice["taxAmount"], invoice["amount"]) == (135.0, 31.05, 166.05)
    assert item["charge"]["__typename"] == "QuoteCharge"
    assert item["charge"]["priceListCharge"] == {"code": "PRO-SERVICES", "financialAccount": {"code": "4010"}}
    assert invoice["account"]["name"] == "Smith & <Sons>"
    assert invoice["entity"] == {"id": "1"} and invoice["state"] == "DUE"
    first = sample.gql(INVOICE, {"id": "1"})["data"]["invoice"]
    assert first["invoiceItems"][0]["charge"]["__typename"] == "SubscriptionCharge"
    assert first["amount"] == pytest.approx(sum(i["amount"] + i["taxAmount"] for i in first["invoiceItems"]))
    assert isinstance(first["amount"], float) and isinstance(first["id"], str) and first["id"].isdigit()
    assert first["updatedAt"].endswith("Z") and len(first["issuedAt"]) == 10


def test_sample_tenant_covers_the_documented_cases(sample):
    data = sample.gql(
        """{ invoices(first: 100) { totalCount nodes { id state currencyId issuedAt entity { id }
             invoiceItems { taxCode charge { ... on SubscriptionCharge { priceListCharge { code } } } } } }
           currencies { nodes { id isoCode } }
           financialAccounts(filter: "entityId = '1' and code is not blank") {
             nodes { code defaultAccount accountType } }
           priceListCharges { nodes { code financialAccount { code } } } }"""
    )["data"]
    invoices = data["invoices"]["nodes"]
    mine = [i for i in invoices if i["entity"]["id"] == "1"]
    assert len(mine) == 10 and len(invoices) == 12
    assert {"DRAFT", "NOT_DUE", "PAID", "VOIDED"} <= {i["state"] for i in mine}
    assert any(i["currencyId"] == "2" for i in mine)
    assert any(it["taxCode"] == "V99" for i in mine for it in i["invoiceItems"])
    assert any(i["issuedAt"] == "2026-05-15" for i in mine)
    assert any(
        (it["charge"].get("priceListCharge") or {}).get("code") == "LEGACY-ADDON"
        for i in mine
        for it in i["invoiceItems"]
    )
    assert data["currencies"]["nodes"] == [
        {"id": "1", "isoCode": "EUR"},
        {"id": "2", "isoCode": "GBP"},
        {"id": "3", "isoCode": "USD"},
    ]
    assert {(a["code"], a["defaultAccount"]) for a in data["financialAccounts"]["nodes"]} == {
        ("4000", True),
        ("4010", False),
        ("4900", False),
    }
    charges = {c["code"]: (c["financialAccount"] or {}).get("code") for c in data["priceListCharges"]["nodes"]}
    assert charges == {"SUB-MONTHLY": None, "PRO-SERVICES": "4010", "API-USAGE": None, "LEGACY-ADDON": "4900"}


def test_pagination_over_three_pages_with_opaque_cursors(live):
    live.handle.create_invoices({"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "quantity": 1}]}, count=40)
    query = (
        "query($after: String) { invoices(first: 20, after: $after) { totalCount edges { cursor node { id } } "
        "pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } }"
    )
    seen, after, pages = [], None, 0
    while True:
        page = live.gql(query, {"after": after})["data"]["invoices"]
        pages += 1
        assert page["totalCount"] == 52
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        base64.urlsafe_b64decode(page["edges"][0]["cursor"] + "==")  # opaque but base64
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == [str(i) for i in range(1, 53)]  # stable id order, nothing lost or repeated


def test_page_size_defaults_to_25_and_caps_at_100(live):
    live.handle.create_invoices({"account": "1"}, count=150)
    count = lambda q: len(live.gql(q)["data"]["invoices"]["nodes"])  # noqa: E731
    assert count("{ invoices { nodes { id } } }") == 25
    assert count("{ invoices(first: 500) { nodes { id } } }") == 100
    last = live.gql("{ invoices(last: 2) { nodes { id } pageInfo { hasPreviousPage } } }")["data"]["invoices"]
    assert [n["id"] for n in last["nodes"]] == ["161", "162"] and last["pageInfo"]["hasPreviousPage"]


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("state = 'PAID'", ["1", "7", "12"]),
        ("state = 'paid'", ["1", "7", "12"]),  # strings compare case-insensitively
        ("entityId = '2'", ["11", "12"]),
        ("entity_id != '1'", ["11", "12"]),
        ("state in ['DRAFT', 'VOIDED']", ["3", "4", "10"]),
        ("entityId = '1' and state not in ['DRAFT','VOIDED','PAID']", ["2", "5", "6", "8", "9"]),
        ("number contains '100'", ["1", "2", "4", "5", "6", "7", "8", "9"]),
        ("number is blank", ["3", "10"]),
        ("issuedAt is on '2026-05-15'", ["7"]),
        ("issued_at is before 2026-06-02", ["7"]),
        ("issuedAt is on or before '2026-06-02'", ["1", "7"]),
        ("issuedAt is after '2026-11-04' or (state = 'VOIDED' and accountId = '1')", ["4", "8"]),
        ("updatedAt is on or after '2026-11-05T10:00:00'", ["3", "8", "10"]),
        ("updatedAt is after '2026-11-05T10:00:00'", ["3", "10"]),
        ("updatedAt is on '2026-11-05'", ["8"]),
        ("(state = 'DUE' or state = 'DRAFT') and accountId = '2'", ["9", "10"]),
    ],
)
def test_filter_grammar(sample, filter_text, expected):
    assert _ids(sample, filter_text) == expected


def test_sort_desc_and_filter_on_other_collections(live):
    assert _ids(live, "entityId = '2'", sort="issued_at desc") == ["11", "12"]
    assert _ids(live, "entityId = '2'", sort="issuedAt asc") == ["12", "11"]
    fa = live.gql("""{ financialAccounts(filter: "account_type = 'earned_revenue' and entityId = '1'") {
        totalCount } accounts(filter: "code = 'smith-sons'") { nodes { name } } }""")["data"]
    assert fa["financialAccounts"]["totalCount"] == 4
    assert fa["accounts"]["nodes"] == [{"name": "Smith & <Sons>"}]


@pytest.mark.parametrize(
    "bad", ["state ==", "state = 'PAID' and", "(state = 'PAID'", "nosuchfield = 1", "updatedAt is after 'soon'"]
)
def test_malformed_filter_is_a_top_level_error_with_null_data(sample, bad):
    body = sample.gql("query($f: String) { creditNotes(filter: $f) { totalCount } }", {"f": bad})
    assert body["data"] == {"creditNotes": None}
    assert body["errors"][0]["message"] == "Malformed filter" and body["errors"][0]["path"] == ["creditNotes"]


@pytest.mark.parametrize(
    "query",
    [
        '{ invoice(id: "1") { id entityId } }',  # Invoice has only entity { id }
        '{ invoice(id: "1") { externalId } }',
        '{ invoice(id: "1") { invoiceItems(first: 1) { id } } }',
        '{ account(id: "1", filter: "x") { id } }',
        '{ invoice(id: "1", filter: "x") { id } }',
        "{ invoices(filter: \"state = 'PAID'\") { nodes { nosuch } } }",
        'mutation { invoiceIssue(id: "1") { errors } }',
        'mutation { financialAccountCreate(attributes: {name: "x", accountType: EARNED_REVENUE, entityId: 1}) '
        "{ errors } }",
    ],
)
def test_queries_the_real_server_rejects_fail_validation(sample, query):
    body = sample.gql(query)
    assert "data" not in body and body["errors"]


@pytest.mark.parametrize("wrong", ["EARNED_REVENUE", "Earned_Revenue"])
def test_enum_variable_in_wrong_case_is_rejected(live, wrong):
    query = (
        "mutation($t: FinancialAccountType) { financialAccountCreate(attributes: "
        '{accountType: $t, name: "X", entityId: "1"}) { errors financialAccount { id } } }'
    )
    body = live.gql(query, {"t": wrong})
    assert body.get("data") is None and wrong in body["errors"][0]["message"]
    assert live.gql(query, {"t": "earned_revenue"})["data"]["financialAccountCreate"]["financialAccount"]["id"]


def test_single_object_lookups_and_not_found(sample):
    data = sample.gql("""{ invoice(id: "999") { id } account(code: "NORDIC") { id entityId currency { isoCode } }
        financialAccount(code: "4000") { id accountType accountTypeLabel defaultAccount longName entityId }
        priceListCharge(code: "API-USAGE") { id price basePrice } entity(id: "2") { name baseCurrencyId }
        creditNote(id: "1") { kind state amount creditedInvoiceId
          creditNoteItems { invoiceItemId amount taxAmount } } }""")
    assert "errors" not in data
    d = data["data"]
    assert d["invoice"] is None
    assert d["account"] == {"id": "4", "entityId": "1", "currency": {"isoCode": "EUR"}}
    assert d["financialAccount"]["accountType"] == "earned_revenue" and d["financialAccount"]["defaultAccount"]
    assert d["priceListCharge"]["price"] == "0.05" and d["priceListCharge"]["basePrice"] == 0.05  # BigDecimal as string
    assert d["entity"] == {"name": "Demo US Inc", "baseCurrencyId": "3"}
    assert d["creditNote"]["kind"] == "REFUND" and d["creditNote"]["amount"] == 184.5


def test_unmodelled_non_null_field_is_a_clear_error_not_invented_data(sample):
    body = sample.gql('{ invoice(id: "1") { id transactionRecord { id } } }')
    assert body["data"] == {"invoice": None}
    assert "not supported by the Bunny emulator" in body["errors"][0]["message"]
    body = sample.gql("{ quotes { totalCount } }")
    assert "not supported by the Bunny emulator" in body["errors"][0]["message"]


def test_operation_name_selects_the_operation_and_bad_bodies_are_400(sample):
    document = "query A { currencies { totalCount } } query B { currentUser { scopes entityId user { id } } }"
    response = sample.http.post(
        f"{sample.url}/graphql",
        json={"query": document, "operationName": "B"},
        headers={"Authorization": f"Bearer {sample.token()}"},
    )
    data = response.json()["data"]
    assert list(data) == ["currentUser"] and data["currentUser"]["user"] == {"id": "1"}
    assert "standard:read" in data["currentUser"]["scopes"] and data["currentUser"]["entityId"] is None
    bad = sample.http.post(
        f"{sample.url}/graphql", content=b"not json", headers={"Authorization": f"Bearer {sample.token()}"}
    )
    assert bad.status_code == 400
    syntax = sample.gql("{ invoices { ")
    assert "data" not in syntax and "Syntax Error" in syntax["errors"][0]["message"]


REFS = (
    "query($after: String, $filter: String, $sort: String) { invoices(first: 20, after: $after, filter: $filter, "
    "sort: $sort) { nodes { id } pageInfo { hasNextPage endCursor } } }"
)


def _paged(live, *, leave_after_first_page: str | None = None, **args) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = live.gql(REFS, {"after": after, **args})["data"]["invoices"]
        seen += [n["id"] for n in page["nodes"]]
        if leave_after_first_page and after is None:
            live.handle.store.void_invoice(leave_after_first_page)  # leaves a `state != 'VOIDED'` filter
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("sort", [None, "id desc", "updated_at desc"])
def test_a_row_leaving_the_list_between_pages_moves_the_rest_up_only_with_position_cursors(live, sort):
    """Whether Bunny's cursors are positions (graphql-ruby's default) or stable keys is UNVERIFIED: the emulator's
    `cursors` option. With positions, a row of page 1 leaving the list makes page 2 start one row late, so one row
    is never served; with stable cursors nothing is skipped or repeated."""
    spec = {"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "quantity": 1}]}
    created = set(live.handle.create_invoices(spec, count=40, release=True))
    live_filter = "state != 'VOIDED'"
    everything = _paged(live, filter=live_filter, sort=sort)
    leaving = next(i for i in everything[:20] if i in created)
    skipped = everything[20]  # page 2's first row moves up to page 1's last place, already served

    shifted = _paged(live, filter=live_filter, sort=sort, leave_after_first_page=leaving)
    assert skipped not in shifted and sorted([*shifted, skipped]) == sorted(everything)

    live.handle.store.set_options({"cursors": "stable"})
    after_void = _paged(live, filter=live_filter, sort=sort)
    assert leaving not in after_void
    leaving = next(i for i in after_void[:20] if i in created)
    stable = _paged(live, filter=live_filter, sort=sort, leave_after_first_page=leaving)
    assert stable == after_void  # every row once, in order: the one leaving had already been served


def test_a_stable_cursor_from_another_reading_is_refused(live):
    live.handle.store.set_options({"cursors": "stable"})
    answer = live.gql(REFS, {"after": "MjA"})  # a position cursor ("20")
    assert answer["errors"][0]["message"].startswith("Invalid cursor")
