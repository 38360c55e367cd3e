"""Monthly reconciliation of Bunny against AIQ: the asset (one partition per month) with its check, the job, and
the daily schedule."""

import dagster as dg

from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.reconciliation.assets import RECONCILIATION_JOB, daily_reconciliation, monthly_reconciliation


def definitions(names: PairNames, *, schedule_status: dg.DefaultScheduleStatus) -> dg.Definitions:
    return dg.Definitions(
        assets=[monthly_reconciliation(names)],
        jobs=[
            dg.define_asset_job(
                RECONCILIATION_JOB,
                selection=[names.monthly_reconciliation],
                description="Reconcile Bunny against AIQ for one month.",
            )
        ],
        schedules=[daily_reconciliation(schedule_status)],
    )
