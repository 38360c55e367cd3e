"""The audit log's fixtures, each on DuckDB or PostgreSQL: the store, a journal written the way posting writes it
(claim, `sending`, AIQ's id, the outcome) at moments the test chooses, the posting bench (both emulators and the
posting service) with the command's environment, and the whole pipeline stack (the Dagster instance too)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from aiq_emulators.runner import running_emulators
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.resources import StoreResource
from aiq_pipeline.store import Session, Store
from aiq_pipeline.store.journal import FoundBy, OutcomeRecord, PlannedWrite, PostingJournal
from aiq_pipeline_tests.journal.conftest import Bench
from aiq_pipeline_tests.pipeline.conftest import (
    AIQ_CLIENT,
    AIQ_ENTITY,
    BUNNY_CLIENT,
    BUNNY_ENTITY,
    Stack,
    make_resources,
)
from aiq_pipeline_tests.postgres.conftest import open_instance, pg_database, pg_url, production_home  # noqa: F401

BACKENDS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "duckdb":
        return Store(tmp_path / "aiq.duckdb")
    return Store(request.getfixturevalue("pg_url"))


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0))

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> Clock:
        self.now = moment
        return self


@dataclass
class Writer:
    """Writes the journal as a posting run does, one document at a time, at the clock's moments."""

    store: Store
    clock: Clock = field(default_factory=Clock)

    def journal(self, session: Session, entity: str) -> PostingJournal:
        return PostingJournal(session, entity, clock=self.clock)

    def write(
        self,
        entity: str,
        key: str,
        reference: str,
        *,
        run: str,
        aiq_id: int | None,
        kind: str = "invoice",
        target: str = "SI",
        gross: Decimal | None = None,
        found_by: FoundBy = FoundBy.ANSWER,
        error: str | None = None,
    ) -> None:
        """One AIQ write of `key`: sent by `run`, then posted as `aiq_id` (or refused with `error`)."""
        with self.store.session() as session:
            journal = self.journal(session, entity)
            assert (
                journal.claim(key, run, process="h/1/1", lease=timedelta(minutes=5), is_dead=lambda _p: False) is None
            )
            planned = PlannedWrite(reference, key, kind, target, currency="EUR", gross=gross)
            journal.begin_write(planned, run)
            if error is not None:
                journal.record_rejected(planned, error)
            elif aiq_id is not None:
                journal.record_posted(planned, aiq_id, found_by=found_by)
            journal.release(key, run)

    def outcome(self, entity: str, record: OutcomeRecord) -> None:
        with self.store.session() as session:
            self.journal(session, entity).record_outcomes([record])

    def posted(
        self,
        entity: str,
        key: str,
        *,
        run: str,
        aiq_id: int,
        number: str,
        gross: Decimal,
        kind: str = "invoice",
        target: str = "SI",
    ) -> str:
        """A document posted by `run`: its write and its outcome. Returns its reference."""
        reference = f"BUNNY-{key}"
        self.write(entity, key, reference, run=run, aiq_id=aiq_id, kind=kind, target=target, gross=gross)
        self.outcome(
            entity,
            OutcomeRecord(
                key,
                kind,
                "posted",
                source_id=key.removeprefix("CN-"),
                number=number,
                customer_code="C001",
                external_reference=reference,
                aiq_transaction_id=aiq_id,
                currency="EUR",
                net=gross,
                tax=Decimal("0.00"),
                gross=gross,
                aiq_gross=gross,
                posted_at=self.clock(),
                run_id=run,
            ),
        )
        return reference


BIG = Decimal("1234567890123456.78")  # 18 digits: exact only as Decimal


def history(writer: Writer) -> dict[str, str]:
    """Three days of posting in DEMO01 and one document in OTHER: what each test filters."""
    clock = writer.clock
    refs = {}
    clock.at(datetime(2026, 1, 5, 9, 0))
    refs["8"] = writer.posted("DEMO01", "8", run="run-a", aiq_id=501, number="INV-1007", gross=BIG)
    clock.at(datetime(2026, 1, 5, 9, 1))
    writer.write("DEMO01", "CUSTOMER:C001", "CUSTOMER:C001", run="run-a", aiq_id=77, kind="customer", target="CUSTOMER")
    clock.at(datetime(2026, 1, 9, 14, 0))  # a credit note posted, then allocated to invoice 8
    refs["CN-3"] = writer.posted(
        "DEMO01",
        "CN-3",
        run="run-b",
        aiq_id=502,
        number="CN-0003",
        gross=Decimal("10.10"),
        kind="credit_note",
        target="SN",
    )
    clock.at(datetime(2026, 1, 9, 14, 1))
    writer.write("DEMO01", "CN-3", "ALLOC-CN-3-8", run="run-b", aiq_id=0, kind="allocation", target="ALLOCATION")
    clock.at(datetime(2026, 1, 9, 15, 0))  # invoice 9 fails: AIQ refuses it
    writer.write("DEMO01", "9", "BUNNY-9", run="run-b", aiq_id=None, error="period closed")
    writer.outcome(
        "DEMO01",
        OutcomeRecord("9", "invoice", "failed", source_id="9", number="INV-1008", reason_code="CLOSED_PERIOD",
                      reason="The period is closed.", fix="Open it.", run_id="run-b"),
    )  # fmt: skip
    clock.at(datetime(2026, 1, 12, 8, 0))  # ... and posts once the period is open, in another run
    writer.write("DEMO01", "9", "BUNNY-9", run="run-c", aiq_id=503)
    writer.outcome(
        "DEMO01",
        OutcomeRecord("9", "invoice", "posted", source_id="9", number="INV-1008", external_reference="BUNNY-9",
                      aiq_transaction_id=503, gross=Decimal("0.10"), posted_at=clock(), run_id="run-c"),
    )  # fmt: skip
    clock.at(datetime(2026, 2, 1, 0, 0))  # a later run finds invoice 8 already posted and writes nothing
    writer.outcome(
        "DEMO01",
        OutcomeRecord("8", "invoice", "already_posted", source_id="8", number="INV-1007",
                      external_reference=refs["8"], aiq_transaction_id=501, gross=BIG, posted_at=clock(),
                      run_id="run-d"),
    )  # fmt: skip
    clock.at(datetime(2026, 1, 10, 10, 0))
    refs["OTHER:8"] = writer.posted("OTHER", "8", run="run-x", aiq_id=900, number="INV-1007", gross=Decimal("5.00"))
    return refs


@pytest.fixture
def writer(store: Store) -> Writer:
    return Writer(store)


@pytest.fixture
def bench(store: Store, tmp_path: Path) -> Iterator[Bench]:
    """Both emulators over real HTTP and the posting service, writing to the store on either backend."""
    with running_emulators(state_dir=tmp_path / "emulators") as emulators, ExitStack() as contexts:
        yield Bench(emulators, store, contexts)


@pytest.fixture
def cli_env(bench: Bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of `aiq-pipeline`, pointing at the bench's store and emulators (one pair)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        "DAGSTER_HOME": str(home),
        "AIQ_PIPELINE_STORE": bench.store.location,
        "AIQ_BASE_URL": bench.emulators.accountsiq_url,
        "AIQ_ENTITY_ID": AIQ_ENTITY,
        "AIQ_CLIENT_ID": AIQ_CLIENT[0],
        "AIQ_CLIENT_SECRET": AIQ_CLIENT[1],
        "AIQ_DEFAULT_TAX_CODE": "V01",
        "BUNNY_BASE_URL": bench.emulators.bunny_url,
        "BUNNY_CLIENT_ID": BUNNY_CLIENT[0],
        "BUNNY_CLIENT_SECRET": BUNNY_CLIENT[1],
        "BUNNY_ENTITY_ID": BUNNY_ENTITY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=BACKENDS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The pipeline stack with the Dagster instance and the store on SQLite and DuckDB, or both on PostgreSQL."""
    with ExitStack() as cleanup:
        emulators = cleanup.enter_context(running_emulators(state_dir=tmp_path / "emulators"))
        if request.param == "duckdb":
            instance = cleanup.enter_context(dg.instance_for_test())
            location = str(tmp_path / "store.duckdb")
        else:
            instance = cleanup.enter_context(open_instance(request.getfixturevalue("production_home")))
            location = str(request.getfixturevalue("pg_url"))
        resources = make_resources(emulators, tmp_path / "unused.duckdb")
        resources["store"] = StoreResource(location=location)
        yield Stack(emulators, build_definitions(resources), instance, Store(location), tmp_path)
