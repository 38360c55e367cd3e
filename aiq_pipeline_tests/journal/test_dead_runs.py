"""A run killed part-way (SIGKILL) blocks nothing and loses nothing: through the real command line and the daemon's
own code. Its unfinished documents are listed as INTERRUPTED, and the next run posts them, each exactly once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from aiq_emulators.runner import RunningEmulators, running_emulators
from aiq_pipeline.defs.recovery import PROCESS_TAG
from aiq_pipeline_tests.pair_names import INVOICES
from aiq_pipeline_tests.pipeline.conftest import (
    AIQ_ENTITY,
    HISTORY_START,
    connection_env,
)
from aiq_pipeline_tests.postgres.daemon import code_server, drain_queue, remote_sensor, sensor_tick

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "aiq_pipeline.cli"]
BROKEN_IN_SAMPLE_TENANT = 3  # the sample tenant's three data errors (closed period, tax code, control account)


@dataclass
class Tenant:
    emulators: RunningEmulators
    home: Path
    env: dict[str, str]

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CLI, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def aiq(self) -> Counter[str]:
        transactions = self.emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.values()
        return Counter(t.external_reference for t in transactions if t.type_code == "SI")

    def exceptions(self) -> dict[str, dict]:
        listed = self.cli("exceptions", "--json")
        assert listed.returncode == 0, listed.stderr
        return {e["key"]: e for e in json.loads(listed.stdout)}

    def kill_when_posted(self, process: subprocess.Popen[str], count: int, timeout: float = 120) -> None:
        """SIGKILL `process` (and its children) once AIQ holds `count` more invoices than now."""
        start = sum(self.aiq().values())
        deadline = time.monotonic() + timeout
        while sum(self.aiq().values()) < start + count:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "nothing was posted in time"
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")  # one store slot, as shipped
    with running_emulators(state_dir=tmp_path / "emulators") as emulators:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            **connection_env(emulators),
            "AIQ_PIPELINE_STORE": str(tmp_path / "store.duckdb"),
            "AIQ_PIPELINE_SYNC_START_DATE": HISTORY_START,
            "AIQ_PIPELINE_BATCH_SIZE": "100",
            "AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE": "3",
        }
        yield Tenant(emulators, home, env)


def _posted_exactly_once(tenant: Tenant, invoice_ids: list[str]) -> None:
    held = tenant.aiq()
    assert {f"BUNNY-INV-{i}" for i in invoice_ids} <= set(held)
    assert set(held.values()) == {1}, [ref for ref, n in held.items() if n > 1]


def _settle_unknown_outcomes(tenant: Tenant) -> None:
    """A document whose write was in flight when its run died is OUTCOME_UNKNOWN: a person's retry settles it."""
    unknown = [k for k, e in tenant.exceptions().items() if e["reason_code"] == "OUTCOME_UNKNOWN"]
    if unknown:
        done = tenant.cli("retry", *unknown)
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_killed_sync_blocks_nothing_and_the_next_sync_posts_what_it_left(tenant: Tenant) -> None:
    new = tenant.emulators.bunny.create_invoices({}, count=30, release=True)
    tenant.emulators.accountsiq.faults.add({"kind": "latency", "latency_ms": 150})
    running = tenant.start("sync")
    tenant.kill_when_posted(running, 5)
    tenant.emulators.accountsiq.faults.clear()
    posted_before = set(tenant.aiq())

    # The dead run's unfinished invoices are on the exceptions list, as INTERRUPTED (not silently lost).
    listed = tenant.exceptions()
    interrupted = {k for k, e in listed.items() if e["reason_code"] == "INTERRUPTED"}
    unfinished = {i for i in new if f"BUNNY-INV-{i}" not in posted_before}
    assert unfinished - {k for k, e in listed.items() if e["reason_code"] == "OUTCOME_UNKNOWN"} <= interrupted
    assert all(listed[k]["fix"] for k in interrupted)

    # The next sync is not blocked by the dead run's pool slot, and posts what it left, once each.
    again = tenant.cli("sync", timeout=180)
    assert again.returncode == 1, again.stdout + again.stderr  # the sample tenant's data errors remain
    assert f"failed: {BROKEN_IN_SAMPLE_TENANT}" in again.stdout or "OUTCOME_UNKNOWN" in again.stdout
    _settle_unknown_outcomes(tenant)
    _posted_exactly_once(tenant, new)
    left = {e["reason_code"] for e in tenant.exceptions().values()}
    assert left == {"CLOSED_PERIOD", "UNKNOWN_TAX_CODE", "NOT_POSTING_ACCOUNT"}


def test_a_killed_retry_blocks_nothing_and_the_next_retry_posts_the_rest(tenant: Tenant) -> None:
    # Twenty invoices with a tax code AIQ lacks fail; the code is then created in AIQ and they are retried.
    new = tenant.emulators.bunny.create_invoices(
        {"items": [{"charge": "SUB-MONTHLY", "quantity": 1, "tax_code": "V88"}]}, count=20, release=True
    )
    first = tenant.cli("sync")
    assert first.returncode == 1 and "UNKNOWN_TAX_CODE" in first.stdout, first.stdout + first.stderr
    with tenant.emulators.accountsiq.state.writing() as data:
        codes = data.entities[AIQ_ENTITY].tax_codes
        # at Bunny's rate for it (Bunny taxes this code at 0 %): AIQ checks the rate against the invoice's tax
        codes["V88"] = codes["V01"].model_copy(update={"code": "V88", "rate": Decimal(0)})
    tenant.emulators.accountsiq.faults.add({"kind": "latency", "latency_ms": 150})
    running = tenant.start("retry", "--all")
    tenant.kill_when_posted(running, 4)
    tenant.emulators.accountsiq.faults.clear()

    codes = {e["reason_code"] for k, e in tenant.exceptions().items() if k in new}
    assert codes <= {"INTERRUPTED", "OUTCOME_UNKNOWN", "UNKNOWN_TAX_CODE"} and "INTERRUPTED" in codes
    again = tenant.cli("retry", "--all", timeout=180)
    assert "posted:" in again.stdout, again.stdout + again.stderr
    _settle_unknown_outcomes(tenant)
    _posted_exactly_once(tenant, new)
    assert not {k for k in tenant.exceptions() if k in new}


def test_a_killed_daemon_run_is_found_dead_by_the_next_sensor_tick_and_its_invoices_posted(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = tenant.emulators.bunny.create_invoices({}, count=25, release=True)
    for name, value in tenant.env.items():  # the code server and the runs it launches read the settings here
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.from_config(str(tenant.home))
    try:
        with code_server(instance) as context:
            instance.start_sensor(remote_sensor(context))
            tenant.emulators.accountsiq.faults.add({"kind": "latency", "latency_ms": 150})
            sensor_tick(context)
            run = _launch_and_wait_until_posting(context, instance, tenant)
            os.kill(int(run.tags[PROCESS_TAG].split("/")[1]), signal.SIGKILL)  # the run worker dies mid-batch
            tenant.emulators.accountsiq.faults.clear()

            # Without recovery the dead run would hold the pool's only slot for ever. The next tick finds it
            # dead, marks it failed (its invoices INTERRUPTED), and asks for them again; the new run is not blocked.
            with freeze_time(time.time() + 60):  # the sensor is due again after its 30 s interval
                sensor_tick(context)
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
            drain_queue(context, timeout=180)
        _settle_unknown_outcomes(tenant)
        _posted_exactly_once(tenant, new)
        status = instance.get_status_by_partition(INVOICES.key, new, INVOICES.partitions) or {}
        assert {status.get(i) for i in new} <= {dg.AssetPartitionStatus.MATERIALIZED}
    finally:
        instance.dispose()


def _launch_and_wait_until_posting(context, instance: dg.DagsterInstance, tenant: Tenant) -> dg.DagsterRun:  # type: ignore[no-untyped-def]
    """Let the queued coordinator launch the tick's run, then wait until its worker tagged its process and posted
    a few invoices."""
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    start = sum(tenant.aiq().values())
    deadline = time.monotonic() + 120
    with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
        while True:
            list(daemon.run_iteration(context))
            runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            tagged = [r for r in runs if PROCESS_TAG in r.tags]
            if tagged and sum(tenant.aiq().values()) >= start + 3:
                return tagged[0]
            assert time.monotonic() < deadline, "no run started posting in time"
            time.sleep(0.2)
