"""Driving the real daemon code against a production instance: the sensor daemon's iteration (ticks and cursor in
the instance), the queued run coordinator's iteration (run limits, pools) and the default run launcher (one
subprocess per run, via a gRPC code server), all from a test."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.remote_representation.external import RemoteSensor
from dagster._core.scheduler.instigation import InstigatorState
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._daemon.sensor import execute_sensor_iteration

LOCATION = "aiq_pipeline"
SENSOR = "released_invoices_sensor"
REPO_ROOT = Path(__file__).resolve().parents[2]
_log = logging.getLogger("aiq_pipeline_tests.daemon")


@contextmanager
def code_server(instance: dg.DagsterInstance) -> Iterator[WorkspaceProcessContext]:
    """The project's code location served by a gRPC subprocess, as `dagster-daemon run` loads it (env vars from
    this process: resources read them)."""
    target = ModuleTarget("aiq_pipeline.definitions", "defs", str(REPO_ROOT), LOCATION)
    try:
        with create_test_daemon_workspace_context(target, instance) as context:
            yield context
    finally:
        _reap_code_servers(instance.root_directory)


def _reap_code_servers(dagster_home: str, grace: float = 10.0) -> None:
    """Stop the gRPC code servers started for this instance that outlive the workspace.

    They should exit on their own once heartbeats stop, but one that is retrying a connection to the test's
    (already dropped) database can hang on, ignoring SIGTERM; a test must not leave processes behind.
    """
    deadline = time.monotonic() + grace
    while True:
        left = _code_server_pids(dagster_home)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _code_server_pids(dagster_home: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "dagster api grpc" in cmdline and dagster_home in cmdline:
            pids.append(int(entry.name))
    return pids


def remote_sensor(context: WorkspaceProcessContext) -> RemoteSensor:
    entry = context.create_request_context().get_code_location_entries()[LOCATION]
    assert entry.code_location, entry.load_error
    return entry.code_location.get_repository("__repository__").get_sensor(SENSOR)


def sensor_state(instance: dg.DagsterInstance, context: WorkspaceProcessContext) -> InstigatorState | None:
    sensor = remote_sensor(context)
    return instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)


def sensor_tick(context: WorkspaceProcessContext) -> None:
    """One pass of the sensor daemon: evaluates every running sensor that is due, stores the tick and the cursor,
    adds the partitions and submits the runs (QUEUED, by the queued coordinator)."""
    list(execute_sensor_iteration(context, _log, None, None))


def drain_queue(context: WorkspaceProcessContext, timeout: float = 240) -> None:
    """Run the queued coordinator until no run is queued or in progress."""
    instance = context.instance
    deadline = time.monotonic() + timeout
    with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
        while True:
            list(daemon.run_iteration(context))
            if not instance.get_runs_count(dg.RunsFilter(statuses=list(NOT_FINISHED_STATUSES))):
                return
            assert time.monotonic() < deadline, "runs did not finish in time"
            time.sleep(0.3)


def peak_runs_in_flight(instance: dg.DagsterInstance) -> int:
    """The most runs that were executing at the same moment, from the run records' start and end times."""
    edges: list[tuple[float, int]] = []
    for record in instance.get_run_records():
        assert record.start_time and record.end_time, record.dagster_run.run_id
        edges += [(record.start_time, 1), (record.end_time, -1)]
    peak = current = 0
    for _, step in sorted(edges):  # an end sorts before a start at the same instant
        current += step
        peak = max(peak, current)
    return peak
