"""The whole code location, merged from the domains' definitions (`definitions.py` only calls this)."""

from __future__ import annotations

from typing import TypedDict

import dagster as dg

from aiq_pipeline.defs import (
    accounts,
    alerts,
    credit_notes,
    dismissals,
    invoices,
    journal,
    ledger,
    payments,
    reconciliation,
)
from aiq_pipeline.defs.names import PAIR_METADATA, PairNames
from aiq_pipeline.defs.resources import (
    PostingRulesResource,
    Resource,
    default_schedule_status,
    default_sensor_status,
    resources_from_settings,
)
from aiq_pipeline.settings import PAIR_VARIABLE, Settings, configured_pairs, environment_value


class _PostingOptions(TypedDict):
    """What every document kind's definitions take (`invoices.definitions(**posting)` and the others)."""

    batch_size: int
    retry_delay: float
    sensor_status: dg.DefaultSensorStatus


def chosen_pair() -> str | None:
    """The pair the environment names (`defs`): AIQ_PIPELINE_PAIR, else the only pair configured (the environment's
    `default`, or a pairs file's only pair); None when a pairs file holds several and none is named (then each
    pair is its own location, `defs_<pair>`)."""
    named = (environment_value(PAIR_VARIABLE) or "").strip()
    if named:
        return named
    pairs = configured_pairs()
    return pairs[0] if len(pairs) == 1 else None


def build_definitions(
    resources: dict[str, Resource] | None = None, settings: Settings | None = None, *, pair: str | None = None
) -> dg.Definitions:
    """One pair's code location (`pair`, else the one the environment chooses); tests pass explicit resources (and
    settings) instead of the environment's."""
    settings = settings or Settings.from_env(strict=False, pair=pair)
    names = PairNames(settings.pair.name)
    posting: _PostingOptions = {
        "batch_size": settings.batch_size,
        "retry_delay": settings.transient_retry_delay_seconds,
        "sensor_status": default_sensor_status(settings.pair),
    }
    merged = dg.Definitions.merge(
        ledger.definitions(names),
        accounts.definitions(names),
        invoices.definitions(names, **posting),
        credit_notes.definitions(names, **posting),
        payments.definitions(names, **posting),
        reconciliation.definitions(names, schedule_status=default_schedule_status(settings.pair)),
        alerts.definitions(settings, names),
        dismissals.definitions(names),
        journal.definitions(names, sensor_status=posting["sensor_status"]),
    )
    return dg.Definitions(
        assets=merged.assets,
        jobs=merged.jobs,
        schedules=merged.schedules,
        sensors=merged.sensors,
        # Tests may leave the posting rules and alert channels out: the defaults (no channel) then apply.
        resources={
            "posting_rules": PostingRulesResource(),
            "alert_channels": alerts.alert_channels_resource(settings),
            **(resources or resources_from_settings(settings)),
        },
        # One process per run: cheap runs (~0.2 s instead of ~2 s) and one store writer per run.
        executor=dg.in_process_executor,
        metadata={PAIR_METADATA: names.pair},
    )
