"""Fault-injected runs end with zero duplicates and zero lost invoices."""

from __future__ import annotations

import dataclasses

import dagster as dg
import pytest

from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.posting.status import document_exceptions, failed_keys
from aiq_pipeline.defs.resources import SyncSettings
from aiq_pipeline.operations.runs import post_in_process
from aiq_pipeline_tests.aiq_writes import INVOICE_CREATES
from aiq_pipeline_tests.pair_names import INVOICES
from aiq_pipeline_tests.pipeline.conftest import HISTORY_START, Stack, make_resources
from aiq_pipeline_tests.pipeline.helpers import (
    aiq_documents,
    apply_tick,
    checked_in_aiq_and_absent,
    sensor_tick,
    statuses,
)

pytestmark = pytest.mark.slow

# An AIQ write answered by an HTTP 500 (or not at all) has an unknown outcome: the poster looks for the document until
# this deadline, then lists it as OUTCOME_UNKNOWN for a person's retry. Seconds here instead of production's minutes.
LOOK_FOR_SECONDS = 2


FAULTS = {
    "aiq_commit_then_drop": (
        "aiq",
        {"kind": "drop_after_commit", "operations": INVOICE_CREATES, "fraction": 0.5, "seed": 1},
    ),
    "aiq_http_500": ("aiq", {"kind": "http_500", "fraction": 0.25, "seed": 2}),
    "aiq_throttling": ("aiq", {"kind": "throttle", "fraction": 0.25, "seed": 3}),
    "bunny_429": ("bunny", {"kind": "status", "status": 429, "retry_after": 0.01, "fraction": 0.25, "seed": 4}),
    "bunny_500": ("bunny", {"kind": "status", "status": 500, "fraction": 0.25, "seed": 5}),
    "bunny_token_expiry": ("bunny", {"kind": "expire_token", "fraction": 0.3, "seed": 6}),
}


def _expire_aiq_tokens_between_calls(stack) -> None:
    stack.emulators.accountsiq.state.options.token_ttl_seconds = 0.05


def _with_short_lookups(stack: Stack) -> Stack:
    resources = make_resources(stack.emulators, stack.tmp / "store.duckdb")
    resources["sync_settings"] = SyncSettings(
        batch_size=5, sync_start_date=HISTORY_START, unknown_outcome_deadline_seconds=LOOK_FOR_SECONDS
    )
    return dataclasses.replace(stack, defs=build_definitions(resources))


@pytest.mark.parametrize("fault", [*FAULTS, "aiq_token_expiry"])
def test_no_duplicates_and_no_lost_invoices_under_faults(stack, fault):
    from aiq_emulators.bunny.faults import FaultSpec

    stack = _with_short_lookups(stack)
    stack.fix_demo_data()
    new = stack.emulators.bunny.create_invoices(
        {"account": "2", "items": [{"charge": "PRO-SERVICES", "quantity": 2}]}, count=12, release=True
    )
    assert len(new) == 12

    if fault == "aiq_token_expiry":
        _expire_aiq_tokens_between_calls(stack)
    else:
        system, rule = FAULTS[fault]
        if system == "aiq":
            stack.emulators.accountsiq.faults.add(rule)
        else:
            stack.emulators.bunny.faults.add(FaultSpec(**rule))

    tick = sensor_tick(stack)
    apply_tick(stack, tick)
    # Whatever the faults left behind is on the exceptions list; a person's retry finishes the job (it looks once more
    # for a document whose outcome was unknown before it writes it).
    # An in-doubt write no later write vouches for (an HTTP 500 on the last bulk call) stays an exception; the person
    # checks AIQ's own screens and writes again, explicitly, only what AIQ does not hold.
    for _ in range(5):
        failed = failed_keys(stack.instance, INVOICES)
        if not failed:
            break
        post_in_process(stack.instance, failed, trigger="retry", defs=stack.defs)
        if absent := checked_in_aiq_and_absent(stack, document_exceptions(stack.instance, INVOICES)):
            post_in_process(stack.instance, absent, trigger="retry_rewrite_unknown", defs=stack.defs)

    # The fault really fired (otherwise this test proves nothing).
    aiq_stats = stack.emulators.accountsiq.stats.snapshot()
    bunny_stats = stack.emulators.bunny.faults.stats
    if fault == "aiq_token_expiry":
        assert aiq_stats["calls"].get("TokenRefresh", 0) + aiq_stats["calls"].get("TokenGet", 0) > 2
    elif fault == "bunny_token_expiry":
        assert bunny_stats["oauth.tokens_issued"] > 1
    elif FAULTS[fault][0] == "aiq":
        assert aiq_stats["faults"].get(FAULTS[fault][1]["kind"], 0) > 0, aiq_stats
    else:
        assert bunny_stats["faults.status"] > 0, dict(bunny_stats)

    expected = set(tick.dynamic_partitions_requests[0].partition_keys)
    assert len(expected) >= 19
    assert set(statuses(stack).values()) == {dg.AssetPartitionStatus.MATERIALIZED}
    docs = aiq_documents(stack)
    assert set(docs) == {f"BUNNY-INV-{k}" for k in expected}, "an invoice was lost"
    assert max(docs.values()) == 1, f"duplicates: {[r for r, n in docs.items() if n > 1]}"
