"""What the Dagster instance knows about document partitions: which failed, and why their last attempt said so.

The exceptions list is read from here (partition status plus the observation the posting run logs for every
document it could not post), so it is the same in the UI, the CLI and after a restart, and needs no access to the
store. A FAILED partition whose last failed run logged no reason for it was interrupted (its run died or failed
before finishing it): INTERRUPTED.

Dismissed documents. A person may dismiss a failed document (handled outside the product); the store keeps the
audit trail (`store.dismissals`) and the partition gets an observation saying so (`dismissal_observation`), which
the UI shows in the partition's history. The newest such observation decides: a dismissed document leaves the
exceptions list (`list_exceptions`), is listed by `list_exceptions(dismissed=True)`, and nothing posts it again
(the sensors' re-runs, `retry --all` and backfills read this list) until it is undismissed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.service.discovery import InvoicePartitions
from aiq_pipeline.service.outcome import Reason
from aiq_pipeline.sync.identity import parse_key

INTERRUPTED_REASON = (
    "Its run stopped before it finished this document (the run failed or its process died); nothing was lost."
)
INTERRUPTED_FIX = "Nothing to fix in the data: the next run (the sensor, `aiq-pipeline sync` or `retry`) posts it."


@dataclass(frozen=True)
class DocumentException:
    key: str  # the partition key
    kind: str  # invoice | credit_note | void
    reason_code: str
    reason: str
    fix: str | None
    retryable: bool | None
    last_attempt_at: datetime | None
    run_id: str | None
    number: str | None = None
    details: tuple[tuple[str, str], ...] = ()

    def detail(self, name: str) -> str | None:
        return dict(self.details).get(name)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_attempt_at"] = self.last_attempt_at.isoformat() if self.last_attempt_at else None
        data["details"] = dict(self.details)
        return data


def partition_status(
    instance: dg.DagsterInstance, asset: DocumentAsset, keys: Sequence[str] | None = None
) -> dict[str, dg.AssetPartitionStatus | None]:
    """Each partition's status; `keys`: only these (the asset's partitions a sensor has just read, or those it knows
    failed), so 100,000 keys are read once a tick, not once for each use."""
    keys = instance.get_dynamic_partitions(asset.partitions_name) if keys is None else keys
    if not keys:
        return {}
    found = instance.get_status_by_partition(asset.key, keys, asset.partitions) or {}
    return {key: found.get(key) for key in keys}


def invoice_partitions(instance: dg.DagsterInstance, invoices: DocumentAsset) -> InvoicePartitions:
    """The invoice partitions as the credit-note discovery needs them (known, posted, failed)."""
    status = partition_status(instance, invoices)
    return InvoicePartitions(
        known=frozenset(status),
        posted=frozenset(k for k, s in status.items() if s == dg.AssetPartitionStatus.MATERIALIZED),
        failed=frozenset(k for k, s in status.items() if s == dg.AssetPartitionStatus.FAILED),
    )


def failed_keys(instance: dg.DagsterInstance, asset: DocumentAsset, keys: Sequence[str] | None = None) -> list[str]:
    return [k for k, s in partition_status(instance, asset, keys).items() if s == dg.AssetPartitionStatus.FAILED]


# The metadata entry that makes an observation a dismissal mark (value: dismissed | undismissed), not a failure.
DISMISSAL = "dismissal"
DISMISSED = "dismissed"
UNDISMISSED = "undismissed"


@dataclass(frozen=True)
class DismissalMark:
    """The newest dismiss or undismiss of a document, as its partition's history shows it."""

    key: str
    dismissed: bool
    by: str
    reason: str
    at: datetime


def _is_mark(record: dg.EventLogRecord) -> bool:
    observation = record.asset_observation
    return observation is not None and DISMISSAL in observation.metadata


# Observations read per key (newest first: its latest failure and dismissal mark are among them), and the most one
# read may return (Dagster refuses more than 10,000 records at a time): keys are read in chunks that fit.
OBSERVATIONS_PER_KEY = 20
MAX_RECORDS = 10_000
RUNS_PER_READ = 100  # run ids a run read names at once


def _observations(
    instance: dg.DagsterInstance, asset: DocumentAsset, keys: Sequence[str]
) -> tuple[dict[str, dg.EventLogRecord], dict[str, dg.EventLogRecord]]:
    """The newest failure observation and the newest dismissal mark of each key (absent when there is none)."""
    failures: dict[str, dg.EventLogRecord] = {}
    marks: dict[str, dg.EventLogRecord] = {}
    chunk = MAX_RECORDS // OBSERVATIONS_PER_KEY
    for start in range(0, len(keys), chunk):
        wanted = list(keys[start : start + chunk])
        records = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=asset.key, asset_partitions=wanted),
            limit=len(wanted) * OBSERVATIONS_PER_KEY,
        ).records
        for record in records:  # newest first
            newest = marks if _is_mark(record) else failures
            if record.partition_key and record.partition_key not in newest:
                newest[record.partition_key] = record
    return failures, marks


def latest_observations(
    instance: dg.DagsterInstance, asset: DocumentAsset, keys: Sequence[str]
) -> dict[str, dg.EventLogRecord]:
    """The newest failure observation of each key (keys never observed are absent)."""
    return _observations(instance, asset, keys)[0]


def _mark(record: dg.EventLogRecord) -> DismissalMark:
    assert record.asset_observation is not None and record.partition_key is not None
    meta = dict(record.asset_observation.metadata)
    return DismissalMark(
        key=record.partition_key,
        dismissed=_value(meta, DISMISSAL) == DISMISSED,
        by=str(_value(meta, "dismissed_by") or ""),
        reason=str(_value(meta, "dismissal_reason") or ""),
        at=datetime.fromtimestamp(record.timestamp, tz=UTC),
    )


def dismissal_observation(
    asset: DocumentAsset, key: str, *, dismissed: bool, by: str, reason: str | None
) -> dg.AssetObservation:
    """What a partition's history shows of a dismiss (or undismiss); the exceptions list follows the newest one."""
    verb = DISMISSED if dismissed else UNDISMISSED
    return dg.AssetObservation(
        asset_key=asset.key,
        partition=key,
        description=f"{verb.capitalize()} by {by}" + (f": {reason}" if reason else ""),
        metadata={DISMISSAL: verb, "dismissed_by": by, "dismissal_reason": reason or ""},
    )


def _value(metadata: dict[str, Any], name: str) -> Any:
    entry = metadata.get(name)
    return getattr(entry, "value", entry)


def _kind(key: str) -> str:
    try:
        return parse_key(key)[0]
    except ValueError:
        return "unknown"


def _exception(key: str, record: dg.EventLogRecord | None, failed_run_id: str | None) -> DocumentException:
    # The run that failed the partition last must have said why; if it did not, it died (or failed) first.
    observation = record.asset_observation if record is not None else None
    if record is None or observation is None or (failed_run_id and record.run_id != failed_run_id):
        return DocumentException(
            key=key,
            kind=_kind(key),
            reason_code=Reason.INTERRUPTED,
            reason=INTERRUPTED_REASON,
            fix=INTERRUPTED_FIX,
            retryable=True,
            last_attempt_at=None,
            run_id=failed_run_id,
        )
    meta = dict(observation.metadata)
    known = {"reason_code", "reason", "fix", "retryable", "outcome"}
    details = tuple((k, str(_value(meta, k))) for k in sorted(meta) if k not in known)
    return DocumentException(
        key=key,
        kind=_value(meta, "kind") or _kind(key),
        reason_code=_value(meta, "reason_code") or "ERROR",
        reason=_value(meta, "reason") or "unknown",
        fix=_value(meta, "fix"),
        retryable=_value(meta, "retryable"),
        last_attempt_at=datetime.fromtimestamp(record.timestamp, tz=UTC),
        run_id=record.run_id,
        number=_value(meta, "bunny_number") or None,
        details=details,
    )


def document_exceptions(
    instance: dg.DagsterInstance, asset: DocumentAsset, *, dismissed: bool = False, keys: Sequence[str] | None = None
) -> list[DocumentException]:
    """The asset's failed documents that are not dismissed (with `dismissed`: only those that are); `keys` as for
    `partition_status`."""
    failed = failed_keys(instance, asset, keys)
    latest, marks = _observations(instance, asset, failed)
    listed: list[tuple[DocumentException, str | None]] = []  # each with the run that planned it last
    for key in failed:
        if (key in marks and _mark(marks[key]).dismissed) != dismissed:
            continue
        planned = instance.get_latest_planned_materialization_info(asset.key, key)
        run_id = planned.run_id if planned else None
        listed.append((_exception(key, latest.get(key), run_id), run_id))
    # The list is read in steps: a run created since the statuses were read (a backfill, a retry) may have planned a
    # document read as FAILED. The document is that run's now (Dagster shows it IN_PROGRESS), not failed: listed, it
    # would look as if the new run had died before saying why (INTERRUPTED) and be run again while that run posts it.
    unfinished = _unfinished_runs(instance, {run_id for _, run_id in listed if run_id})
    return [e for e, run_id in listed if run_id not in unfinished]


# A run in any other status (queued, starting, started, canceling...) has not finished: its documents are its own.
_FINISHED = frozenset({dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED})


def _unfinished_runs(instance: dg.DagsterInstance, run_ids: Collection[str]) -> set[str]:
    """Which of `run_ids` have not finished (read after everything else the list is made of)."""
    ids = sorted(run_ids)
    return {
        run.run_id
        for start in range(0, len(ids), RUNS_PER_READ)
        for run in instance.get_runs(dg.RunsFilter(run_ids=ids[start : start + RUNS_PER_READ]))
        if run.status not in _FINISHED
    }


def dismissal_marks(
    instance: dg.DagsterInstance, asset: DocumentAsset, keys: Sequence[str]
) -> dict[str, DismissalMark]:
    """The newest dismiss or undismiss of each of `keys` (keys never dismissed are absent)."""
    return {key: _mark(record) for key, record in _observations(instance, asset, keys)[1].items()}


def dismissed_keys(instance: dg.DagsterInstance, asset: DocumentAsset, keys: Sequence[str] | None = None) -> set[str]:
    """The asset's failed documents that are dismissed: nothing posts them until they are undismissed (`keys` as for
    `partition_status`)."""
    failed = failed_keys(instance, asset, keys)
    return {key for key, mark in dismissal_marks(instance, asset, failed).items() if mark.dismissed}


def list_exceptions(
    instance: dg.DagsterInstance, assets: Iterable[DocumentAsset], *, dismissed: bool = False
) -> list[DocumentException]:
    """Every document that could not be posted and is not dismissed, invoices first (with `dismissed`: the
    dismissed ones instead)."""
    return [e for asset in assets for e in document_exceptions(instance, asset, dismissed=dismissed)]
