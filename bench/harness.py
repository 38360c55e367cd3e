"""What the bench scripts share: the demo tenant's ids, the instance storage of a phase (SQLite or a throwaway
PostgreSQL database), the emulators' latency faults and request counters (through their `/_emulator/...` control
routes), and the processes the daemon starts (stopping them, sampling their memory).

Not a package and not imported by the product: the scripts beside it put this folder on `sys.path`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import httpx

from aiq_emulators.runner import RunningEmulators
from aiq_pipeline.sync.identity import invoice_reference

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
LOCAL_INSTANCE = REPO / "deploy" / "dagster.local.yaml"
PRODUCTION_INSTANCE = REPO / "deploy" / "dagster.production.yaml"
DAEMON = Path(sys.executable).parent / "dagster-daemon"

# The demo tenant's credentials and ids (aiq_emulators/accountsiq/fixtures.py, aiq_emulators/bunny/sample_tenant.py).
AIQ_ENTITY = "DEMO01"
AIQ_CLIENT = ("demo-aiq-client", "demo-aiq-secret")
BUNNY_ENTITY = "1"
BUNNY_CLIENT = ("demo-bunny-client", "demo-bunny-secret")
# Entity 1's customers billed in its base currency; a burst is spread over them.
DEFAULT_ACCOUNTS = ("ACME", "SMITH-SONS", "NORDIC")
# A typical subscription invoice: the plan plus metered usage (two lines, two GL accounts).
INVOICE_ITEMS = [{"charge": "SUB-MONTHLY", "quantity": 1}, {"charge": "API-USAGE", "quantity": 1200}]

# The local PostgreSQL server (trust auth), as the project's PostgreSQL tests use it.
PG_HOST = os.environ.get("AIQ_PIPELINE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("AIQ_PIPELINE_TEST_PG_PORT", "5432")
PG_USER = os.environ.get("AIQ_PIPELINE_TEST_PG_USER", "postgres")

StorageKind = Literal["sqlite", "postgres"]
STORAGE_KINDS: tuple[StorageKind, ...] = ("sqlite", "postgres")


# ---------------------------------------------------------------------------------------------- storage


@dataclass(frozen=True)
class PhaseStorage:
    """Where one phase keeps the Dagster instance and the project's store.

    sqlite: `deploy/dagster.local.yaml` (SQLite under DAGSTER_HOME, one store-pool slot), store in a DuckDB file.
    postgres: `deploy/dagster.production.yaml` (PostgreSQL, four store-pool slots, six runs at once) on a database
    made for this phase, store in a second such database; both dropped when the phase ends.
    """

    kind: StorageKind
    home: Path
    env: Mapping[str, str]  # for every Dagster process of the phase (and this one while the phase lasts)
    store_location: str
    databases: tuple[str, ...] = ()

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def describe(self) -> str:
        if self.kind == "sqlite":
            return "SQLite instance (deploy/dagster.local.yaml), store in DuckDB"
        return (
            f"PostgreSQL instance (deploy/dagster.production.yaml) in database {self.databases[0]}, "
            f"store in PostgreSQL database {self.databases[1]}"
        )


def _admin_connection() -> Any:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return conn


@contextmanager
def throwaway_databases(count: int) -> Iterator[tuple[str, ...]]:
    """`count` fresh databases on the local server, dropped on exit (lingering sessions included)."""
    stem = f"aiq_bench_{uuid.uuid4().hex[:12]}"
    names = tuple(stem if i == 0 else f"{stem}_{i}" for i in range(count))
    conn = _admin_connection()
    created: list[str] = []
    try:
        with conn.cursor() as cursor:
            for name in names:
                cursor.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
        yield names
    finally:
        with conn.cursor() as cursor:
            for name in created:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@contextmanager
def patched_environ(env: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def phase_storage(kind: StorageKind, home: Path, *, store_file: Path) -> Iterator[PhaseStorage]:
    """A fresh DAGSTER_HOME (and databases) for one phase; the instance's tables exist when this yields."""
    home.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        shutil.copyfile(LOCAL_INSTANCE, home / "dagster.yaml")
        storage = PhaseStorage(kind, home, {}, str(store_file))
        _create_instance_tables(storage)
        yield storage
        return
    shutil.copyfile(PRODUCTION_INSTANCE, home / "dagster.yaml")
    with throwaway_databases(2) as (instance_db, store_db):
        env = {
            "DAGSTER_PG_HOST": PG_HOST,
            "DAGSTER_PG_PORT": PG_PORT,
            "DAGSTER_PG_USER": PG_USER,
            "DAGSTER_PG_PASSWORD": "",  # trust auth on the local server
            "DAGSTER_PG_DB": instance_db,
        }
        store = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{store_db}"
        storage = PhaseStorage(kind, home, env, store, (instance_db, store_db))
        with patched_environ(env):
            _create_instance_tables(storage)
            yield storage


def _create_instance_tables(storage: PhaseStorage) -> None:
    # Before any Dagster process starts: processes that create a fresh instance at the same moment can stamp its
    # alembic table twice ("more than one head present").
    with storage.instance() as instance:
        instance.get_runs_count()
        instance.all_instigator_state()
        instance.get_dynamic_partitions("bench_warm_up")


# ---------------------------------------------------------------------------------------------- emulators


def release_burst(emulators: RunningEmulators, count: int, accounts: list[str]) -> list[str]:
    """Release `count` invoices at once in Bunny, spread over `accounts` in as many contiguous slices."""
    ids: list[str] = []
    per = math.ceil(count / len(accounts))
    for i, account in enumerate(accounts):
        n = min(per, count - i * per)
        if n > 0:
            spec = {"account": account, "entity_id": BUNNY_ENTITY, "items": INVOICE_ITEMS}
            ids.extend(emulators.bunny.create_invoices(spec, count=n, release=True))
    return ids


def arm_latency(emulators: RunningEmulators, *, aiq_ms: int, bunny_ms: int) -> None:
    """Delay every AIQ SOAP call by `aiq_ms` and every Bunny request (GraphQL and OAuth) by `bunny_ms`.

    Through the emulators' own control routes: AIQ `POST /_emulator/faults` with a `latency` rule for every
    operation (fault_injection.py), Bunny `POST /_emulator/faults` with a `latency` fault per path (faults.py;
    a Bunny fault matches one path, so /graphql and /oauth/token each get one).
    """
    if aiq_ms > 0:
        answer = httpx.post(
            f"{emulators.accountsiq_url}/_emulator/faults", json={"kind": "latency", "latency_ms": aiq_ms}, timeout=10
        )
        answer.raise_for_status()
    if bunny_ms > 0:
        for path in ("/graphql", "/oauth/token"):
            answer = httpx.post(
                f"{emulators.bunny_url}/_emulator/faults",
                json={"kind": "latency", "latency_ms": bunny_ms, "path": path},
                timeout=10,
            )
            answer.raise_for_status()


@dataclass(frozen=True)
class Counters:
    """The emulators' request counters (`GET /_emulator/stats` of each) at one moment."""

    aiq_calls: Counter[str]  # SOAP calls by operation
    aiq_faults: Counter[str]  # faults injected by kind (latency included)
    bunny: Counter[str]  # Bunny's counters: graphql.requests, oauth.requests, graphql.field.<name>, faults.<kind>

    @classmethod
    def read(cls, emulators: RunningEmulators) -> Counters:
        aiq = httpx.get(f"{emulators.accountsiq_url}/_emulator/stats", timeout=30).json()
        bunny = httpx.get(f"{emulators.bunny_url}/_emulator/stats", timeout=30).json()
        return cls(Counter(aiq["calls"]), Counter(aiq["faults"]), Counter(bunny["counters"]))

    def __sub__(self, earlier: Counters) -> Counters:
        return Counters(
            self.aiq_calls - earlier.aiq_calls, self.aiq_faults - earlier.aiq_faults, self.bunny - earlier.bunny
        )

    @property
    def aiq_total(self) -> int:
        return sum(self.aiq_calls.values())

    @property
    def bunny_requests(self) -> int:
        return self.bunny["graphql.requests"] + self.bunny["oauth.requests"]

    def bunny_fields(self) -> dict[str, int]:
        """GraphQL root fields (lower case) requested; the emulator also counts operation names (upper case)."""
        return {
            k.removeprefix("graphql.field."): v
            for k, v in self.bunny.items()
            if k.startswith("graphql.field.") and k.removeprefix("graphql.field.")[:1].islower()
        }


def aiq_documents(emulators: RunningEmulators, ids: list[str]) -> Counter[str]:
    """AIQ sales invoices per burst invoice, from the AIQ emulator's own state (its ground truth)."""
    wanted = {invoice_reference(i) for i in ids}
    state = emulators.accountsiq.state
    with state.lock:
        transactions = list(state.data.entities[AIQ_ENTITY].transactions.values())
    return Counter(t.external_reference for t in transactions if t.type_code == "SI" and t.external_reference in wanted)


def pipeline_env(
    emulators: RunningEmulators, storage: PhaseStorage, batch_size: int, *, sensors: str = "RUNNING"
) -> dict[str, str]:
    """The product's settings for a phase (aiq_pipeline/settings.py reads them from the environment)."""
    return {
        **storage.env,
        "AIQ_BASE_URL": str(emulators.accountsiq_url),
        "AIQ_ENTITY_ID": AIQ_ENTITY,
        "AIQ_CLIENT_ID": AIQ_CLIENT[0],
        "AIQ_CLIENT_SECRET": AIQ_CLIENT[1],
        "AIQ_DEFAULT_TAX_CODE": "V01",
        "BUNNY_BASE_URL": str(emulators.bunny_url),
        "BUNNY_CLIENT_ID": BUNNY_CLIENT[0],
        "BUNNY_CLIENT_SECRET": BUNNY_CLIENT[1],
        "BUNNY_ENTITY_ID": BUNNY_ENTITY,
        "AIQ_PIPELINE_STORE": storage.store_location,
        "AIQ_PIPELINE_BATCH_SIZE": str(batch_size),
        "AIQ_PIPELINE_SENSOR_DEFAULT": sensors,
        # The demo tenant's invoices are older (and three are broken on purpose): only the burst is synced.
        "AIQ_PIPELINE_SYNC_START_DATE": emulators.bunny.store.today().isoformat(),
        "DAGSTER_HOME": str(storage.home),
    }


def noop_workspace(folder: Path) -> Path:
    """A workspace file that loads bench/noop_location.py (Dagster's floor)."""
    workspace = folder / "noop-workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_file:\n"
        f"      relative_path: {BENCH / 'noop_location.py'}\n"
        f"      working_directory: {REPO}\n"
        "      location_name: bench_noop\n",
        encoding="utf-8",
    )
    return workspace


class RoundTrips:
    """Wall time (to the full answer) and bytes received of every HTTP request this process sends, by system and
    operation."""

    def __init__(self, aiq_url: str) -> None:
        self.aiq_url = aiq_url
        self.times: dict[str, list[float]] = defaultdict(list)
        self.received: Counter[str] = Counter()
        self._send = httpx.Client.send

    def __enter__(self) -> RoundTrips:
        trips = self

        def send(client: httpx.Client, request: httpx.Request, **kw: object) -> httpx.Response:
            started = time.perf_counter()
            name = trips.name(request)
            try:
                response = trips._send(client, request, **kw)  # type: ignore[arg-type]
                trips.received[name] += len(response.content)
                return response
            finally:
                trips.times[name].append(time.perf_counter() - started)

        httpx.Client.send = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        httpx.Client.send = self._send  # type: ignore[method-assign]

    def name(self, request: httpx.Request) -> str:
        if str(request.url).startswith(self.aiq_url):
            return "AIQ " + request.headers.get("SOAPAction", "?").rsplit("/", 1)[-1]
        if request.url.path == "/graphql":
            try:
                body = json.loads(request.content or b"{}")
            except ValueError:
                body = {}
            return "Bunny " + (body.get("operationName") or body.get("query", "?").split("{")[0].strip() or "?")
        return "Bunny " + request.url.path

    @property
    def seconds(self) -> float:
        return sum(sum(v) for v in self.times.values())

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.times.values())

    def report(self, invoices: int) -> None:
        count, seconds = self.count, self.seconds
        print(f"  HTTP round trips: {count} ({count / invoices:.2f} per invoice), {seconds:.2f} s waiting in total")
        for name, values in sorted(self.times.items(), key=lambda kv: -sum(kv[1])):
            print(
                f"    {name:<52} {len(values):>5}  mean {sum(values) / len(values) * 1000:6.1f} ms  "
                f"total {sum(values):6.2f} s  ({sum(values) / invoices * 1000:5.1f} ms/invoice)"
            )


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (fields 14 and 15 of /proc/<pid>/stat), 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds when last sampled
    roles: dict[int, str] = field(default_factory=dict)  # pid -> daemon, run, code server or other

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds by role, summed over the tree's processes. A lower bound: what a process used after its last
        sample (at most one sampling interval) is not seen."""
        totals: dict[str, float] = defaultdict(float)
        for pid, seconds in self.cpu.items():
            totals[self.roles[pid]] += seconds
        return dict(totals)


def _role(pid: int, root: int, cmd: str) -> str:
    if pid == root:
        return "daemon"
    if "execute_run" in cmd or "spawn_main" in cmd:
        return "run"
    if "grpc" in cmd or "code-server" in cmd:
        return "code server"
    return "other"


class MemorySampler:
    """Samples the RSS and CPU time of a process tree on a thread until stopped; keeps the peaks and CPU totals."""

    def __init__(self, root: int, every: float = 0.25) -> None:
        self.root = root
        self.every = every
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
                role = p.roles.setdefault(pid, _role(pid, self.root, cmd))
                p.cpu[pid] = max(p.cpu.get(pid, 0.0), cpu_seconds(pid))
                if role == "daemon":
                    p.daemon_bytes = max(p.daemon_bytes, rss)
                elif role == "run":
                    p.run_process_bytes = max(p.run_process_bytes, rss)
                elif role == "code server":
                    p.code_server_bytes = max(p.code_server_bytes, rss)
            p.tree_bytes = max(p.tree_bytes, total)
            p.max_processes = max(p.max_processes, len(pids))
            self._stop.wait(self.every)


@contextmanager
def daemon_process(home: Path, workspace: Path, env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen]:
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
            stop_tree(process, set(descendants(process.pid)))


def stop_tree(process: subprocess.Popen, pids: set[int]) -> None:
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


def interrupt(_signum: int, _frame: object) -> None:
    """A SIGTERM handler: unwind like Ctrl-C, so every `with` block stops what it started."""
    raise KeyboardInterrupt
