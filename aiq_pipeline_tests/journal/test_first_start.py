"""The first start posts only what is new: without a start date the sync starts when it is first switched on, like
Bunny's own switch; the moment is stored in the instance, survives restarts, and history comes in only on purpose."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg
import pytest

from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.first_start import first_switched_on, switch_on
from aiq_pipeline_tests.pair_names import NAMES
from aiq_pipeline_tests.pipeline.conftest import Stack, make_resources
from aiq_pipeline_tests.pipeline.helpers import apply_tick, sensor_tick

pytestmark = pytest.mark.slow


def _without_start_date(stack: Stack) -> Stack:
    stack.defs = build_definitions(make_resources(stack.emulators, stack.tmp / "store.duckdb", sync_start_date=None))
    return stack


def _credit_sensor(stack: Stack, cursor: str | None = None):  # type: ignore[no-untyped-def]
    import dagster as dg

    sensor = stack.defs.get_sensor_def("released_credit_notes_sensor")
    resources = {"bunny": stack.defs.resources["bunny"], "sync_settings": stack.defs.resources["sync_settings"]}
    return sensor(dg.build_sensor_context(instance=stack.instance, cursor=cursor, resources=resources))


def test_the_first_tick_records_the_moment_and_posts_nothing_that_was_there_before(stack: Stack) -> None:
    stack = _without_start_date(stack)
    assert first_switched_on(stack.instance, NAMES) is None
    before = datetime.now(UTC).replace(microsecond=0)
    first = sensor_tick(stack)
    moment = first_switched_on(stack.instance, NAMES)
    assert moment is not None and before <= moment <= datetime.now(UTC)
    assert not first.run_requests and not first.dynamic_partitions_requests  # the sample tenant's history stays
    assert f"issued from {moment.date()}" in (first.skip_reason.skip_message if first.skip_reason else "")

    # An invoice released after the switch went on is picked up; a credit note of history is not.
    (fresh,) = stack.emulators.bunny.create_invoices({"issued_at": moment.date().isoformat()}, count=1, release=True)
    second = sensor_tick(stack, cursor=first.cursor)
    (add,) = second.dynamic_partitions_requests
    assert list(add.partition_keys) == [fresh]
    apply_tick(stack, second)
    credit = _credit_sensor(stack)
    assert not credit.dynamic_partitions_requests

    # The moment is kept by the instance: a restart (new definitions, no cursor) starts from it, not from now.
    assert first_switched_on(stack.instance, NAMES) == moment
    again = sensor_tick(_without_start_date(stack))
    assert not again.dynamic_partitions_requests  # the fresh one has its partition; history is still left alone


def test_doctor_shows_where_the_sync_starts(stack: Stack, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from aiq_pipeline_tests.pipeline.test_full_cycle import _cli_env

    _cli_env(stack, monkeypatch)
    monkeypatch.delenv("AIQ_PIPELINE_SYNC_START_DATE")
    doctor = subprocess.run([sys.executable, "-m", "aiq_pipeline.cli", "doctor"], capture_output=True, text=True)
    assert "sync start: not switched on yet" in doctor.stdout, doctor.stdout + doctor.stderr
    sensor_tick(_without_start_date(stack))
    moment = first_switched_on(stack.instance, NAMES)
    assert moment is not None
    doctor = subprocess.run([sys.executable, "-m", "aiq_pipeline.cli", "doctor"], capture_output=True, text=True)
    assert f"documents issued from {moment.date()}" in doctor.stdout, doctor.stdout + doctor.stderr


def test_each_pair_has_its_own_switch_on_moment() -> None:
    """A pair added months later starts from its own switch-on, not from the first pair's (whose history the new
    pair's team may have booked by hand)."""
    first, later = datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 6, 1, 9, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        assert switch_on(instance, PairNames("uk"), now=first) == first
        assert switch_on(instance, PairNames("ie"), now=later) == later
        assert switch_on(instance, PairNames("uk"), now=later) == first  # kept
        assert first_switched_on(instance, NAMES) is None  # the one-pair deployment's own key, untouched
