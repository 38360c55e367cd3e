"""What can go wrong talking to AccountsIQ, sorted by what the caller should do about it.

- `AiqConfigurationError`: the settings are wrong (region, credentials, entity); fix them.
- `AiqValidationError`: AIQ rejected the data (its `code` is AIQ's ErrorCode); fix the data.
- `AiqThrottledError`, `AiqTransportError`: try again later (bounded backoff).
- `AiqWriteOutcomeUnknown`: a write may or may not have been applied; look before writing again.

No exception carries the client secret or a token: messages are built from AIQ's codes and texts.
"""

from __future__ import annotations


class AiqError(Exception):
    """Base of every AccountsIQ client error."""

    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, operation: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.operation = operation

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        code = f"[{self.code}] " if self.code else ""
        return f"{where}{code}{self.message}"


class AiqConfigurationError(AiqError):
    """Settings problem: unknown region, bad base URL."""


class AiqAuthenticationError(AiqConfigurationError):
    """Credentials rejected, token could not be renewed, or the entity is not granted."""


class AiqValidationError(AiqError):
    """AIQ refused the request's data (Status=Failure with a business ErrorCode)."""


class AiqNotFoundError(AiqValidationError):
    """The thing asked for does not exist (e.g. CUSTOMER_CODE_DOES_NOT_EXIST)."""


class AiqThrottledError(AiqError):
    """AIQ asked us to slow down (OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS / RATE_LIMIT_REACHED)."""

    retryable = True


class AiqTransportError(AiqError):
    """Connection failure, timeout, HTTP 5xx or a SOAP fault: the service did not answer properly.

    `request_sent` is False only when the connection could not even be opened, so nothing reached AIQ and even
    a write may be sent again.
    """

    retryable = True

    def __init__(
        self, message: str, *, code: str | None = None, operation: str | None = None, request_sent: bool = True
    ) -> None:
        super().__init__(message, code=code, operation=operation)
        self.request_sent = request_sent


class AiqWriteOutcomeUnknown(AiqTransportError):
    """A write was sent but no answer came back: it may have been applied. Look before writing again."""
