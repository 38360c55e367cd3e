"""The moment a pair's sync was first switched on, stored in the Dagster instance (it survives restarts).

Without AIQ_PIPELINE_SYNC_START_DATE, documents issued before that day are never picked up by the sensors or
`aiq-pipeline sync`: a team that booked its history by hand gets nothing twice. The first tick of either sensor, or
the first `sync`, records it; the sensors' tick messages, the sensors' cursors and `aiq-pipeline doctor` show it.
Each pair has its own: a pair added later starts from its own switch-on, not from the first pair's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg

from aiq_pipeline.defs.names import PairNames


def first_switched_on(instance: dg.DagsterInstance, names: PairNames) -> datetime | None:
    """When the pair's sync was first switched on, or None if it never was."""
    raw = instance.daemon_cursor_storage.get_cursor_values({names.first_start_key}).get(names.first_start_key)
    return datetime.fromisoformat(raw) if raw else None


def switch_on(instance: dg.DagsterInstance, names: PairNames, now: datetime | None = None) -> datetime:
    """The pair's first switch-on moment, recorded now if this is the first time."""
    found = first_switched_on(instance, names)
    if found is not None:
        return found
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    instance.daemon_cursor_storage.set_cursor_values({names.first_start_key: moment.isoformat()})
    return moment


def sync_start_date(instance: dg.DagsterInstance, names: PairNames, configured: date | None) -> date:
    """The first issue date the pair's sync picks up: the configured start date, else its first switch-on day."""
    return configured if configured is not None else switch_on(instance, names).date()
