"""Where one batch's time goes: outside systems, our own code, Dagster's bookkeeping.

    .venv/bin/python bench/profile_batch.py --invoices 50 [--no-state] [--top 25]
    .venv/bin/python bench/profile_batch.py --invoices 50 --aiq-latency-ms 150 --bunny-latency-ms 50

The emulators run in their own process (`aiq-pipeline emulate`), as the outside systems would, so the
figures here are the run process's view. Three measurements on fresh invoices each:

A. the posting service alone (`PostingService.post_many`, no Dagster, journal in a DuckDB store): wall time per
   invoice, every HTTP round trip timed and named (AIQ by SOAP action, Bunny by GraphQL operation), and a
   cProfile of this process (our CPU: SOAP building and parsing, pydantic, httpx, the journal);
B. Dagster's floor in process: the no-op asset of `noop_location.py` over as many partitions;
C. the product's posted-invoices asset in process over as many partitions (service + events + store).

`--no-state` runs the emulators in memory, to see what their persistence costs; the latency options arm the
emulators' latency faults (as `invoice_burst.py` does). In-process runs log every event to stderr; the figures
go to stdout (`2>/dev/null` to see only them).
"""

import argparse
import cProfile
import io
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import httpx
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from aiq_emulators.runner import RunningEmulators
from aiq_emulators.serving import free_port
from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.names import DEFAULT_NAMES
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource, SyncSettings
from aiq_pipeline.service.kinds import KINDS
from aiq_pipeline.service.posting import PostingService
from aiq_pipeline.store import Store
from aiq_pipeline.store.journal import PostingJournal
from aiq_pipeline.sync.documents.context import PostingSettings
from aiq_pipeline.sync.identity import KIND_INVOICE

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
# Sibling modules of this script (bench/ is not a package).
from harness import (  # noqa: E402
    AIQ_CLIENT,
    AIQ_ENTITY,
    BUNNY_CLIENT,
    BUNNY_ENTITY,
    DEFAULT_ACCOUNTS,
    INVOICE_ITEMS,
    LOCAL_INSTANCE,
    RoundTrips,
    arm_latency,
)
from noop_location import NOOP_ASSET, NOOP_PARTITIONS_NAME, noop_invoices  # noqa: E402


def _wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_emulator/stats", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"emulator at {url} did not start")


def _release(bunny_url: str, count: int) -> list[str]:
    ids: list[str] = []
    accounts = list(DEFAULT_ACCOUNTS)
    for i, account in enumerate(accounts):
        n = count // len(accounts) + (1 if i < count % len(accounts) else 0)
        if n:
            body = {"account": account, "entity_id": BUNNY_ENTITY, "items": INVOICE_ITEMS, "count": n, "release": True}
            answer = httpx.post(f"{bunny_url}/_emulator/invoices", json=body, timeout=60)
            answer.raise_for_status()
            ids.extend(answer.json()["ids"])
    return ids


def _range_tags(keys: list[str]) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=50)
    parser.add_argument("--no-state", action="store_true", help="emulators in memory (no persistence)")
    parser.add_argument("--top", type=int, default=20, help="cProfile rows to print")
    parser.add_argument("--aiq-latency-ms", type=int, default=0, help="delay every AIQ SOAP call (emulator fault)")
    parser.add_argument("--bunny-latency-ms", type=int, default=0, help="delay every Bunny request (emulator fault)")
    args = parser.parse_args()
    n = args.invoices
    tmp = Path(tempfile.mkdtemp(prefix="aiq-profile-"))
    aiq_port, bunny_port = free_port(), free_port()
    command = [
        str(Path(sys.executable).parent / "aiq-pipeline"),
        "emulate",
        "--accountsiq-port",
        str(aiq_port),
        "--bunny-port",
        str(bunny_port),
    ]
    if not args.no_state:
        command += ["--state", str(tmp / "emulators")]
    emulators = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        aiq_url, bunny_url = f"http://127.0.0.1:{aiq_port}", f"http://127.0.0.1:{bunny_port}"
        _wait_ready(aiq_url)
        _wait_ready(bunny_url)
        arm_latency(
            RunningEmulators(accountsiq_url=aiq_url, bunny_url=bunny_url),
            aiq_ms=args.aiq_latency_ms,
            bunny_ms=args.bunny_latency_ms,
        )
        print(
            f"batch of {n} invoices; emulators {'in memory' if args.no_state else 'persisting state'}; "
            f"latency AIQ {args.aiq_latency_ms} ms, Bunny {args.bunny_latency_ms} ms"
        )

        # A. the posting service alone
        ids = _release(bunny_url, n)
        profile = cProfile.Profile()
        with (
            RoundTrips(aiq_url) as trips,
            AccountsIQClient(
                entity_id=AIQ_ENTITY, client_id=AIQ_CLIENT[0], client_secret=AIQ_CLIENT[1], base_url=aiq_url
            ) as aiq,
            BunnyClient(base_url=bunny_url, client_id=BUNNY_CLIENT[0], client_secret=BUNNY_CLIENT[1]) as bunny,
            Store(tmp / "service.duckdb").session() as session,
        ):
            service = PostingService(
                aiq,
                bunny,
                PostingJournal(session, AIQ_ENTITY),
                settings=PostingSettings(bunny_entity_id=BUNNY_ENTITY, default_tax_code="V01"),
                owner="bench-profile-batch",
                kinds={KIND_INVOICE: KINDS[KIND_INVOICE]},
            )
            started = time.perf_counter()
            profile.enable()
            outcomes = list(service.post_many(ids))
            profile.disable()
            elapsed = time.perf_counter() - started
        failed = [o for o in outcomes if not o.ok]
        print(
            f"\nA. posting service alone: {elapsed:.2f} s, {elapsed / n * 1000:.0f} ms per invoice "
            f"({len(failed)} failed)"
        )
        trips.report(n)
        waiting = sum(sum(v) for v in trips.times.values())
        print(f"  this process's own time (wall - waiting): {(elapsed - waiting) / n * 1000:.1f} ms per invoice")
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
        print("  cProfile of this process, by own time:")
        print("\n".join("    " + line for line in out.getvalue().splitlines() if line.strip()))

        # B and C share one instance configured like the product's.
        home = tmp / "home"
        home.mkdir()
        shutil.copyfile(LOCAL_INSTANCE, home / "dagster.yaml")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            keys = [f"noop-{i:06d}" for i in range(n)]
            instance.add_dynamic_partitions(NOOP_PARTITIONS_NAME, keys)
            noop_job = dg.Definitions(
                assets=[noop_invoices], executor=dg.in_process_executor
            ).get_implicit_global_asset_job_def()
            started = time.perf_counter()
            result = noop_job.execute_in_process(
                instance=instance, tags=_range_tags(keys), asset_selection=[NOOP_ASSET]
            )
            floor = time.perf_counter() - started
            print(f"\nB. Dagster floor in process: {floor:.2f} s for {n} partitions, {floor / n * 1000:.1f} ms each")
            assert result.success

            ids = _release(bunny_url, n)
            instance.add_dynamic_partitions(DEFAULT_NAMES.invoices.partitions_name, ids)
            resources = {
                "accountsiq": AccountsIQResource(
                    base_url=aiq_url,
                    entity_id=AIQ_ENTITY,
                    client_id=AIQ_CLIENT[0],
                    client_secret=AIQ_CLIENT[1],
                    default_tax_code="V01",
                ),
                "bunny": BunnyResource(
                    base_url=bunny_url, client_id=BUNNY_CLIENT[0], client_secret=BUNNY_CLIENT[1], entity_id=BUNNY_ENTITY
                ),
                "store": StoreResource(location=str(tmp / "store.duckdb")),
                "sync_settings": SyncSettings(batch_size=n),
            }
            job = build_definitions(resources).resolve_implicit_global_asset_job_def()
            started = time.perf_counter()
            profile_c = cProfile.Profile()
            with RoundTrips(aiq_url) as trips_c, profile_c:
                result = job.execute_in_process(
                    instance=instance,
                    tags=_range_tags(ids),
                    asset_selection=[DEFAULT_NAMES.invoices.key],
                    raise_on_error=False,
                )
            full = time.perf_counter() - started
            print(
                f"C. posted-invoices asset in process: {full:.2f} s for {n} partitions, {full / n * 1000:.1f} ms each"
            )
            print(f"   (success: {result.success}); minus the floor: {(full - floor) / n * 1000:.1f} ms per invoice")
            trips_c.report(n)
            out = io.StringIO()
            pstats.Stats(profile_c, stream=out).sort_stats("cumulative").print_stats(args.top * 3)
            print("  cProfile of the in-process run, by cumulative time:")
            print("\n".join("    " + line for line in out.getvalue().splitlines() if line.strip()))
    finally:
        emulators.terminate()
        try:
            emulators.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulators.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
