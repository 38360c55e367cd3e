"""The code location: `dagster dev -w workspace.yaml` (and `[tool.dg]`) load `defs` from here."""

from typing import Any

import dagster as dg

from aiq_pipeline.defs.accounts import financial_accounts, gl_mapping
from aiq_pipeline.defs.credit_notes import posted_credit_notes, released_credit_notes_sensor
from aiq_pipeline.defs.history import add_invoice_history
from aiq_pipeline.defs.invoices import posted_invoices
from aiq_pipeline.defs.keys import CHART_OF_ACCOUNTS, FINANCIAL_ACCOUNTS, GL_MAPPING, PERIODS, TAX_CODES
from aiq_pipeline.defs.ledger import aiq_ledger_snapshot
from aiq_pipeline.defs.reconciliation import daily_reconciliation, monthly_reconciliation, reconcile_months_job
from aiq_pipeline.defs.resources import resources_from_environment
from aiq_pipeline.defs.sensors import released_invoices_sensor

ledger_and_mapping_job = dg.define_asset_job(
    "refresh_ledger_and_mapping",
    selection=[CHART_OF_ACCOUNTS, TAX_CODES, PERIODS, FINANCIAL_ACCOUNTS, GL_MAPPING],
    description="AIQ ledger snapshot, then Bunny financial accounts, then the GL mapping.",
)


def build_definitions(resources: dict[str, Any] | None = None) -> dg.Definitions:
    """The whole code location; tests pass explicit resources instead of the environment's."""
    return dg.Definitions(
        assets=[
            aiq_ledger_snapshot,
            financial_accounts,
            gl_mapping,
            posted_invoices,
            posted_credit_notes,
            monthly_reconciliation,
        ],
        jobs=[ledger_and_mapping_job, add_invoice_history, reconcile_months_job],
        schedules=[
            dg.ScheduleDefinition(
                name="nightly_ledger_refresh",
                job=ledger_and_mapping_job,
                cron_schedule="0 5 * * *",
                default_status=dg.DefaultScheduleStatus.STOPPED,
            ),
            daily_reconciliation,
        ],
        sensors=[released_invoices_sensor, released_credit_notes_sensor],
        resources=resources if resources is not None else resources_from_environment(),
        # One process per run: cheap runs (~0.2 s instead of ~2 s) and one store writer per run.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
