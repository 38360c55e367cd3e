"""How an AIQ result status maps to the error tree, and which codes mean "renew the token".

AIQ reports business errors in-band (HTTP 200, Status/ErrorCode/ErrorMessage). The exact code the live
server sends for an expired token is unverified, so both signals count: HasExpired=true or a token code.

A `*_DOES_NOT_EXIST` / `NOT_FOUND` code is *not* read as "absent" here: only the one operation that asks for one
record by its key knows which code means that record is absent (GetCustomer's CUSTOMER_CODE_DOES_NOT_EXIST,
GetTransaction's TRANSACTION_NOT_FOUND); for a look-up by reference any Failure is an error.
"""

from __future__ import annotations

from typing import Final

from aiq_pipeline.accountsiq.envelope import ResultStatus
from aiq_pipeline.accountsiq.errors import (
    AiqAuthenticationError,
    AiqError,
    AiqNotFoundError,
    AiqThrottledError,
    AiqValidationError,
)

THROTTLE_CODES: Final = frozenset(
    {"OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS", "OAUTH_INTEGRATION_APPS_RATE_LIMIT_REACHED"}
)
# Codes that say "this token is no good" (renewing helps), as opposed to "this application may not do this".
TOKEN_CODES: Final = frozenset(
    {
        "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED",
        "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID",
        "OAUTH_INTEGRATION_APPS_ERROR_VALIDATING_TOKEN",
        "OAUTH_INTEGRATION_APPS_REFRESH_TOKEN_EXPIRED",
        "OAUTH_INTEGRATION_APPS_TOKEN_NOT_PROVIDED_IN_AUTHORIZATION_HEADER",
        "OAUTHCONFIGURATION_TOKEN_EXPIRED",
        "OAUTHCONFIGURATION_INVALID_TOKEN",
        "WS_INVALIDTOKEN",
    }
)
ENTITY_CODES: Final = frozenset(
    {
        "API_LAYER_ENTITY_ID_NOT_FOUND",
        "CURRENT_ENTITY_IS_UNSPECIFIED",
        "ENTITY_ID_IS_NULL",
        "OAUTH_INTEGRATION_APPS_NO_ENTITY_PROVIDED_IN_HEADER",
        "OAUTH_INTEGRATION_APPS_AIQ_SOAP_HEADER_MISMATCH",
    }
)
# A create refused because the external reference is taken. The WSDL's VisorExceptionCodes has these three and no
# credit-note one (credit notes are invoices of type Note in AIQ), so a credit note is expected to answer the first;
# a sales debit journal (a refund) the journal one.
DUPLICATE_REFERENCE_CODES: Final = frozenset(
    {
        "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS",
        "RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS",
        "JOURNAL_ENTRY_REFERENCE_ALREADY_EXISTS",
    }
)
# AllocateTransactions refusing an amount larger than what is outstanding (the first is the WSDL's own spelling).
OVER_ALLOCATION_CODES: Final = frozenset(
    {
        "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT",
        "TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION",
        "INVALID_STATE_TRANSACTION_OUSTANDING_AMOUNT_IS_LESS_THAN_ALLOCATION_PLUS_DISCOUNT_AMOUNT",
    }
)
# The codes by which the operations that read one record by its key say "no such record" (UNVERIFIED against the
# live service: the notes expect these, and they are the only matching names in the WSDL's enum).
CUSTOMER_ABSENT_CODES: Final = frozenset({"CUSTOMER_CODE_DOES_NOT_EXIST"})
TRANSACTION_ABSENT_CODES: Final = frozenset({"TRANSACTION_NOT_FOUND"})
CHECK_ENTITY: Final = (
    "check AIQ_ENTITY_ID: it must be an entity assigned to this integration application "
    "(developer portal > Entities Assigned)"
)
CHECK_CREDENTIALS: Final = (
    "check AIQ_CLIENT_ID and AIQ_CLIENT_SECRET (developer portal > Integration Applications > Show Credentials) "
    "and that the application is not revoked and has the scope this call needs"
)


def is_token_failure(status: ResultStatus) -> bool:
    return not status.ok and status.code not in THROTTLE_CODES and (status.has_expired or status.code in TOKEN_CODES)


def error_for(status: ResultStatus, operation: str, *, failure: type[AiqError] = AiqValidationError) -> AiqError:
    """The exception for a result that is neither Success nor Created.

    Throttling, entity and credential codes map to their own classes whatever the operation; any other business
    code becomes `failure` (AiqValidationError for writes and reads of one record, AiqLookupError for look-ups),
    except Status NotCreated (UpdateCustomer with create=false on a new code), which is AiqNotFoundError.
    """
    code = status.code if status.code and status.code != "SUCCESS" else status.status.upper()
    message = status.message or f"AIQ answered {status.status}"
    if code in THROTTLE_CODES:
        return AiqThrottledError(f"{message}; AIQ asks us to slow down", code=code, operation=operation)
    if code in ENTITY_CODES:
        return AiqAuthenticationError(f"{message}; {CHECK_ENTITY}", code=code, operation=operation)
    if code.startswith("OAUTH") or code in TOKEN_CODES or code == "NOT_AUTHORIZED":
        return AiqAuthenticationError(f"{message}; {CHECK_CREDENTIALS}", code=code, operation=operation)
    if status.status == "NotCreated":
        return AiqNotFoundError(message, code=code, operation=operation)
    return failure(message, code=code, operation=operation)
