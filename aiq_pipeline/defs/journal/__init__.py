"""The posting journal in the UI: the asset (a table of the latest documents and writes), its job, and the sensor
that refreshes it after posting."""

import dagster as dg

from aiq_pipeline.defs.journal.assets import posting_journal, posting_journal_sensor, refresh_posting_journal

__all__ = ["definitions", "posting_journal", "posting_journal_sensor", "refresh_posting_journal"]


def definitions(*, sensor_status: dg.DefaultSensorStatus) -> dg.Definitions:
    return dg.Definitions(
        assets=[posting_journal],
        jobs=[refresh_posting_journal],
        sensors=[posting_journal_sensor(sensor_status)],
    )
