"""Posted invoices: the asset (one partition per Bunny invoice), its sensor, and the history job."""

import dagster as dg

from aiq_pipeline.defs.invoices.history import add_invoice_history
from aiq_pipeline.defs.invoices.sensor import released_invoices_sensor
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.factory import document_asset


def definitions(
    names: PairNames, *, batch_size: int, retry_delay: float, sensor_status: dg.DefaultSensorStatus
) -> dg.Definitions:
    return dg.Definitions(
        assets=[document_asset(names, names.invoices, batch_size=batch_size, retry_delay=retry_delay)],
        jobs=[add_invoice_history(names)],
        sensors=[released_invoices_sensor(names, sensor_status)],
    )
