"""AIQ's write operations by document, for fault rules that must hit what the product really sends.

The posting service writes documents in bulk calls; the one-document operations stay for the client's
own callers. A fault aimed only at the one-document name never fires in a posting run, so tests name both.
"""

INVOICE_CREATES = ["CreateBatchSalesInvoiceGetBackTransactionID", "CreateBatchSalesInvoiceBulkGetBackTransactionIDs"]
CREDIT_NOTE_CREATES = [
    "CreateBatchSalesCreditNoteGetBackTransactionID",
    "CreateBatchSalesCreditNoteBulkGetBackTransactionIDs",
]
CREATES = [*INVOICE_CREATES, *CREDIT_NOTE_CREATES]
