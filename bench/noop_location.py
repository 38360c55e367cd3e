"""Dagster's own floor for the invoice burst: a code location whose asset does nothing but materialize.

Same shape as the product's `posted_invoices` where Dagster's cost comes from: one dynamic partition per
key, a sensor that adds all keys in one tick and requests runs of `BENCH_NOOP_BATCH_SIZE` contiguous keys
(the same partition-range tags), `output_required=False` with one `AssetMaterialization` per key, the
in-process executor, and the same pool (so the same run serialisation under `deploy/dagster.local.yaml`).
The keys come from the file named by `BENCH_NOOP_KEYS_FILE` (one a line), written by `invoice_burst.py` and
`sensor_tick.py`; the batch size from `BENCH_NOOP_BATCH_SIZE`.
"""

# No `from __future__ import annotations`: Dagster checks the context parameter's annotation at import.
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from aiq_pipeline.defs.names import DEFAULT_NAMES
from aiq_pipeline.settings import DEFAULT_BATCH_SIZE

NOOP_PARTITIONS_NAME = "bench_noop_invoices"
NOOP_ASSET = dg.AssetKey(["bench", "noop_invoices"])
KEYS_FILE_ENV = "BENCH_NOOP_KEYS_FILE"
BATCH_SIZE_ENV = "BENCH_NOOP_BATCH_SIZE"

noop_partitions = dg.DynamicPartitionsDefinition(name=NOOP_PARTITIONS_NAME)


@dg.asset(
    key=NOOP_ASSET,
    partitions_def=noop_partitions,
    output_required=False,
    pool=DEFAULT_NAMES.store_pool,
    description="Materializes each partition of its run and does nothing else.",
)
def noop_invoices(context: dg.AssetExecutionContext) -> Iterator[dg.AssetMaterialization]:
    for key in context.partition_keys:
        yield dg.AssetMaterialization(asset_key=NOOP_ASSET, partition=key)


def _run_request(keys: list[str]) -> dg.RunRequest:
    run_key = f"noop:{keys[0]}-{keys[-1]}:{len(keys)}"
    if len(keys) == 1:
        return dg.RunRequest(run_key=run_key, asset_selection=[NOOP_ASSET], partition_key=keys[0])
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    return dg.RunRequest(run_key=run_key, asset_selection=[NOOP_ASSET], tags=tags)


@dg.sensor(
    name="noop_burst_sensor",
    asset_selection=[NOOP_ASSET],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def noop_burst_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    if context.cursor == "done":
        return dg.SkipReason("the burst was requested already")
    keys = Path(os.environ[KEYS_FILE_ENV]).read_text(encoding="utf-8").split()
    size = int(os.environ.get(BATCH_SIZE_ENV, str(DEFAULT_BATCH_SIZE)))
    # Compare sets like the product's sensor does, so the tick costs what its tick costs in Dagster calls.
    known = set(context.instance.get_dynamic_partitions(NOOP_PARTITIONS_NAME))
    fresh = [k for k in keys if k not in known]
    return dg.SensorResult(
        dynamic_partitions_requests=[noop_partitions.build_add_request(fresh)],
        run_requests=[_run_request(fresh[i : i + size]) for i in range(0, len(fresh), size)],
        cursor="done",
    )


defs = dg.Definitions(assets=[noop_invoices], sensors=[noop_burst_sensor], executor=dg.in_process_executor)
