"""Bunny GraphQL client: OAuth client credentials, typed reads and financial-account writes."""

from aiq_pipeline.bunny.client import DEFAULT_SCOPES, MAX_PAGE_SIZE, BunnyClient
from aiq_pipeline.bunny.errors import (
    BunnyConfigurationError,
    BunnyError,
    BunnyFilterRejectedError,
    BunnyMutationError,
    BunnyOutcomeUnknownError,
    BunnyQueryError,
    BunnyTransientError,
)
from aiq_pipeline.bunny.models import (
    POSTABLE_INVOICE_STATES,
    Account,
    Contact,
    CreditNote,
    CreditNoteItem,
    Currency,
    Entity,
    FinancialAccount,
    FinancialAccountAttributes,
    Invoice,
    InvoiceItem,
    InvoiceRef,
    PriceListCharge,
)

__all__ = [
    "DEFAULT_SCOPES",
    "MAX_PAGE_SIZE",
    "POSTABLE_INVOICE_STATES",
    "Account",
    "BunnyClient",
    "BunnyConfigurationError",
    "BunnyError",
    "BunnyFilterRejectedError",
    "BunnyMutationError",
    "BunnyOutcomeUnknownError",
    "BunnyQueryError",
    "BunnyTransientError",
    "Contact",
    "CreditNote",
    "CreditNoteItem",
    "Currency",
    "Entity",
    "FinancialAccount",
    "FinancialAccountAttributes",
    "Invoice",
    "InvoiceItem",
    "InvoiceRef",
    "PriceListCharge",
]
