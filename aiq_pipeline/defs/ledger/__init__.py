"""The AIQ ledger snapshot: chart of accounts, tax codes and periods, pulled into the store."""

import dagster as dg

from aiq_pipeline.defs.ledger.assets import aiq_ledger_snapshot

defs = dg.Definitions(assets=[aiq_ledger_snapshot])
