"""Token renewal, retry policy, write safety, error classes and secret hygiene."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

import httpx
import pytest

from aiq_pipeline.accountsiq import (
    AccountsIQClient,
    AiqAuthenticationError,
    AiqError,
    AiqNotFoundError,
    AiqThrottledError,
    AiqTransportError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
    BatchLine,
    BatchSalesInvoice,
)
from aiq_pipeline_tests.accountsiq import sample_records as rec
from aiq_pipeline_tests.accountsiq.scripted_aiq import (
    CLIENT_SECRET,
    ScriptedAiq,
    failure,
    fault,
    result,
    token_result,
)

OP = "GetChartOfAccounts"
CREATE = "CreateBatchSalesInvoiceGetBackTransactionID"
INVOICE = BatchSalesInvoice(
    customer_code="ACME",
    invoice_date=date(2025, 1, 31),
    external_reference="bunny-inv-1",
    description="Invoice",
    lines=(BatchLine("4000", "STD", "Pro", Decimal("100.00"), Decimal("0.23"), Decimal("23.00")),),
)


def ok_accounts() -> httpx.Response:
    return result(OP, result_xml=rec.gl_account("4000", "Sales"))


def ok_create() -> httpx.Response:
    return result(CREATE, result_xml="SI-1", out_params="<transactionID>501</transactionID>")


# --- token lifecycle -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expired",
    [
        failure(OP, "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED"),  # the code alone
        failure(OP, "UNKNOWN", has_expired=True),  # the flag alone
        failure(OP, "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID"),
    ],
    ids=["code", "has-expired-flag", "invalid-token"],
)
def test_read_refreshes_once_on_expiry(client: AccountsIQClient, aiq: ScriptedAiq, expired: httpx.Response) -> None:
    aiq.script(OP, expired, ok_accounts())
    assert [a.code for a in client.get_chart_of_accounts()] == ["4000"]
    assert aiq.ops() == ["TokenGet", OP, "TokenRefresh", OP]
    refresh = aiq.calls("TokenRefresh")[0]
    assert refresh.param("refreshToken") == "refresh-1" and refresh.header is None
    assert [c.access_token for c in aiq.calls(OP)] == ["access-1", "access-2"]


def test_rotated_refresh_token_is_used_next_time(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    expired = failure(OP, "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED")
    aiq.script(OP, expired, ok_accounts(), failure(OP, "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED"), ok_accounts())
    client.get_chart_of_accounts()
    client.get_chart_of_accounts()
    assert [c.param("refreshToken") for c in aiq.calls("TokenRefresh")] == ["refresh-1", "refresh-2"]
    assert [c.access_token for c in aiq.calls(OP)] == ["access-1", "access-2", "access-2", "access-3"]


def test_refresh_rejected_falls_back_to_token_get(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(OP, failure(OP, "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED"), ok_accounts())
    aiq.script(
        "TokenRefresh",
        token_result("TokenRefresh", None, None, status="Failure", code="OAUTH_INTEGRATION_APPS_REFRESH_TOKEN_EXPIRED"),
    )
    client.get_chart_of_accounts()
    assert aiq.ops() == ["TokenGet", OP, "TokenRefresh", "TokenGet", OP]
    assert aiq.calls(OP)[-1].access_token == "access-2"


def test_no_loop_when_fresh_token_is_rejected_too(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    expired = failure(OP, "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED")
    aiq.script(OP, expired, failure(OP, "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED"))
    with pytest.raises(AiqAuthenticationError) as raised:
        client.get_chart_of_accounts()
    assert "AIQ_CLIENT_ID" in str(raised.value)
    assert aiq.ops() == ["TokenGet", OP, "TokenRefresh", OP]


def test_success_with_has_expired_is_used_and_token_renewed_next_call(
    client: AccountsIQClient, aiq: ScriptedAiq
) -> None:
    aiq.script(OP, result(OP, has_expired=True, result_xml=rec.gl_account("4000", "Sales")), ok_accounts())
    assert len(client.get_chart_of_accounts()) == 1
    client.get_chart_of_accounts()
    assert aiq.ops() == ["TokenGet", OP, "TokenGet", OP]


def test_bad_credentials_name_the_settings(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(
        "TokenGet", token_result("TokenGet", None, None, status="Failure", code="OAUTH_INTEGRATION_APPS_APP_NOT_FOUND")
    )
    with pytest.raises(AiqAuthenticationError) as raised:
        client.get_chart_of_accounts()
    assert "AIQ_CLIENT_ID" in str(raised.value) and "AIQ_CLIENT_SECRET" in str(raised.value)
    assert aiq.ops() == ["TokenGet"]


def test_write_token_expiry_is_renewed_and_repeated_once(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(
        CREATE,
        failure(CREATE, "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED", out_params="<transactionID>-1</transactionID>"),
        ok_create(),
    )
    assert client.create_batch_sales_invoice_get_back_transaction_id(INVOICE).transaction_id == 501
    assert aiq.ops() == ["TokenGet", CREATE, "TokenRefresh", CREATE]


# --- retries and write safety ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="busy"),
        fault(),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
    ids=["http-503", "soap-fault", "read-timeout", "dropped-connection"],
)
def test_write_transport_failure_is_outcome_unknown_after_one_attempt(
    client: AccountsIQClient, aiq: ScriptedAiq, answer: httpx.Response | Exception
) -> None:
    aiq.script(CREATE, answer, ok_create())
    with pytest.raises(AiqWriteOutcomeUnknown) as raised:
        client.create_batch_sales_invoice_get_back_transaction_id(INVOICE)
    assert len(aiq.calls(CREATE)) == 1
    assert raised.value.operation == CREATE and "external reference" in raised.value.message


def test_write_success_without_transaction_id_is_outcome_unknown(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(CREATE, result(CREATE, result_xml="SI-1", out_params="<transactionID>0</transactionID>"))
    with pytest.raises(AiqWriteOutcomeUnknown):
        client.create_batch_sales_invoice_get_back_transaction_id(INVOICE)


def test_write_not_sent_is_retried_then_plain_transport_error(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(CREATE, httpx.ConnectError("refused"), ok_create())
    assert client.create_batch_sales_invoice_get_back_transaction_id(INVOICE).transaction_id == 501
    aiq.script(CREATE, *(httpx.ConnectError("refused") for _ in range(3)))
    with pytest.raises(AiqTransportError) as raised:
        client.create_batch_sales_invoice_get_back_transaction_id(INVOICE)
    assert not isinstance(raised.value, AiqWriteOutcomeUnknown)
    assert len(aiq.calls(CREATE)) == 2 + 3


def test_write_throttle_is_retried(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(
        CREATE,
        failure(CREATE, "OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS", out_params="<transactionID>-1</transactionID>"),
        ok_create(),
    )
    assert client.create_batch_sales_invoice_get_back_transaction_id(INVOICE).transaction_id == 501
    assert len(aiq.calls(CREATE)) == 2


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (lambda: httpx.Response(500, text="oops"), AiqTransportError),
        (fault, AiqTransportError),
        (lambda: httpx.ReadTimeout("slow"), AiqTransportError),
        (lambda: failure(OP, "OAUTH_INTEGRATION_APPS_RATE_LIMIT_REACHED"), AiqThrottledError),
        (lambda: failure(OP, "OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS"), AiqThrottledError),
    ],
    ids=["500", "fault", "timeout", "rate-limit", "too-many-calls"],
)
def test_reads_retry_a_bounded_number_of_times(
    client: AccountsIQClient, aiq: ScriptedAiq, answer, expected: type[AiqError]
) -> None:  # type: ignore[no-untyped-def]
    aiq.script(OP, *(answer() for _ in range(5)))
    with pytest.raises(expected):
        client.get_chart_of_accounts()
    assert len(aiq.calls(OP)) == 3  # max_attempts=3 in the fixture
    assert client.request_count == 1 + 3


def test_read_recovers_after_transient_failure_with_backoff(aiq: ScriptedAiq) -> None:
    sleeps: list[float] = []
    with AccountsIQClient(
        entity_id="ACME01", client_id="c", client_secret="s", base_url="http://127.0.0.1:9",
        backoff_base=0.5, backoff_max=1.0, max_attempts=4, transport=aiq.transport(),
    ) as client:  # fmt: skip
        client._sleep = sleeps.append
        aiq.script(OP, httpx.Response(502), httpx.Response(502), httpx.Response(502), ok_accounts())
        assert len(client.get_chart_of_accounts()) == 1
    assert len(sleeps) == 3 and sleeps == sorted(sleeps) and max(sleeps) <= 1.0 and sleeps[0] > 0


def test_http_4xx_is_not_retried(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(OP, httpx.Response(404, text="not here"))
    with pytest.raises(AiqTransportError, match="HTTP 404"):
        client.get_chart_of_accounts()
    assert len(aiq.calls(OP)) == 1


# --- error classes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected", "hint"),
    [
        ("API_LAYER_ENTITY_ID_NOT_FOUND", AiqAuthenticationError, "AIQ_ENTITY_ID"),
        ("OAUTH_INTEGRATION_APPS_NO_ENTITY_PROVIDED_IN_HEADER", AiqAuthenticationError, "AIQ_ENTITY_ID"),
        ("OAUTH_INTEGRATION_APPS_APPLICATION_IS_REVOKED", AiqAuthenticationError, "AIQ_CLIENT_SECRET"),
        ("OAUTH_INTEGRATION_APPS_TOKEN_DOES_NOT_HAVE_PERMISSION", AiqAuthenticationError, "scope"),
        ("TAX_CODE_DOES_NOT_EXIST", AiqValidationError, ""),
        ("DATE_IS_OUT_OF_RANGE", AiqValidationError, ""),
    ],
)
def test_error_class_per_code(
    client: AccountsIQClient, aiq: ScriptedAiq, code: str, expected: type[AiqError], hint: str
) -> None:
    aiq.script(OP, failure(OP, code))
    with pytest.raises(expected) as raised:
        client.get_chart_of_accounts()
    assert type(raised.value) is expected and raised.value.code == code and hint in str(raised.value)
    assert len(aiq.calls(OP)) == 1  # not retried, no token renewal


def test_not_found_only_for_lookups(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script("GetTransaction", failure("GetTransaction", "TRANSACTION_NOT_FOUND"))
    with pytest.raises(AiqNotFoundError):
        client.get_transaction(1)
    aiq.script(CREATE, failure(CREATE, "CUSTOMER_CODE_DOES_NOT_EXIST", out_params="<transactionID>-1</transactionID>"))
    with pytest.raises(AiqValidationError) as raised:
        client.create_batch_sales_invoice_get_back_transaction_id(INVOICE)
    assert type(raised.value) is AiqValidationError


def test_entity_expansion_response_is_refused_not_parsed(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<GetChartOfAccountsResponse xmlns="http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/">'
        "<GetChartOfAccountsResult><Status>Success</Status><ErrorCode>SUCCESS</ErrorCode><ErrorMessage>&lol2;"
        "</ErrorMessage><HasExpired>false</HasExpired></GetChartOfAccountsResult></GetChartOfAccountsResponse>"
        "</soap:Body></soap:Envelope>"
    )
    aiq.script(OP, *(httpx.Response(200, text=bomb) for _ in range(3)))
    with pytest.raises(AiqTransportError, match="unsafe") as raised:
        client.get_chart_of_accounts()
    assert "lollol" not in str(raised.value)


# --- secrets ---------------------------------------------------------------------------------------------


def test_no_secret_or_token_in_repr_errors_or_logs(
    client: AccountsIQClient, aiq: ScriptedAiq, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiq_pipeline")
    assert CLIENT_SECRET not in repr(client)
    aiq.script(OP, ok_accounts())
    client.get_chart_of_accounts()  # now holds access-1 / refresh-1
    # AIQ echoing the token/secret in its message must not leak it.
    aiq.script(OP, failure(OP, "NOT_AUTHORIZED", message=f"token access-1 refresh-1 secret {CLIENT_SECRET} denied"))
    with pytest.raises(AiqError) as raised:
        client.get_chart_of_accounts()
    aiq.script(OP, *(httpx.ReadTimeout(f"timeout {CLIENT_SECRET}") for _ in range(3)))
    with pytest.raises(AiqTransportError) as transport:
        client.get_chart_of_accounts()
    texts = [repr(client), str(raised.value), repr(raised.value), str(transport.value), caplog.text]
    for text in texts:
        for secret in (CLIENT_SECRET, "access-1", "refresh-1"):
            assert secret not in text
    assert "***" in str(raised.value)
