"""deploy/dagster.production.yaml loads as it ships, against the local server, with the settings it promises."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.config import PoolGranularity

from aiq_pipeline_tests.pair_names import STORE_POOL
from aiq_pipeline_tests.postgres.conftest import open_instance

pytestmark = pytest.mark.postgres


@pytest.mark.slow  # creating Dagster's tables in a fresh database takes about 6 s
def test_production_yaml_gives_postgres_storage_and_the_queued_coordinator(production_home: Path) -> None:
    instance = open_instance(production_home)
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        # The psycopg2 driver is named, so psycopg 3 can never be picked (see the yaml's header).
        assert instance.run_storage.postgres_url.startswith("postgresql+psycopg2://")
        assert not instance.telemetry_enabled
        # It really talks to the database: a run written here is read back by a second instance.
        run = instance.create_run_for_job(dg.GraphDefinition("noop").to_job(), run_id=None)
    finally:
        instance.dispose()
    other = open_instance(production_home)
    try:
        assert other.get_run_by_id(run.run_id) is not None
    finally:
        other.dispose()


def test_limits_protect_aiq_and_the_store(production_home: Path) -> None:
    instance = open_instance(production_home)
    try:
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == 6
        assert {"key": "dagster/backfill", "limit": 2} in config.run_queue_config.tag_concurrency_limits
        assert config.pool_config.pool_granularity == PoolGranularity.OP
        # The store pool gets four slots the first time a step claims it.
        instance.event_log_storage.initialize_concurrency_limit_to_default(STORE_POOL)
        assert instance.event_log_storage.get_concurrency_info(STORE_POOL).slot_count == 4
    finally:
        instance.dispose()


def test_data_errors_are_never_retried_and_crashed_runs_free_their_slots(production_home: Path) -> None:
    instance = open_instance(production_home)
    try:
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert instance.get_settings("run_retries")["retry_on_asset_or_op_failure"] is False
        assert instance.run_monitoring_enabled
        assert instance.get_settings("run_monitoring")["free_slots_after_run_end_seconds"] == 300
    finally:
        instance.dispose()


def test_a_missing_connection_setting_is_named(production_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_PG_HOST")
    with pytest.raises(Exception, match="DAGSTER_PG_HOST"):
        open_instance(production_home)
