"""Where alerts go: AIQ_PIPELINE_ALERT_URLS (apprise URLs, secret) and AIQ_PIPELINE_UI_URL (what they link to).

The URLs reach Dagster as an `EnvVar` reference, so the UI shows the variable's name, never a URL (they carry
passwords and tokens); the field is also kept out of reprs.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from aiq_pipeline.defs.resources import Resource
from aiq_pipeline.settings import Settings

ALERT_URLS_VARIABLE = "AIQ_PIPELINE_ALERT_URLS"


class AlertChannelsResource(Resource):
    """AIQ_PIPELINE_ALERT_URLS and AIQ_PIPELINE_UI_URL."""

    urls: str = Field(default="", repr=False, description="Apprise URLs, separated by spaces or commas (secret)")
    ui_url: str | None = Field(default=None, description="The Dagster UI's address, for the links in alerts")
    notify_cleared: bool = Field(default=True, description="Also send a short note when alerted exceptions clear")


def alert_channels_resource(settings: Settings) -> AlertChannelsResource:
    urls = settings.pair.alert_urls
    return AlertChannelsResource(
        urls=dg.EnvVar(ALERT_URLS_VARIABLE) if urls is not None else "",
        ui_url=settings.ui_url,
    )


def alerts_sensor_status(settings: Settings) -> dg.DefaultSensorStatus:
    """RUNNING once alert URLs are set (the sensor only reads and sends; it never posts), else STOPPED."""
    return dg.DefaultSensorStatus.RUNNING if settings.pair.alert_urls is not None else dg.DefaultSensorStatus.STOPPED
