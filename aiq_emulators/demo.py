"""`make demo`: both emulators with the demo tenant, DuckDB, a persistent DAGSTER_HOME, the UI and the daemon, for
two pairs: `trading` (Bunny entity 1 "Demo Trading Ltd" -> AIQ DEMO01) and `holdings` (Bunny entity 2 "Demo US Inc"
-> AIQ DEMO02), each its own code location.

`DemoStack` starts everything and stops it again; `run_demo` (the CLI's `demo` command) runs it in the
foreground under `.demo/`, and the browser test runs it on free ports in a temporary folder.

Layout of the state folder (`.demo/`, git-ignored; `--fresh` wipes it):
`dagster_home/` (instance: runs, partitions, sensor cursors; and each pair's store, `aiq_pipeline_<pair>.duckdb`),
`emulators/` (AIQ and Bunny state), `fixtures/` (the generated demo tenant, written once), `pairs.toml` (the two
pairs' settings, AIQ_PIPELINE_PAIRS_FILE), `workspace.yaml` (one code location per pair), `demo.env` (what the CLI
in another terminal needs: the pairs file, the secrets it references, DAGSTER_HOME) and `dagster-dev.log`.
A folder left by the one-pair demo (a store `aiq_pipeline.duckdb` and no `pairs.toml`) is started afresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from aiq_emulators.accountsiq.fixtures import payments_demo_fixture
from aiq_emulators.bunny.sample_tenant import sample_tenant
from aiq_emulators.bunny.store import TenantStore
from aiq_emulators.demo_tenant import write_demo_fixtures
from aiq_emulators.demo_tenant.files import write_aiq_fixture
from aiq_emulators.demo_tenant.holdings import set_up_holdings
from aiq_emulators.demo_tenant.vocabulary import (
    ACCOUNT_CREDIT_ACCOUNT,
    BANK_ACCOUNTS,
    BANK_ACCOUNTS_SETTING,
    FEES_ACCOUNT,
    ISO,
    SYNC_START_DATE,
    UNMAPPED_PROCESSOR,
)
from aiq_emulators.runner import RunningEmulators, running_emulators
from aiq_emulators.serving import LOOPBACK, free_port
from aiq_pipeline.bunny.models import POSTABLE_INVOICE_STATES
from aiq_pipeline.cli.workspace import workspace_text
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.run_requests import TRIGGER_TAG
from aiq_pipeline.settings import VARIABLES, Settings, default_store_path
from aiq_pipeline.sync.identity import payment_key

Echo = Callable[[str], None]

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEMO_DIR = PROJECT_DIR / ".demo"
DEFAULT_UI_PORT = 3000
DEFAULT_ACCOUNTSIQ_PORT = 8701
DEFAULT_BUNNY_PORT = 8702

# The demo tenant's identities (docs/demo-tenant.md): emulator-only values, not secrets of any real system.
BUNNY_CLIENT = ("demo-bunny-client", "demo-bunny-secret")
BUNNY_SCOPES = "standard:read standard:write billing:read billing:write product:read product:write"

# The one cause the walkthrough fixes: this charge books to 4900, a control account in AIQ.
BROKEN_CHARGE = "LEGACY-ADDON"
FIXED_ACCOUNT_CODE = "4010"

_ACTIVE_RUN_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dataclass(frozen=True)
class DemoPair:
    """One pair of the demo: a Bunny entity posting to an AIQ entity with its own integration application.

    `secret_variable` holds the AIQ client secret (the pairs file names it, never holds it); `bank_variable`, when
    set, holds the pair's AIQ_PIPELINE_BANK_ACCOUNTS, so the walkthrough's fix can extend it in a shell."""

    name: str
    aiq_entity: str
    aiq_client: tuple[str, str]
    aiq_tax_code: str
    bunny_entity: str
    bank_accounts: str
    secret_variable: str
    bank_variable: str | None = None

    @property
    def names(self) -> PairNames:
        return PairNames(self.name)


TRADING = DemoPair(
    name="trading",
    aiq_entity="DEMO01",
    aiq_client=("demo-aiq-client", "demo-aiq-secret"),
    aiq_tax_code="V01",
    bunny_entity="1",
    bank_accounts=BANK_ACCOUNTS_SETTING,
    secret_variable="TRADING_AIQ_CLIENT_SECRET",
    bank_variable="TRADING_BANK_ACCOUNTS",
)
# Bunny entity 2 invoices US customers in USD without sales tax (0 %: the zero-rated code Z) and takes card
# payments through stripe and wires (manual) into DEMO02's USD account (aiq_emulators.accountsiq.fixtures).
HOLDINGS = DemoPair(
    name="holdings",
    aiq_entity="DEMO02",
    aiq_client=("demo-aiq-client-2", "demo-aiq-secret-2"),
    aiq_tax_code="Z",
    bunny_entity="2",
    bank_accounts="stripe:USD=1220,manual:USD=1220",
    secret_variable="HOLDINGS_AIQ_CLIENT_SECRET",
)
DEMO_PAIRS = (TRADING, HOLDINGS)
BUNNY_SECRET_VARIABLE = "DEMO_BUNNY_CLIENT_SECRET"

# The one-pair names kept for what reads the trading pair alone (demo_environment, the walkthrough's fixes).
AIQ_ENTITY, AIQ_CLIENT, AIQ_TAX_CODE, BUNNY_ENTITY = (
    TRADING.aiq_entity,
    TRADING.aiq_client,
    TRADING.aiq_tax_code,
    TRADING.bunny_entity,
)


@dataclass(frozen=True)
class DemoLayout:
    root: Path

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def emulators(self) -> Path:
        return self.root / "emulators"

    @property
    def fixtures(self) -> Path:
        return self.root / "fixtures"

    def store(self, pair: str) -> Path:
        """The pair's DuckDB store: the pairs file's default, `$DAGSTER_HOME/aiq_pipeline_<pair>.duckdb`."""
        return default_store_path(self.dagster_home, pair)

    @property
    def one_pair_store(self) -> Path:
        """Where the one-pair demo kept its store: its presence without a pairs file marks such a folder."""
        return self.root / "aiq_pipeline.duckdb"

    @property
    def pairs_file(self) -> Path:
        return self.root / "pairs.toml"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace.yaml"

    @property
    def env_file(self) -> Path:
        return self.root / "demo.env"

    @property
    def log(self) -> Path:
        return self.root / "dagster-dev.log"

    def is_one_pair_demo(self) -> bool:
        """A folder the one-pair demo left: its emulators and instance know nothing of the second pair."""
        return self.one_pair_store.exists() and not self.pairs_file.exists()


@dataclass(frozen=True)
class Progress:
    """Where one pair's sync stands: Bunny's released invoices against the invoice asset's partitions, and the
    payments' partitions (a payment gets one once the invoices it paid are no longer being posted)."""

    released: int
    known: int
    posted: int
    failed: int
    active_runs: int
    payments_known: int = 0
    payments_posted: int = 0
    payments_failed: int = 0
    received: int = 0  # payments Bunny shows received (what the payments sensor should pick up)

    @property
    def caught_up(self) -> bool:
        return self.invoices_settled and self.active_runs == 0

    @property
    def invoices_settled(self) -> bool:
        """Every released invoice has a partition, posted or failed (payment runs may still be queued)."""
        return self.released > 0 and self.known >= self.released and self.posted + self.failed == self.known

    @property
    def payments_settled(self) -> bool:
        """Every payment picked up so far is posted or failed, and nothing runs."""
        done = self.payments_posted + self.payments_failed
        return self.payments_known > 0 and done == self.payments_known and self.active_runs == 0

    @property
    def payments_caught_up(self) -> bool:
        """Every received payment is picked up and posted or failed (none received: nothing to wait for)."""
        return self.received == 0 or (self.payments_settled and self.payments_known >= self.received)

    def render(self) -> str:
        return (
            f"invoices: {self.posted} posted, {self.failed} failed, {self.known} picked up of {self.released} "
            f"released; payments: {self.payments_posted} posted, {self.payments_failed} failed of "
            f"{self.payments_known} picked up"
        )


@dataclass(frozen=True)
class DemoProgress:
    """Every pair's `Progress` (by pair name, in the pairs file's order) and the instance's active runs."""

    pairs: Mapping[str, Progress]
    active_runs: int

    def __getitem__(self, pair: str) -> Progress:
        return self.pairs[pair]

    @property
    def caught_up(self) -> bool:
        return all(p.caught_up for p in self.pairs.values())

    @property
    def invoices_settled(self) -> bool:
        return all(p.invoices_settled for p in self.pairs.values())

    @property
    def payments_caught_up(self) -> bool:
        return all(p.payments_caught_up for p in self.pairs.values())

    @property
    def posted(self) -> int:
        return sum(p.posted for p in self.pairs.values())

    @property
    def known(self) -> int:
        return sum(p.known for p in self.pairs.values())

    def render(self) -> str:
        per_pair = "; ".join(f"{name} {p.render()}" for name, p in self.pairs.items())
        return f"{per_pair}; {self.active_runs} run(s) queued or running"


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _pick_port(wanted: int, what: str, echo: Echo) -> int:
    if wanted == 0 or _port_is_free(wanted):
        return wanted
    chosen = free_port()
    echo(f"port {wanted} for the {what} is taken; using {chosen}")
    return chosen


def _summary_text(summary: Any) -> str:
    """The generator's summary in a few lines (it is a dict of counts; anything else is printed as is); the first
    lines are the trading pair's (entity 1), the last the holdings pair's."""
    if not isinstance(summary, dict):
        return str(summary)
    customers, invoices = summary.get("customers", {}), summary.get("invoices", {})
    expected, reasons = summary.get("expected_sync", {}), summary.get("failures_by_reason", {})
    payments = summary.get("payments", {})
    paid = payments.get("expected_sync", {})
    cases = ", ".join(f"{k} {v}" for k, v in payments.get("cases", {}).items() if v)
    held = ", ".join(f"{k} x{v}" for k, v in payments.get("exceptions_by_reason", {}).items())
    return "\n".join(
        [
            f"  {customers.get('bunny', '?')} Bunny customers, {invoices.get('total', '?')} invoices "
            f"({', '.join(f'{k} {v}' for k, v in invoices.get('by_state', {}).items())})",
            f"  {TRADING.name} expected: {expected.get('picked_up', '?')} picked up, "
            f"{expected.get('posted', '?')} posted, {expected.get('failed', '?')} failed",
            f"  planted failures: {', '.join(f'{k} x{v}' for k, v in reasons.items()) or 'none'}",
            f"  {payments.get('total', '?')} payments ({cases}); {TRADING.name} expected: "
            f"{paid.get('picked_up', '?')} picked up, {paid.get('posted', '?')} posted, "
            f"{paid.get('failed', '?')} held ({held or 'none'})",
            *_holdings_summary_lines(summary.get("holdings")),
        ]
    )


def _holdings_summary_lines(holdings: Any) -> list[str]:
    """The second pair's line of the generator's summary (none from a tenant written before it had one)."""
    if not isinstance(holdings, dict):
        return []
    invoices, payments = holdings.get("invoices", {}), holdings.get("payments", {})
    return [
        f"  {HOLDINGS.name} (Bunny entity {HOLDINGS.bunny_entity} -> AIQ {HOLDINGS.aiq_entity}): expected "
        f"{invoices.get('posted', '?')} of {invoices.get('picked_up', '?')} invoices and "
        f"{payments.get('posted', '?')} of {payments.get('picked_up', '?')} payments posted"
    ]


def demo_fixtures(directory: Path, customers: int, invoices: int, echo: Echo) -> tuple[Path, Path]:
    """The generated demo tenant (aiq_emulators/demo_tenant/), written once into `directory`."""
    manifest = directory / "fixtures.json"
    if manifest.exists():
        saved = json.loads(manifest.read_text(encoding="utf-8"))
        aiq, bunny = Path(saved["accountsiq"]), Path(saved["bunny"])
        if aiq.exists() and bunny.exists():
            return aiq, bunny
    directory.mkdir(parents=True, exist_ok=True)
    echo(f"writing the demo tenant ({customers} customers, {invoices} invoices) into {directory}")
    written = write_demo_fixtures(directory, customers=customers, invoices=invoices, seed=7)
    echo(_summary_text(written.summary))
    manifest.write_text(
        json.dumps({"accountsiq": str(written.accountsiq), "bunny": str(written.bunny)}), encoding="utf-8"
    )
    return Path(written.accountsiq), Path(written.bunny)


class DemoStack:
    """The emulators (threads of this process) plus `dagster dev` (a child process group) on one state folder.

    `generated_tenant=None` uses the emulators' built-in sample tenant (a dozen invoices, a few of them broken) with
    Bunny entity 2's accounts set up for the second pair; `(customers, invoices)` the generated demo tenant of that
    size. `pairs` are the demo's pairs (both by default), each its own code location.
    """

    def __init__(
        self,
        root: Path,
        *,
        ui_port: int = 0,
        accountsiq_port: int = 0,
        bunny_port: int = 0,
        generated_tenant: tuple[int, int] | None = (300, 3000),
        batch_size: int | None = None,
        project_dir: Path = PROJECT_DIR,
        echo: Echo = print,
        startup_timeout: float = 180.0,
        pairs: tuple[DemoPair, ...] = DEMO_PAIRS,
    ) -> None:
        self.layout = DemoLayout(root)
        self.pairs = pairs
        self.project_dir = project_dir
        self.echo = echo
        self.startup_timeout = startup_timeout
        self._ports = (ui_port, accountsiq_port, bunny_port)
        self._generated_tenant = generated_tenant
        self._batch_size = batch_size
        self._stack = ExitStack()
        self._process: subprocess.Popen[bytes] | None = None
        self.emulators: RunningEmulators | None = None
        self.env: dict[str, str] = {}
        self.ui_url = ""
        self.instance: dg.DagsterInstance | None = None

    # -- start ---------------------------------------------------------------------------------------

    def __enter__(self) -> DemoStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _start(self) -> None:
        layout = self.layout
        if layout.is_one_pair_demo():
            raise RuntimeError(
                f"{layout.root} holds a one-pair demo (its store {layout.one_pair_store.name}, no pairs.toml): "
                "start afresh (aiq-pipeline demo --fresh)"
            )
        for folder in (layout.root, layout.dagster_home, layout.emulators):
            folder.mkdir(parents=True, exist_ok=True)
        instance_yaml = layout.dagster_home / "dagster.yaml"
        if not instance_yaml.exists():
            shutil.copyfile(self.project_dir / "deploy" / "dagster.local.yaml", instance_yaml)

        aiq_fixture: Path | None = None
        bunny_fixture: Path | None = None
        if self._generated_tenant is not None:
            customers, invoices = self._generated_tenant
            aiq_fixture, bunny_fixture = demo_fixtures(layout.fixtures, customers, invoices, self.echo)
        else:  # the sample tenant, with the AIQ accounts the demo's settings map and entity 2's Bunny accounts
            aiq_fixture = write_aiq_fixture(layout.fixtures / "accountsiq-sample.json", payments_demo_fixture())
            bunny_fixture = _write_sample_bunny_fixture(layout.fixtures / "bunny-sample.json")

        ui_port, aiq_port, bunny_port = self._ports
        self.emulators = self._stack.enter_context(
            running_emulators(
                accountsiq_port=_pick_port(aiq_port, "AccountsIQ emulator", self.echo),
                bunny_port=_pick_port(bunny_port, "Bunny emulator", self.echo),
                state_dir=layout.emulators,
                accountsiq_fixture=aiq_fixture,
                bunny_fixture=bunny_fixture,
            )
        )
        self.env = self._environment()
        self._write_pairs_file()
        self._write_env_file()

        self.instance = self._stack.enter_context(dg.DagsterInstance.from_config(str(layout.dagster_home)))
        self.release_interrupted_runs()
        started = time.monotonic()
        self.refresh_ledger_and_mapping()
        self.echo(
            f"ledger snapshot, financial accounts and GL mapping of {', '.join(p.name for p in self.pairs)} "
            f"materialized in {time.monotonic() - started:.1f}s"
        )

        ui_port = ui_port or free_port()
        if not _port_is_free(ui_port):
            raise RuntimeError(f"port {ui_port} for the Dagster UI is taken (another `make demo` still running?)")
        self.ui_url = f"http://{LOOPBACK}:{ui_port}"
        self._start_dagster(ui_port)

    def _environment(self) -> dict[str, str]:
        """What every process of the demo adds to its environment: the pairs file, the instance and the variables
        the file references (the secrets, the trading pair's bank mapping)."""
        return demo_pairs_environment(self.layout.pairs_file, self.layout.dagster_home, self.pairs)

    def _write_pairs_file(self) -> None:
        assert self.emulators is not None and self.emulators.accountsiq_url and self.emulators.bunny_url
        text = demo_pairs_text(
            self.emulators.accountsiq_url, self.emulators.bunny_url, pairs=self.pairs, batch_size=self._batch_size
        )
        self.layout.pairs_file.write_text(text, encoding="utf-8")
        self.layout.workspace.write_text(
            workspace_text(tuple(p.name for p in self.pairs), str(self.project_dir)), encoding="utf-8"
        )

    def _write_env_file(self) -> None:
        path = self.layout.env_file
        path.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in self.env.items()), encoding="utf-8")
        path.chmod(0o600)

    def settings(self, pair: DemoPair) -> Settings:
        """The pair's settings, read from the demo's pairs file exactly as its code location reads them."""
        with demo_settings_environment(self.env):
            return Settings.from_env(pair=pair.name)

    def release_interrupted_runs(self) -> None:
        """Runs the last demo stopped mid-way (Ctrl-C) still hold store pool slots and would block
        later runs. No daemon uses this DAGSTER_HOME yet, so they cannot be alive: mark them failed and
        free their slots. Queued runs stay queued; the daemon launches them."""
        assert self.instance is not None
        interrupted = self.instance.get_runs(
            dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
            )
        )
        for run in interrupted:
            self.instance.report_run_failed(run, "interrupted when the demo stopped")
        for run_id in self.instance.event_log_storage.get_concurrency_run_ids():
            self.instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        if interrupted:
            self.echo(f"{len(interrupted)} run(s) interrupted by the last stop marked failed; retry picks them up")

    def refresh_ledger_and_mapping(self) -> None:
        """Materialize the ledger snapshot, financial accounts and GL mapping in this process, so the
        lineage shows materialized assets as soon as the UI is up and the sensor's runs find the mapping."""
        from aiq_pipeline.defs.code_location import build_definitions

        assert self.instance is not None
        for pair in self.pairs:
            # The resources resolve the pair's secrets from the environment when the run starts.
            with demo_settings_environment(self.env):
                defs = build_definitions(settings=Settings.from_env(pair=pair.name))
                result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                    instance=self.instance,
                    asset_selection=list(pair.names.setup_assets),
                    tags={TRIGGER_TAG: "demo"},
                    # The step-by-step debug log belongs in the UI's run view, not on the demo's terminal.
                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                    raise_on_error=False,
                )
            if not result.success:
                failure = next((e for e in result.all_events if e.is_step_failure), None)
                error = failure.step_failure_data.error if failure and failure.step_failure_data else None
                raise RuntimeError(
                    f"the ledger/accounts/mapping step of pair {pair.name} failed: "
                    f"{error.message.strip() if error else '?'}"
                )

    def _start_dagster(self, ui_port: int) -> None:
        dagster = Path(sys.executable).with_name("dagster")
        command = [str(dagster) if dagster.exists() else "dagster", "dev", "-w", str(self.layout.workspace)]
        command += ["-p", str(ui_port), "-h", LOOPBACK]
        log = self._stack.enter_context(self.layout.log.open("ab"))
        self._process = subprocess.Popen(
            [sys.executable, "-c", _EXEC_WITH_DEFAULT_SIGINT, *command],
            cwd=self.project_dir,
            env=demo_process_environment(self.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C reaches only us, and we stop webserver, daemon and code
            # servers together.
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self._process.returncode}; see {self.layout.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.ui_url}/server_info", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the Dagster UI did not answer within {self.startup_timeout:.0f}s; see {self.layout.log}")

    # -- stop ----------------------------------------------------------------------------------------

    def stop(self, grace: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT to `dagster dev` alone: it is its Ctrl-C, and it then shuts its webserver, daemon and
            # code servers down in order. Escalate to the whole group only if that hangs.
            steps: tuple[tuple[int, signal.Signals, float], ...] = (
                (process.pid, signal.SIGINT, grace),
                (-process.pid, signal.SIGTERM, 10.0),
                (-process.pid, signal.SIGKILL, 5.0),
            )
            for target, sig, wait in steps:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(target, sig)
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if process is not None:
            with contextlib.suppress(ProcessLookupError):  # nothing of the group may outlive the demo
                os.killpg(process.pid, signal.SIGKILL)
        self._stack.close()  # instance, log file, then the emulator threads

    # -- watching ------------------------------------------------------------------------------------

    def released_invoices(self, pair: DemoPair = TRADING) -> int:
        """Invoices of the pair's Bunny entity that Bunny has released (what its sensor should pick up)."""
        assert self.emulators is not None
        store = self.emulators.bunny.store
        with store.lock:
            return sum(
                1
                for i in store.tenant.invoices
                if i.entity_id == pair.bunny_entity and i.state in POSTABLE_INVOICE_STATES
            )

    def _statuses(self, asset: DocumentAsset) -> tuple[int, int, int]:
        """(partitions, materialized, failed) of a document asset."""
        assert self.instance is not None
        keys = self.instance.get_dynamic_partitions(asset.partitions_name)
        status = (self.instance.get_status_by_partition(asset.key, keys, asset.partitions) or {}) if keys else {}
        values = list(status.values())
        return (
            len(keys),
            values.count(dg.AssetPartitionStatus.MATERIALIZED),
            values.count(dg.AssetPartitionStatus.FAILED),
        )

    def received_payments(self, pair: DemoPair = TRADING) -> int:
        """Payments of the pair's Bunny entity that Bunny shows received (what its payments sensor should pick up)."""
        assert self.emulators is not None
        store = self.emulators.bunny.store
        with store.lock:
            return sum(
                1
                for p in store.tenant.payments
                if p.entity_id == pair.bunny_entity and p.processing_state == "SUCCEEDED"
            )

    def pair_progress(self, pair: DemoPair, active_runs: int) -> Progress:
        known, posted, failed = self._statuses(pair.names.invoices)
        payments_known, payments_posted, payments_failed = self._statuses(pair.names.payments)
        return Progress(
            released=self.released_invoices(pair),
            known=known,
            posted=posted,
            failed=failed,
            active_runs=active_runs,
            payments_known=payments_known,
            payments_posted=payments_posted,
            payments_failed=payments_failed,
            received=self.received_payments(pair),
        )

    def progress(self) -> DemoProgress:
        assert self.instance is not None
        active = self.instance.get_runs_count(dg.RunsFilter(statuses=_ACTIVE_RUN_STATUSES))
        return DemoProgress({pair.name: self.pair_progress(pair, active) for pair in self.pairs}, active)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_for(self, done: Callable[[DemoProgress], bool], timeout: float, interval: float = 2.0) -> DemoProgress:
        deadline = time.monotonic() + timeout
        while True:
            progress = self.progress()
            if done(progress):
                return progress
            if not self.alive():
                raise RuntimeError(f"dagster dev stopped; see {self.layout.log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"after {timeout:.0f}s: {progress.render()}")
            time.sleep(interval)

    # -- acting as a finance person ------------------------------------------------------------------

    def bunny_graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Act in Bunny with an admin token, as a person in Bunny's UI would."""
        assert self.emulators is not None and self.emulators.bunny_url
        with httpx.Client(base_url=self.emulators.bunny_url) as http:
            token = http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": BUNNY_CLIENT[0],
                    "client_secret": BUNNY_CLIENT[1],
                    "scope": BUNNY_SCOPES,
                },
            ).json()["access_token"]
            answer = http.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
        if answer.get("errors"):
            raise RuntimeError(f"Bunny answered with errors: {answer['errors']}")
        return answer["data"]

    def broken_charge_fix(self) -> tuple[str, str] | None:
        """(charge id, account id) that points LEGACY-ADDON at a posting account; None if it has no such charge."""
        assert self.emulators is not None
        store = self.emulators.bunny.store
        with store.lock:
            charge = next((c for c in store.tenant.price_list_charges if c.code == BROKEN_CHARGE), None)
            account = next(
                (
                    a
                    for a in store.tenant.financial_accounts
                    if a.code == FIXED_ACCOUNT_CODE and a.entity_id == BUNNY_ENTITY
                ),
                None,
            )
        return (charge.id, account.id) if charge and account else None

    def unmapped_payments(self) -> dict[str, list[str]]:
        """Currency -> ids of the synced entity's received payments through the processor left unmapped."""
        assert self.emulators is not None
        return unmapped_payments(self.emulators.bunny.store)

    def pending_payments(self) -> list[str]:
        """Ids of the synced entity's payments still pending in Bunny."""
        assert self.emulators is not None
        store = self.emulators.bunny.store
        with store.lock:
            return [
                p.id
                for p in store.tenant.payments
                if p.entity_id == BUNNY_ENTITY and p.processing_state in ("PENDING", "PROCESSING")
            ]

    def closed_period_invoice(self) -> str | None:
        """The number of the trading pair's first released invoice issued in a period whose sales ledger AIQ has
        closed (a planted CLOSED_PERIOD failure), or None."""
        assert self.emulators is not None
        closed_before = next(
            e.sales_ledger_closed_before for e in payments_demo_fixture().entities if e.entity_id == TRADING.aiq_entity
        )
        store = self.emulators.bunny.store
        with store.lock:
            closed = [
                i
                for i in store.tenant.invoices
                if i.entity_id == TRADING.bunny_entity
                and i.state in POSTABLE_INVOICE_STATES
                and closed_before is not None
                and i.issued_at is not None
                and i.issued_at < closed_before
                and i.number
            ]
        return min(closed, key=lambda i: (i.issued_at, i.id)).number if closed else None

    def fix_broken_charge(self) -> None:
        ids = self.broken_charge_fix()
        if ids is None:
            raise RuntimeError(f"the tenant has no {BROKEN_CHARGE} charge or no {FIXED_ACCOUNT_CODE} account")
        self.bunny_graphql(FIX_CHARGE_MUTATION, {"id": ids[0], "a": {"financialAccountId": ids[1]}})


# A shell started in the background hands its children SIGINT ignored, and `dagster dev` maps SIGTERM to
# whatever SIGINT does: restore SIGINT first, so both stop it cleanly.
_EXEC_WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])"
)

FIX_CHARGE_MUTATION = (
    "mutation($id: ID!, $a: PriceListChargeAttributes!) { priceListChargeUpdate(id: $id, attributes: $a) "
    "{ errors priceListCharge { id code } } }"
)


def demo_environment(
    accountsiq_url: str, bunny_url: str, *, store: Path, dagster_home: Path, batch_size: int | None = None
) -> dict[str, str]:
    """The demo's settings, as the code location, the CLI (`demo.env`) and the demo's tests read them.

    The demo tenant is history (issued from May 2026), so AIQ_PIPELINE_SYNC_START_DATE brings it in: without it
    the first-start rule would pick up only documents issued from the day the demo is first switched on. The bank
    mapping covers every processor and currency the demo tenant's payments use except paypal, left unmapped on
    purpose (its payments are UNMAPPED_BANK_ACCOUNT exceptions until it is mapped)."""
    env = {
        "AIQ_BASE_URL": accountsiq_url,
        "AIQ_ENTITY_ID": AIQ_ENTITY,
        "AIQ_CLIENT_ID": AIQ_CLIENT[0],
        "AIQ_CLIENT_SECRET": AIQ_CLIENT[1],
        "AIQ_DEFAULT_TAX_CODE": AIQ_TAX_CODE,
        "BUNNY_BASE_URL": bunny_url,
        "BUNNY_CLIENT_ID": BUNNY_CLIENT[0],
        "BUNNY_CLIENT_SECRET": BUNNY_CLIENT[1],
        "BUNNY_ENTITY_ID": BUNNY_ENTITY,
        "AIQ_PIPELINE_STORE": str(store),
        "DAGSTER_HOME": str(dagster_home),
        "AIQ_PIPELINE_SENSOR_DEFAULT": "RUNNING",
        "AIQ_PIPELINE_SYNC_START_DATE": SYNC_START_DATE.isoformat(),
        "AIQ_PIPELINE_BANK_ACCOUNTS": BANK_ACCOUNTS_SETTING,
        "AIQ_PIPELINE_FEES_ACCOUNT": FEES_ACCOUNT,
        "AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT": ACCOUNT_CREDIT_ACCOUNT,
    }
    if batch_size is not None:
        env["AIQ_PIPELINE_BATCH_SIZE"] = str(batch_size)
    return env


def demo_pairs_text(
    accountsiq_url: str, bunny_url: str, *, pairs: tuple[DemoPair, ...] = DEMO_PAIRS, batch_size: int | None = None
) -> str:
    """The demo's pairs file (AIQ_PIPELINE_PAIRS_FILE): what both pairs share under [defaults], then each pair.

    The same choices as `demo_environment`: the start date brings the demo tenant's history in, the sensors start
    RUNNING, the trading pair's bank mapping leaves paypal unmapped on purpose. Secrets are `{ env = }` references
    (the file never holds one); so is the trading pair's bank mapping, so the walkthrough's fix can extend it in
    the CLI's shell. Each pair's store is the default, `$DAGSTER_HOME/aiq_pipeline_<pair>.duckdb`."""

    def value(text: str) -> str:
        return json.dumps(text)  # a TOML basic string: the JSON escapes are TOML's

    defaults = {
        "AIQ_BASE_URL": value(accountsiq_url),
        "BUNNY_BASE_URL": value(bunny_url),
        "BUNNY_CLIENT_ID": value(BUNNY_CLIENT[0]),
        "BUNNY_CLIENT_SECRET": f"{{ env = {value(BUNNY_SECRET_VARIABLE)} }}",
        "AIQ_PIPELINE_SENSOR_DEFAULT": value("RUNNING"),
        "AIQ_PIPELINE_SYNC_START_DATE": value(SYNC_START_DATE.isoformat()),
        "AIQ_PIPELINE_FEES_ACCOUNT": value(FEES_ACCOUNT),
        "AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT": value(ACCOUNT_CREDIT_ACCOUNT),
    }
    if batch_size is not None:
        defaults["AIQ_PIPELINE_BATCH_SIZE"] = value(str(batch_size))
    lines = [
        "# Written by `make demo` (aiq_emulators/demo.py) on each start: the demo's two pairs. Emulator-only values;",
        "# the secrets are read from the variables named here (demo.env sets them).",
        "[defaults]",
        *(f"{key} = {text}" for key, text in defaults.items()),
    ]
    for pair in pairs:
        banks = f"{{ env = {value(pair.bank_variable)} }}" if pair.bank_variable else value(pair.bank_accounts)
        lines += [
            "",
            f"[pairs.{pair.name}]  # Bunny entity {pair.bunny_entity} -> AIQ {pair.aiq_entity}",
            f"AIQ_ENTITY_ID = {value(pair.aiq_entity)}",
            f"AIQ_CLIENT_ID = {value(pair.aiq_client[0])}",
            f"AIQ_CLIENT_SECRET = {{ env = {value(pair.secret_variable)} }}",
            f"AIQ_DEFAULT_TAX_CODE = {value(pair.aiq_tax_code)}",
            f"BUNNY_ENTITY_ID = {value(pair.bunny_entity)}",
            f"AIQ_PIPELINE_BANK_ACCOUNTS = {banks}",
        ]
    return "\n".join(lines) + "\n"


def demo_pairs_environment(
    pairs_file: Path, dagster_home: Path, pairs: tuple[DemoPair, ...] = DEMO_PAIRS
) -> dict[str, str]:
    """What a process of the demo adds to its environment beside `demo_pairs_text`'s file: the file, the instance
    and the variables the file references (the secrets, the trading pair's bank mapping)."""
    env = {
        "AIQ_PIPELINE_PAIRS_FILE": str(pairs_file),
        "DAGSTER_HOME": str(dagster_home),
        BUNNY_SECRET_VARIABLE: BUNNY_CLIENT[1],
    }
    for pair in pairs:
        env[pair.secret_variable] = pair.aiq_client[1]
        if pair.bank_variable:
            env[pair.bank_variable] = pair.bank_accounts
    return env


def demo_process_environment(demo_env: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (the process environment) without any setting variable, plus the demo's: beside a pairs file, a
    setting left in the environment (a shell that sourced an older demo.env) would stop the code locations loading."""
    base = os.environ if base is None else base
    return {k: v for k, v in base.items() if k not in VARIABLES} | dict(demo_env)


@contextlib.contextmanager
def demo_settings_environment(demo_env: Mapping[str, str]) -> Iterator[None]:
    """This process's environment as the demo's processes see it (`demo_process_environment`), while reading a
    pair's settings or running its definitions in process; restored afterwards."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(demo_process_environment(demo_env, saved))
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _write_sample_bunny_fixture(path: Path) -> Path:
    """The Bunny emulator's sample tenant with entity 2's accounts for the holdings pair, as a fixture file."""
    tenant = sample_tenant()
    set_up_holdings(tenant)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tenant.model_dump_json(exclude_defaults=True, indent=1) + "\n", encoding="utf-8")
    return path


def unmapped_payments(store: TenantStore) -> dict[str, list[str]]:
    """Currency -> ids of the synced entity's received payments through the processor left unmapped on purpose."""
    found: dict[str, list[str]] = {}
    with store.lock:
        received = (p for p in store.tenant.payments if p.processing_state == "SUCCEEDED")
        for p in received:
            if p.entity_id == BUNNY_ENTITY and p.payment_processor == UNMAPPED_PROCESSOR:
                found.setdefault(ISO.get(p.currency_id, p.currency_id), []).append(p.id)
    return found


def unmapped_fix(currencies: Iterable[str]) -> str:
    """The walkthrough's fix, to add to AIQ_PIPELINE_BANK_ACCOUNTS: the unmapped processor mapped, per currency, to
    the bank account that takes bank transfers in that currency (the EUR current account for any other)."""
    return ",".join(
        f"{UNMAPPED_PROCESSOR}:{currency}={BANK_ACCOUNTS.get(f'manual:{currency}', BANK_ACCOUNTS['manual:EUR'])}"
        for currency in sorted(currencies)
    )


# -- the foreground demo -------------------------------------------------------------------------


def _shown(path: Path) -> str:
    """A path as the person types it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def walkthrough(stack: DemoStack) -> str:
    """The copy-pasteable commands of the README's walkthrough, with this stack's ports, pairs and ids."""
    assert stack.emulators is not None
    bunny, ui = stack.emulators.bunny_url, stack.ui_url
    cli = _shown(Path(sys.executable).with_name("aiq-pipeline"))
    trading = f"{cli} --pair {TRADING.name}"
    env_file = _shown(stack.layout.env_file)
    new_invoices = json.dumps(
        {
            "account": "1",
            "items": [{"charge": "SUB-MONTHLY", "quantity": 1, "price": "49.00"}],
            "count": 20,
            "release": True,
        }
    )
    lines = [
        f"Dagster UI: {ui}   Lineage: {ui}/asset-groups",
        f"  {len(stack.pairs)} pairs, each its own code location (Deployment > Code locations):",
    ]
    for pair in stack.pairs:
        assets = f"{ui}/assets/{pair.name}/aiq"
        lines += [
            f"  {pair.name} (Bunny entity {pair.bunny_entity} -> AIQ {pair.aiq_entity}): "
            f"{assets}/posted_invoices?view=partitions",
            f"    payments: {assets}/posted_payments?view=partitions",
        ]
    lines += [
        "  The sensors are on: every 30 s each pair's sensors pick up its Bunny entity's released invoices, credit",
        "  notes and payments and post them in batches; posted partitions turn green, the ones that cannot be",
        "  posted turn red.",
        "",
        "In another terminal, in this folder:",
        f"  set -a; . {env_file}; set +a",
        "",
        "  # both pairs' settings checked against the emulators",
        f"  {cli} doctor",
        "  # the documents that could not be posted, with the reason and the fix, per pair",
        *(f"  {cli} --pair {pair.name} exceptions" for pair in stack.pairs),
        "",
        "  # release 20 new invoices in Bunny (entity 1): the trading pair posts them within about 30 s",
        f"  curl -s -X POST {bunny}/_emulator/invoices -H 'content-type: application/json' \\",
        f"    -d '{new_invoices}'",
        "  # or release the tenant's draft invoices",
        f"  curl -s -X POST {bunny}/_emulator/invoices/release -H 'content-type: application/json' -d '{{}}'",
    ]
    fix = stack.broken_charge_fix()
    if fix is not None:
        mutation = json.dumps(
            {"query": FIX_CHARGE_MUTATION, "variables": {"id": fix[0], "a": {"financialAccountId": fix[1]}}}
        )
        lines += [
            "",
            f"  # fix one cause (trading): {BROKEN_CHARGE} books to 4900, a control account in AIQ; point it at",
            f"  # {FIXED_ACCOUNT_CODE} in Bunny (as a finance person would in Bunny's price list)",
            f"  TOKEN=$(curl -s {bunny}/oauth/token -d grant_type=client_credentials \\",
            f'    -d client_id={BUNNY_CLIENT[0]} -d client_secret="${BUNNY_SECRET_VARIABLE}" \\',
            "    | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
            f"  curl -s {bunny}/graphql -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' \\",
            f"    -d '{mutation}'",
        ]
    lines += _payment_lines(stack, trading)
    closed = stack.closed_period_invoice()
    if closed is not None:
        lines += [
            "",
            f"  # {closed} was issued in a period AIQ has closed: say it was booked by hand, and it leaves the",
            "  # exceptions list (its history stays; `exceptions undismiss` brings it back)",
            f'  {trading} exceptions dismiss {closed} --reason "booked by hand into June"',
            f"  {trading} exceptions --dismissed",
        ]
    lines += [
        "",
        "  # post the failed documents again (or in the UI: posted_invoices > Materialize > Failed and missing)",
        f"  {trading} retry --all",
        "",
        f"Dagster's own log: {_shown(stack.layout.log)}.   Ctrl-C stops everything; state stays in "
        f"{_shown(stack.layout.root)} (make demo resumes it; aiq-pipeline demo --fresh starts over).",
    ]
    return "\n".join(lines)


def _payment_lines(stack: DemoStack, cli: str) -> list[str]:
    """The walkthrough's payments (the trading pair, `cli` its command): the unmapped processor's fix, and a pending
    payment going through."""
    assert stack.emulators is not None
    bunny = stack.emulators.bunny_url
    unmapped, pending = stack.unmapped_payments(), stack.pending_payments()
    if not unmapped and not pending:
        return []
    lines = [
        "",
        "  # payments: the payments sensor posts Bunny's payments as AIQ receipts into the bank mapped for their",
        "  # processor (each pair's AIQ_PIPELINE_BANK_ACCOUNTS), once their invoices are posted.",
    ]
    if unmapped and TRADING.bank_variable:
        mapping = unmapped_fix(unmapped)
        keys = " ".join(payment_key(i) for ids in unmapped.values() for i in ids)
        variable = TRADING.bank_variable
        lines += [
            f"  # {UNMAPPED_PROCESSOR} is left unmapped on purpose: its payments are UNMAPPED_BANK_ACCOUNT exceptions.",
            f"  # Map it (the pairs file reads trading's mapping from {variable}; in this shell, so only this",
            "  # CLI sees it) and post them again:",
            f'  export {variable}="${variable},{mapping}"',
            f"  {cli} retry {keys}",
        ]
    if pending:
        lines += [
            "  # a pending card payment goes through in Bunny: the payments sensor posts it within about 30 s",
            f"  curl -s -X POST {bunny}/_emulator/payments/{pending[0]}/complete",
        ]
    return lines


def _watch(stack: DemoStack, started: float, stop: threading.Event, echo: Echo) -> None:
    """Report progress (at most every 30 s) until every pair's sensors have caught up, invoices first, then
    payments; the times are the demo's measurements of how long the first posting and the whole backlog take."""
    first_posted = False
    invoices_done: set[str] = set()
    payments_done: set[str] = set()
    last_said = 0.0
    already = stack.progress().posted  # posted by earlier sessions of a resumed demo
    while not stop.wait(5.0):
        try:
            progress = stack.progress()
        except Exception as error:  # a busy SQLite file must not end the demo
            echo(f"(progress not readable just now: {error})")
            continue
        elapsed = time.monotonic() - started
        for name, pair in progress.pairs.items():
            if pair.invoices_settled and name not in invoices_done:
                invoices_done.add(name)
                echo(
                    f"[{elapsed:5.0f}s] {name}: the invoices have caught up: {pair.posted} posted, "
                    f"{pair.failed} failed."
                )
                last_said = elapsed
            if name in invoices_done and name not in payments_done and pair.payments_caught_up:
                payments_done.add(name)
                echo(
                    f"[{elapsed:5.0f}s] {name}: the payments have caught up: {pair.payments_posted} posted, "
                    f"{pair.payments_failed} failed."
                )
                last_said = elapsed
        if len(payments_done) == len(progress.pairs):
            echo(
                "Run `aiq-pipeline --pair NAME exceptions` (see above) for the reasons; new releases are picked up "
                "as they come."
            )
            return
        if progress.posted > already and not first_posted:
            first_posted = True
            echo(f"[{elapsed:5.0f}s] first invoices posted: {progress.render()}")
            last_said = elapsed
        elif progress.known and elapsed - last_said >= 30:
            echo(f"[{elapsed:5.0f}s] {progress.render()}")
            last_said = elapsed


def _interrupt_on_sigterm() -> None:
    """SIGTERM stops the demo like Ctrl-C. Installed again once Dagster has run in this process: its
    in-process execution resets SIGTERM to whatever SIGINT does (ignored, in a background job)."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run_demo(ui_port: int = DEFAULT_UI_PORT, fresh: bool = False, echo: Echo = print) -> None:
    """The foreground demo under `.demo/` until Ctrl-C."""
    if fresh and DEMO_DIR.exists():
        echo(f"--fresh: removing {DEMO_DIR}")
        shutil.rmtree(DEMO_DIR)
    elif DemoLayout(DEMO_DIR).is_one_pair_demo():
        echo(f"{DEMO_DIR} holds the earlier one-pair demo: removing it to start the two-pair demo afresh")
        shutil.rmtree(DEMO_DIR)
    resumed = (DEMO_DIR / "dagster_home").exists()
    echo(("resuming the demo in " if resumed else "starting a new demo in ") + str(DEMO_DIR))
    _interrupt_on_sigterm()
    started = time.monotonic()
    stop = threading.Event()
    stack = DemoStack(
        DEMO_DIR, ui_port=ui_port, accountsiq_port=DEFAULT_ACCOUNTSIQ_PORT, bunny_port=DEFAULT_BUNNY_PORT, echo=echo
    )
    try:
        stack.__enter__()
        _interrupt_on_sigterm()
        assert stack.emulators is not None
        echo(f"AccountsIQ emulator: {stack.emulators.accountsiq_url}   Bunny emulator: {stack.emulators.bunny_url}")
        echo(f"the UI and the daemon are up after {time.monotonic() - started:.0f}s")
        echo("")
        echo(walkthrough(stack))
        echo("")
        threading.Thread(target=_watch, args=(stack, started, stop, echo), daemon=True).start()
        while stack.alive():
            time.sleep(1.0)
        echo(f"dagster dev stopped on its own; see {stack.layout.log}")
    except KeyboardInterrupt:
        echo("\nstopping: the Dagster UI, daemon and code server, then the emulators (a few seconds)…")
    finally:
        stop.set()
        # A second Ctrl-C must not leave orphaned Dagster processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
    echo(f"stopped. State kept in {DEMO_DIR}; `make demo` resumes it.")
