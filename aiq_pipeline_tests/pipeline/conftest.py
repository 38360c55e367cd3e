"""A whole product stack for end-to-end tests: both emulators (real HTTP), a DuckDB store, a Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest

from aiq_emulators.runner import RunningEmulators, running_emulators
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, StoreResource, SyncSettings
from aiq_pipeline.store import Store
from aiq_pipeline.store.journal import JournalEntry, PostingJournal

AIQ_ENTITY = "DEMO01"
AIQ_CLIENT = ("demo-aiq-client", "demo-aiq-secret")
BUNNY_ENTITY = "1"
BUNNY_CLIENT = ("demo-bunny-client", "demo-bunny-secret")


def connection_env(emulators: RunningEmulators) -> dict[str, str]:
    """The product's AIQ and Bunny settings pointing at running emulators (for a command line run as a process)."""
    return {
        "AIQ_BASE_URL": str(emulators.accountsiq_url),
        "AIQ_ENTITY_ID": AIQ_ENTITY,
        "AIQ_CLIENT_ID": AIQ_CLIENT[0],
        "AIQ_CLIENT_SECRET": AIQ_CLIENT[1],
        "AIQ_DEFAULT_TAX_CODE": "V01",
        "BUNNY_BASE_URL": str(emulators.bunny_url),
        "BUNNY_CLIENT_ID": BUNNY_CLIENT[0],
        "BUNNY_CLIENT_SECRET": BUNNY_CLIENT[1],
        "BUNNY_ENTITY_ID": BUNNY_ENTITY,
    }


@dataclass
class Stack:
    emulators: RunningEmulators
    defs: dg.Definitions
    instance: dg.DagsterInstance
    store: Store
    tmp: Path

    def journal_outcomes(self, outcome: str | None = None) -> list[dict]:
        """The store's posting outcomes (one row per document), oldest key first."""
        with self.store.session() as session:
            return PostingJournal(session, AIQ_ENTITY).outcomes(outcome)

    def journal(self) -> list[JournalEntry]:
        with self.store.session() as session:
            return PostingJournal(session, AIQ_ENTITY).entries()

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

    def fix_demo_data(self) -> None:
        """Fix the demo tenant's three broken invoices where a finance team would: the charge's account in
        Bunny, the closed period and the missing tax code in AIQ."""
        accounts = self.bunny_graphql("query { financialAccounts(first: 100) { nodes { id code } } }")
        services = next(a["id"] for a in accounts["financialAccounts"]["nodes"] if a["code"] == "4010")
        charges = self.bunny_graphql("query { priceListCharges(first: 100) { nodes { id code } } }")
        legacy = next(c["id"] for c in charges["priceListCharges"]["nodes"] if c["code"] == "LEGACY-ADDON")
        self.bunny_graphql(
            "mutation($id: ID!, $a: PriceListChargeAttributes!) { priceListChargeUpdate(id: $id, attributes: $a) "
            "{ errors priceListCharge { id } } }",
            {"id": legacy, "a": {"financialAccountId": services}},
        )
        with self.emulators.accountsiq.state.writing() as data:
            entity = data.entities[AIQ_ENTITY]
            for period in entity.periods:
                if period.year == 2026 and period.number == 5:
                    period.sales_closed = False
            entity.tax_codes["V99"] = entity.tax_codes["V01"].model_copy(update={"code": "V99"})


# The sample tenant's invoices are history (2026): the stack syncs from this date, as a team bringing its history in
# on purpose would set it. Without a start date the sync starts at its first switch-on (tested on its own).
HISTORY_START = "2025-01-01"


def make_resources(
    emulators: RunningEmulators, store_path: Path, batch_size: int = 5, sync_start_date: str | None = HISTORY_START
) -> dict:
    return {
        "accountsiq": AccountsIQResource(
            base_url=emulators.accountsiq_url,
            entity_id=AIQ_ENTITY,
            client_id=AIQ_CLIENT[0],
            client_secret=AIQ_CLIENT[1],
            default_tax_code="V01",
            backoff_seconds=0.01,
        ),
        "bunny": BunnyResource(
            base_url=emulators.bunny_url,
            client_id=BUNNY_CLIENT[0],
            client_secret=BUNNY_CLIENT[1],
            entity_id=BUNNY_ENTITY,
            backoff_seconds=0.01,
        ),
        "store": StoreResource(location=str(store_path)),
        "sync_settings": SyncSettings(batch_size=batch_size, sync_start_date=sync_start_date),
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_emulators(state_dir=tmp_path / "emulators") as emulators, dg.instance_for_test() as instance:
        store_path = tmp_path / "store.duckdb"
        defs = build_definitions(make_resources(emulators, store_path))
        yield Stack(emulators, defs, instance, Store(store_path), tmp_path)
