"""What a posting run asks Bunny, by operation: its batch of invoices in bulk, and its reference data (currencies,
the entity's financial accounts, price-list charges) in one `ReferenceLists` request; read one by one where Bunny
refuses several root fields in one query (the UNVERIFIED `combined_reads` reading). Real HTTP against both
emulators."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from aiq_emulators.runner import running_emulators
from aiq_pipeline.service.outcome import Status
from aiq_pipeline.service.reference_data import ReferenceData
from aiq_pipeline.store import Store
from aiq_pipeline_tests.journal.conftest import BUNNY_ENTITY, Bench

OPERATIONS = ("Invoices", "Invoice", "Currencies", "FinancialAccounts", "PriceListCharges", "ReferenceLists")


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    """Both emulators and a store, for the posting service alone (the journal tests' bench)."""
    with running_emulators(state_dir=tmp_path / "emulators") as emulators, ExitStack() as contexts:
        yield Bench(emulators, Store(tmp_path / "store.duckdb"), contexts)


def _operations(bench: Bench) -> Counter[str]:
    counters: dict[str, int] = httpx.get(f"{bench.emulators.bunny_url}/_emulator/stats").json()["counters"]
    return Counter({name: counters.get(f"graphql.field.{name}", 0) for name in OPERATIONS})


def _run(bench: Bench, count: int) -> tuple[Counter[str], int]:
    """Bunny's GraphQL requests by operation, and every request the client sent, for one posting run."""
    batch = list(bench.emulators.bunny.create_invoices({}, count=count, release=True))
    before = _operations(bench)
    service = bench.service(f"run-{before.total()}")
    outcomes = service.post_many(batch)
    assert [o.status for o in outcomes] == [Status.POSTED] * count
    return _operations(bench) - before, service.bunny.request_count


def test_a_posting_run_reads_its_reference_data_in_one_request(bench: Bench) -> None:
    operations, requests = _run(bench, 30)
    # The reference data is read before the batch's invoices are decoded, so its currencies serve them. Before
    # `ReferenceLists`, a run asked `Currencies`, `FinancialAccounts` and `PriceListCharges` one by one.
    assert operations == Counter({"Invoices": 1, "ReferenceLists": 1})
    assert requests == 1 + 2  # the token


def test_a_posting_run_where_bunny_refuses_combined_reads_reads_them_one_by_one(bench: Bench) -> None:
    httpx.post(f"{bench.emulators.bunny_url}/_emulator/options", json={"combined_reads": "refused"}).raise_for_status()
    operations, requests = _run(bench, 30)
    # The refused `ReferenceLists`, then the three lists one by one.
    expected = Counter({"Invoices": 1, "Currencies": 1, "ReferenceLists": 1, "FinancialAccounts": 1})
    assert operations == expected + Counter({"PriceListCharges": 1})
    assert requests == 1 + 5


def test_a_posting_run_reads_aiqs_reference_lists_at_once(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart, tax codes, periods and company do not depend on each other: across a WAN, four round trips one
    after another are four waits, so up to AIQ_PIPELINE_CONCURRENCY of them are in flight together."""
    service = bench.service()
    together = threading.Barrier(4, timeout=30)  # broken (and the read fails) unless all four wait at once
    for name in ("get_chart_of_accounts", "get_tax_codes", "get_periods", "get_company_information"):
        read = getattr(service.aiq, name)
        monkeypatch.setattr(service.aiq, name, lambda read=read: (together.wait(), read())[1])
    loaded = ReferenceData.load(service.aiq, service.bunny, bunny_entity_id=BUNNY_ENTITY, concurrency=4)
    assert loaded.ledger.base_currency and loaded.mapping
