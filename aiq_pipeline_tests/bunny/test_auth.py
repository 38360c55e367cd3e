"""OAuth client credentials: caching, expiry, refresh-once on 401, and token errors that say what to fix."""

from __future__ import annotations

import httpx
import pytest

from aiq_pipeline.bunny import DEFAULT_SCOPES, BunnyClient, BunnyConfigurationError, TokenCache
from aiq_pipeline_tests.bunny.fake_bunny import BASE_URL, CLIENT_ID, SECRET, FakeBunny


def _scopes_handler(_: dict) -> dict:
    return {"currentUser": {"scopes": ["standard:read", "billing:read"], "entityId": None}}


@pytest.fixture
def bunny() -> FakeBunny:
    fake = FakeBunny(expires_in=3600)
    fake.handlers["CurrentUser"] = _scopes_handler
    return fake


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_request_is_form_encoded_client_credentials(bunny: FakeBunny) -> None:
    with bunny.client() as client:
        assert client.current_scopes() == frozenset({"standard:read", "billing:read"})
    assert bunny.token_forms == [
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET, "scope": DEFAULT_SCOPES}
    ]
    assert bunny.graphql_calls[0].token == "tok-1"


def test_token_is_cached_across_requests(bunny: FakeBunny) -> None:
    with bunny.client() as client:
        for _ in range(5):
            client.current_scopes()
        assert client.request_count == 6  # 1 token + 5 GraphQL
    assert len(bunny.token_forms) == 1
    assert {c.token for c in bunny.graphql_calls} == {"tok-1"}


def test_token_is_renewed_shortly_before_expiry(bunny: FakeBunny) -> None:
    clock = FakeClock()
    with bunny.client(clock=clock) as client:
        client.current_scopes()
        clock.now += 3600 - 61  # still more than the 60 s margin left
        client.current_scopes()
        assert len(bunny.token_forms) == 1
        clock.now += 2  # inside the margin: renew before Bunny would reject it
        client.current_scopes()
    assert len(bunny.token_forms) == 2
    assert [c.token for c in bunny.graphql_calls] == ["tok-1", "tok-1", "tok-2"]


def test_401_fetches_a_new_token_and_retries_once(bunny: FakeBunny) -> None:
    with bunny.client() as client:
        client.current_scopes()
        bunny.valid_tokens.clear()  # Bunny revoked/expired tok-1 early
        assert client.current_scopes() == frozenset({"standard:read", "billing:read"})
    assert [c.token for c in bunny.graphql_calls] == ["tok-1", "tok-1", "tok-2"]
    assert len(bunny.token_forms) == 2


def test_second_401_is_a_configuration_error_without_a_loop(bunny: FakeBunny) -> None:
    bunny.graphql_script.extend([httpx.Response(401), httpx.Response(401), httpx.Response(401)])
    with bunny.client() as client, pytest.raises(BunnyConfigurationError) as caught:
        client.current_scopes()
    assert len(bunny.graphql_calls) == 2
    assert len(bunny.token_forms) == 2
    assert "BUNNY_CLIENT_ID" in str(caught.value)


def test_401_on_a_mutation_is_also_refreshed_once(bunny: FakeBunny) -> None:
    from aiq_pipeline.bunny import FinancialAccountAttributes

    account = {
        "id": "9", "code": "4000", "name": "Sales", "description": None, "accountType": "earned_revenue",
        "active": True, "defaultAccount": False, "entityId": "1", "externalId": None, "source": "accountsiq",
        "priceListChargeIds": [],
    }  # fmt: skip
    bunny.handlers["FinancialAccountCreate"] = lambda _: {
        "financialAccountCreate": {"errors": None, "financialAccount": account}
    }
    bunny.graphql_script.append(httpx.Response(401))
    with bunny.client() as client:
        created = client.create_financial_account(FinancialAccountAttributes(code="4000", name="Sales"))
    assert created.code == "4000"
    assert len(bunny.calls("FinancialAccountCreate")) == 2


@pytest.mark.parametrize(
    ("status", "error", "must_mention"),
    [
        (401, "invalid_client", "BUNNY_CLIENT_SECRET"),
        (400, "invalid_scope", "billing:write"),
        (400, "unauthorized_client", "client credentials"),
        (400, "unsupported_grant_type", "BUNNY_BASE_URL"),
    ],
)
def test_token_errors_say_what_to_fix(bunny: FakeBunny, status: int, error: str, must_mention: str) -> None:
    description = f"The request failed; client_secret={SECRET} was wrong"  # a server that echoes the secret
    bunny.token_script.append(httpx.Response(status, json={"error": error, "error_description": description}))
    with bunny.client() as client, pytest.raises(BunnyConfigurationError) as caught:
        client.current_scopes()
    message = str(caught.value)
    assert error in message and must_mention in message
    assert SECRET not in message and SECRET not in repr(caught.value)
    assert len(bunny.token_forms) == 1  # configuration errors are not retried
    assert bunny.graphql_calls == []


def test_unknown_token_error_redacts_the_secret_from_the_description(bunny: FakeBunny) -> None:
    bunny.token_script.append(
        httpx.Response(400, json={"error": "invalid_request", "error_description": f"bad secret {SECRET}"})
    )
    with bunny.client() as client, pytest.raises(BunnyConfigurationError) as caught:
        client.current_scopes()
    assert "invalid_request" in str(caught.value) and "***" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_token_endpoint_outage_is_retried(bunny: FakeBunny) -> None:
    bunny.token_script.extend([httpx.Response(503), httpx.ConnectError("refused")])
    with bunny.client() as client:
        assert client.current_scopes()
    assert len(bunny.token_forms) == 3


# -- tokens shared by the clients of one process (a code server's ticks, a command's steps) ----------------------


def test_clients_sharing_a_token_cache_ask_for_one_token_until_it_nears_expiry(bunny: FakeBunny) -> None:
    clock, shared = FakeClock(), TokenCache()
    for _ in range(3):  # three sensor ticks, each opening its own client
        with bunny.client(clock=clock, token_cache=shared) as client:
            client.current_scopes()
            assert "tok-1" not in client._redact("a message quoting tok-1")  # a shared token is redacted too
    assert len(bunny.token_forms) == 1
    clock.now += 3600 - 59  # inside the renewal margin
    with bunny.client(clock=clock, token_cache=shared) as client:
        client.current_scopes()
    assert len(bunny.token_forms) == 2
    assert [c.token for c in bunny.graphql_calls] == ["tok-1"] * 3 + ["tok-2"]


def test_a_shared_token_is_kept_apart_by_secret_and_scopes_and_forgotten_when_bunny_rejects_it(
    bunny: FakeBunny,
) -> None:
    shared = TokenCache()
    with bunny.client(token_cache=shared) as client:
        client.current_scopes()
    with bunny.client(token_cache=shared, scopes="standard:read") as client:
        client.current_scopes()
    other_secret = BunnyClient(
        base_url=BASE_URL, client_id=CLIENT_ID, client_secret="another", transport=bunny.transport(), token_cache=shared
    )
    with other_secret:
        other_secret.current_scopes()
    assert len(bunny.token_forms) == 3  # never another client's token
    bunny.valid_tokens.clear()  # Bunny revoked them early: a 401
    with bunny.client(token_cache=shared) as client:
        client.current_scopes()
    with bunny.client(token_cache=shared) as client:
        client.current_scopes()  # the renewed token, not the rejected one
    assert len(bunny.token_forms) == 4
    assert bunny.graphql_calls[-1].token == bunny.graphql_calls[-2].token == "tok-4"


def test_without_a_shared_cache_each_client_asks_for_its_own_token(bunny: FakeBunny) -> None:
    for _ in range(2):
        with bunny.client() as client:
            client.current_scopes()
    assert len(bunny.token_forms) == 2
