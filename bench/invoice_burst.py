"""Billing-day burst benchmark: N released invoices through the real Dagster daemon path, against Dagster's floor.

    .venv/bin/python bench/invoice_burst.py --invoices 500 --batch-size 50

Phase 1 (pipeline): both emulators on 127.0.0.1 with the demo tenant; N invoices released at once in Bunny
(issued today; the demo's own invoices are older and excluded with AIQ_PIPELINE_SYNC_START_DATE=today);
a fresh DAGSTER_HOME with `deploy/dagster.local.yaml`; `dagster-daemon run -w workspace.yaml` with the
settings in environment variables. The product's sensor adds the partitions and requests batched runs,
the queued coordinator launches them. We wait (bounded) until every burst invoice is MATERIALIZED.

Phase 2 (floor): the same with `bench/noop_location.py`: an asset that only yields one materialization
per key, on as many dynamic partitions, with the same batch size, instance config and daemon path.

See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorType

from aiq_emulators.runner import RunningEmulators, running_emulators
from aiq_pipeline.defs.keys import POSTED_INVOICES
from aiq_pipeline.defs.partitions import INVOICE_PARTITIONS_NAME
from aiq_pipeline.sync.identity import invoice_reference

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
INSTANCE_CONFIG = REPO / "deploy" / "dagster.local.yaml"
DAEMON = Path(sys.executable).parent / "dagster-daemon"

# The demo tenant's credentials and ids (aiq_emulators/*/demo fixtures).
AIQ_ENTITY = "DEMO01"
AIQ_CLIENT = ("demo-aiq-client", "demo-aiq-secret")
BUNNY_ENTITY = "1"
BUNNY_CLIENT = ("demo-bunny-client", "demo-bunny-secret")
# Entity 1's customers billed in its base currency; the burst is spread over them.
DEFAULT_ACCOUNTS = ("ACME", "SMITH-SONS", "NORDIC")
# A typical subscription invoice: the plan plus metered usage (two lines, two GL accounts).
INVOICE_ITEMS = [{"charge": "SUB-MONTHLY", "quantity": 1}, {"charge": "API-USAGE", "quantity": 1200}]

NOOP_ASSET = dg.AssetKey(["bench", "noop_invoices"])
NOOP_PARTITIONS_NAME = "bench_noop_invoices"

POLL_SECONDS = 1.0
RSS_SAMPLE_SECONDS = 0.25
# A code location that fails to load leaves the daemon running without ticks: give up early, not at the timeout.
FIRST_TICK_LIMIT = 90


# ---------------------------------------------------------------------------------------------- processes


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command, which may itself hold spaces or parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry.name))
    return children


def descendants(root: int) -> list[int]:
    """`root` and every process below it (by parent id), read from /proc."""
    children = _children_map()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class MemoryPeaks:
    tree_bytes: int = 0  # the daemon and all its descendants at one instant
    run_process_bytes: int = 0  # the largest single run process (`dagster api execute_run`)
    code_server_bytes: int = 0  # the largest gRPC code server process
    daemon_bytes: int = 0
    max_processes: int = 0
    seen: dict[int, str] = field(default_factory=dict)  # pid -> command line, every process of the tree


class MemorySampler:
    """Samples the RSS of a process tree on a thread until stopped; keeps the peaks."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peaks = MemoryPeaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            pids = descendants(self.root)
            total = 0
            p = self.peaks
            for pid in pids:
                rss = rss_bytes(pid)
                total += rss
                cmd = p.seen.get(pid) or cmdline(pid)[:300]
                p.seen[pid] = cmd
                if pid == self.root:
                    p.daemon_bytes = max(p.daemon_bytes, rss)
                elif "execute_run" in cmd or "spawn_main" in cmd:
                    p.run_process_bytes = max(p.run_process_bytes, rss)
                elif "grpc" in cmd or "code-server" in cmd:
                    p.code_server_bytes = max(p.code_server_bytes, rss)
            p.tree_bytes = max(p.tree_bytes, total)
            p.max_processes = max(p.max_processes, len(pids))
            self._stop.wait(RSS_SAMPLE_SECONDS)


@contextmanager
def daemon_process(home: Path, workspace: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run -w <workspace>` in its own session; on exit stop it and everything it started."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(DAEMON), "run", "-w", str(workspace)],
            cwd=str(REPO),
            env={**os.environ, **env, "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            _stop_tree(process, set(descendants(process.pid)))


def _stop_tree(process: subprocess.Popen, pids: set[int]) -> None:
    """SIGTERM the daemon (it stops its code servers), then SIGKILL whatever of its own tree is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for pid in pids - {process.pid}:
        # Only a process that still looks like one of ours: a pid may have been reused meanwhile.
        if "dagster" in cmdline(pid):
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------- instance


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
    log: Path

    @property
    def elapsed(self) -> float | None:
        if self.first_tick is None or self.last_materialization is None:
            return None
        return self.last_materialization - self.first_tick

    @property
    def rate(self) -> float | None:
        return self.materialized / self.elapsed if self.elapsed else None


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


_ERROR_EVENTS = {"STEP_FAILURE", "RUN_FAILURE", "PIPELINE_FAILURE", "ENGINE_EVENT"}


def _run_timings(
    instance: dg.DagsterInstance, asset: dg.AssetKey, materializations: list
) -> tuple[list[RunTiming], Counter[str]]:
    by_run: dict[str, list[float]] = defaultdict(list)
    for record in materializations:
        by_run[record.run_id].append(record.timestamp)
    timings, statuses = [], Counter()
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


def wait_for_phase(
    name: str,
    *,
    home: Path,
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
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    materialized: set[str] = set()
    timed_out = False
    # Create the SQLite storages here, before any Dagster process starts: processes that create a fresh
    # instance at the same moment can stamp its alembic table twice ("more than one head present").
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs_count()
        instance.all_instigator_state()
        instance.get_dynamic_partitions(partitions_name)
    with daemon_process(home, workspace, env, log) as process, MemorySampler(process.pid) as sampler:
        daemon_start = time.time()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    print(f"  [{name}] the daemon exited with {process.returncode}; see {log}", flush=True)
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
                    print(f"  [{name}] no sensor tick after {FIRST_TICK_LIMIT} s; see {log}", flush=True)
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
    return PhaseResult(
        name=name,
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
        log=log,
    )


# ---------------------------------------------------------------------------------------------- setup


def release_burst(emulators: RunningEmulators, count: int, accounts: list[str]) -> list[str]:
    """Release `count` invoices at once, spread over `accounts` in as many contiguous slices."""
    ids: list[str] = []
    per = math.ceil(count / len(accounts))
    for i, account in enumerate(accounts):
        n = min(per, count - i * per)
        if n > 0:
            spec = {"account": account, "entity_id": BUNNY_ENTITY, "items": INVOICE_ITEMS}
            ids.extend(emulators.bunny.create_invoices(spec, count=n, release=True))
    return ids


def pipeline_env(emulators: RunningEmulators, tmp: Path, batch_size: int) -> dict[str, str]:
    return {
        "AIQ_BASE_URL": emulators.accountsiq_url,
        "AIQ_ENTITY_ID": AIQ_ENTITY,
        "AIQ_CLIENT_ID": AIQ_CLIENT[0],
        "AIQ_CLIENT_SECRET": AIQ_CLIENT[1],
        "AIQ_DEFAULT_TAX_CODE": "V01",
        "BUNNY_BASE_URL": emulators.bunny_url,
        "BUNNY_CLIENT_ID": BUNNY_CLIENT[0],
        "BUNNY_CLIENT_SECRET": BUNNY_CLIENT[1],
        "BUNNY_ENTITY_ID": BUNNY_ENTITY,
        "AIQ_PIPELINE_STORE": str(tmp / "store.duckdb"),
        "AIQ_PIPELINE_BATCH_SIZE": str(batch_size),
        "AIQ_PIPELINE_SENSOR_DEFAULT": "RUNNING",
        # The demo tenant's invoices are older (and three are broken on purpose): only the burst is synced.
        "AIQ_PIPELINE_SYNC_START_DATE": emulators.bunny.store.today().isoformat(),
    }


def aiq_documents(emulators: RunningEmulators, ids: list[str]) -> Counter[str]:
    """AIQ sales invoices per burst invoice, from the AIQ emulator's own state (its ground truth)."""
    wanted = {invoice_reference(i) for i in ids}
    with emulators.accountsiq.state.lock:
        transactions = list(emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.values())
    return Counter(t.external_reference for t in transactions if t.type_code == "SI" and t.external_reference in wanted)


# ---------------------------------------------------------------------------------------------- report


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


def _fmt(value: float | None, unit: str = "s", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} {unit}".rstrip()


def print_phase(result: PhaseResult, show_runs: bool) -> None:
    print(f"\n== {result.name}")
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
        print(
            f"  other runs (not counted)       : {', '.join(f'{k}: {v}' for k, v in sorted(result.other_runs.items()))}"
        )
    runs = result.runs
    if runs:
        med = statistics.median
        print(
            "  per run (median s)             : "
            f"queued+launch {med(r.queued_s for r in runs):.1f}, "
            f"start->first mat {med(r.to_first_s for r in runs):.1f}, "
            f"work {med(r.work_s for r in runs):.1f}, tail {med(r.tail_s for r in runs):.1f}, "
            f"total {med(r.total_s for r in runs):.1f}"
        )
        per_partition = [r.work_s / (r.partitions - 1) for r in runs if r.partitions > 1]
        if per_partition:
            print(f"  in-run seconds per partition   : {med(per_partition) * 1000:.0f} ms (median of runs)")
        busy = sum(r.total_s for r in runs)
        print(f"  sum of run durations           : {busy:.1f} s")
    m = result.memory
    print(
        f"  peak RSS                       : tree {_mb(m.tree_bytes)} ({m.max_processes} processes at most), "
        f"daemon {_mb(m.daemon_bytes)}, code server {_mb(m.code_server_bytes)}, run process {_mb(m.run_process_bytes)}"
    )
    if show_runs and runs:
        print("  run  partitions  queued+launch  start->1st  work  tail  total  status")
        for i, r in enumerate(runs, start=1):
            print(
                f"  {i:>3}  {r.partitions:>10}  {r.queued_s:>13.1f}  {r.to_first_s:>10.1f}  {r.work_s:>4.1f}  "
                f"{r.tail_s:>4.1f}  {r.total_s:>5.1f}  {r.status}"
            )


def print_calls(title: str, calls: dict[str, int], n: int) -> None:
    total = sum(calls.values())
    print(f"  {title}: {total} calls, {total / n:.2f} per invoice")
    for op, count in sorted(calls.items(), key=lambda kv: -kv[1]):
        print(f"    {op:<48} {count:>7}  {count / n:6.3f}/invoice")


# ---------------------------------------------------------------------------------------------- main


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=500, help="invoices released at once (default 500)")
    parser.add_argument("--batch-size", type=int, default=50, help="invoices per run (default 50)")
    parser.add_argument("--timeout", type=float, help="seconds to wait per phase (default 120 + 2 s per invoice)")
    parser.add_argument("--accounts", default=",".join(DEFAULT_ACCOUNTS), help="Bunny account codes to bill")
    parser.add_argument("--no-floor", action="store_true", help="skip Dagster's floor (the no-op phase)")
    parser.add_argument("--runs", action="store_true", help="print every run's timings")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (instances, logs, state)")
    args = parser.parse_args(argv)
    if args.invoices < 1 or not 1 <= args.batch_size <= 500:
        parser.error("--invoices must be >= 1 and --batch-size in 1..500")
    n, batch = args.invoices, args.batch_size
    timeout = args.timeout or 120 + 2.0 * n
    expected_runs = math.ceil(n / batch)

    # A Ctrl-C or a kill ends the phase's `with` blocks, which stop the daemon and its processes.
    signal.signal(signal.SIGTERM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="aiq-burst-"))
    print(f"burst of {n} invoices, batches of {batch} ({expected_runs} runs), work folder {tmp}", flush=True)
    try:
        with running_emulators(state_dir=tmp / "emulators") as emulators:
            started = time.perf_counter()
            ids = release_burst(emulators, n, [a.strip() for a in args.accounts.split(",") if a.strip()])
            print(f"released {len(ids)} invoices in Bunny in {time.perf_counter() - started:.1f} s", flush=True)
            emulators.accountsiq.stats.reset()
            emulators.bunny.faults.reset_stats()

            print("phase 1: the pipeline (dagster-daemon, workspace.yaml)", flush=True)
            pipeline = wait_for_phase(
                "pipeline",
                home=tmp / "home-pipeline",
                workspace=REPO / "workspace.yaml",
                env=pipeline_env(emulators, tmp, batch),
                asset=POSTED_INVOICES,
                sensor="released_invoices_sensor",
                partitions_name=INVOICE_PARTITIONS_NAME,
                keys=set(ids),
                expected_runs=expected_runs,
                timeout=timeout,
                log=tmp / "daemon-pipeline.log",
            )
            aiq_calls = dict(emulators.accountsiq.stats.snapshot()["calls"])
            bunny_counters = emulators.bunny.faults.snapshot()["counters"]
            documents = aiq_documents(emulators, ids)

        floor = None
        if not args.no_floor:
            print("phase 2: Dagster's floor (no-op asset, same partitions, batch size and daemon path)", flush=True)
            keys_file = tmp / "noop-keys.txt"
            keys_file.write_text("\n".join(ids) + "\n", encoding="utf-8")
            workspace = tmp / "noop-workspace.yaml"
            workspace.write_text(
                "load_from:\n  - python_file:\n"
                f"      relative_path: {BENCH / 'noop_location.py'}\n"
                f"      working_directory: {REPO}\n"
                "      location_name: bench_noop\n",
                encoding="utf-8",
            )
            floor = wait_for_phase(
                "floor (no-op asset)",
                home=tmp / "home-floor",
                workspace=workspace,
                env={"BENCH_NOOP_KEYS_FILE": str(keys_file), "BENCH_NOOP_BATCH_SIZE": str(batch)},
                asset=NOOP_ASSET,
                sensor="noop_burst_sensor",
                partitions_name=NOOP_PARTITIONS_NAME,
                keys=set(ids),
                expected_runs=expected_runs,
                timeout=timeout,
                log=tmp / "daemon-floor.log",
            )
    except KeyboardInterrupt:
        print("interrupted; subprocesses stopped", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n######## billing-day burst: {n} invoices, batch size {batch}, {os.cpu_count()} CPUs")
    print_phase(pipeline, args.runs)
    print("  round trips:")
    print_calls("AIQ (SOAP)", aiq_calls, n)
    bunny_fields = {
        k.removeprefix("graphql.field."): v for k, v in bunny_counters.items() if k.startswith("graphql.field.")
    }
    bunny_http = bunny_counters.get("graphql.requests", 0) + bunny_counters.get("oauth.requests", 0)
    print(
        f"  Bunny (HTTP): {bunny_http} requests, {bunny_http / n:.2f} per invoice "
        f"(GraphQL {bunny_counters.get('graphql.requests', 0)}, OAuth {bunny_counters.get('oauth.requests', 0)})"
    )
    # The emulator counts each request's root fields (lower case) and its operation name (upper case).
    for name, count in sorted(bunny_fields.items(), key=lambda kv: -kv[1]):
        if name[:1].islower():
            print(f"    {'root field ' + name:<48} {count:>7}  {count / n:6.3f}/invoice")
    dupes = sum(c - 1 for c in documents.values() if c > 1)
    print(
        f"  AIQ documents vs invoices      : {sum(documents.values())} documents for {n} invoices, "
        f"{len(documents)} invoices with a document, {dupes} duplicates"
    )
    ok = pipeline.complete and sum(documents.values()) == n and dupes == 0
    if floor is not None:
        print_phase(floor, args.runs)
        print("\n== pipeline vs floor")
        if pipeline.elapsed and floor.elapsed:
            print(f"  time ratio (pipeline / floor)  : {pipeline.elapsed / floor.elapsed:.2f}")
            extra = (pipeline.elapsed - floor.elapsed) / n * 1000
            print(f"  pipeline cost above the floor  : {extra:.0f} ms per invoice")
        if pipeline.rate and floor.rate:
            print(f"  throughput (pipeline / floor)  : {pipeline.rate:.2f} / {floor.rate:.2f} invoices per second")
        ok = ok and floor.complete
    print(f"\nresult: {'OK' if ok else 'NOT OK'}")
    if args.keep:
        print(f"kept {tmp}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
