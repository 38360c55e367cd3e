"""When a document sensor's tick reads behind its watermark: a sweep every `sweep_minutes` reads the overlap plus the
time since the last sweep again; the ticks between read only what is newer than the watermark."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from aiq_pipeline.defs.posting.sensing import SWEPT_AT, Tick, begin_tick
from aiq_pipeline.defs.resources import SyncSettings
from aiq_pipeline_tests.pair_names import NAMES

WATERMARK = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _tick(instance: dg.DagsterInstance, swept_ago: timedelta | None, **settings: int) -> Tick:
    cursor = {"watermark": WATERMARK.isoformat()}
    if swept_ago is not None:
        cursor[SWEPT_AT] = (datetime.now(UTC) - swept_ago).isoformat()
    context = dg.build_sensor_context(instance=instance, cursor=json.dumps(cursor))
    return begin_tick(context, NAMES, SyncSettings(sync_start_date="2026-01-01", **settings))


def test_the_first_tick_sweeps_the_overlap_and_the_sweep_interval(instance: dg.DagsterInstance) -> None:
    tick = _tick(instance, None)
    assert tick.sweeping
    assert tick.since(WATERMARK) == WATERMARK - timedelta(minutes=15)
    assert tick.since(None) is None  # no watermark yet: the sensor's first look reads everything


def test_a_tick_between_sweeps_reads_from_the_watermark_on(instance: dg.DagsterInstance) -> None:
    tick = _tick(instance, timedelta(minutes=1))
    assert not tick.sweeping
    assert tick.since(WATERMARK) == WATERMARK  # its own second included: stamps may share it


def test_the_next_sweep_comes_once_the_interval_has_passed(instance: dg.DagsterInstance) -> None:
    assert _tick(instance, timedelta(minutes=5, seconds=1)).sweeping
    assert not _tick(instance, timedelta(minutes=4, seconds=50)).sweeping
    assert _tick(instance, timedelta(minutes=2), sweep_minutes=1, overlap_minutes=3).since(WATERMARK) == (
        WATERMARK - timedelta(minutes=4)
    )
    assert _tick(instance, timedelta(seconds=1), sweep_minutes=0).sweeping  # 0: every tick sweeps


def test_the_cursor_keeps_when_the_sensor_last_swept(instance: dg.DagsterInstance) -> None:
    before = datetime.now(UTC)
    swept = _tick(instance, None)
    kept = json.loads(swept.cursor(json.dumps({"watermark": "w", "resume": True})))
    assert kept["watermark"] == "w" and kept["resume"] is True  # the kind's own cursor is untouched
    assert datetime.fromisoformat(kept[SWEPT_AT]) >= before
    quick = _tick(instance, timedelta(minutes=2))
    assert json.loads(quick.cursor("{}"))[SWEPT_AT] == quick.swept_at.isoformat()
    assert quick.swept_at < before - timedelta(minutes=1)  # a quick tick leaves the last sweep's moment


def test_a_last_sweep_in_the_future_sweeps_now_instead_of_never(instance: dg.DagsterInstance) -> None:
    """The clock stepped back, or the cursor was written on a host whose clock runs ahead: waiting for `now` to pass
    the stamp would stop every sweep until then, and a late document would fall behind the window (found in
    review)."""
    tick = _tick(instance, -timedelta(hours=2))
    assert tick.sweeping
    assert tick.swept_at <= datetime.now(UTC)  # the cursor takes this clock's moment from now on
