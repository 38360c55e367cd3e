"""What can go wrong talking to AccountsIQ, sorted by what the caller should do about it.

- `AiqConfigurationError`: the settings are wrong (region, credentials, entity); fix them.
- `AiqValidationError`: AIQ rejected the data (its `code` is AIQ's ErrorCode); fix the data.
- `AiqThrottledError`, `AiqTransportError`: try again later (bounded backoff).
- `AiqWriteOutcomeUnknown`: a write may or may not have been applied; look before writing again.
- `AiqOutdatedRecord`: an update of a record someone changed since it was read; read it again, reapply.
- `AiqOverAllocation`: an allocation refused for more than is outstanding; read the allocations to see why.
- `AiqDuplicateReference`: a create refused because AIQ already holds a document with that external reference;
  resolve it to the existing document (look it up), never write again.
- `AiqLookupError` (and `AiqLookupTruncated`): a look-up that did not give a complete answer; whether the
  documents exist is unknown. Never read it as "nothing there", so never write on it.

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
    """The one record asked for by its key does not exist: GetTransaction's TRANSACTION_NOT_FOUND for an id, or
    UpdateCustomer(create=false)'s NotCreated. Never raised by a look-up by reference (see AiqLookupError)."""


class AiqOutdatedRecord(AiqValidationError):
    """An update refused because the record changed since it was read (Status Conflicted, `OUTDATED_RECORD`): the
    RowVersionNumber sent is stale. Nothing was written; read the record again and reapply the change."""


class AiqDuplicateReference(AiqValidationError):
    """AIQ refused a create: a document with this external reference exists
    (`INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS`, `RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS` or
    `JOURNAL_ENTRY_REFERENCE_ALREADY_EXISTS`). Nothing was written; `reference` is the one that was sent, so the
    caller can look the existing document up and take it as the posted one."""

    def __init__(self, message: str, *, reference: str, code: str | None = None, operation: str | None = None) -> None:
        super().__init__(message, code=code, operation=operation)
        self.reference = reference


class AiqOverAllocation(AiqValidationError):
    """AllocateTransactions refused because a side has less outstanding than the amount, or nothing
    (`TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT`,
    `TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION`,
    `INVALID_STATE_TRANSACTION_OUSTANDING_AMOUNT_IS_LESS_THAN_ALLOCATION_PLUS_DISCOUNT_AMOUNT`). Nothing was applied;
    after an unknown outcome it usually means the first attempt was: read the allocations before anything else."""


class AiqLookupError(AiqError):
    """A look-up AIQ did not answer with a usable list: Status=Failure with any code (a `*_DOES_NOT_EXIST` or
    `NOT_FOUND` code included). Whether the documents exist is unknown: do not write on it."""


class AiqLookupTruncated(AiqLookupError):
    """AIQ returned as many rows as it ever returns for this look-up (`cap`): more may exist, so an absent
    document cannot be told from a cut-off one. Narrow the look-up (types, dates) and ask again."""

    def __init__(self, message: str, *, rows: int, cap: int, operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.rows = rows
        self.cap = cap


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
