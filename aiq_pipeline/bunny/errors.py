"""What can go wrong talking to Bunny, sorted by what the caller should do about it.

Checked in the documented order: HTTP status, top-level `errors`, payload `errors`, null resource.
No exception carries the client secret or a token.
"""

from __future__ import annotations


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

    def __init__(self, message: str, *, operation: str | None = None, errors: list[dict] | None = None) -> None:
        super().__init__(message, operation=operation)
        self.errors = errors or []


class BunnyMutationError(BunnyError):
    """A mutation answered with payload `errors` or a null resource: Bunny refused the change."""

    def __init__(self, message: str, *, operation: str | None = None, errors: list[str] | None = None) -> None:
        super().__init__(message, operation=operation)
        self.errors = errors or []


class BunnyTransientError(BunnyError):
    """429, 5xx, timeouts and dropped connections, after bounded retries."""

    retryable = True
