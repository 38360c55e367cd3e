"""The default pair's names (a one-pair deployment, configured by environment variables), as the tests use them."""

from aiq_pipeline.defs.names import DEFAULT_NAMES as NAMES

INVOICES = NAMES.invoices
CREDIT_NOTES = NAMES.credit_notes
PAYMENTS = NAMES.payments
DOCUMENT_ASSETS = NAMES.documents
CHART_OF_ACCOUNTS = NAMES.chart_of_accounts
TAX_CODES = NAMES.tax_codes
PERIODS = NAMES.periods
FINANCIAL_ACCOUNTS = NAMES.financial_accounts
GL_MAPPING = NAMES.gl_mapping
SETUP_ASSETS = NAMES.setup_assets
POSTING_JOURNAL = NAMES.posting_journal
MONTHLY_RECONCILIATION = NAMES.monthly_reconciliation
STORE_POOL = NAMES.store_pool
