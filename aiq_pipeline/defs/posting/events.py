"""What a posting run reports per document and per batch, in one shape for every kind.

A posted (or already posted, skipped) document gets an `AssetMaterialization` of its partition with what AIQ holds.
One that could not be posted gets an `AssetObservation` with the reason (what the exceptions list reads); the batch
then ends in one `dg.Failure` naming them, so the posted documents stay MATERIALIZED and the others become FAILED.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import dagster as dg

from aiq_pipeline.defs.metadata import preview
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.service.outcome import Outcome, Status


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


# Plain values Dagster shows as they are (money as exact text: a float would round it).
Meta = dict[str, str | int | float | bool | None]


def _identity(o: Outcome) -> Meta:
    return {
        "outcome": str(o.status),
        "kind": str(o.kind),
        "bunny_id": o.source_id,
        "bunny_number": o.number or "",
        "customer_code": o.customer_code or "",
        "external_reference": o.external_reference or "",
        "currency": o.currency or "",
        "net": money(o.net),
        "tax": money(o.tax),
        "gross": money(o.gross),
    }


# Details that are yes/no: recorded as booleans, so the UI shows and filters them as such; and numbers, which the
# UI plots over time (AIQ's look-up lag, issue 15).
FLAG_DETAILS = frozenset({"posting_date_moved"})
NUMBER_DETAILS = frozenset({"aiq_lookup_lag_seconds"})


def _detail(name: str, value: str) -> str | bool | float:
    if name in FLAG_DETAILS:
        return value == "true"
    return float(value) if name in NUMBER_DETAILS else value


def _details(details: Mapping[str, str]) -> Meta:
    return {name: _detail(name, value) for name, value in details.items()}


def materialization(asset: DocumentAsset, o: Outcome) -> dg.AssetMaterialization:
    meta = _identity(o)
    if o.transaction_id is not None:
        meta |= {
            "aiq_transaction_id": o.transaction_id,
            "aiq_gross": money(o.aiq_gross),
            "totals_match": bool(o.totals_match),
            "customer_created": o.customer_created,
        }
    if o.related_transaction_id is not None:
        meta["allocated_against_aiq_transaction_id"] = o.related_transaction_id
    if o.allocated is not None:
        meta["allocated"] = money(o.allocated)
    meta |= _details(o.details)
    if o.differences:
        meta["differences"] = "; ".join(o.differences)
    if o.reason:
        meta["note"] = o.reason
    return dg.AssetMaterialization(asset_key=asset.key, partition=o.key, metadata=meta)


def failure_observation(asset: DocumentAsset, o: Outcome) -> dg.AssetObservation:
    meta: Meta = _identity(o) | {
        "outcome": str(Status.FAILED),
        "reason_code": str(o.reason_code or "ERROR"),
        "reason": o.reason or "",
        "fix": o.fix or "",
        "retryable": o.retryable,
        **o.details,
    }
    return dg.AssetObservation(asset_key=asset.key, partition=o.key, metadata=meta)


def totals_check(asset: DocumentAsset, outcomes: Sequence[Outcome]) -> dg.AssetCheckResult:
    checked = [o for o in outcomes if o.transaction_id is not None]
    mismatched = [o for o in checked if not o.totals_match or o.duplicates]
    return dg.AssetCheckResult(
        check_name=asset.check_name,
        passed=not mismatched,
        description=(
            f"AIQ's net, tax and gross equal Bunny's to the cent for all {len(checked)} {asset.noun}(s) of this run."
            if not mismatched
            else "AIQ differs from Bunny for: " + ", ".join(o.key for o in mismatched)
        ),
        metadata={
            "checked": len(checked),
            "mismatched": [o.key for o in mismatched],
            "details": dg.MetadataValue.md(
                "\n".join(
                    f"- {o.key}: {'; '.join(o.differences)}"
                    + (f" ({o.duplicates} duplicate AIQ document(s))" if o.duplicates else "")
                    for o in mismatched
                )
                or "none"
            ),
        },
    )


def batch_failure(asset: DocumentAsset, total: int, failed: Sequence[Outcome]) -> dg.Failure:
    """One Failure for the batch: the first ten in the description, all of them in a table.

    Retried at once only when something may pass on a second try (AIQ or Bunny not answering, another run holding
    a document); data problems wait for a person, and a document waiting for its invoice waits for the sensor.
    """
    return dg.Failure(
        description=f"{len(failed)} of {total} {asset.noun}(s) could not be posted: "
        + "; ".join(f"{o.key} [{o.reason_code}] {o.reason}" for o in failed[:10]),
        metadata={
            "failed": preview(
                [{asset.noun: o.key, "code": str(o.reason_code), "reason": o.reason, "fix": o.fix} for o in failed],
                [asset.noun, "code", "reason", "fix"],
            )
        },
        allow_retries=any(o.retryable and o.reason_code in RETRY_AT_ONCE for o in failed),
    )


# Reason codes worth retrying within the same run (after the retry policy's pause).
RETRY_AT_ONCE = frozenset({"TRANSIENT", "BEING_POSTED"})
