"""Posted invoices: the asset (one partition per Bunny invoice), its sensor, and the history job."""

import dagster as dg

from aiq_pipeline.defs.invoices.history import add_invoice_history
from aiq_pipeline.defs.invoices.sensor import released_invoices_sensor
from aiq_pipeline.defs.posting.documents import INVOICES
from aiq_pipeline.defs.posting.factory import document_asset


def definitions(*, batch_size: int, retry_delay: float, sensor_status: dg.DefaultSensorStatus) -> dg.Definitions:
    return dg.Definitions(
        assets=[document_asset(INVOICES, batch_size=batch_size, retry_delay=retry_delay)],
        jobs=[add_invoice_history],
        sensors=[released_invoices_sensor(sensor_status)],
    )
