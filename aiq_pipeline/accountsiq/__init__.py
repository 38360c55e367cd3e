"""AccountsIQ Integration 2.0 client: SOAP envelopes, token lifecycle, typed results and errors."""

from aiq_pipeline.accountsiq.client import AccountsIQClient
from aiq_pipeline.accountsiq.errors import (
    AiqAuthenticationError,
    AiqConfigurationError,
    AiqDuplicateReference,
    AiqError,
    AiqLookupError,
    AiqLookupTruncated,
    AiqNotFoundError,
    AiqThrottledError,
    AiqTransportError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
)
from aiq_pipeline.accountsiq.models import (
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    BulkItemOutcome,
    CompanyInformation,
    CreatedTransaction,
    Customer,
    Entity,
    GLAccount,
    Period,
    TaxCode,
    Transaction,
    TransactionDetail,
    TransactionSummary,
)
from aiq_pipeline.accountsiq.outcomes import DUPLICATE_REFERENCE_CODES
from aiq_pipeline.accountsiq.records import same_reference
from aiq_pipeline.accountsiq.regions import REGIONS, SERVICE_PATH, endpoint_url

__all__ = [
    "DUPLICATE_REFERENCE_CODES",
    "REGIONS",
    "SERVICE_PATH",
    "AccountsIQClient",
    "AiqAuthenticationError",
    "AiqConfigurationError",
    "AiqDuplicateReference",
    "AiqError",
    "AiqLookupError",
    "AiqLookupTruncated",
    "AiqNotFoundError",
    "AiqThrottledError",
    "AiqTransportError",
    "AiqValidationError",
    "AiqWriteOutcomeUnknown",
    "BatchLine",
    "BatchSalesCreditNote",
    "BatchSalesInvoice",
    "BulkItemOutcome",
    "CompanyInformation",
    "CreatedTransaction",
    "Customer",
    "Entity",
    "GLAccount",
    "Period",
    "TaxCode",
    "Transaction",
    "TransactionDetail",
    "TransactionSummary",
    "endpoint_url",
    "same_reference",
]
