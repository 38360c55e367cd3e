"""The posting journal in Dagster: the asset `aiq/posting_journal` names its table and columns and materializes with
the latest documents and writes as typed tables and the counts per outcome; the sensor refreshes it after documents
post or fail, once no posting run is in flight. End to end: the sample tenant posted by real Dagster runs (both
emulators over real HTTP), the instance and store on SQLite/DuckDB and on PostgreSQL, and the command's export naming
the Dagster run that posted each document."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._core.test_utils import create_run_for_test

from aiq_pipeline.cli import main
from aiq_pipeline.defs.journal.assets import (
    DOCUMENTS_SCHEMA,
    JOURNAL_SCHEMA,
    REFRESH_JOB,
    SENSOR_NAME,
    WRITES_SCHEMA,
    journal_metadata,
    posting_journal,
    posting_journal_sensor,
)
from aiq_pipeline.store import Store
from aiq_pipeline.sync.identity import invoice_reference
from aiq_pipeline_tests.audit_log.conftest import BIG, Writer, history
from aiq_pipeline_tests.pair_names import CREDIT_NOTES, INVOICES, NAMES, PAYMENTS, POSTING_JOURNAL
from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY, Stack
from aiq_pipeline_tests.pipeline.helpers import apply_tick, sensor_tick
from aiq_pipeline_tests.pipeline.test_full_cycle import _cli_env

DUCKDB_TYPES = {"VARCHAR": "string", "BOOLEAN": "bool", "INTEGER": "int", "BIGINT": "int", "TIMESTAMP": "timestamp"}


def test_the_column_schema_is_the_journal_tables_columns(tmp_path: Path) -> None:
    described = Store(tmp_path / "aiq.duckdb").query(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        ["posting_journal"],
    )
    columns = JOURNAL_SCHEMA.columns
    assert [c.name for c in columns] == [r["column_name"] for r in described]
    for column, row in zip(columns, described, strict=True):
        sql = row["data_type"]
        assert column.type == DUCKDB_TYPES.get(sql, sql.lower().replace(" ", "")), column.name
        assert column.constraints.nullable == (row["is_nullable"] == "YES"), column.name
    spec = posting_journal(NAMES).specs_by_key[POSTING_JOURNAL]
    assert spec.metadata["dagster/table_name"] == "posting_journal"
    assert spec.metadata["dagster/column_schema"] == JOURNAL_SCHEMA
    assert {d.asset_key for d in spec.deps} == {INVOICES.key, CREDIT_NOTES.key, PAYMENTS.key}  # its lineage


def test_the_metadata_shows_counts_and_the_latest_documents_and_writes_money_exact(writer: Writer) -> None:
    history(writer)
    with writer.store.session() as session:
        metadata = journal_metadata(session, "DEMO01")
    assert (metadata["entity_id"], metadata["dagster/row_count"], metadata["documents"]) == ("DEMO01", 5, 3)
    assert (metadata["documents_posted"], metadata["documents_already_posted"], metadata["documents_failed"]) == (
        2,
        1,
        0,
    )
    assert (metadata["writes_posted"], metadata["writes_sending"], metadata["writes_unknown"]) == (5, 0, 0)
    documents = metadata["latest_documents"]
    assert documents.schema == DOCUMENTS_SCHEMA
    # Newest first: invoice 9, the credit note, the customer, invoice 8 (all of DEMO01 and nothing of OTHER).
    assert [r.data["key"] for r in documents.records] == ["9", "CN-3", "CUSTOMER:C001", "8"]
    eight = documents.records[-1].data
    assert eight["gross"] == str(BIG) and eight["at"] == "2026-01-05T09:00:00"
    assert (eight["aiq_transaction_ids"], eight["posted_by"], eight["run_id"]) == ("501", "run-a", "run-d")
    assert {c.name: c.type for c in DOCUMENTS_SCHEMA.columns}["gross"] == "decimal(18,2)"
    writes = metadata["latest_writes"]
    assert writes.schema == WRITES_SCHEMA and writes.records[0].data["reference"] == "BUNNY-9"
    assert {c.name: c.type for c in WRITES_SCHEMA.columns}["aiq_id"] == "int"


def _tick(instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult | dg.SkipReason:
    sensor = posting_journal_sensor(NAMES, dg.DefaultSensorStatus.STOPPED)
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, dg.SensorResult | dg.SkipReason), result
    return result


def test_the_sensor_refreshes_after_documents_post_or_fail_once_no_posting_run_is_in_flight() -> None:
    with dg.instance_for_test() as instance:
        assert isinstance(_tick(instance), dg.SkipReason)  # nothing posted yet
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=INVOICES.key, partition="8"))
        first = _tick(instance)
        assert isinstance(first, dg.SensorResult) and first.cursor
        (request,) = first.run_requests or []
        assert request.run_key == f"{REFRESH_JOB}:{first.cursor}"
        assert isinstance(_tick(instance, first.cursor), dg.SkipReason)  # nothing new since

        # A failure is an observation: news too. While a posting run is in flight, the refresh waits for it ...
        instance.report_runless_asset_event(dg.AssetObservation(asset_key=PAYMENTS.key, partition="P-1"))
        running = create_run_for_test(
            instance, status=dg.DagsterRunStatus.STARTED, asset_selection=frozenset({CREDIT_NOTES.key})
        )
        create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED, asset_selection=frozenset({POSTING_JOURNAL}))
        waiting = _tick(instance, first.cursor)
        assert isinstance(waiting, dg.SkipReason) and "being posted" in (waiting.skip_message or "")
        # ... and comes once it is done (the journal's own run does not hold it back).
        instance.report_run_failed(running)
        second = _tick(instance, first.cursor)
        assert isinstance(second, dg.SensorResult) and int(second.cursor or 0) > int(first.cursor)
        assert len(second.run_requests or []) == 1


@pytest.mark.slow
def test_posting_runs_show_in_the_journal_asset_and_the_export_names_their_runs(stack: Stack, monkeypatch) -> None:
    # The sample tenant posted by the invoice sensor's runs: most invoices post, three fail.
    _cli_env(stack, monkeypatch)
    runs = apply_tick(stack, sensor_tick(stack))
    assert runs
    outcomes = stack.journal_outcomes()
    posted = {r["claim_key"] for r in outcomes if r["outcome"] == "posted"}
    failed = {r["claim_key"] for r in outcomes if r["outcome"] == "failed"}
    assert posted and len(failed) == 3

    # The journal's sensor asks for one refresh, and the asset materializes with its table metadata.
    tick = stack.defs.resolve_sensor_def(SENSOR_NAME)(dg.build_sensor_context(instance=stack.instance))
    assert isinstance(tick, dg.SensorResult)
    (request,) = tick.run_requests or []
    result = stack.defs.resolve_job_def(REFRESH_JOB).execute_in_process(instance=stack.instance, tags=request.tags)
    assert result.success
    (materialization,) = result.asset_materializations_for_node(posting_journal(NAMES).op.name)
    metadata = materialization.metadata
    assert metadata["entity_id"].value == AIQ_ENTITY
    assert metadata["dagster/row_count"].value == len(stack.journal())
    assert metadata["documents_posted"].value == len(posted) and metadata["documents_failed"].value == 3
    shown = {r.data["key"]: r.data for r in metadata["latest_documents"].value.records}
    assert posted | failed <= set(shown)
    assert all(shown[k]["outcome"] == "failed" and shown[k]["reason_code"] for k in failed)
    definition = stack.defs.resolve_assets_def(POSTING_JOURNAL).specs_by_key[POSTING_JOURNAL].metadata
    assert definition["dagster/table_name"] == "posting_journal"
    assert isinstance(stack.defs.resolve_sensor_def(SENSOR_NAME)(dg.build_sensor_context(
        instance=stack.instance, cursor=tick.cursor)), dg.SkipReason)  # fmt: skip

    # The export: every posted document with AIQ's id and the Dagster run that materialized its partition.
    answer = CliRunner().invoke(main, ["journal", "--json", "--entity", AIQ_ENTITY])
    assert answer.exit_code == 0, answer.output
    exported = {r["key"]: r for r in json.loads(answer.output)}
    held = {
        t.external_reference: transaction_id
        for transaction_id, t in stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.items()
    }
    for key in posted:
        row = exported[key]
        assert row["outcome"] == "posted" and row["aiq_transaction_id"] == held[invoice_reference(key)]
        records = stack.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=INVOICES.key, asset_partitions=[key]), limit=1
        ).records
        assert row["posted_by"] == records[0].run_id == row["run_id"]
        assert stack.instance.get_run_by_id(row["posted_by"]) is not None
    for key in failed:
        assert exported[key]["outcome"] == "failed" and exported[key]["aiq_transaction_id"] is None
