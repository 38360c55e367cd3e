"""What can go wrong talking to Bunny, sorted by what the caller should do about it.

Checked in the documented order: HTTP status, top-level `errors`, payload `errors`, null resource.
No exception carries the client secret or a token.
"""

from __future__ import annotations

from typing import Any


class BunnyError(Exception):
    retryable: bool = False

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation

    def __str__(self) -> str:
        return f"{self.operation}: {self.message}" if self.operation else self.message


class BunnyConfigurationError(BunnyError):
    """Bad settings: invalid_client, invalid_scope, unauthorized_client, or a 401 that survives a new token."""


class BunnyQueryError(BunnyError):
    """HTTP 200 with top-level `errors`: a schema or validation error (not retryable)."""

    def __init__(
        self, message: str, *, operation: str | None = None, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message, operation=operation)
        self.errors = errors or []


class BunnyFilterRejectedError(BunnyQueryError):
    """The server refused a `filter:` string (`Malformed filter`); the client falls back to a simpler one."""


class BunnyPermissionError(BunnyQueryError):
    """HTTP 200 with an error naming a missing permission or scope (`Missing required permission: product:read,
    can't access field priceListCharges`): grant the API client the scope; asking otherwise does not help."""


class BunnyMutationError(BunnyError):
    """A mutation answered with payload `errors` or a null resource: Bunny refused the change."""

    def __init__(self, message: str, *, operation: str | None = None, errors: list[str] | None = None) -> None:
        super().__init__(message, operation=operation)
        self.errors = errors or []


class BunnyTransientError(BunnyError):
    """429, 5xx, timeouts and dropped connections, after bounded retries.

    `not_applied` is True when the request provably never took effect (HTTP 429/503, a connection that
    was never opened, a token request that failed), so even a mutation may be sent again.
    `retry_after` is the server's Retry-After in seconds, when it sent one.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        not_applied: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, operation=operation)
        self.not_applied = not_applied
        self.retry_after = retry_after


class BunnyOutcomeUnknownError(BunnyTransientError):
    """A mutation failed in a way that may or may not have applied it (5xx, read timeout, dropped connection).

    It is not retried automatically: look the object up (e.g. the financial account by `code`) before
    writing again.
    """
