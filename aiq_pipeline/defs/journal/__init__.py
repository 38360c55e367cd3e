"""The posting journal in the UI: the asset (a table of the latest documents and writes), its job, and the sensor
that refreshes it after posting."""

import dagster as dg

from aiq_pipeline.defs.journal.assets import REFRESH_JOB, posting_journal, posting_journal_sensor
from aiq_pipeline.defs.names import PairNames

__all__ = ["definitions", "posting_journal", "posting_journal_sensor"]


def definitions(names: PairNames, *, sensor_status: dg.DefaultSensorStatus) -> dg.Definitions:
    return dg.Definitions(
        assets=[posting_journal(names)],
        jobs=[
            dg.define_asset_job(
                REFRESH_JOB, selection=[names.posting_journal], description="Read the posting journal into the UI."
            )
        ],
        sensors=[posting_journal_sensor(names, sensor_status)],
    )
