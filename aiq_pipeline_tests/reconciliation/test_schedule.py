"""The daily schedule asks for the previous and the current month; its default status follows the demo switch."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.reconciliation.assets import daily_reconciliation, monthly_partitions
from aiq_pipeline.service.reconciliation import recent_month_keys


def test_recent_months_cross_year_boundaries() -> None:
    assert recent_month_keys(date(2026, 1, 1)) == ["2025-12-01", "2026-01-01"]
    assert recent_month_keys(date(2026, 3, 31)) == ["2026-02-01", "2026-03-01"]


def test_schedule_requests_previous_and_current_month_partitions() -> None:
    schedule = daily_reconciliation(dg.DefaultScheduleStatus.STOPPED)
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 23, 6, 30, tzinfo=UTC))
    requests = list(schedule(context))
    assert [r.partition_key for r in requests] == ["2026-10-01", "2026-11-01"]
    assert len({r.run_key for r in requests}) == 2
    # Both are real partitions (the month in progress included).
    keys = set(monthly_partitions.get_partition_keys(current_time=datetime(2026, 11, 23, tzinfo=UTC)))
    assert {"2026-10-01", "2026-11-01"} <= keys and "2026-12-01" not in keys


@pytest.mark.parametrize(("env", "status"), [(None, "STOPPED"), ("RUNNING", "RUNNING"), ("stopped", "STOPPED")])
def test_default_status_follows_the_sensor_switch(
    monkeypatch: pytest.MonkeyPatch, env: str | None, status: str
) -> None:
    if env is None:
        monkeypatch.delenv("AIQ_PIPELINE_SENSOR_DEFAULT", raising=False)
    else:
        monkeypatch.setenv("AIQ_PIPELINE_SENSOR_DEFAULT", env)
    defs = build_definitions()  # the code location as Dagster loads it: settings and resources from the environment
    assert defs.get_schedule_def("daily_reconciliation").default_status.name == status
