"""Client credentials, entity grants and the token lifecycle (TokenGet, TokenRefresh, expiry)."""

from __future__ import annotations

import pytest

from aiq_pipeline_tests.emulators.accountsiq.conftest import CLIENT_ID, CLIENT_SECRET, Clock, Soap, aiq_header


def _token_get(soap: Soap, client_id: str, secret: str):
    return soap.call("TokenGet", f"<clientId>{client_id}</clientId><clientSecret>{secret}</clientSecret>")


def test_token_get_issues_access_and_refresh_tokens(soap: Soap) -> None:
    answer = _token_get(soap, CLIENT_ID, CLIENT_SECRET)
    assert (answer.status, answer.error_code) == ("Success", "SUCCESS")
    assert answer.text("AccessToken") and answer.text("RefreshToken")
    assert answer.text("AccessToken") != answer.text("RefreshToken")


@pytest.mark.parametrize(
    ("client_id", "secret", "code"),
    [
        (CLIENT_ID, "wrong-secret", "OAUTH_INTEGRATION_APPS_APP_NOT_FOUND"),
        ("unknown-client", CLIENT_SECRET, "OAUTH_INTEGRATION_APPS_APP_NOT_FOUND"),
        ("", CLIENT_SECRET, "OAUTH_INTEGRATION_APPS_CLIENTID_IS_NULL_OR_EMPTY"),
        (CLIENT_ID, "", "OAUTH_INTEGRATION_APPS_CLIENTSECRET_IS_NULL_OR_EMPTY"),
    ],
)
def test_token_get_rejects_bad_credentials_without_result(soap: Soap, client_id: str, secret: str, code: str) -> None:
    answer = _token_get(soap, client_id, secret)
    assert (answer.status, answer.error_code) == ("Failure", code)
    assert answer.text("Result") is None and answer.text("AccessToken") is None
    assert answer.text("HasExpired") is None  # WSResult3 has no HasExpired


def test_header_bound_operation_works_with_token(soap: Soap) -> None:
    answer = soap.call("GetCompanyInformation")
    assert (answer.status, answer.text("CompanyName"), answer.text("BaseCurrencyCode")) == (
        "Success",
        "Demo Trading Ltd",
        "EUR",
    )


def test_unknown_token_is_invalid(soap: Soap) -> None:
    answer = soap.call("GetChartOfAccounts", header=aiq_header("not-a-token"))
    assert (answer.status, answer.error_code, answer.text("HasExpired")) == (
        "Failure",
        "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID",
        "true",
    )
    assert answer.text("Result") is None


def test_missing_header_is_invalid_token(soap: Soap) -> None:
    response = soap.raw(
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<GetChartOfAccounts xmlns="http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/"/>'
        "</soap:Body></soap:Envelope>",
        None,
    )
    assert response.status_code == 200
    assert b"OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID" in response.content


def test_expired_token_reports_has_expired(soap: Soap, clock: Clock) -> None:
    token = soap.login()
    clock.advance(20 * 60 + 1)  # default TTL is 20 minutes
    answer = soap.call("GetChartOfAccounts", header=aiq_header(token))
    assert (answer.status, answer.error_code, answer.text("HasExpired")) == (
        "Failure",
        "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED",
        "true",
    )


def test_token_ttl_is_configurable_at_run_time(soap: Soap, clock: Clock) -> None:
    assert soap.http.post("/_emulator/options", json={"token_ttl_seconds": 5}).json()["token_ttl_seconds"] == 5
    token = soap.login()
    clock.advance(4)
    assert soap.call("GetChartOfAccounts", header=aiq_header(token)).status == "Success"
    clock.advance(2)
    assert (
        soap.call("GetChartOfAccounts", header=aiq_header(token)).error_code == "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED"
    )


def test_forced_expiry_route_expires_live_tokens(soap: Soap) -> None:
    token = soap.login()
    assert soap.http.post("/_emulator/tokens/expire").json()["expired"] >= 1
    assert soap.call("GetTaxCodeList", header=aiq_header(token)).error_code == "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED"


def test_refresh_rotates_both_tokens_and_old_refresh_token_dies(soap: Soap, clock: Clock) -> None:
    old_access = soap.login()
    old_refresh = soap.refresh_token
    clock.advance(21 * 60)
    body = f"<clientId>{CLIENT_ID}</clientId><clientSecret>{CLIENT_SECRET}</clientSecret>"
    answer = soap.call("TokenRefresh", f"{body}<refreshToken>{old_refresh}</refreshToken>")
    assert answer.status == "Success"
    new_access, new_refresh = answer.text("AccessToken"), answer.text("RefreshToken")
    assert new_access not in (old_access, None) and new_refresh not in (old_refresh, None)
    assert soap.call("GetTaxCodeList", header=aiq_header(new_access)).status == "Success"
    again = soap.call("TokenRefresh", f"{body}<refreshToken>{old_refresh}</refreshToken>")
    assert (again.status, again.error_code) == ("Failure", "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID")


def test_refresh_needs_the_right_client_secret(soap: Soap) -> None:
    soap.login()
    body = (
        f"<clientId>{CLIENT_ID}</clientId><clientSecret>nope</clientSecret>"
        f"<refreshToken>{soap.refresh_token}</refreshToken>"
    )
    assert soap.call("TokenRefresh", body).error_code == "OAUTH_INTEGRATION_APPS_APP_NOT_FOUND"


def test_missing_entity_in_header(soap: Soap) -> None:
    answer = soap.call("GetChartOfAccounts", entity=None)
    assert (answer.status, answer.error_code) == ("Failure", "OAUTH_INTEGRATION_APPS_NO_ENTITY_PROVIDED_IN_HEADER")


@pytest.mark.parametrize("entity", ["DEMO02", "NOPE99"])
def test_entity_not_granted_is_not_found(soap: Soap, entity: str) -> None:
    answer = soap.call("GetChartOfAccounts", entity=entity)
    assert (answer.status, answer.error_code) == ("Failure", "API_LAYER_ENTITY_ID_NOT_FOUND")


def test_entities_by_token_lists_only_granted_entities(soap: Soap) -> None:
    answer = soap.call("GetEntitiesByToken")
    assert answer.texts("EntityID") == ["DEMO01"]
    assert answer.texts("BaseCurrency") == ["EUR"]


def test_secrets_are_not_stored_in_clear(emulator) -> None:
    _, handle = emulator
    dumped = handle.state.data.model_dump_json()
    assert CLIENT_SECRET not in dumped
