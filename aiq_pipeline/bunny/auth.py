"""OAuth2 client-credentials tokens for Bunny (`POST {base_url}/oauth/token`), cached until shortly before expiry.

One fetch per call, no retry loop of its own: the GraphQL call that needs the token owns the (bounded)
retry, and a failed token request is marked `not_applied` so even a mutation may be retried after it.
Token errors that mean "your settings are wrong" become `BunnyConfigurationError` naming the setting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from aiq_pipeline.bunny.errors import BunnyConfigurationError, BunnyTransientError
from aiq_pipeline.bunny.retry_policy import parse_retry_after

log = logging.getLogger(__name__)

# Renew this long before `expires_in` runs out (or at half-life for very short tokens), so a token is
# never sent in its last seconds and expires in flight.
EXPIRY_MARGIN_SECONDS = 60.0

_WHAT_TO_FIX = {
    "invalid_client": (
        "Bunny rejected the API client credentials (invalid_client): check BUNNY_CLIENT_ID and "
        "BUNNY_CLIENT_SECRET, and that the API client still exists in Bunny (Settings > API clients)"
    ),
    "invalid_scope": (
        "Bunny refused the requested scopes {scopes!r} (invalid_scope): grant them to the API client in Bunny "
        "(Settings > API clients > scopes) or request fewer scopes"
    ),
    "unauthorized_client": (
        "the API client may not use the client-credentials grant (unauthorized_client): enable client "
        "credentials for it in Bunny (Settings > API clients)"
    ),
    "unsupported_grant_type": (
        "the token endpoint does not accept grant_type=client_credentials (unsupported_grant_type): check that "
        "BUNNY_BASE_URL is the tenant URL (https://<subdomain>.bunny.com)"
    ),
}


@dataclass
class _CachedToken:
    value: str = field(repr=False)
    renew_at: float  # on the provider's clock


TokenKey = tuple[str, str, str, str]  # token URL, client id, scopes, sha256 of the secret


class TokenCache:
    """Tokens shared by the clients of one process (a code server's sensor ticks, one command's steps): one per
    tenant, API client, secret and scopes, kept until shortly before it expires. Its clients share one clock."""

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, _CachedToken] = {}
        self._lock = threading.Lock()

    def get(self, key: TokenKey, now: float) -> _CachedToken | None:
        with self._lock:
            token = self._tokens.get(key)
            return token if token is not None and now < token.renew_at else None

    def put(self, key: TokenKey, token: _CachedToken) -> None:
        with self._lock:
            self._tokens[key] = token

    def forget(self, key: TokenKey, rejected: str) -> None:
        with self._lock:
            if (token := self._tokens.get(key)) is not None and token.value == rejected:
                del self._tokens[key]


class TokenProvider:
    def __init__(
        self,
        http: httpx.Client,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: str,
        clock: Callable[[], float],
        redact: Callable[[str], str],
        shared: TokenCache | None = None,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = scopes
        self._clock = clock
        self._redact = redact
        self._cached: _CachedToken | None = None
        self._lock = threading.Lock()
        self._recent: deque[str] = deque(maxlen=4)
        self._shared = shared
        secret_digest = hashlib.sha256(client_secret.encode()).hexdigest()
        self._key: TokenKey = (token_url, client_id, scopes, secret_digest)
        self.fetch_count = 0

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={self._token_url!r}, client_id={self._client_id!r}, scopes={self._scopes!r})"

    @property
    def recent(self) -> tuple[str, ...]:
        """The last few tokens issued to this client (for redaction only)."""
        return tuple(self._recent)

    def token(self) -> str:
        with self._lock:
            if self._cached is None or self._clock() >= self._cached.renew_at:
                self._cached = self._from_shared() or self._fetch()
            return self._cached.value

    def invalidate(self, rejected: str) -> None:
        """Forget `rejected` (a 401 said it is no good); a newer token fetched meanwhile is kept."""
        with self._lock:
            if self._cached is not None and self._cached.value == rejected:
                self._cached = None
            if self._shared is not None:
                self._shared.forget(self._key, rejected)

    def _from_shared(self) -> _CachedToken | None:
        found = self._shared.get(self._key, self._clock()) if self._shared is not None else None
        if found is not None:
            self._recent.append(found.value)  # redacted by this client too
        return found

    def _fetch(self) -> _CachedToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "scope": self._scopes,
        }
        started = self._clock()
        self.fetch_count += 1
        try:
            response = self._http.post(self._token_url, data=form, headers={"Accept": "application/json"})
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise BunnyTransientError(
                f"token request failed: {type(exc).__name__}", operation="oauth/token", not_applied=True
            ) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise BunnyTransientError(
                f"token endpoint answered HTTP {response.status_code}",
                operation="oauth/token",
                not_applied=True,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        body = self._json(response)
        if response.status_code != 200:
            raise self._configuration_error(response.status_code, body)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise BunnyConfigurationError(
                "the token endpoint answered without an access_token: check that BUNNY_BASE_URL is the tenant URL",
                operation="oauth/token",
            )
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 7200.0
        margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 2)
        self._recent.append(token)
        log.debug("Bunny access token obtained, valid for %.0fs", lifetime)
        fetched = _CachedToken(value=token, renew_at=started + lifetime - margin)
        if self._shared is not None:
            self._shared.put(self._key, fetched)
        return fetched

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = json.loads(response.text)
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _configuration_error(self, status: int, body: dict[str, Any]) -> BunnyConfigurationError:
        code = body.get("error") if isinstance(body.get("error"), str) else None
        if code in _WHAT_TO_FIX:
            message = _WHAT_TO_FIX[code].format(scopes=self._scopes)
        elif status == 404:
            message = f"no token endpoint at {self._token_url} (HTTP 404): check BUNNY_BASE_URL"
        else:
            description = body.get("error_description")
            detail = f": {self._redact(description)}" if isinstance(description, str) else ""
            message = f"token request refused (HTTP {status}, {code or 'no error code'}){detail}"
        return BunnyConfigurationError(message, operation="oauth/token")
