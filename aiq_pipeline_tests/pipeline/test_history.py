"""History: the start date keeps the sensor away from old invoices; a deliberate backfill brings them in once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from aiq_pipeline.bunny.models import InvoiceRef
from aiq_pipeline.defs.invoices.history import invoices_issued_between
from aiq_pipeline.defs.resources import SyncSettings
from aiq_pipeline.operations.runs import post_in_process
from aiq_pipeline_tests.pair_names import INVOICES
from aiq_pipeline_tests.pipeline.helpers import aiq_documents, apply_tick, sensor_tick, statuses

T = datetime(2026, 11, 1, tzinfo=UTC)


def test_range_selection_is_inclusive_ordered_and_postable_only():
    refs = [
        InvoiceRef("3", "PAID", T, date(2026, 7, 31)),
        InvoiceRef("1", "NOT_DUE", T, date(2026, 7, 1)),
        InvoiceRef("2", "DRAFT", T, date(2026, 7, 2)),
        InvoiceRef("4", "VOIDED", T, date(2026, 7, 3)),
        InvoiceRef("5", "DUE", T, date(2026, 8, 1)),
        InvoiceRef("6", "DUE", T, None),
    ]
    assert invoices_issued_between(refs, date(2026, 7, 1), date(2026, 7, 31)) == ["1", "3"]
    with pytest.raises(ValueError, match="ends"):
        invoices_issued_between(refs, date(2026, 8, 1), date(2026, 7, 1))


@pytest.mark.slow
def test_start_date_then_deliberate_backfill_posts_history_once(stack):
    stack.fix_demo_data()
    issued = {
        n["id"]: n["issuedAt"]
        for n in stack.bunny_graphql("query { invoices(first: 100) { nodes { id issuedAt state entity { id } } } }")[
            "invoices"
        ]["nodes"]
        if n["entity"]["id"] == "1" and n["state"] in {"NOT_DUE", "DUE", "PAID"}
    }
    start = sorted(issued.values())[len(issued) // 2]
    stack.defs.resources["sync_settings"] = SyncSettings(batch_size=5, sync_start_date=start)  # as the env would

    # The sensor leaves everything issued before the start date alone.
    apply_tick(stack, sensor_tick(stack))
    picked = set(stack.instance.get_dynamic_partitions(INVOICES.partitions_name))
    assert picked == {i for i, d in issued.items() if d >= start}

    # The deliberate backfill of the whole range adds only what is missing and posts it.
    job = stack.defs.get_job_def("add_invoice_history")
    result = job.execute_in_process(
        instance=stack.instance,
        run_config={
            "ops": {"add_invoice_history_partitions": {"config": {"from_date": "2026-01-01", "to_date": "2026-12-31"}}}
        },
        resources={"bunny": stack.defs.resources["bunny"]},
    )
    assert result.success
    all_keys = stack.instance.get_dynamic_partitions(INVOICES.partitions_name)
    assert set(all_keys) == set(issued)
    missing = [k for k, s in statuses(stack).items() if s is None]
    assert set(missing) == set(issued) - picked
    post_in_process(stack.instance, missing, trigger="backfill", defs=stack.defs)
    assert set(statuses(stack).values()) == {dg.AssetPartitionStatus.MATERIALIZED}

    # Backfilling an overlapping range again posts nothing twice.
    post_in_process(stack.instance, all_keys, trigger="backfill", defs=stack.defs)
    docs = aiq_documents(stack)
    assert set(docs) == {f"BUNNY-INV-{k}" for k in issued}
    assert set(docs.values()) == {1}


@pytest.mark.slow
def test_backfill_command_posts_a_range_once_and_overlaps_post_nothing_twice(stack, monkeypatch):
    from click.testing import CliRunner

    from aiq_pipeline.cli import main
    from aiq_pipeline_tests.pipeline.test_full_cycle import _cli_env

    _cli_env(stack, monkeypatch)
    stack.fix_demo_data()
    first = CliRunner().invoke(main, ["backfill", "--from", "2026-01-01", "--to", "2026-10-31"])
    assert first.exit_code == 0, first.output
    in_first = set(stack.instance.get_dynamic_partitions(INVOICES.partitions_name))
    assert in_first and "new partition(s)" in first.output
    whole = CliRunner().invoke(main, ["backfill", "--from", "2026-01-01", "--to", "2026-12-31"])
    assert whole.exit_code == 0, whole.output
    assert f"already posted: {len(in_first)}" in whole.output
    docs = aiq_documents(stack)
    assert set(docs.values()) == {1}
    assert {f"BUNNY-INV-{k}" for k in in_first} <= set(docs)
    bad = CliRunner().invoke(main, ["backfill", "--from", "2026-12-31", "--to", "2026-01-01"])
    assert bad.exit_code != 0 and "before --from" in bad.output
