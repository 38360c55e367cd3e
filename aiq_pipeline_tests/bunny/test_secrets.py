"""The client secret and access tokens never show up in a repr, an exception or a log line."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from aiq_pipeline.bunny import BunnyError, FinancialAccountAttributes
from aiq_pipeline_tests.bunny.fake_bunny import SECRET, FakeBunny


def test_repr_shows_no_secret() -> None:
    bunny = FakeBunny()
    with bunny.client() as client:
        bunny.handlers["CurrentUser"] = lambda _: {"currentUser": {"scopes": [], "entityId": None}}
        client.current_scopes()
        text = repr(client) + str(client) + repr(client._tokens)
    assert SECRET not in text and "tok-1" not in text
    assert "test-client" in repr(client)


def _errors_with_secrets(bunny: FakeBunny) -> list[BaseException]:
    echo = f"token tok-1 and secret {SECRET} rejected"
    bunny.handlers["CurrentUser"] = lambda _: httpx.Response(200, json={"errors": [{"message": echo}]})
    bunny.handlers["FinancialAccountCreate"] = lambda _: httpx.Response(
        200, json={"data": None, "errors": [{"message": echo, "path": ["financialAccountCreate"]}]}
    )
    caught: list[BaseException] = []
    with bunny.client(max_attempts=2) as client:
        for call in (
            client.current_scopes,
            lambda: client.create_financial_account(FinancialAccountAttributes(name="x")),
        ):
            with pytest.raises(BunnyError) as info:
                call()
            caught.append(info.value)
        bunny.graphql_script.extend([httpx.Response(500), httpx.ReadTimeout("slow"), httpx.Response(401)] * 2)
        for call in (client.current_scopes, client.current_scopes):
            with pytest.raises(BunnyError) as info:
                call()
            caught.append(info.value)
    return caught


def test_exceptions_and_tracebacks_carry_no_secret_or_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bunny = FakeBunny()
    errors = _errors_with_secrets(bunny)
    assert len(errors) == 4
    for error in errors:
        rendered = "".join(traceback.format_exception(error)) + repr(error) + repr(getattr(error, "errors", ""))
        assert SECRET not in rendered
        assert "tok-1" not in str(error) and "tok-2" not in str(error)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying" in logged  # the retries were logged...
    assert SECRET not in logged and "tok-1" not in logged  # ...without secrets
