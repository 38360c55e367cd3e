"""The posting journal in the UI: the asset `aiq/posting_journal`, its job, and the sensor that refreshes it after
posting.

Shape, and why:

- The journal is a store table the document runs write as they post (`posting_journal`, one row per AIQ write, and
  `posting_outcomes`, one per document). The asset is that table as Dagster sees it: its definition names the table
  and its columns (`dagster/table_name`, `dagster/column_schema`), and each materialization reads it and shows the
  latest documents (the audit log: partition key, Bunny number, outcome, AIQ transaction ids, references, when and by
  which run) and the latest writes as typed tables, with the documents per outcome and the writes per state as
  numbers the UI plots over time. It depends on the document assets, so the lineage shows where the rows come from
  and the UI marks it out of date when a document posts.
- When it refreshes: the sensor `posting_journal_sensor` requests one run when any document asset has materialized
  or failed (an observation) since the last run it requested, once no posting run is queued or in flight (a burst of
  posting runs gives one refresh, and the refresh does not take the store's slot from them). STOPPED by default like
  the other sensors; RUNNING with AIQ_PIPELINE_SENSOR_DEFAULT=RUNNING. Anyone can also materialize it from the UI.
  Not an automation condition: an unpartitioned asset downstream of per-document partitions would wait for every
  document (failed ones included) under `eager()`, and Dagster's automation sensor runs by default.
- The whole log, filtered by pair, day and document: `aiq-pipeline journal [--json]` (`service.audit_log`).
"""

import re
from collections.abc import Sequence
from typing import Any

import dagster as dg

from aiq_pipeline.defs.metadata import table_column, table_preview
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.run_requests import TRIGGER_TAG
from aiq_pipeline.defs.posting.sensing import active_runs
from aiq_pipeline.defs.recovery import mark_run_process
from aiq_pipeline.defs.resources import AccountsIQResource, StoreResource
from aiq_pipeline.service.audit_log import AuditQuery, audit_counts, audit_log, latest_writes
from aiq_pipeline.service.outcome import Status
from aiq_pipeline.store import Session
from aiq_pipeline.store.journal import WriteState
from aiq_pipeline.store.schema import JOURNAL_DDL

JOURNAL_TABLE = "posting_journal"
REFRESH_JOB = "refresh_posting_journal"
SENSOR_NAME = "posting_journal_sensor"
PREVIEW_ROWS = 50  # documents and writes shown; the command exports everything

_DDL_COLUMN = re.compile(r"(\w+) (VARCHAR|BIGINT|INTEGER|BOOLEAN|DATE|TIMESTAMP|DECIMAL\(\d+,\s*\d+\))( NOT NULL)?")
_NOTES = {
    "entity_id": "The AIQ entity (the pair's ledger) written to.",
    "reference": "The write's reference in AIQ: its key in the journal.",
    "claim_key": "The document (partition key) the write belongs to; CUSTOMER:<code> for a customer.",
    "kind": "invoice, credit_note, void, payment, account_credit, allocation or customer.",
    "target": "What AIQ received: SI, SN, SR, SD, SC, ALLOCATION or CUSTOMER.",
    "state": "sending (sent, no answer recorded yet), posted, rejected (AIQ wrote nothing) or unknown (a person "
    "decides).",
    "aiq_id": "AIQ's id, recorded the moment AIQ returned it (an allocation has none: 0).",
    "found_by": "answer (AIQ's answer), lookup (found by its reference) or duplicate_reference.",
    "sent_by": "The run that last sent it.",
    "recorded_at": "When AIQ's id was recorded (UTC).",
    "at": "When the document was posted, else its latest attempt (UTC).",
    "aiq_transaction_ids": "Every AIQ transaction written or found for the document, the main one first.",
    "references": "Every reference written to AIQ for the document (transactions, allocations, customers).",
    "posted_by": "The run that sent the AIQ document AIQ holds.",
    "run_id": "The latest run that handled the document.",
    "outcome": "posted, already_posted, skipped, nothing_to_post or failed; empty for writes of no document.",
}
# What the previews show, of the journal's columns and of the audit log's.
WRITE_COLUMNS = (
    "updated_at",
    "reference",
    "claim_key",
    "kind",
    "target",
    "state",
    "aiq_id",
    "found_by",
    "attempts",
    "sent_at",
    "sent_by",
    "recorded_at",
    "currency",
    "gross",
    "last_error",
)
DOCUMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("at", "TIMESTAMP NOT NULL"),
    ("key", "VARCHAR NOT NULL"),
    ("kind", "VARCHAR NOT NULL"),
    ("number", "VARCHAR"),
    ("bunny_id", "VARCHAR"),
    ("outcome", "VARCHAR"),
    ("aiq_transaction_ids", "VARCHAR"),
    ("references", "VARCHAR"),
    ("customer_code", "VARCHAR"),
    ("currency", "VARCHAR"),
    ("net", "DECIMAL(18,2)"),
    ("tax", "DECIMAL(18,2)"),
    ("gross", "DECIMAL(18,2)"),
    ("posted_at", "TIMESTAMP"),
    ("posted_by", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("attempts", "INTEGER"),
    ("reason_code", "VARCHAR"),
    ("reason", "VARCHAR"),
)


def journal_columns() -> tuple[tuple[str, str], ...]:
    """(name, SQL type) of every column of `posting_journal`, in order, read from its DDL."""
    body = JOURNAL_DDL.split("(", 1)[1]
    return tuple((m[1], m[2] + (m[3] or "")) for m in _DDL_COLUMN.finditer(body))


JOURNAL_SCHEMA = dg.TableSchema(columns=[table_column(n, t, _NOTES) for n, t in journal_columns()])
WRITES_SCHEMA = dg.TableSchema(columns=[c for name in WRITE_COLUMNS for c in JOURNAL_SCHEMA.columns if c.name == name])
DOCUMENTS_SCHEMA = dg.TableSchema(columns=[table_column(n, t, _NOTES) for n, t in DOCUMENT_COLUMNS])


def _counts_metadata(by_outcome: dict[str, int], by_state: dict[str, int]) -> dict[str, int]:
    """Every outcome and state named, 0 when none, so the UI's plots stay continuous."""
    outcomes = {str(s): 0 for s in Status} | by_outcome
    states = {str(s): 0 for s in WriteState} | by_state
    return {
        **{f"documents_{name}": n for name, n in sorted(outcomes.items())},
        **{f"writes_{name}": n for name, n in sorted(states.items())},
    }


def journal_metadata(session: Session, entity_id: str) -> dict[str, Any]:
    """What a materialization shows: counts, the latest documents (the audit log) and the latest writes."""
    entities: Sequence[str] = (entity_id,)
    counts = audit_counts(session, entities)
    documents = audit_log(session, AuditQuery(entities=tuple(entities), latest=PREVIEW_ROWS))
    writes = latest_writes(session, entities, limit=PREVIEW_ROWS)
    return {
        "entity_id": entity_id,
        "dagster/row_count": counts.writes,
        "documents": counts.documents,
        **_counts_metadata(dict(counts.by_outcome), dict(counts.by_state)),
        "latest_documents": table_preview([e.as_row() for e in reversed(documents)], DOCUMENTS_SCHEMA, limit=None),
        "latest_writes": table_preview(writes, WRITES_SCHEMA, limit=None),
    }


def posting_journal(names: PairNames) -> dg.AssetsDefinition:
    @dg.asset(
        key=names.posting_journal,
        deps=[asset.key for asset in names.documents],
        group_name="journal",
        kinds={"duckdb"},
        pool=names.store_pool,
        metadata={"dagster/table_name": JOURNAL_TABLE, "dagster/column_schema": JOURNAL_SCHEMA},
        description="The posting journal, the audit log of what was written to AIQ: each document, its AIQ transaction "
        "id(s) and references, when it was posted, by which run, and the outcome (with the reason when it did not "
        "post). Shows the latest documents and writes; `aiq-pipeline journal --json` exports the whole log, filtered "
        "by pair, day and document.",
    )
    def _posting_journal(
        context: dg.AssetExecutionContext, accountsiq: AccountsIQResource, store: StoreResource
    ) -> dg.MaterializeResult[None]:
        mark_run_process(context)
        with store.store().session() as session:
            metadata = journal_metadata(session, accountsiq.entity_id)
        context.log.info(
            "posting journal of %s: %d documents, %d writes",
            metadata["entity_id"],
            metadata["documents"],
            metadata["dagster/row_count"],
        )
        return dg.MaterializeResult(metadata=metadata)

    return _posting_journal


def newest_document_event(instance: dg.DagsterInstance, names: PairNames) -> int | None:
    """The storage id of the newest materialization or observation (a failure) of any of the pair's documents."""
    found = [
        record.storage_id
        for key in sorted((asset.key for asset in names.documents), key=lambda k: k.to_user_string())
        for fetch in (instance.fetch_materializations, instance.fetch_observations)
        for record in fetch(key, limit=1).records
    ]
    return max(found, default=None)


def posting_in_flight(instance: dg.DagsterInstance, names: PairNames) -> bool:
    """A run of any of the pair's document assets is queued, starting or running."""
    keys = {asset.key for asset in names.documents}
    return any(keys & (run.asset_selection or frozenset()) for run in active_runs(instance))


def posting_journal_sensor(names: PairNames, default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        job_name=REFRESH_JOB,
        minimum_interval_seconds=60,
        default_status=default_status,
        description="After documents post (or fail), once no posting run is in flight: refresh the posting journal.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        newest = newest_document_event(context.instance, names)
        seen = int(context.cursor) if context.cursor else 0
        if newest is None or newest <= seen:
            return dg.SkipReason("No document posted or failed since the journal was last refreshed.")
        if posting_in_flight(context.instance, names):
            return dg.SkipReason("Documents are being posted: the journal is refreshed once they are done.")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{REFRESH_JOB}:{newest}", tags={TRIGGER_TAG: "sensor"})],
            cursor=str(newest),
        )

    return _sensor
