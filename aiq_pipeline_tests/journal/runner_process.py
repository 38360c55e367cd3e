"""One posting runner as its own OS process: `python -m aiq_pipeline_tests.journal.runner_process CONFIG.json`.

It opens the Dagster instance of the config's DAGSTER_HOME (PostgreSQL from the production yaml, or SQLite), builds
the code location with resources pointing at the emulators and the store, and posts its slices of document keys one
after another through the product's own runner (`post_in_process`, trigger `sync`: an automatic run), exactly as
`aiq-pipeline sync` does. After each slice it appends one JSON line to its progress file, so the test sees how far
it got (and can kill it anywhere in between).

The only thing not from the product's wiring is the AIQ client's timeout: the product leaves it at 30 s, and a slow
commit must outlast it to be a slow commit, so the test's AccountsIQ resource passes a shorter one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource, SyncSettings
from aiq_pipeline.operations.runs import post_in_process

AIQ_ENTITY = "DEMO01"
AIQ_CLIENT = ("demo-aiq-client", "demo-aiq-secret")
BUNNY_ENTITY = "1"
BUNNY_CLIENT = ("demo-bunny-client", "demo-bunny-secret")


@dataclass
class RunnerConfig:
    name: str
    dagster_home: str
    store: str
    accountsiq_url: str
    bunny_url: str
    slices: list[list[str]]
    progress: str  # a file: one JSON line per finished slice
    batch_size: int = 25
    aiq_timeout: float = 2.0
    unknown_outcome_deadline: int = 4
    claim_lease: int = 600
    sync_start_date: str = "2025-01-01"

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def read(cls, path: Path) -> RunnerConfig:
        return cls(**json.loads(path.read_text()))


class TimedAccountsIQResource(AccountsIQResource):
    """The product's AccountsIQ resource with a client timeout shorter than a slow commit."""

    timeout_seconds: float = Field(default=30.0, gt=0)

    @contextmanager
    def open(self) -> Iterator[AccountsIQClient]:
        with AccountsIQClient(
            entity_id=self.entity_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            base_url=self.base_url or None,
            backoff_base=self.backoff_seconds,
            timeout=self.timeout_seconds,
        ) as client:
            yield client


def resources(config: RunnerConfig) -> dict[str, dg.ConfigurableResource]:
    return {
        "accountsiq": TimedAccountsIQResource(
            base_url=config.accountsiq_url,
            entity_id=AIQ_ENTITY,
            client_id=AIQ_CLIENT[0],
            client_secret=AIQ_CLIENT[1],
            default_tax_code="V01",
            backoff_seconds=0.05,
            timeout_seconds=config.aiq_timeout,
        ),
        "bunny": BunnyResource(
            base_url=config.bunny_url,
            client_id=BUNNY_CLIENT[0],
            client_secret=BUNNY_CLIENT[1],
            entity_id=BUNNY_ENTITY,
            backoff_seconds=0.05,
        ),
        "store": StoreResource(location=config.store),
        "sync_settings": SyncSettings(
            batch_size=config.batch_size,
            sync_start_date=config.sync_start_date,
            unknown_outcome_deadline_seconds=config.unknown_outcome_deadline,
            claim_lease_seconds=config.claim_lease,
        ),
    }


def definitions(config: RunnerConfig) -> dg.Definitions:
    return build_definitions(resources(config))


def main(path: str) -> int:
    config = RunnerConfig.read(Path(path))
    instance = dg.DagsterInstance.from_config(config.dagster_home)
    defs = definitions(config)
    with open(config.progress, "a", buffering=1) as progress:
        for number, keys in enumerate(config.slices):
            started = time.monotonic()
            summary = post_in_process(instance, keys, trigger="sync", defs=defs)
            line = {
                "slice": number,
                "keys": len(keys),
                "posted": len(summary.posted),
                "already": len(summary.already_posted),
                "skipped": len(summary.skipped),
                "runs": summary.runs,
                "seconds": round(time.monotonic() - started, 2),
            }
            progress.write(json.dumps(line) + "\n")
    instance.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
