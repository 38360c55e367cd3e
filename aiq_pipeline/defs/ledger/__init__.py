"""The AIQ ledger snapshot: chart of accounts, tax codes and periods, pulled into the store."""

import dagster as dg

from aiq_pipeline.defs.ledger.assets import aiq_ledger_snapshot
from aiq_pipeline.defs.names import PairNames


def definitions(names: PairNames) -> dg.Definitions:
    return dg.Definitions(assets=[aiq_ledger_snapshot(names)])
