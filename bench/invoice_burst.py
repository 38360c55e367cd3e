"""Billing-day burst benchmark: N released invoices through the real Dagster daemon path, against Dagster's floor.

    .venv/bin/python bench/invoice_burst.py --invoices 200 --batch-size 50
    .venv/bin/python bench/invoice_burst.py --invoices 200 --aiq-latency-ms 150 --bunny-latency-ms 50
    .venv/bin/python bench/invoice_burst.py --invoices 200 --storage postgres

Pipeline phase: both emulators on 127.0.0.1 with the demo tenant (fresh state each phase); N invoices released
at once in Bunny (issued today; the demo's own invoices are older and excluded with
AIQ_PIPELINE_SYNC_START_DATE=today); a fresh DAGSTER_HOME (`--storage sqlite`: deploy/dagster.local.yaml and a
DuckDB store; `--storage postgres`: deploy/dagster.production.yaml on a throwaway PostgreSQL database and the store
in another, both dropped afterwards); `dagster-daemon run -w workspace.yaml` with the product's settings in
environment variables. The product's sensor adds the partitions and requests batched runs, the queued coordinator
launches them. We wait (bounded) until every burst invoice is MATERIALIZED.

With `--aiq-latency-ms` / `--bunny-latency-ms` the emulators' latency faults delay every AIQ SOAP call and every
Bunny request (armed through their `/_emulator/faults` routes), and the same burst also runs without latency
first (`--no-compare-no-latency` skips that), so the ratio between the two is measured in one invocation.

Floor phase: the same with `bench/noop_location.py`: an asset that only yields one materialization per key, on the
same keys, with the same batch size, instance config and daemon path (`--no-floor` skips it).

See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorType

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Sibling modules of this script (bench/ is not a package).
from harness import (
    DEFAULT_ACCOUNTS,
    REPO,
    STORAGE_KINDS,
    Counters,
    MemoryPeaks,
    MemorySampler,
    PhaseStorage,
    StorageKind,
    aiq_documents,
    arm_latency,
    daemon_process,
    interrupt,
    noop_workspace,
    phase_storage,
    pipeline_env,
    release_burst,
)
from noop_location import BATCH_SIZE_ENV, KEYS_FILE_ENV, NOOP_ASSET, NOOP_PARTITIONS_NAME

from aiq_emulators.runner import running_emulators
from aiq_pipeline.defs.names import DEFAULT_NAMES

POLL_SECONDS = 1.0
# A code location that fails to load leaves the daemon running without ticks: give up early, not at the timeout.
FIRST_TICK_LIMIT = 180
CPU_ROLES = ("run", "code server", "daemon", "other")  # the daemon tree's processes, as the sampler sorts them


# ---------------------------------------------------------------------------------------------- instance readings


@dataclass
class RunTiming:
    run_id: str
    status: str
    partitions: int
    queued_s: float  # created -> started (queue + launch)
    to_first_s: float  # started -> first materialization (process start, code load, pool slot, setup)
    work_s: float  # first -> last materialization
    tail_s: float  # last materialization -> run end
    total_s: float  # started -> ended


@dataclass
class PhaseResult:
    name: str
    storage: str
    partitions: int
    materialized: int
    complete: bool
    daemon_start: float
    first_tick: float | None
    tick_seconds: float | None
    last_materialization: float | None
    runs: list[RunTiming]
    run_statuses: Counter[str]
    failures: list[str]  # why runs of the asset failed (first error of each)
    other_runs: Counter[str]
    memory: MemoryPeaks
    timed_out: bool
    own_cpu: float = 0.0  # this process's CPU seconds over the phase: the emulators' threads, polls, the sampler

    @property
    def elapsed(self) -> float | None:
        if self.first_tick is None or self.last_materialization is None:
            return None
        return self.last_materialization - self.first_tick

    @property
    def rate(self) -> float | None:
        return self.materialized / self.elapsed if self.elapsed else None

    @property
    def in_run_per_invoice(self) -> float | None:
        """Seconds per partition inside a run (work / (partitions - 1)), median over runs."""
        values = [r.work_s / (r.partitions - 1) for r in self.runs if r.partitions > 1]
        return statistics.median(values) if values else None

    @property
    def queued_median(self) -> float | None:
        return statistics.median(r.queued_s for r in self.runs) if self.runs else None


def _sensor_ticks(instance: dg.DagsterInstance, sensor: str) -> list:
    ticks = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == sensor:
            ticks.extend(instance.get_ticks(state.instigator_origin_id, state.selector_id))
    return sorted(ticks, key=lambda t: t.timestamp)


def _all_materializations(instance: dg.DagsterInstance, key: dg.AssetKey) -> list:
    records, cursor = [], None
    for _ in range(10_000):  # bounded: 1000 records per page
        page = instance.fetch_materializations(key, limit=1000, cursor=cursor, ascending=True)
        records.extend(page.records)
        if not page.has_more:
            break
        cursor = page.cursor
    return records


def _asset_runs(instance: dg.DagsterInstance, asset: dg.AssetKey) -> list:
    """The run records of runs that materialize `asset` (other sensors of the location may launch others)."""
    return [r for r in instance.get_run_records() if asset in (r.dagster_run.asset_selection or ())]


def _other_runs(instance: dg.DagsterInstance, asset: dg.AssetKey) -> Counter[str]:
    """Runs of other assets, by their sensor (or job) and status."""
    found: Counter[str] = Counter()
    for record in instance.get_run_records():
        run = record.dagster_run
        if asset not in (run.asset_selection or ()):
            found[f"{run.tags.get('dagster/sensor_name', run.job_name)} {run.status.value}"] += 1
    return found


_ERROR_EVENTS = {"STEP_FAILURE", "RUN_FAILURE", "PIPELINE_FAILURE", "ENGINE_EVENT"}


def _failure_reasons(instance: dg.DagsterInstance, asset: dg.AssetKey) -> list[str]:
    reasons = []
    for record in _asset_runs(instance, asset):
        run = record.dagster_run
        if run.status != dg.DagsterRunStatus.FAILURE:
            continue
        errors = []
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None or event.event_type_value not in _ERROR_EVENTS:
                continue
            error = getattr(event.event_specific_data, "error", None)
            if event.event_type_value == "ENGINE_EVENT" and error is None:
                continue
            errors.append(f"{event.message or ''} {error.message.strip() if error else ''}".strip())
        reasons.append(f"{run.run_id[:8]}: " + (" | ".join(errors)[:600] or "no error event"))
    return reasons


def _run_timings(
    instance: dg.DagsterInstance, asset: dg.AssetKey, materializations: list
) -> tuple[list[RunTiming], Counter[str]]:
    by_run: dict[str, list[float]] = defaultdict(list)
    for record in materializations:
        by_run[record.run_id].append(record.timestamp)
    timings: list[RunTiming] = []
    statuses: Counter[str] = Counter()
    for record in sorted(_asset_runs(instance, asset), key=lambda r: r.create_timestamp):
        run = record.dagster_run
        statuses[run.status.value] += 1
        stamps = sorted(by_run.get(run.run_id, []))
        start, end = record.start_time, record.end_time
        if start is None or end is None:
            continue
        first, last = (stamps[0], stamps[-1]) if stamps else (end, end)
        timings.append(
            RunTiming(
                run_id=run.run_id,
                status=run.status.value,
                partitions=len(stamps),
                queued_s=start - record.create_timestamp.timestamp(),
                to_first_s=first - start,
                work_s=last - first,
                tail_s=end - last,
                total_s=end - start,
            )
        )
    return timings, statuses


def _show_log(log: Path, lines: int = 25) -> None:
    """The end of the daemon's log (why a location did not load, why the sensor failed)."""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    print(f"  last lines of {log}:")
    for line in text[-lines:]:
        print(f"    | {line[:300]}")


def wait_for_phase(
    name: str,
    *,
    storage: PhaseStorage,
    workspace: Path,
    env: dict[str, str],
    asset: dg.AssetKey,
    sensor: str,
    partitions_name: str,
    keys: set[str],
    expected_runs: int,
    timeout: float,
    log: Path,
) -> PhaseResult:
    """Start the daemon, wait until every key is MATERIALIZED (or the runs are all over, or time is up)."""
    materialized: set[str] = set()
    timed_out = False
    own_cpu = time.process_time()
    with daemon_process(storage.home, workspace, env, log) as process, MemorySampler(process.pid) as sampler:
        daemon_start = time.time()
        with storage.instance() as instance:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    print(f"  [{name}] the daemon exited with {process.returncode}", flush=True)
                    _show_log(log)
                    break
                materialized = instance.get_materialized_partitions(asset) & keys
                if materialized >= keys:
                    break
                records = _asset_runs(instance, asset)
                over = [r for r in records if r.dagster_run.is_finished]
                if len(records) >= expected_runs and len(over) == len(records):
                    print(f"  [{name}] every run is over but {len(keys - materialized)} keys are not", flush=True)
                    break
                if time.time() - daemon_start > FIRST_TICK_LIMIT and not _sensor_ticks(instance, sensor):
                    print(f"  [{name}] no sensor tick after {FIRST_TICK_LIMIT} s", flush=True)
                    _show_log(log)
                    break
                if time.monotonic() > deadline:
                    timed_out = True
                    print(f"  [{name}] timed out after {timeout:.0f} s", flush=True)
                    break
                time.sleep(POLL_SECONDS)
            # Let the last runs finish their bookkeeping (bounded) so run end times are known.
            for _ in range(60):
                if all(r.dagster_run.is_finished for r in instance.get_run_records()):
                    break
                time.sleep(0.5)
            partitions = len(instance.get_dynamic_partitions(partitions_name))
            ticks = _sensor_ticks(instance, sensor)
            others = _other_runs(instance, asset)
            first = next(
                (t for t in ticks if t.tick_data.run_ids or t.tick_data.dynamic_partitions_request_results), None
            )
            first = first or (ticks[0] if ticks else None)
            materializations = [m for m in _all_materializations(instance, asset) if m.partition_key in keys]
            runs, statuses = _run_timings(instance, asset, materializations)
            failures = _failure_reasons(instance, asset)
    own_cpu = time.process_time() - own_cpu
    return PhaseResult(
        name=name,
        storage=storage.kind,
        partitions=partitions,
        materialized=len(materialized),
        complete=materialized >= keys,
        daemon_start=daemon_start,
        first_tick=first.timestamp if first else None,
        tick_seconds=(first.end_timestamp - first.timestamp) if first and first.end_timestamp else None,
        last_materialization=max((m.timestamp for m in materializations), default=None),
        runs=runs,
        run_statuses=statuses,
        failures=failures,
        other_runs=others,
        memory=sampler.peaks,
        timed_out=timed_out,
        own_cpu=own_cpu,
    )


# ---------------------------------------------------------------------------------------------- phases


@dataclass
class PipelineResult:
    phase: PhaseResult
    n: int
    aiq_latency_ms: int
    bunny_latency_ms: int
    counters: Counters  # requests the emulators received during the phase
    documents: Counter[str]  # AIQ sales invoices per burst invoice reference

    @property
    def duplicates(self) -> int:
        return sum(c - 1 for c in self.documents.values() if c > 1)

    @property
    def ok(self) -> bool:
        return self.phase.complete and sum(self.documents.values()) == self.n and self.duplicates == 0


@dataclass(frozen=True)
class Options:
    n: int
    batch: int
    accounts: list[str]
    storage: StorageKind
    timeout: float
    tmp: Path


def run_pipeline(label: str, options: Options, *, aiq_ms: int, bunny_ms: int) -> tuple[PipelineResult, list[str]]:
    folder = options.tmp / ("pipeline-latency" if aiq_ms or bunny_ms else "pipeline")
    folder.mkdir(parents=True)
    with running_emulators(state_dir=folder / "emulators") as emulators:
        started = time.perf_counter()
        ids = release_burst(emulators, options.n, options.accounts)
        print(f"  released {len(ids)} invoices in Bunny in {time.perf_counter() - started:.1f} s", flush=True)
        arm_latency(emulators, aiq_ms=aiq_ms, bunny_ms=bunny_ms)
        before = Counters.read(emulators)
        with phase_storage(options.storage, folder / "home", store_file=folder / "store.duckdb") as storage:
            print(f"  {storage.describe()}", flush=True)
            phase = wait_for_phase(
                label,
                storage=storage,
                workspace=REPO / "workspace.yaml",
                env=pipeline_env(emulators, storage, options.batch),
                asset=DEFAULT_NAMES.invoices.key,
                sensor=DEFAULT_NAMES.invoices.sensor_name,
                partitions_name=DEFAULT_NAMES.invoices.partitions_name,
                keys=set(ids),
                expected_runs=math.ceil(options.n / options.batch),
                timeout=options.timeout,
                log=folder / "daemon.log",
            )
        counters = Counters.read(emulators) - before
        documents = aiq_documents(emulators, ids)
    return PipelineResult(phase, options.n, aiq_ms, bunny_ms, counters, documents), ids


def run_floor(options: Options, ids: list[str]) -> PhaseResult:
    folder = options.tmp / "floor"
    folder.mkdir(parents=True)
    keys_file = folder / "noop-keys.txt"
    keys_file.write_text("\n".join(ids) + "\n", encoding="utf-8")
    with phase_storage(options.storage, folder / "home", store_file=folder / "unused.duckdb") as storage:
        return wait_for_phase(
            "floor (no-op asset)",
            storage=storage,
            workspace=noop_workspace(folder),
            env={**storage.env, KEYS_FILE_ENV: str(keys_file), BATCH_SIZE_ENV: str(options.batch)},
            asset=NOOP_ASSET,
            sensor="noop_burst_sensor",
            partitions_name=NOOP_PARTITIONS_NAME,
            keys=set(ids),
            expected_runs=math.ceil(options.n / options.batch),
            timeout=options.timeout,
            log=folder / "daemon.log",
        )


# ---------------------------------------------------------------------------------------------- report


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


def _fmt(value: float | None, unit: str = "s", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} {unit}".rstrip()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


def print_phase(result: PhaseResult, show_runs: bool) -> None:
    print(f"\n== {result.name} [{result.storage}]")
    print(f"  partitions added by the sensor : {result.partitions}")
    print(f"  materialized                   : {result.materialized}{'' if result.complete else '  (INCOMPLETE)'}")
    print(f"  daemon start -> first tick     : {_fmt(result.first_tick and result.first_tick - result.daemon_start)}")
    print(f"  sensor tick (evaluate+submit)  : {_fmt(result.tick_seconds, digits=2)}")
    print(f"  first tick -> last materialized: {_fmt(result.elapsed)}")
    print(f"  invoices per second            : {_fmt(result.rate, '/s', 2)}")
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(result.run_statuses.items()))
    print(f"  runs launched                  : {sum(result.run_statuses.values())} ({statuses})")
    for reason in result.failures:
        print(f"  failed run                     : {reason}")
    if result.other_runs:
        others = ", ".join(f"{k}: {v}" for k, v in sorted(result.other_runs.items()))
        print(f"  other runs (not counted)       : {others}")
    runs = result.runs
    if runs:
        med = statistics.median
        print(
            f"  queue+launch per run           : median {med(r.queued_s for r in runs):.1f} s, "
            f"max {max(r.queued_s for r in runs):.1f} s (run created -> RUN_START)"
        )
        print(
            "  per run (median s)             : "
            f"start->first mat {med(r.to_first_s for r in runs):.1f}, "
            f"work {med(r.work_s for r in runs):.1f}, tail {med(r.tail_s for r in runs):.1f}, "
            f"total {med(r.total_s for r in runs):.1f}"
        )
        print(f"  in-run cost per invoice        : {_fmt(_ms(result.in_run_per_invoice), 'ms', 0)} (median of runs)")
        print(f"  sum of run durations           : {sum(r.total_s for r in runs):.1f} s")
    m = result.memory
    print(
        f"  peak RSS                       : tree {_mb(m.tree_bytes)} ({m.max_processes} processes at most), "
        f"daemon {_mb(m.daemon_bytes)}, code server {_mb(m.code_server_bytes)}, run process {_mb(m.run_process_bytes)}"
    )
    cpu = m.cpu_by_role()
    print(
        "  CPU seconds (sampled)          : "
        + ", ".join(f"{role} {cpu.get(role, 0.0):.1f}" for role in CPU_ROLES)
        + f"; this process (emulators, polls) {result.own_cpu:.1f}"
    )
    if show_runs and runs:
        print("  run  partitions  queued+launch  start->1st  work  tail  total  status")
        for i, r in enumerate(runs, start=1):
            print(
                f"  {i:>3}  {r.partitions:>10}  {r.queued_s:>13.1f}  {r.to_first_s:>10.1f}  {r.work_s:>4.1f}  "
                f"{r.tail_s:>4.1f}  {r.total_s:>5.1f}  {r.status}"
            )


def print_pipeline(result: PipelineResult, show_runs: bool) -> None:
    print_phase(result.phase, show_runs)
    n, c = result.n, result.counters
    latency = result.aiq_latency_ms or result.bunny_latency_ms
    if latency:
        print(
            f"  injected latency               : AIQ {result.aiq_latency_ms} ms on {c.aiq_faults['latency']} calls, "
            f"Bunny {result.bunny_latency_ms} ms on {c.bunny['faults.latency']} requests"
        )
    print(f"  AIQ round trips per invoice    : {c.aiq_total / n:.2f} ({c.aiq_total} SOAP calls)")
    for op, count in sorted(c.aiq_calls.items(), key=lambda kv: -kv[1]):
        print(f"    {op:<48} {count:>7}  {count / n:6.3f}/invoice")
    print(
        f"  Bunny requests per invoice     : {c.bunny_requests / n:.2f} ({c.bunny_requests} HTTP requests: "
        f"GraphQL {c.bunny['graphql.requests']}, OAuth {c.bunny['oauth.requests']})"
    )
    for name, count in sorted(c.bunny_fields().items(), key=lambda kv: -kv[1]):
        print(f"    {'root field ' + name:<48} {count:>7}  {count / n:6.3f}/invoice")
    print(
        f"  duplicates found in AIQ        : {result.duplicates} ({sum(result.documents.values())} sales invoices for "
        f"{n} burst invoices, {len(result.documents)} invoices with a document)"
    )


def _summary_columns(ph: PhaseResult, w: int) -> str:
    return (
        f"{ph.name:<{w}} {_fmt(ph.elapsed, ''):>6}  {_fmt(ph.rate, '', 2):>5}  "
        f"{_fmt(_ms(ph.in_run_per_invoice), '', 0):>13}  "
        f"{_fmt(ph.queued_median, ''):>14}  {_fmt(ph.tick_seconds, '', 2):>6}  "
        f"{ph.memory.cpu_by_role().get('run', 0.0):>9.1f}  {ph.own_cpu:>9.1f}"
    )


def print_summary(pipelines: list[PipelineResult], floor: PhaseResult | None, batch: int) -> None:
    print(f"\n== summary (batch size {batch})")
    names = [p.phase.name for p in pipelines] + ([floor.name] if floor else [])
    w = max(len(name) for name in names)
    print(
        f"  {'phase':<{w}} wall s  inv/s  in-run ms/inv  queue+launch s  tick s  run CPU s  own CPU s  AIQ/inv  "
        "Bunny/inv  dup"
    )
    for p in pipelines:
        ph = p.phase
        print(
            f"  {_summary_columns(ph, w)}  "
            f"{p.counters.aiq_total / p.n:>7.2f}  {p.counters.bunny_requests / p.n:>9.2f}  {p.duplicates:>3}"
        )
    if floor is not None:
        print(f"  {_summary_columns(floor, w)}")
        for p in pipelines:
            print(f"  ratio to the floor ({p.phase.name}): {_ratio(p.phase.elapsed, floor.elapsed)}")
    with_latency = [p for p in pipelines if p.aiq_latency_ms or p.bunny_latency_ms]
    without = [p for p in pipelines if not (p.aiq_latency_ms or p.bunny_latency_ms)]
    if with_latency and without:
        slow, fast = with_latency[0].phase, without[0].phase
        print(f"  ratio to the same burst with no latency: {_ratio(slow.elapsed, fast.elapsed)}")


# ---------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=500, help="invoices released at once (default 500)")
    parser.add_argument("--batch-size", type=int, default=50, help="invoices per run (default 50)")
    parser.add_argument("--storage", choices=STORAGE_KINDS, default="sqlite", help="Dagster instance storage")
    parser.add_argument("--aiq-latency-ms", type=int, default=0, help="delay every AIQ SOAP call (emulator fault)")
    parser.add_argument("--bunny-latency-ms", type=int, default=0, help="delay every Bunny request (emulator fault)")
    parser.add_argument(
        "--compare-no-latency",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with latency, also run the same burst without it (default: yes when a latency is given)",
    )
    parser.add_argument("--timeout", type=float, help="seconds to wait per phase (default from N and the latency)")
    parser.add_argument("--accounts", default=",".join(DEFAULT_ACCOUNTS), help="Bunny account codes to bill")
    parser.add_argument("--no-floor", action="store_true", help="skip Dagster's floor (the no-op phase)")
    parser.add_argument("--runs", action="store_true", help="print every run's timings")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (instances, logs, state)")
    args = parser.parse_args(argv)
    if args.invoices < 1 or not 1 <= args.batch_size <= 500:
        parser.error("--invoices must be >= 1 and --batch-size in 1..500")
    if args.aiq_latency_ms < 0 or args.bunny_latency_ms < 0:
        parser.error("latencies are milliseconds >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n, batch = args.invoices, args.batch_size
    latency = args.aiq_latency_ms > 0 or args.bunny_latency_ms > 0
    compare = latency and args.compare_no_latency is not False
    per_invoice = 2.0 + 5 * (args.aiq_latency_ms + args.bunny_latency_ms) / 1000
    timeout = args.timeout or 120 + per_invoice * n

    # A Ctrl-C or a kill ends the phases' `with` blocks, which stop the daemon and its processes.
    signal.signal(signal.SIGTERM, interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="aiq-burst-"))
    options = Options(n, batch, [a.strip() for a in args.accounts.split(",") if a.strip()], args.storage, timeout, tmp)
    print(
        f"burst of {n} invoices, batches of {batch} ({math.ceil(n / batch)} runs), {args.storage} storage, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, work folder {tmp}",
        flush=True,
    )
    pipelines: list[PipelineResult] = []
    floor = None
    try:
        plan = []
        if compare or not latency:
            plan.append(("pipeline (no latency)", 0, 0))
        if latency:
            plan.append(
                (
                    f"pipeline (AIQ +{args.aiq_latency_ms} ms, Bunny +{args.bunny_latency_ms} ms)",
                    args.aiq_latency_ms,
                    args.bunny_latency_ms,
                )
            )
        ids: list[str] = []
        for label, aiq_ms, bunny_ms in plan:
            print(f"phase: {label} (dagster-daemon, workspace.yaml)", flush=True)
            result, ids = run_pipeline(label, options, aiq_ms=aiq_ms, bunny_ms=bunny_ms)
            pipelines.append(result)
        if not args.no_floor:
            print("phase: Dagster's floor (no-op asset, same keys, batch size and daemon path)", flush=True)
            floor = run_floor(options, ids)
    except KeyboardInterrupt:
        print("interrupted; subprocesses stopped", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n######## billing-day burst: {n} invoices, batch size {batch}, {args.storage}, {os.cpu_count()} CPUs")
    for result in pipelines:
        print_pipeline(result, args.runs)
    if floor is not None:
        print_phase(floor, args.runs)
    print_summary(pipelines, floor, batch)
    ok = all(p.ok for p in pipelines) and (floor is None or floor.complete)
    print(f"\nresult: {'OK' if ok else 'NOT OK'}")
    if args.keep:
        print(f"kept {tmp}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
