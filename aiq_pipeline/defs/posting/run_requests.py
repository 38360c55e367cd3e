"""Run requests for document partitions: one run posts a contiguous range of partitions.

Dagster 1.13 has no public API for a run over a partition range: a run carries it in two run tags, whose names are
stored with every run (so they are stable); `aiq_pipeline_tests` checks them against Dagster's own constants.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
TRIGGER_TAG = (
    "aiq_pipeline/trigger"  # sensor | sync | retry | retry_rewrite_unknown | backfill | schedule | wait | recovery
)
# A person's retry that also writes again the documents whose earlier write is in doubt and which AIQ's look-up does
# not show, though it is not shown to have caught up (`aiq-pipeline retry --rewrite-unknown-may-duplicate`).
REWRITE_UNKNOWN_TRIGGER = "retry_rewrite_unknown"


def range_tags(keys: Sequence[str]) -> dict[str, str]:
    """Tags for a run of `keys` (contiguous in the partition order); none for a single key."""
    if len(keys) < 2:
        return {}
    return {PARTITION_RANGE_START_TAG: keys[0], PARTITION_RANGE_END_TAG: keys[-1]}


def document_run_request(
    asset: dg.AssetKey, keys: Sequence[str], *, run_key: str | None = None, trigger: str = "sensor"
) -> dg.RunRequest:
    """One run posting `keys`, which must be contiguous in the partition order (a range)."""
    tags = {TRIGGER_TAG: trigger, **range_tags(keys)}
    partition_key = keys[0] if len(keys) == 1 else None
    return dg.RunRequest(run_key=run_key, asset_selection=[asset], partition_key=partition_key, tags=tags)


def batches(keys: Sequence[str], size: int) -> list[list[str]]:
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


def contiguous_groups(keys: Sequence[str], order: Sequence[str], size: int) -> list[list[str]]:
    """Split `keys` into runs of keys adjacent in the partition order, at most `size` each (a run covers a *range*
    of the dynamic partitions, so only neighbours can share one). Unknown keys raise KeyError."""
    position = {key: i for i, key in enumerate(order)}
    unknown = [k for k in keys if k not in position]
    if unknown:
        raise KeyError(f"not a known partition: {', '.join(unknown)}")
    groups: list[list[str]] = []
    for key in sorted(set(keys), key=position.__getitem__):
        last = groups[-1] if groups else None
        if last and position[key] == position[last[-1]] + 1 and len(last) < size:
            last.append(key)
        else:
            groups.append([key])
    return groups
