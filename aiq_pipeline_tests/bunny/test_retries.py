"""429/5xx/timeouts back off and retry a bounded number of times; mutations only when provably not applied."""

from __future__ import annotations

import httpx
import pytest

from aiq_pipeline.bunny import (
    BunnyOutcomeUnknownError,
    BunnyTransientError,
    FinancialAccountAttributes,
)
from aiq_pipeline.bunny.retry_policy import MAX_WAIT_SECONDS, parse_retry_after
from aiq_pipeline_tests.bunny.fake_bunny import FakeBunny

SCOPES = {"currentUser": {"scopes": ["billing:read"], "entityId": None}}
ACCOUNT = {
    "id": "9", "code": "4000", "name": "Sales", "description": None, "accountType": "earned_revenue",
    "active": True, "defaultAccount": False, "entityId": "1", "externalId": None, "source": None,
    "priceListChargeIds": None,
}  # fmt: skip


@pytest.fixture
def bunny() -> FakeBunny:
    fake = FakeBunny()
    fake.handlers["CurrentUser"] = lambda _: SCOPES
    fake.handlers["FinancialAccountCreate"] = lambda _: {
        "financialAccountCreate": {"errors": None, "financialAccount": ACCOUNT}
    }
    return fake


def test_429_honours_retry_after(bunny: FakeBunny) -> None:
    sleeps: list[float] = []
    bunny.graphql_script.append(httpx.Response(429, headers={"Retry-After": "7"}))
    with bunny.client(sleep=sleeps.append, backoff_base=0.5) as client:
        assert client.current_scopes() == {"billing:read"}
    assert sleeps == [7.0]
    assert len(bunny.calls("CurrentUser")) == 2


def test_retry_after_is_capped(bunny: FakeBunny) -> None:
    sleeps: list[float] = []
    bunny.graphql_script.append(httpx.Response(429, headers={"Retry-After": "86400"}))
    with bunny.client(sleep=sleeps.append) as client:
        client.current_scopes()
    assert sleeps == [MAX_WAIT_SECONDS]


def test_without_retry_after_backoff_grows_exponentially(bunny: FakeBunny) -> None:
    sleeps: list[float] = []
    bunny.graphql_script.extend([httpx.Response(502), httpx.Response(500), httpx.Response(504)])
    with bunny.client(sleep=sleeps.append, backoff_base=1.0, max_attempts=4) as client:
        client.current_scopes()
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):
        assert 2**attempt <= slept <= 2**attempt + 1.0  # base * 2^n plus at most one base of jitter


def test_5xx_retries_are_bounded(bunny: FakeBunny) -> None:
    bunny.graphql_script.extend([httpx.Response(500)] * 10)
    with bunny.client(max_attempts=3) as client, pytest.raises(BunnyTransientError) as caught:
        client.current_scopes()
    assert len(bunny.calls("CurrentUser")) == 3
    assert "500" in str(caught.value)


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("dropped")]
)
def test_query_retries_timeouts_and_connection_errors(bunny: FakeBunny, failure: Exception) -> None:
    bunny.graphql_script.append(failure)
    with bunny.client() as client:
        assert client.current_scopes() == {"billing:read"}
    assert len(bunny.calls("CurrentUser")) == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(500), httpx.Response(502), httpx.Response(504), httpx.ReadTimeout("slow")],
    ids=["500", "502", "504", "read-timeout"],
)
def test_mutation_is_not_retried_when_it_may_have_applied(bunny: FakeBunny, failure: object) -> None:
    bunny.graphql_script.append(failure)  # type: ignore[arg-type]
    with bunny.client() as client, pytest.raises(BunnyOutcomeUnknownError) as caught:
        client.create_financial_account(FinancialAccountAttributes(code="4000", name="Sales", entity_id="1"))
    assert len(bunny.calls("FinancialAccountCreate")) == 1
    assert "look it up" in str(caught.value)


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(503), httpx.ConnectError("refused")],
    ids=["429", "503", "connect-error"],
)
def test_mutation_is_retried_when_provably_not_applied(bunny: FakeBunny, failure: object) -> None:
    bunny.graphql_script.append(failure)  # type: ignore[arg-type]
    with bunny.client() as client:
        account = client.create_financial_account(FinancialAccountAttributes(code="4000", name="Sales"))
    assert account.id == "9"
    assert len(bunny.calls("FinancialAccountCreate")) == 2


def test_mutation_not_applied_retries_are_bounded_too(bunny: FakeBunny) -> None:
    bunny.graphql_script.extend([httpx.Response(503)] * 10)
    with bunny.client(max_attempts=2) as client, pytest.raises(BunnyTransientError) as caught:
        client.create_financial_account(FinancialAccountAttributes(code="4000", name="Sales"))
    assert not isinstance(caught.value, BunnyOutcomeUnknownError)
    assert caught.value.not_applied
    assert len(bunny.calls("FinancialAccountCreate")) == 2


def test_parse_retry_after_reads_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Mon, 01 Jun 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Mon, 01 Jun 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
