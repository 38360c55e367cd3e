"""One dynamic partition per Bunny invoice. The name is the storage key: never rename it."""

import dagster as dg

INVOICE_PARTITIONS_NAME = "bunny_invoices"
bunny_invoices = dg.DynamicPartitionsDefinition(name=INVOICE_PARTITIONS_NAME)
