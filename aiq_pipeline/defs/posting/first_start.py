"""The moment the sync was first switched on, stored in the Dagster instance (it survives restarts).

Without AIQ_PIPELINE_SYNC_START_DATE, documents issued before that day are never picked up by the sensors or
`aiq-pipeline sync`: a team that booked its history by hand gets nothing twice. The first tick of either sensor, or
the first `sync`, records it; the sensors' tick messages, the sensors' cursors and `aiq-pipeline doctor` show it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg

FIRST_START_KEY = "aiq_pipeline/sync_first_switched_on"


def first_switched_on(instance: dg.DagsterInstance) -> datetime | None:
    """When the sync was first switched on, or None if it never was."""
    values = instance.daemon_cursor_storage.get_cursor_values({FIRST_START_KEY})
    raw = values.get(FIRST_START_KEY)
    return datetime.fromisoformat(raw) if raw else None


def switch_on(instance: dg.DagsterInstance, now: datetime | None = None) -> datetime:
    """The first switch-on moment, recorded now if this is the first time."""
    found = first_switched_on(instance)
    if found is not None:
        return found
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    instance.daemon_cursor_storage.set_cursor_values({FIRST_START_KEY: moment.isoformat()})
    return moment


def sync_start_date(instance: dg.DagsterInstance, configured: date | None) -> date:
    """The first issue date the sync picks up: the configured start date, else the first switch-on day."""
    return configured if configured is not None else switch_on(instance).date()
