"""Asset keys, shared by assets, the sensor, the exceptions reader and the CLI."""

import dagster as dg

CHART_OF_ACCOUNTS = dg.AssetKey(["aiq", "chart_of_accounts"])
TAX_CODES = dg.AssetKey(["aiq", "tax_codes"])
PERIODS = dg.AssetKey(["aiq", "periods"])
FINANCIAL_ACCOUNTS = dg.AssetKey(["bunny", "financial_accounts"])
GL_MAPPING = dg.AssetKey(["bunny", "gl_mapping"])
POSTED_INVOICES = dg.AssetKey(["aiq", "posted_invoices"])
