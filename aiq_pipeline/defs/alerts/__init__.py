"""Alerts on new exceptions: the sensor that hands the exceptions list to the alert service, and its channels."""

import dagster as dg

from aiq_pipeline.defs.alerts.resources import AlertChannelsResource, alert_channels_resource, alerts_sensor_status
from aiq_pipeline.defs.alerts.sensor import exception_alerts_sensor
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.settings import Settings

__all__ = ["AlertChannelsResource", "alert_channels_resource", "definitions", "exception_alerts_sensor"]


def definitions(settings: Settings, names: PairNames) -> dg.Definitions:
    pair = settings.pair
    return dg.Definitions(
        sensors=[
            exception_alerts_sensor(
                pair=pair.name,
                aiq_entity=pair.aiq.entity_id if pair.aiq else None,
                bunny_entity=pair.bunny.entity_id if pair.bunny else None,
                default_status=alerts_sensor_status(settings),
                assets=names.documents,
            )
        ]
    )
