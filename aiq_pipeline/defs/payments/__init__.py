"""Posted payments: the asset (one partition per Bunny payment, `PAY-<id>`) and its sensor."""

import dagster as dg

from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.payments.sensor import received_payments_sensor
from aiq_pipeline.defs.posting.factory import document_asset


def definitions(
    names: PairNames, *, batch_size: int, retry_delay: float, sensor_status: dg.DefaultSensorStatus
) -> dg.Definitions:
    return dg.Definitions(
        assets=[document_asset(names, names.payments, batch_size=batch_size, retry_delay=retry_delay)],
        sensors=[received_payments_sensor(names, sensor_status)],
    )
