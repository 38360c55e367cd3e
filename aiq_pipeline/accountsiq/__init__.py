"""AccountsIQ Integration 2.0 client: SOAP envelopes, token lifecycle, typed results and errors."""

from aiq_pipeline.accountsiq.client import AccountsIQClient
from aiq_pipeline.accountsiq.errors import (
    AiqAuthenticationError,
    AiqConfigurationError,
    AiqError,
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
from aiq_pipeline.accountsiq.regions import REGIONS, SERVICE_PATH, endpoint_url

__all__ = [
    "REGIONS",
    "SERVICE_PATH",
    "AccountsIQClient",
    "AiqAuthenticationError",
    "AiqConfigurationError",
    "AiqError",
    "AiqNotFoundError",
    "AiqThrottledError",
    "AiqTransportError",
    "AiqValidationError",
    "AiqWriteOutcomeUnknown",
    "BatchLine",
    "BatchSalesCreditNote",
    "BatchSalesInvoice",
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
]
