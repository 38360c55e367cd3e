"""One GraphQL request to Bunny, checked in the documented order, with bounded retries.

Order of checks (api-notes §3.5): HTTP status -> top-level `errors` -> (caller) payload `errors` -> null
resource.

Retry rule:
* queries retry every transient failure: HTTP 429 (honouring Retry-After), 5xx, timeouts, connection
  errors, failed token requests;
* mutations retry only when the failure proves the mutation was not applied: HTTP 429 and 503 (the
  server turned the request away before running it), a connection that could not be opened or a pool
  timeout (nothing was sent), a failed token request (nothing was sent), and a 401 (authentication
  happens before execution). A 500/502/504, a read/write timeout or a dropped connection after sending
  may have applied it: that raises `BunnyOutcomeUnknownError` and the caller looks before writing again.
* a 401 fetches a new token and resends once; a second 401 is a `BunnyConfigurationError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from aiq_pipeline.bunny.auth import TokenProvider
from aiq_pipeline.bunny.documents import Document
from aiq_pipeline.bunny.errors import (
    BunnyConfigurationError,
    BunnyFilterRejectedError,
    BunnyMutationError,
    BunnyOutcomeUnknownError,
    BunnyPermissionError,
    BunnyQueryError,
    BunnyTransientError,
)
from aiq_pipeline.bunny.retry_policy import RetryPolicy, parse_retry_after

# Errors before the request left this machine: nothing can have been applied.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Status codes that mean "turned away before processing".
_NOT_PROCESSED_STATUS = frozenset({429, 503})
# Words of an error that refuses access rather than the request (Bunny's own: "Missing required permission: ...").
_PERMISSION_WORDS = ("permission", "scope", "not authorized", "unauthorized", "forbidden", "access denied")


def decode_json(text: str) -> Any:
    """Parse a Bunny answer; JSON numbers with a fraction become Decimal, never float."""
    return json.loads(text, parse_float=Decimal)


class GraphQLTransport:
    def __init__(
        self,
        http: httpx.Client,
        *,
        graphql_url: str,
        tokens: TokenProvider,
        retry: RetryPolicy,
        redact: Callable[[str], str],
    ) -> None:
        self._http = http
        self._url = graphql_url
        self._tokens = tokens
        self._retry = retry
        self._redact = redact

    def execute(self, document: Document, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The `data` object of a successful answer (top-level errors already raised)."""

        def attempt() -> dict[str, Any]:
            response = self._post_authorized(document, variables)
            self._check_status(document, response)
            return self._check_body(document, response)

        if not document.mutation:
            return self._retry.call(attempt, should_retry=lambda _: True, what=document.operation)
        try:
            return self._retry.call(attempt, should_retry=lambda e: e.not_applied, what=document.operation)
        except BunnyTransientError as exc:
            if exc.not_applied:
                raise
            raise BunnyOutcomeUnknownError(
                f"{exc.message}; the change may or may not have been applied, look it up before retrying",
                operation=document.operation,
            ) from exc

    def _post_authorized(self, document: Document, variables: Mapping[str, Any]) -> httpx.Response:
        token = self._tokens.token()
        response = self._post(document, variables, token)
        if response.status_code != 401:
            return response
        # Expired or revoked token: fetch a new one and resend exactly once.
        self._tokens.invalidate(token)
        response = self._post(document, variables, self._tokens.token())
        if response.status_code == 401:
            raise BunnyConfigurationError(
                "Bunny rejected a freshly issued access token (HTTP 401 twice): check that the API client in "
                "BUNNY_CLIENT_ID is active and that BUNNY_BASE_URL is its tenant",
                operation=document.operation,
            )
        return response

    def _post(self, document: Document, variables: Mapping[str, Any], token: str) -> httpx.Response:
        payload = {"query": document.text, "variables": dict(variables), "operationName": document.operation}
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            return self._http.post(self._url, json=payload, headers=headers)
        except _NOT_SENT as exc:
            raise BunnyTransientError(
                f"could not connect to Bunny: {type(exc).__name__}", operation=document.operation, not_applied=True
            ) from exc
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise BunnyTransientError(
                f"request to Bunny failed: {type(exc).__name__}", operation=document.operation
            ) from exc

    def _check_status(self, document: Document, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500:
            raise BunnyTransientError(
                f"Bunny answered HTTP {status}",
                operation=document.operation,
                not_applied=status in _NOT_PROCESSED_STATUS,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status == 403:
            raise BunnyConfigurationError(
                "Bunny refused the request (HTTP 403): grant the API client the scopes this operation needs",
                operation=document.operation,
            )
        raise BunnyQueryError(f"Bunny answered HTTP {status}", operation=document.operation)

    def _check_body(self, document: Document, response: httpx.Response) -> dict[str, Any]:
        try:
            body = decode_json(response.text)
        except ValueError as exc:
            raise BunnyQueryError("Bunny answered with a body that is not JSON", operation=document.operation) from exc
        if not isinstance(body, dict):
            raise BunnyQueryError("Bunny answered with JSON that is not an object", operation=document.operation)
        errors = body.get("errors")
        if errors:
            self._raise_top_level(document, errors if isinstance(errors, list) else [errors])
        data = body.get("data")
        if not isinstance(data, dict):
            raise BunnyQueryError("Bunny answered without data", operation=document.operation)
        return data

    def _redact_tree(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {key: self._redact_tree(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._redact_tree(item) for item in value]
        return value

    def _raise_top_level(self, document: Document, errors: list[Any]) -> None:
        # Bunny may echo request data in an error; keep the details, minus any secret or token.
        details = [self._redact_tree(e) if isinstance(e, dict) else {"message": self._redact(str(e))} for e in errors]
        messages = [str(e.get("message", "")) for e in details]
        summary = "; ".join(m for m in messages if m) or "unspecified error"
        if any("malformed filter" in m.lower() for m in messages):
            raise BunnyFilterRejectedError(summary, operation=document.operation, errors=details)
        # With a `path` the operation ran and Bunny refused it (validation, illegal state); without one the
        # document itself is wrong (unknown field, bad argument).
        if document.mutation and any(e.get("path") for e in details):
            raise BunnyMutationError(summary, operation=document.operation, errors=messages)
        if any(word in m.lower() for m in messages for word in _PERMISSION_WORDS):
            raise BunnyPermissionError(summary, operation=document.operation, errors=details)
        raise BunnyQueryError(summary, operation=document.operation, errors=details)
