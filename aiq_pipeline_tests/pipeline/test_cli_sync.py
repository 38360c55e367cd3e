"""`aiq-pipeline sync` runs the whole chain on the persistent instance; the sensor's requests are daemon-valid."""

from __future__ import annotations

import dagster as dg
import pytest
from click.testing import CliRunner

from aiq_pipeline.cli import main
from aiq_pipeline_tests.pair_names import INVOICES, POSTING_JOURNAL
from aiq_pipeline_tests.pipeline.conftest import BUNNY_ENTITY
from aiq_pipeline_tests.pipeline.helpers import aiq_documents, statuses
from aiq_pipeline_tests.pipeline.test_full_cycle import _cli_env

pytestmark = pytest.mark.slow


def test_sync_command_posts_everything_postable_and_summarises(stack, monkeypatch):
    _cli_env(stack, monkeypatch)
    first = CliRunner().invoke(main, ["sync"])
    assert first.exit_code == 1, first.output  # three demo invoices cannot be posted
    # Posted: four invoices and the demo's credit note (CN-1, on a posted invoice): `sync` posts credit notes too.
    assert "posted: 5" in first.output and "failed: 3" in first.output
    assert "1 new credit note(s) and void(s) to post" in first.output
    assert "[CLOSED_PERIOD]" in first.output and "[UNKNOWN_TAX_CODE]" in first.output
    # The ledger snapshot, accounts and mapping ran first, on the same instance the UI uses.
    assert stack.store.snapshot_count("aiq_gl_accounts") == 1
    assert len(stack.store.current("gl_mapping", BUNNY_ENTITY)) == 4
    # The journal in the UI is read once the command has posted (the journal sensor is off here).
    after_sync = stack.instance.get_latest_materialization_event(POSTING_JOURNAL)
    assert after_sync is not None

    stack.fix_demo_data()
    stack.emulators.bunny.create_invoices({"account": "2"}, count=2, release=True)
    second = CliRunner().invoke(main, ["sync"])
    assert second.exit_code == 1, second.output  # old failures are still exceptions until retried
    assert "posted: 2" in second.output
    retried = CliRunner().invoke(main, ["retry", "--all"])
    assert retried.exit_code == 0, retried.output
    after_retry = stack.instance.get_latest_materialization_event(POSTING_JOURNAL)
    assert after_retry is not None and after_retry.timestamp > after_sync.timestamp
    assert set(statuses(stack).values()) == {dg.AssetPartitionStatus.MATERIALIZED}
    assert set(aiq_documents(stack).values()) == {1}
    assert "No exceptions" in CliRunner().invoke(main, ["exceptions"]).output


def test_dagster_commands_refuse_a_throwaway_instance(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = CliRunner().invoke(main, ["exceptions"])
    assert result.exit_code != 0
    assert "DAGSTER_HOME is not set" in result.output


def test_retry_of_an_unknown_invoice_is_a_clear_error(stack, monkeypatch):
    _cli_env(stack, monkeypatch)
    result = CliRunner().invoke(main, ["retry", "no-such-invoice"])
    assert result.exit_code != 0
    assert "no-such-invoice" in str(result.exception) + result.output


def test_sensor_run_requests_resolve_like_the_daemon(stack):
    """evaluate_tick with the instance ref resolves range tags and validates keys added in the same tick."""
    sensor = stack.defs.get_sensor_def(INVOICES.sensor_name)
    context = dg.build_sensor_context(
        instance_ref=stack.instance.get_ref(),
        definitions=stack.defs,
        resources={"bunny": stack.defs.resources["bunny"], "sync_settings": stack.defs.resources["sync_settings"]},
    )
    data = sensor.evaluate_tick(context)
    assert data.run_requests
    for request in data.run_requests:
        assert list(request.asset_selection) == [INVOICES.key]
        single = request.tags.get("dagster/partition")
        ranged = request.tags.get("dagster/asset_partition_range_start")
        assert bool(single) != bool(ranged)
    added = data.dynamic_partitions_requests[0].partition_keys
    batches = sum(1 for r in data.run_requests)
    assert batches == -(-len(added) // 5)
