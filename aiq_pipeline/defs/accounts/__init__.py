"""Bunny financial accounts from the AIQ ledger ("Sync financial accounts") and the GL mapping of charges, with the
job and nightly schedule that refresh the ledger snapshot, the accounts and the mapping in that order."""

import dagster as dg

from aiq_pipeline.defs.accounts.assets import financial_accounts, gl_mapping
from aiq_pipeline.defs.names import PairNames

REFRESH_JOB = "refresh_ledger_and_mapping"


def definitions(names: PairNames) -> dg.Definitions:
    job = dg.define_asset_job(
        REFRESH_JOB,
        selection=list(names.setup_assets),
        description="AIQ ledger snapshot, then Bunny financial accounts, then the GL mapping.",
    )
    return dg.Definitions(
        assets=[financial_accounts(names), gl_mapping(names)],
        jobs=[job],
        schedules=[
            dg.ScheduleDefinition(
                name="nightly_ledger_refresh",
                job=job,
                cron_schedule="0 5 * * *",
                default_status=dg.DefaultScheduleStatus.STOPPED,
            )
        ],
    )
