"""A whole product stack for end-to-end tests: both emulators (real HTTP), a DuckDB store, a Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest

from aiq_pipeline.definitions import build_definitions
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource, SyncSettings
from aiq_pipeline.emulators.runner import RunningEmulators, running_emulators
from aiq_pipeline.store import Store

AIQ_ENTITY = "DEMO01"
AIQ_CLIENT = ("demo-aiq-client", "demo-aiq-secret")
BUNNY_ENTITY = "1"
BUNNY_CLIENT = ("demo-bunny-client", "demo-bunny-secret")


@dataclass
class Stack:
    emulators: RunningEmulators
    defs: dg.Definitions
    instance: dg.DagsterInstance
    store: Store
    tmp: Path

    def bunny_graphql(self, query: str, variables: dict | None = None) -> dict:
        """Act in Bunny as a person with an admin token would (e.g. fix a charge's mapping)."""
        with httpx.Client(base_url=self.emulators.bunny_url) as http:
            token = http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": BUNNY_CLIENT[0],
                    "client_secret": BUNNY_CLIENT[1],
                    "scope": "standard:read standard:write billing:read billing:write product:read product:write",
                },
            ).json()["access_token"]
            answer = http.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
        assert not answer.get("errors"), answer
        return answer["data"]

    def aiq_transactions(self) -> list[dict]:
        """Every sales document in the AIQ emulator, straight from its state (the ground truth)."""
        stats = httpx.get(f"{self.emulators.accountsiq_url}/_emulator/stats").json()
        return stats


def make_resources(emulators: RunningEmulators, store_path: Path, batch_size: int = 5) -> dict:
    return {
        "accountsiq": AccountsIQResource(
            base_url=emulators.accountsiq_url,
            entity_id=AIQ_ENTITY,
            client_id=AIQ_CLIENT[0],
            client_secret=AIQ_CLIENT[1],
            default_tax_code="V01",
        ),
        "bunny": BunnyResource(
            base_url=emulators.bunny_url,
            client_id=BUNNY_CLIENT[0],
            client_secret=BUNNY_CLIENT[1],
            entity_id=BUNNY_ENTITY,
        ),
        "store": StoreResource(location=str(store_path)),
        "sync_settings": SyncSettings(batch_size=batch_size),
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_emulators(state_dir=tmp_path / "emulators") as emulators, dg.instance_for_test() as instance:
        store_path = tmp_path / "store.duckdb"
        defs = build_definitions(make_resources(emulators, store_path))
        yield Stack(emulators, defs, instance, Store(store_path), tmp_path)
