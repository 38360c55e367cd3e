"""The production profile end to end: Dagster on PostgreSQL from deploy/dagster.production.yaml, the project's
tables on PostgreSQL, the real sensor daemon and queued run coordinator launching several batch runs at once
(a subprocess each), then every process restarted and the exceptions list and the sensor cursor intact."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG as RANGE_END_TAG
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG as RANGE_START_TAG
from dagster._core.storage.tags import PARTITION_NAME_TAG as PARTITION_TAG
from dagster._core.test_utils import freeze_time

from aiq_emulators.runner import RunningEmulators, running_emulators
from aiq_pipeline.defs.posting.status import list_exceptions
from aiq_pipeline.store import Store
from aiq_pipeline.store.journal import PostingJournal
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS, INVOICES
from aiq_pipeline_tests.pipeline.conftest import AIQ_CLIENT, AIQ_ENTITY, BUNNY_CLIENT, BUNNY_ENTITY
from aiq_pipeline_tests.postgres.conftest import open_instance
from aiq_pipeline_tests.postgres.daemon import (
    code_server,
    drain_queue,
    peak_runs_in_flight,
    remote_sensor,
    sensor_state,
    sensor_tick,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FAILED = dg.AssetPartitionStatus.FAILED
MATERIALIZED = dg.AssetPartitionStatus.MATERIALIZED
BATCH = 3


def _point_at(monkeypatch: pytest.MonkeyPatch, emulators: RunningEmulators, store_url: str) -> None:
    """The production wiring (env vars) for the code server and the runs it launches."""
    env = {
        "AIQ_BASE_URL": emulators.accountsiq_url,
        "AIQ_ENTITY_ID": AIQ_ENTITY,
        "AIQ_CLIENT_ID": AIQ_CLIENT[0],
        "AIQ_CLIENT_SECRET": AIQ_CLIENT[1],
        "AIQ_DEFAULT_TAX_CODE": "V01",
        "BUNNY_BASE_URL": emulators.bunny_url,
        "BUNNY_CLIENT_ID": BUNNY_CLIENT[0],
        "BUNNY_CLIENT_SECRET": BUNNY_CLIENT[1],
        "BUNNY_ENTITY_ID": BUNNY_ENTITY,
        "AIQ_PIPELINE_STORE": store_url,
        "AIQ_PIPELINE_BATCH_SIZE": str(BATCH),
        "AIQ_PIPELINE_SYNC_START_DATE": "2025-01-01",  # the sample tenant's invoices are history
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _aiq_documents(emulators: RunningEmulators) -> Counter[str]:
    data = emulators.accountsiq.state.data
    return Counter(t.external_reference for t in data.entities[AIQ_ENTITY].transactions.values() if t.type_code == "SI")


def _statuses(instance: dg.DagsterInstance) -> dict[str, dg.AssetPartitionStatus | None]:
    keys = instance.get_dynamic_partitions(INVOICES.partitions_name)
    found = instance.get_status_by_partition(INVOICES.key, keys, INVOICES.partitions) or {}
    return {k: found.get(k) for k in keys}


def test_production_profile_survives_concurrent_runs_and_a_restart_of_everything(
    tmp_path: Path, production_home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator_state = tmp_path / "emulators"
    store = Store(pg_url)

    # --- first life: sensor tick, a burst of batch runs in flight at once ----------------------------------
    with running_emulators(state_dir=emulator_state) as emulators:
        _point_at(monkeypatch, emulators, pg_url)
        emulators.bunny.create_invoices({}, count=5, release=True)  # a burst on top of the demo tenant's seven
        # AIQ answering in 0.6 s per call (a slow real tenant's pace) keeps each run busy for seconds, so the runs
        # overlap even when a loaded machine is slow to start their processes (a run makes about a dozen calls
        # since the journal and the AIQ writes went in bulk: at 0.15 s a run was over before the next one began).
        emulators.accountsiq.faults.add({"kind": "latency", "latency_ms": 600})
        instance = open_instance(production_home)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        try:
            with code_server(instance) as context:
                instance.start_sensor(remote_sensor(context))  # what `dagster sensor start` does
                sensor_tick(context)
                queued = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
                partitions = instance.get_dynamic_partitions(INVOICES.partitions_name)
                assert len(queued) == -(-len(partitions) // BATCH) >= 4
                drain_queue(context)
                state = sensor_state(instance, context)
            runs = instance.get_runs()
            assert peak_runs_in_flight(instance) >= 2, "the queued coordinator never had two runs in flight"
            assert {r.status for r in runs} <= {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
            status = _statuses(instance)
            failed = {k for k, s in status.items() if s == FAILED}
            posted = {k for k, s in status.items() if s == MATERIALIZED}
            assert posted | failed == set(partitions)
            exceptions = {e.key: e for e in list_exceptions(instance, DOCUMENT_ASSETS)}
        finally:
            instance.dispose()

        # Zero duplicates in AIQ: exactly the posted invoices, once each.
        docs = _aiq_documents(emulators)
        assert set(docs) == {f"BUNNY-INV-{k}" for k in posted}
        assert set(docs.values()) == {1}
        # The store on PostgreSQL agrees with Dagster for every invoice.
        with store.session() as session:
            journal = PostingJournal(session, AIQ_ENTITY)
            ledger = {r["claim_key"]: r["outcome"] for r in journal.outcomes()}
            recorded = {e.reference: e.aiq_id for e in journal.entries() if e.kind == "invoice" and e.state == "posted"}
        assert {k for k, o in ledger.items() if o == "failed"} == failed
        assert {k for k, o in ledger.items() if o in {"posted", "already_posted"}} == posted
        assert {r["claim_key"] for r in store.query("SELECT claim_key FROM posting_exceptions")} == failed
        # The journal recorded AIQ's id for every invoice AIQ holds, and nothing else.
        assert set(recorded) == set(docs) and all(recorded.values())

    assert state is not None and state.instigator_data.cursor
    cursor = state.instigator_data.cursor
    assert set(exceptions) == failed
    # Exactly the demo tenant's three data errors, each with its reason: concurrent runs creating the same AIQ
    # customer must not lose the race (the loser re-reads the winner's customer).
    data_errors = {"CLOSED_PERIOD", "UNKNOWN_TAX_CODE", "NOT_POSTING_ACCOUNT"}
    assert sorted(e.reason_code for e in exceptions.values()) == sorted(data_errors), exceptions

    # --- everything stopped; second life from the same yaml and state dirs -------------------------------
    with running_emulators(state_dir=emulator_state) as emulators:
        assert _aiq_documents(emulators) == docs  # the emulators resumed their state
        _point_at(monkeypatch, emulators, pg_url)  # new ports: the code server reads them afresh
        instance = open_instance(production_home)
        try:
            again = {e.key: e for e in list_exceptions(instance, DOCUMENT_ASSETS)}
            assert again == exceptions
            assert {k for k, s in _statuses(instance).items() if s == FAILED} == failed
            runs_before = instance.get_runs_count()

            new_ids = emulators.bunny.create_invoices({}, count=2, release=True)
            with code_server(instance) as context:
                state = sensor_state(instance, context)
                assert state is not None and state.is_running
                assert state.instigator_data.cursor == cursor
                # The next tick is due only after the sensor's 30 s interval; the daemon's clock says so.
                with freeze_time(time.time() + 60):
                    sensor_tick(context)
                sensor = remote_sensor(context)
                (tick, *_) = instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id, limit=1)
                assert tick.status == TickStatus.SUCCESS, tick
                new_runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
                # Only the two invoices released meanwhile: nothing already seen is asked for again.
                assert set(instance.get_dynamic_partitions(INVOICES.partitions_name)) == set(partitions) | set(new_ids)
                asked = {
                    run.tags[tag]
                    for run in new_runs
                    for tag in (PARTITION_TAG, RANGE_START_TAG, RANGE_END_TAG)
                    if tag in run.tags
                }
                assert new_runs and asked <= set(new_ids)
                assert instance.get_runs_count() == runs_before + len(new_runs)
                drain_queue(context)
            assert {k for k in new_ids if _statuses(instance)[k] == MATERIALIZED} == set(new_ids)
        finally:
            instance.dispose()
        final = _aiq_documents(emulators)
        assert set(final) == set(docs) | {f"BUNNY-INV-{k}" for k in new_ids}
        assert set(final.values()) == {1}
