"""Monthly reconciliation of Bunny against AIQ: the asset (one partition per month) with its check, the job, and
the daily schedule."""

import dagster as dg

from aiq_pipeline.defs.reconciliation.assets import daily_reconciliation, monthly_reconciliation, reconcile_months_job


def definitions(*, schedule_status: dg.DefaultScheduleStatus) -> dg.Definitions:
    return dg.Definitions(
        assets=[monthly_reconciliation],
        jobs=[reconcile_months_job],
        schedules=[daily_reconciliation(schedule_status)],
    )
