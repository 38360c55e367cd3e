"""One tick of the released-invoices sensor with many existing partitions and a burst of new invoices.

    .venv/bin/python bench/sensor_tick.py --existing 100000 --new 1000
    .venv/bin/python bench/sensor_tick.py --existing 100000 --new 1000 --storage postgres

The product's sensor (aiq_pipeline/defs/invoices/sensor.py) against a real instance (`--storage sqlite`:
deploy/dagster.local.yaml in a fresh DAGSTER_HOME; `postgres`: deploy/dagster.production.yaml on a throwaway
database, dropped afterwards), the Bunny emulator serving the new invoices:

1. `--existing` partitions are added to the invoices' dynamic partitions through the instance API (old invoices
   already synced; `--materialized` of them also get a runless materialization, to give the status cache a
   realistic materialized subset). The Bunny emulator does not hold these old invoices: the sensor reads Bunny
   only from its cursor's watermark (minus the overlap), so in steady state it never pages through them;
   what it reads of them is the instance's partition list and statuses, and those are real.
2. `--new` invoices are released in Bunny after the watermark the sensor's cursor holds.
3. evaluate: the sensor function alone, built with `dg.build_sensor_context(instance_ref=..., cursor=...,
   definitions=..., resources=...)` and `evaluate_tick`, twice (the first builds the instance's partition status cache).
4. daemon tick: one `execute_sensor_iteration` of Dagster's sensor daemon against the code location served
   by a gRPC code server, with that cursor in the sensor's state: evaluation over gRPC, then adding the
   partitions and creating and queueing the runs (nothing launches them). The tick's duration comes from
   its tick record.

Then the same for Dagster's floor (bench/noop_location.py: the same keys, a sensor that compares sets and
requests the same batched runs, nothing else); `--no-floor` skips it, `--evaluate-only` skips step 4.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget, PythonFileTarget
from dagster._daemon.sensor import execute_sensor_iteration

from aiq_pipeline.settings import DEFAULT_BATCH_SIZE

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Sibling modules of this script (bench/ is not a package).
import noop_location
from harness import (
    BENCH,
    DEFAULT_ACCOUNTS,
    REPO,
    STORAGE_KINDS,
    Counters,
    StorageKind,
    cmdline,
    descendants,
    interrupt,
    patched_environ,
    phase_storage,
    pipeline_env,
    release_burst,
)

from aiq_emulators.runner import RunningEmulators, running_emulators
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.names import DEFAULT_NAMES
from aiq_pipeline.service.discovery import Cursor

# Old invoice ids: far above the emulator's (small, sequential) ids, so they never collide with the new ones.
OLD_ID_BASE = 10_000_000
ADD_CHUNK = 10_000  # keys per add_dynamic_partitions call (SQLite bounds the variables of one statement)
LOCATION = "bench_sensor_tick"
_log = logging.getLogger("bench.sensor_tick")


@dataclass
class TickResult:
    name: str
    setup_s: float  # adding the existing partitions (and materializations)
    evaluate_s: list[float]  # each evaluation of the sensor function
    new_keys: int  # partitions the evaluation asked to add
    run_requests: int
    daemon_wall_s: float | None = None  # one execute_sensor_iteration, start to end, as seen from here
    tick_s: float | None = None  # the tick record's own duration (evaluation over gRPC + partitions + runs)
    tick_status: str | None = None
    partitions_after: int | None = None
    runs_after: int | None = None
    bunny_requests: int | None = None  # Bunny HTTP requests during the measured evaluations and tick
    evaluate_profile: str | None = None  # cProfile of the last evaluation (`--profile`)
    profile: str | None = None  # cProfile of the daemon's side of the tick (`--profile`)


def old_keys(count: int) -> list[str]:
    return [str(OLD_ID_BASE + i) for i in range(count)]


def add_partitions(instance: dg.DagsterInstance, name: str, keys: list[str]) -> None:
    for start in range(0, len(keys), ADD_CHUNK):
        instance.add_dynamic_partitions(name, keys[start : start + ADD_CHUNK])


def materialize(instance: dg.DagsterInstance, asset: dg.AssetKey, keys: list[str]) -> None:
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=key))


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def _summarise(data: object) -> tuple[int, int]:
    """(partition keys to add, run requests) of an evaluation (SensorExecutionData)."""
    added = sum(len(r.partition_keys) for r in getattr(data, "dynamic_partitions_requests", None) or [])
    return added, len(getattr(data, "run_requests", None) or [])


def evaluate(
    sensor: dg.SensorDefinition,
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    cursor: str | None,
    times: int,
    profile_top: int = 0,
) -> tuple[list[float], int, int, str | None]:
    """Evaluate the sensor `times` times (nothing is applied); with `profile_top`, cProfile the last one."""
    seconds, added, runs, profiled = [], 0, 0, None
    for i in range(times):
        # By instance ref, as the code server builds it (so the run requests resolve against the partitions the
        # same evaluation adds).
        context = dg.build_sensor_context(
            instance_ref=instance.get_ref(), cursor=cursor, definitions=defs, resources=dict(defs.resources or {})
        )
        profile = cProfile.Profile() if profile_top and i == times - 1 else None
        with profile or nullcontext():
            elapsed, data = timed(lambda context=context: sensor.evaluate_tick(context))
        seconds.append(elapsed)
        added, runs = _summarise(data)
        if profile is not None:
            profiled = _stats(profile, profile_top)
    return seconds, added, runs, profiled


def _stats(profile: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


@contextmanager
def workspace(
    target: ModuleTarget | PythonFileTarget, instance: dg.DagsterInstance
) -> Iterator[WorkspaceProcessContext]:
    """The code location served by a gRPC code server subprocess, as the daemon loads it."""
    try:
        with create_test_daemon_workspace_context(target, instance) as context:
            entry = context.create_request_context().get_code_location_entries()[str(target.location_name)]
            if entry.code_location is None:
                raise RuntimeError(f"the code location did not load: {entry.load_error}")
            yield context
    finally:
        _stop_code_servers(str(instance.root_directory))


def _stop_code_servers(home: str, grace: float = 10.0) -> None:
    """Stop the code servers started for this phase's DAGSTER_HOME that outlive the workspace (they should exit
    once heartbeats stop; one retrying a dropped database may not)."""
    deadline = time.monotonic() + grace
    while True:
        left = [pid for pid in descendants(os.getpid()) if "dagster api grpc" in (c := cmdline(pid)) and home in c]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for pid in left:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def daemon_tick(
    context: WorkspaceProcessContext,
    sensor_name: str,
    cursor: str | None,
    result: TickResult,
    partitions: str,
    profile_top: int = 0,
) -> None:
    """One pass of the sensor daemon with only `sensor_name` running (holding `cursor`); the tick's figures."""
    instance = context.instance
    entry = context.create_request_context().get_code_location_entries()[LOCATION]
    assert entry.code_location is not None
    remote = entry.code_location.get_repository("__repository__").get_sensor(sensor_name)
    instance.add_instigator_state(
        InstigatorState(
            remote.get_remote_origin(),
            InstigatorType.SENSOR,
            InstigatorStatus.RUNNING,
            SensorInstigatorData(
                min_interval=remote.min_interval_seconds,
                cursor=cursor,
                last_sensor_start_timestamp=time.time(),
                sensor_type=remote.sensor_type,
            ),
        )
    )
    profile = cProfile.Profile() if profile_top else None
    with profile or nullcontext():
        result.daemon_wall_s, _ = timed(lambda: list(execute_sensor_iteration(context, _log, None, None)))
    if profile is not None:
        result.profile = _stats(profile, profile_top)
    ticks = instance.get_ticks(remote.get_remote_origin_id(), remote.selector_id)
    if ticks:
        tick = ticks[0]
        result.tick_s = (tick.end_timestamp - tick.timestamp) if tick.end_timestamp else None
        result.tick_status = tick.status.value
        if tick.error:
            result.tick_status += f" ({tick.error.message.strip()[:300]})"
    result.partitions_after = len(instance.get_dynamic_partitions(partitions))
    result.runs_after = instance.get_runs_count()


# ---------------------------------------------------------------------------------------------- phases


@dataclass(frozen=True)
class Options:
    existing: int
    new: int
    materialized: int
    batch: int
    storage: StorageKind
    evaluate_only: bool
    tmp: Path
    profile_top: int = 0


def pipeline_phase(options: Options, emulators: RunningEmulators, new_ids: list[str], watermark: str) -> TickResult:
    folder = options.tmp / "pipeline"
    with phase_storage(options.storage, folder / "home", store_file=folder / "store.duckdb") as storage:
        print(f"  {storage.describe()}", flush=True)
        # Only the invoices sensor runs (its state is set below); the location's other sensors stay stopped.
        env = pipeline_env(emulators, storage, options.batch, sensors="STOPPED")
        with patched_environ(env), storage.instance() as instance:
            setup = prepare(instance, DEFAULT_NAMES.invoices.partitions_name, DEFAULT_NAMES.invoices.key, options)
            defs = build_definitions()
            sensor = defs.get_repository_def().get_sensor_def(DEFAULT_NAMES.invoices.sensor_name)
            before = Counters.read(emulators)
            seconds, added, runs, profiled = evaluate(sensor, instance, defs, watermark, 2, options.profile_top)
            result = TickResult("pipeline (released_invoices_sensor)", setup, seconds, added, runs)
            result.evaluate_profile = profiled
            if not options.evaluate_only:
                target = ModuleTarget("aiq_pipeline.definitions", "defs", str(REPO), LOCATION)
                with workspace(target, instance) as context:
                    daemon_tick(
                        context,
                        DEFAULT_NAMES.invoices.sensor_name,
                        watermark,
                        result,
                        DEFAULT_NAMES.invoices.partitions_name,
                        options.profile_top,
                    )
            result.bunny_requests = (Counters.read(emulators) - before).bunny_requests
        _check(result, len(new_ids), options)
        return result


def floor_phase(options: Options, new_ids: list[str]) -> TickResult:
    folder = options.tmp / "floor"
    folder.mkdir(parents=True)
    keys_file = folder / "noop-keys.txt"
    keys_file.write_text("\n".join(old_keys(options.existing) + new_ids) + "\n", encoding="utf-8")
    with phase_storage(options.storage, folder / "home", store_file=folder / "unused.duckdb") as storage:
        env = {
            **storage.env,
            "DAGSTER_HOME": str(storage.home),
            noop_location.KEYS_FILE_ENV: str(keys_file),
            noop_location.BATCH_SIZE_ENV: str(options.batch),
        }
        with patched_environ(env), storage.instance() as instance:
            setup = prepare(instance, noop_location.NOOP_PARTITIONS_NAME, noop_location.NOOP_ASSET, options)
            defs = noop_location.defs
            sensor = defs.get_repository_def().get_sensor_def(noop_location.noop_burst_sensor.name)
            seconds, added, runs, profiled = evaluate(sensor, instance, defs, None, 2, options.profile_top)
            result = TickResult("floor (noop_burst_sensor)", setup, seconds, added, runs)
            result.evaluate_profile = profiled
            if not options.evaluate_only:
                target = PythonFileTarget(str(BENCH / "noop_location.py"), "defs", str(REPO), LOCATION)
                with workspace(target, instance) as context:
                    daemon_tick(
                        context,
                        noop_location.noop_burst_sensor.name,
                        None,
                        result,
                        noop_location.NOOP_PARTITIONS_NAME,
                        options.profile_top,
                    )
        _check(result, len(new_ids), options)
        return result


def prepare(instance: dg.DagsterInstance, partitions: str, asset: dg.AssetKey, options: Options) -> float:
    keys = old_keys(options.existing)
    started = time.perf_counter()
    add_partitions(instance, partitions, keys)
    materialize(instance, asset, keys[: options.materialized])
    elapsed = time.perf_counter() - started
    print(
        f"  {options.existing} existing partitions ({options.materialized} materialized) added in {elapsed:.1f} s",
        flush=True,
    )
    return elapsed


def _check(result: TickResult, new: int, options: Options) -> None:
    if result.new_keys != new:
        print(f"  WARNING: the evaluation asked for {result.new_keys} new partitions, not {new}", flush=True)
    if result.partitions_after is not None and result.partitions_after != options.existing + new:
        print(f"  WARNING: {result.partitions_after} partitions after the tick, not {options.existing + new}")


# ---------------------------------------------------------------------------------------------- report


def _s(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} s"


def report(results: list[TickResult], options: Options) -> None:
    print(
        f"\n######## sensor tick: {options.existing} existing partitions ({options.materialized} materialized), "
        f"{options.new} new invoices, batch size {options.batch}, {options.storage}, {os.cpu_count()} CPUs"
    )
    for r in results:
        print(f"\n== {r.name}")
        print(f"  setup (existing partitions)    : {_s(r.setup_s, 1)}")
        print(f"  evaluate, first (cold cache)   : {_s(r.evaluate_s[0])}")
        if len(r.evaluate_s) > 1:
            print(f"  evaluate, again                : {_s(r.evaluate_s[1])}")
        print(f"  asked to add / run requests    : {r.new_keys} partitions, {r.run_requests} runs")
        if r.bunny_requests is not None:
            print(f"  Bunny requests (all of these)  : {r.bunny_requests}")
        if r.tick_s is not None or r.daemon_wall_s is not None:
            print(f"  daemon tick (tick record)      : {_s(r.tick_s)} [{r.tick_status}]")
            print(f"  daemon iteration, wall         : {_s(r.daemon_wall_s)}")
            print(f"  after the tick                 : {r.partitions_after} partitions, {r.runs_after} runs queued")
        if r.evaluate_profile:
            print("  cProfile of the second evaluation, by cumulative time:")
            print("\n".join("    " + line for line in r.evaluate_profile.splitlines() if line.strip()))
        if r.profile:
            print("  cProfile of the daemon's side of the tick, by cumulative time:")
            print("\n".join("    " + line for line in r.profile.splitlines() if line.strip()))
    if len(results) == 2:
        pipeline, floor = results
        print("\n== pipeline / floor")
        print(f"  evaluate (again)               : {_ratio(pipeline.evaluate_s[-1], floor.evaluate_s[-1])}")
        print(f"  daemon tick                    : {_ratio(pipeline.tick_s, floor.tick_s)}")


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", type=int, default=100_000, help="partitions already there (default 100000)")
    parser.add_argument("--new", type=int, default=1000, help="invoices released since the last tick (default 1000)")
    parser.add_argument("--materialized", type=int, default=0, help="existing partitions also materialized (slow)")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="invoices per run (AIQ_PIPELINE_BATCH_SIZE)"
    )
    parser.add_argument("--storage", choices=STORAGE_KINDS, default="sqlite", help="Dagster instance storage")
    parser.add_argument("--evaluate-only", action="store_true", help="skip the daemon tick (no code server)")
    parser.add_argument("--no-floor", action="store_true", help="skip Dagster's floor (the no-op sensor)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the daemon tick: top N rows")
    args = parser.parse_args(argv)
    if args.existing < 0 or args.new < 1 or not 0 <= args.materialized <= args.existing:
        parser.error("--existing >= 0, --new >= 1, --materialized in 0..existing")
    signal.signal(signal.SIGTERM, interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="aiq-tick-"))
    options = Options(
        args.existing, args.new, args.materialized, args.batch_size, args.storage, args.evaluate_only, tmp, args.profile
    )
    print(
        f"sensor tick: {args.existing} existing partitions, {args.new} new invoices, {args.storage}, "
        f"load average {os.getloadavg()[0]:.1f}, work folder {tmp}",
        flush=True,
    )
    results: list[TickResult] = []
    try:
        with running_emulators() as emulators:
            # The cursor's watermark: the last look happened just before the new invoices were released.
            watermark = emulators.bunny.store.now() - timedelta(seconds=1)
            new_ids = release_burst(emulators, args.new, list(DEFAULT_ACCOUNTS))
            cursor = Cursor(watermark=watermark).serialize()
            print("phase: the product's sensor", flush=True)
            results.append(pipeline_phase(options, emulators, new_ids, cursor))
        if not args.no_floor:
            print("phase: Dagster's floor (no-op sensor, same keys)", flush=True)
            results.append(floor_phase(options, new_ids))
    except KeyboardInterrupt:
        print("interrupted; subprocesses stopped", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    report(results, options)
    ok = all(r.new_keys == args.new for r in results) and all(
        r.partitions_after in (None, args.existing + args.new) for r in results
    )
    print(f"\nresult: {'OK' if ok else 'NOT OK'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
