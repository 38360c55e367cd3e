"""Driving the pipeline as the daemon would, and reading AIQ's ground truth from the emulator."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING

import dagster as dg
import pytest

from aiq_pipeline.defs.posting.sensing import SWEPT_AT
from aiq_pipeline.defs.posting.status import DocumentException
from aiq_pipeline_tests.pair_names import INVOICES

if TYPE_CHECKING:
    from aiq_pipeline_tests.pipeline.conftest import Stack


def sweep_due(cursor: str | None) -> str | None:
    """A sensor's cursor as if its last sweep were long ago: the next tick reads the whole overlap again."""
    if not cursor:
        return cursor
    return json.dumps({k: v for k, v in json.loads(cursor).items() if k != SWEPT_AT})


def sensor_tick(stack: Stack, cursor: str | None = None) -> dg.SensorResult:
    sensor = stack.defs.get_sensor_def("released_invoices_sensor")
    context = dg.build_sensor_context(
        instance=stack.instance,
        cursor=cursor,
        resources={"bunny": stack.defs.resources["bunny"], "sync_settings": stack.defs.resources["sync_settings"]},
    )
    result = sensor(context)
    assert isinstance(result, dg.SensorResult), result
    return result


def apply_tick(stack: Stack, result: dg.SensorResult) -> list[dg.ExecuteInProcessResult]:
    """What the daemon does with a tick: add the partitions, then launch each requested run."""
    for request in result.dynamic_partitions_requests or []:
        stack.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    job = stack.defs.resolve_implicit_global_asset_job_def()
    runs = []
    for request in result.run_requests or []:
        runs.append(
            job.execute_in_process(
                instance=stack.instance,
                partition_key=request.partition_key,
                tags=request.tags,
                asset_selection=list(request.asset_selection or [INVOICES.key]),
                raise_on_error=False,
            )
        )
    return runs


def statuses(stack: Stack) -> dict[str, dg.AssetPartitionStatus | None]:
    keys = stack.instance.get_dynamic_partitions(INVOICES.partitions_name)
    found = stack.instance.get_status_by_partition(INVOICES.key, keys, INVOICES.partitions) or {}
    return {k: found.get(k) for k in keys}


def aiq_documents(stack: Stack, entity: str = "DEMO01") -> Counter[str]:
    """External reference -> number of sales invoices AIQ holds for it (from the emulator's own state)."""
    data = stack.emulators.accountsiq.state.data
    return Counter(t.external_reference for t in data.entities[entity].transactions.values() if t.type_code == "SI")


REWRITE_FLAG = "--rewrite-unknown-may-duplicate"


def checked_in_aiq_and_absent(
    stack: Stack,
    left: Sequence[DocumentException],
    allowed: Callable[[DocumentException], bool] = lambda _e: False,
    entity: str = "DEMO01",
) -> list[str]:
    """What a person does before `retry --rewrite-unknown-may-duplicate`, reading AIQ's own state (what a person
    sees in AIQ's screens, not its lagging look-up): see `to_rewrite`."""
    held = {t.external_reference for t in stack.emulators.accountsiq.state.data.entities[entity].transactions.values()}
    return to_rewrite(left, held, allowed)


def to_rewrite(
    left: Iterable[DocumentException],
    held: Collection[str],
    allowed: Callable[[DocumentException], bool] = lambda _e: False,
) -> list[str]:
    """Of the in-doubt documents no witness vouched for, the keys the fix says to retry with the override (the key
    whose write it is, which may be another document's) when AIQ does not hold (`held`) the reference it names."""
    keys: list[str] = []
    for e in left:
        named = re.search(r"External Reference (\S+)\.", e.fix or "")
        owner = re.search(rf"retry (\S+) {REWRITE_FLAG}", e.fix or "")
        if allowed(e) or e.reason_code != "OUTCOME_UNKNOWN" or not owner or not named:
            continue
        if named.group(1) not in held and owner.group(1) not in keys:
            keys.append(owner.group(1))
    return keys


def partition_reads(instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """From now on, how many times each partitions definition's keys are read (`get_dynamic_partitions`)."""
    reads: Counter[str] = Counter()
    read = instance.get_dynamic_partitions

    def counting(partitions_def_name: str) -> Sequence[str]:
        reads[partitions_def_name] += 1
        return read(partitions_def_name)

    monkeypatch.setattr(instance, "get_dynamic_partitions", counting)
    return reads
