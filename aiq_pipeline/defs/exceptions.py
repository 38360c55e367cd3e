"""The exceptions list: invoices and credit notes whose partition is FAILED, with the reason their last attempt
recorded. Each entry has a `kind` (`invoice`, `credit_note` or `void`); `invoice_id` is the partition key
(the Bunny invoice id, or `CN-<credit note id>` / `VOID-<invoice id>`).

The source of truth is the Dagster instance (partition status plus the observation the invoice asset
logs for every invoice it could not post), so the list is the same in the UI, the CLI and after a
restart, and needs no access to the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from aiq_pipeline.defs.credit_notes import CREDIT_NOTE_PARTITIONS_NAME, POSTED_CREDIT_NOTES, bunny_credit_notes
from aiq_pipeline.defs.keys import POSTED_INVOICES
from aiq_pipeline.defs.partitions import INVOICE_PARTITIONS_NAME, bunny_invoices
from aiq_pipeline.sync.credit_note_posting import parse_key

OUTCOME_KEY = "outcome"


@dataclass(frozen=True)
class InvoiceException:
    invoice_id: str
    reason_code: str | None
    reason: str
    fix: str | None
    retryable: bool | None
    last_attempt_at: datetime | None
    run_id: str | None
    kind: str = "invoice"  # invoice | credit_note | void

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_attempt_at"] = self.last_attempt_at.isoformat() if self.last_attempt_at else None
        return data


def _value(metadata: dict[str, Any], key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def failed_invoice_ids(instance: dg.DagsterInstance) -> list[str]:
    return _failed(instance, INVOICE_PARTITIONS_NAME, POSTED_INVOICES, bunny_invoices)


def failed_credit_note_keys(instance: dg.DagsterInstance) -> list[str]:
    return _failed(instance, CREDIT_NOTE_PARTITIONS_NAME, POSTED_CREDIT_NOTES, bunny_credit_notes)


def failed_keys(instance: dg.DagsterInstance) -> list[str]:
    """Every FAILED partition key, invoices first: what `retry --all` retries."""
    return failed_invoice_ids(instance) + failed_credit_note_keys(instance)


def _failed(
    instance: dg.DagsterInstance, name: str, asset: dg.AssetKey, partitions: dg.DynamicPartitionsDefinition
) -> list[str]:
    keys = instance.get_dynamic_partitions(name)
    if not keys:
        return []
    status = instance.get_status_by_partition(asset, keys, partitions) or {}
    return [k for k in keys if status.get(k) == dg.AssetPartitionStatus.FAILED]


def list_exceptions(instance: dg.DagsterInstance) -> list[InvoiceException]:
    return _list(instance, failed_invoice_ids(instance), POSTED_INVOICES, lambda _key: "invoice") + _list(
        instance, failed_credit_note_keys(instance), POSTED_CREDIT_NOTES, _credit_kind
    )


def _credit_kind(key: str) -> str:
    try:
        return parse_key(key)[0]
    except ValueError:
        return "credit_note"


def _list(
    instance: dg.DagsterInstance, failed: list[str], asset: dg.AssetKey, kind_of: Callable[[str], str]
) -> list[InvoiceException]:
    if not failed:
        return []
    latest: dict[str, dg.EventLogRecord] = {}
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=asset, asset_partitions=failed), limit=len(failed) * 20
    ).records
    for record in records:  # newest first
        partition = record.partition_key
        if partition and partition not in latest:
            latest[partition] = record
    out = []
    for invoice_id in failed:
        record = latest.get(invoice_id)
        if record is None or record.asset_observation is None:
            out.append(
                InvoiceException(
                    invoice_id,
                    None,
                    "the run failed before this document was tried",
                    None,
                    True,
                    None,
                    None,
                    kind_of(invoice_id),
                )
            )
            continue
        meta = dict(record.asset_observation.metadata)
        out.append(
            InvoiceException(
                invoice_id=invoice_id,
                reason_code=_value(meta, "reason_code"),
                reason=_value(meta, "reason") or "unknown",
                fix=_value(meta, "fix"),
                retryable=_value(meta, "retryable"),
                last_attempt_at=datetime.fromtimestamp(record.timestamp, tz=UTC),
                run_id=record.run_id,
                kind=kind_of(invoice_id),
            )
        )
    return out
