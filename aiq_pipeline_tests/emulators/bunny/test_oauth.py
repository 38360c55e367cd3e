"""OAuth2 client credentials at /oauth/token and bearer checks on /graphql (api-notes E1)."""

from __future__ import annotations

import datetime as dt

import pytest

from aiq_emulators.bunny.models import ApiClient
from aiq_emulators.bunny.sample_tenant import SAMPLE_CLIENT_ID, SAMPLE_CLIENT_SECRET

GOOD = {"grant_type": "client_credentials", "client_id": SAMPLE_CLIENT_ID, "client_secret": SAMPLE_CLIENT_SECRET}
PROBE = "{ currentUser { scopes } }"


def test_token_form_encoded_and_multipart(live):
    form = live.http.post(f"{live.url}/oauth/token", data={**GOOD, "scope": "billing:read standard:read"})
    multipart = live.http.post(f"{live.url}/oauth/token", files={k: (None, v) for k, v in GOOD.items()})
    for response in (form, multipart):
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
        assert isinstance(body["created_at"], int) and body["access_token"]
    assert form.json()["scope"] == "billing:read standard:read"
    token = multipart.json()["access_token"]
    assert "billing:write" in live.gql(PROBE, token=token)["data"]["currentUser"]["scopes"]


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"scope": "billing:read admin:write"}, 400, "invalid_scope"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_token_errors(live, change, status, error):
    response = live.http.post(f"{live.url}/oauth/token", data={**GOOD, **change})
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and body["error_description"]
    assert SAMPLE_CLIENT_SECRET not in response.text


def test_unauthorized_client_when_grant_disabled(live):
    live.handle.store.tenant.api_clients.append(
        ApiClient(client_id="no-cc", client_secret="s", scopes=["billing:read"], client_credentials_enabled=False)
    )
    data = {"grant_type": "client_credentials", "client_id": "no-cc", "client_secret": "s"}
    response = live.http.post(f"{live.url}/oauth/token", data=data)
    assert (response.status_code, response.json()["error"]) == (400, "unauthorized_client")


def test_bearer_scheme_case_insensitive_and_missing_or_unknown_token_is_401(live):
    token = live.token()
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = live.http.post(
            f"{live.url}/graphql", json={"query": PROBE}, headers={"Authorization": f"{scheme} {token}"}
        )
        assert response.status_code == 200 and "errors" not in response.json()
    assert live.http.post(f"{live.url}/graphql", json={"query": PROBE}).status_code == 401
    unknown = live.http.post(f"{live.url}/graphql", json={"query": PROBE}, headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401


def test_token_expires_after_client_lifetime(live):
    client = live.handle.store.tenant.api_clients[0]
    client.access_token_expires_in = 60
    token = live.token()
    assert live.post(PROBE, token=token).status_code == 200
    live.handle.store.set_clock(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61))
    assert live.post(PROBE, token=token).status_code == 401
    assert live.post(PROBE, token=live.token()).status_code == 200  # a fresh token works again


def test_state_file_never_holds_a_usable_token(live, tmp_path):
    token = live.token()
    assert token not in (tmp_path / "state" / "bunny-state.json").read_text()
