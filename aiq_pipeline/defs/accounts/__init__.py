"""Bunny financial accounts from the AIQ ledger ("Sync financial accounts") and the GL mapping of charges, with the
job and nightly schedule that refresh the ledger snapshot, the accounts and the mapping in that order."""

import dagster as dg

from aiq_pipeline.defs.accounts.assets import FINANCIAL_ACCOUNTS, GL_MAPPING, financial_accounts, gl_mapping
from aiq_pipeline.defs.ledger.assets import CHART_OF_ACCOUNTS, PERIODS, TAX_CODES

REFRESH_JOB = "refresh_ledger_and_mapping"
SETUP_ASSETS = (CHART_OF_ACCOUNTS, TAX_CODES, PERIODS, FINANCIAL_ACCOUNTS, GL_MAPPING)

ledger_and_mapping_job = dg.define_asset_job(
    REFRESH_JOB,
    selection=list(SETUP_ASSETS),
    description="AIQ ledger snapshot, then Bunny financial accounts, then the GL mapping.",
)

defs = dg.Definitions(
    assets=[financial_accounts, gl_mapping],
    jobs=[ledger_and_mapping_job],
    schedules=[
        dg.ScheduleDefinition(
            name="nightly_ledger_refresh",
            job=ledger_and_mapping_job,
            cron_schedule="0 5 * * *",
            default_status=dg.DefaultScheduleStatus.STOPPED,
        )
    ],
)
