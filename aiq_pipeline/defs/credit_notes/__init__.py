"""Posted credit notes and void reversals: the asset (one partition per `CN-<id>` / `VOID-<id>`) and its sensor."""

import dagster as dg

from aiq_pipeline.defs.credit_notes.sensor import released_credit_notes_sensor
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.factory import document_asset


def definitions(
    names: PairNames, *, batch_size: int, retry_delay: float, sensor_status: dg.DefaultSensorStatus
) -> dg.Definitions:
    return dg.Definitions(
        assets=[document_asset(names, names.credit_notes, batch_size=batch_size, retry_delay=retry_delay)],
        sensors=[released_credit_notes_sensor(names, sensor_status)],
    )
