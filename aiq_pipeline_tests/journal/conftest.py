"""The journal tests' fixtures: the pipeline stack (both emulators, a store, an instance) and a posting bench (both
emulators and a store, for the posting service alone)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from aiq_emulators.runner import RunningEmulators, running_emulators
from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.service.posting import PostingOptions, PostingService
from aiq_pipeline.store import Store
from aiq_pipeline.store.journal import PostingJournal
from aiq_pipeline.sync.documents.context import PostingSettings
from aiq_pipeline_tests.pipeline.conftest import (
    AIQ_CLIENT,
    AIQ_ENTITY,
    BUNNY_CLIENT,
    BUNNY_ENTITY,
    stack,  # noqa: F401
)

SETTINGS = PostingSettings(bunny_entity_id=BUNNY_ENTITY, default_tax_code="V01")


@dataclass
class Bench:
    emulators: RunningEmulators
    store: Store
    stack: ExitStack

    def service(
        self,
        owner: str = "run-1",
        *,
        timeout: float = 10.0,
        deadline: float = 5.0,
        manual: bool = False,
        rewrite_unknown: bool = False,
        witness_margin: float = 0.0,
        store: Store | None = None,
    ) -> PostingService:
        aiq = self.stack.enter_context(
            AccountsIQClient(
                entity_id=AIQ_ENTITY,
                client_id=AIQ_CLIENT[0],
                client_secret=AIQ_CLIENT[1],
                base_url=self.emulators.accountsiq_url,
                timeout=timeout,
                backoff_base=0.01,
            )
        )
        bunny = self.stack.enter_context(
            BunnyClient(base_url=self.emulators.bunny_url, client_id=BUNNY_CLIENT[0], client_secret=BUNNY_CLIENT[1])
        )
        session = self.stack.enter_context((store or self.store).session())
        options = PostingOptions(
            unknown_outcome_deadline=timedelta(seconds=deadline),
            first_lookup_pause=0.2,
            witness_margin=timedelta(seconds=witness_margin),
        )
        return PostingService(
            aiq,
            bunny,
            PostingJournal(session, AIQ_ENTITY),
            settings=SETTINGS,
            owner=owner,
            options=options,
            manual=manual,
            rewrite_unknown=rewrite_unknown,
        )

    def invoice(self) -> str:
        (invoice_id,) = self.emulators.bunny.create_invoices({}, count=1, release=True)
        return invoice_id

    def aiq_count(self, reference: str) -> int:
        transactions = self.emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.values()
        return sum(1 for t in transactions if t.external_reference == reference)

    def journal_entry(self, reference: str):  # type: ignore[no-untyped-def]
        with self.store.session() as session:
            return PostingJournal(session, AIQ_ENTITY).entry(reference)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    with running_emulators(state_dir=tmp_path / "emulators") as emulators, ExitStack() as contexts:
        yield Bench(emulators, Store(tmp_path / "store.duckdb"), contexts)
