"""What the invoice and credit-note assets report per document and per batch, in one shape.

A document that could not be posted gets an `AssetObservation` on its partition with the reason (what the
exceptions list reads); a batch with failures ends in one `dg.Failure` naming them, so the posted documents stay
MATERIALIZED and the others become FAILED.
"""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

import dagster as dg

from aiq_pipeline.defs.metadata import preview
from aiq_pipeline.defs.resources import AccountsIQResource, BunnyResource, SyncSettings

FAILED = "failed"


class FailedDocument(Protocol):
    @property
    def reason_code(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def fix(self) -> str | None: ...
    @property
    def retryable(self) -> bool: ...


def poster_settings(accountsiq: AccountsIQResource, bunny: BunnyResource, sync: SyncSettings) -> dict[str, object]:
    """The keyword arguments both posters take from the resources."""
    return {
        "bunny_entity_id": bunny.entity_id,
        "default_tax_code": accountsiq.default_tax_code,
        "closed_period_policy": sync.closed_period_policy,
        "backoff_base": accountsiq.backoff_seconds,
    }


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def failure_observation(
    asset_key: dg.AssetKey, key: str, outcome: FailedDocument, extra: Mapping[str, object]
) -> dg.AssetObservation:
    return dg.AssetObservation(
        asset_key=asset_key,
        partition=key,
        metadata={
            "outcome": FAILED,
            "reason_code": outcome.reason_code or "ERROR",
            "reason": outcome.reason or "",
            "fix": outcome.fix or "",
            "retryable": outcome.retryable,
            **extra,
        },
    )


def batch_failure(
    noun: str, total: int, failed: Sequence[tuple[str, FailedDocument]], *, allow_retries: bool
) -> dg.Failure:
    """One Failure for the batch: the first ten in the description, all of them in a table."""
    return dg.Failure(
        description=f"{len(failed)} of {total} {noun}(s) could not be posted: "
        + "; ".join(f"{key} [{o.reason_code}] {o.reason}" for key, o in failed[:10]),
        metadata={
            "failed": preview(
                [{noun: key, "code": o.reason_code, "reason": o.reason, "fix": o.fix} for key, o in failed],
                [noun, "code", "reason", "fix"],
            )
        },
        allow_retries=allow_retries,
    )
