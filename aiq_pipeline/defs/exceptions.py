"""The exceptions list: invoices whose partition is FAILED, with the reason their last attempt recorded.

The source of truth is the Dagster instance (partition status plus the observation the invoice asset
logs for every invoice it could not post), so the list is the same in the UI, the CLI and after a
restart, and needs no access to the store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from aiq_pipeline.defs.keys import POSTED_INVOICES
from aiq_pipeline.defs.partitions import INVOICE_PARTITIONS_NAME, bunny_invoices

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

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_attempt_at"] = self.last_attempt_at.isoformat() if self.last_attempt_at else None
        return data


def _value(metadata: dict[str, Any], key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def failed_invoice_ids(instance: dg.DagsterInstance) -> list[str]:
    keys = instance.get_dynamic_partitions(INVOICE_PARTITIONS_NAME)
    if not keys:
        return []
    status = instance.get_status_by_partition(POSTED_INVOICES, keys, bunny_invoices) or {}
    return [k for k in keys if status.get(k) == dg.AssetPartitionStatus.FAILED]


def list_exceptions(instance: dg.DagsterInstance) -> list[InvoiceException]:
    failed = failed_invoice_ids(instance)
    if not failed:
        return []
    latest: dict[str, dg.EventLogRecord] = {}
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=POSTED_INVOICES, asset_partitions=failed), limit=len(failed) * 20
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
                    invoice_id, None, "the run failed before this invoice was tried", None, True, None, None
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
            )
        )
    return out
