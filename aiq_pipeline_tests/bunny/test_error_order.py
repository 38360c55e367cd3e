"""Errors are checked in the documented order: HTTP status, top-level errors, payload errors, null resource."""

from __future__ import annotations

import httpx
import pytest

from aiq_pipeline.bunny import (
    BunnyConfigurationError,
    BunnyMutationError,
    BunnyQueryError,
    BunnyTransientError,
    FinancialAccountAttributes,
)
from aiq_pipeline_tests.bunny.fake_bunny import FakeBunny, currencies_handler

ATTRS = FinancialAccountAttributes(code="4000", name="Sales", account_type="earned_revenue", entity_id="1")


@pytest.fixture
def bunny() -> FakeBunny:
    fake = FakeBunny()
    fake.handlers["Currencies"] = currencies_handler
    return fake


def test_http_status_wins_over_a_body_with_errors(bunny: FakeBunny) -> None:
    body = {"data": None, "errors": [{"message": "Malformed filter"}]}
    bunny.graphql_script.extend([httpx.Response(500, json=body)] * 2)
    with bunny.client(max_attempts=2) as client, pytest.raises(BunnyTransientError):
        client.current_scopes()


def test_403_is_a_configuration_error(bunny: FakeBunny) -> None:
    bunny.graphql_script.append(httpx.Response(403))
    with bunny.client() as client, pytest.raises(BunnyConfigurationError, match="scopes"):
        client.current_scopes()
    assert len(bunny.graphql_calls) == 1


def test_top_level_errors_win_over_data(bunny: FakeBunny) -> None:
    bunny.handlers["CurrentUser"] = lambda _: httpx.Response(
        200,
        json={
            "data": {"currentUser": {"scopes": ["x"], "entityId": None}},
            "errors": [{"message": "Field 'bogus' doesn't exist on type 'Query'", "locations": [{"line": 1}]}],
        },
    )
    with bunny.client() as client, pytest.raises(BunnyQueryError) as caught:
        client.current_scopes()
    assert "bogus" in str(caught.value)
    assert caught.value.errors[0]["locations"] == [{"line": 1}]
    assert len(bunny.graphql_calls) == 1  # not retried


def test_mutation_top_level_error_with_path_is_a_refused_change(bunny: FakeBunny) -> None:
    bunny.handlers["FinancialAccountCreate"] = lambda _: httpx.Response(
        200,
        json={
            "data": {"financialAccountCreate": None},
            "errors": [{"message": "Code has already been taken", "path": ["financialAccountCreate"]}],
        },
    )
    with bunny.client() as client, pytest.raises(BunnyMutationError) as caught:
        client.create_financial_account(ATTRS)
    assert caught.value.errors == ["Code has already been taken"]
    assert len(bunny.graphql_calls) == 1


def test_mutation_schema_error_without_path_is_a_query_error(bunny: FakeBunny) -> None:
    bunny.handlers["FinancialAccountCreate"] = lambda _: httpx.Response(
        200, json={"errors": [{"message": "Variable $attributes of type FinancialAccountAttributes! was invalid"}]}
    )
    with bunny.client() as client, pytest.raises(BunnyQueryError) as caught:
        client.create_financial_account(ATTRS)
    assert not isinstance(caught.value, BunnyMutationError)


def test_payload_errors_are_a_refused_change(bunny: FakeBunny) -> None:
    denied = "Missing required permission: write, can't access mutation FinancialAccountCreate"
    bunny.handlers["FinancialAccountCreate"] = lambda _: {
        "financialAccountCreate": {"errors": [denied], "financialAccount": None}
    }
    with bunny.client() as client, pytest.raises(BunnyMutationError) as caught:
        client.create_financial_account(ATTRS)
    assert caught.value.errors == [denied]


def test_null_resource_without_errors_is_a_refused_change(bunny: FakeBunny) -> None:
    bunny.handlers["FinancialAccountUpdate"] = lambda _: {
        "financialAccountUpdate": {"errors": [], "financialAccount": None}
    }
    with bunny.client() as client, pytest.raises(BunnyMutationError, match="no financial account"):
        client.update_financial_account("9", ATTRS)


def test_mutation_sends_only_the_attributes_that_are_set(bunny: FakeBunny) -> None:
    account = {"id": "9", "code": "4000", "entityId": "1", "active": None, "defaultAccount": None}
    bunny.handlers["FinancialAccountUpdate"] = lambda _: {
        "financialAccountUpdate": {"errors": None, "financialAccount": account}
    }
    with bunny.client() as client:
        updated = client.update_financial_account(
            "9", FinancialAccountAttributes(name="Sales", active=False, extra={"defaultAccount": True})
        )
    assert bunny.calls("FinancialAccountUpdate")[0].variables == {
        "id": "9",
        "attributes": {"name": "Sales", "active": False, "defaultAccount": True},
    }
    assert updated.active is True and updated.default_account is False


def test_missing_invoice_is_none(bunny: FakeBunny) -> None:
    bunny.handlers["Invoice"] = lambda _: {"invoice": None}
    with bunny.client() as client:
        assert client.get_invoice("404") is None
    assert bunny.calls("Invoice")[0].variables == {"id": "404"}


def test_null_connection_is_an_error(bunny: FakeBunny) -> None:
    bunny.handlers["CreditNotes"] = lambda _: {"creditNotes": None}
    with bunny.client() as client, pytest.raises(BunnyQueryError, match="creditNotes answered null"):
        list(client.iter_credit_notes("1"))


def test_non_json_200_is_a_query_error(bunny: FakeBunny) -> None:
    bunny.handlers["CurrentUser"] = lambda _: httpx.Response(200, text="<html>maintenance</html>")
    with bunny.client() as client, pytest.raises(BunnyQueryError, match="not JSON"):
        client.current_scopes()
