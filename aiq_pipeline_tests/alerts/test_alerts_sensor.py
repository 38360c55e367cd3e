"""The alerts sensor through Dagster, as the daemon runs it, with the production wiring (AIQ_PIPELINE_ALERT_URLS and
AIQ_PIPELINE_UI_URL from the environment), against a real SMTP server and webhook receiver, with the instance and
store on SQLite/DuckDB and on PostgreSQL: one message for the batch, none again across a daemon restart, a channel
that is down retried on a later tick, and a cleared note when documents are dismissed or posted."""

from __future__ import annotations

import logging

import dagster as dg
import pytest

from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline_tests.alerts.receivers import SMTP_PASSWORD, WEBHOOK_TOKEN, SmtpServer, Webhook
from aiq_pipeline_tests.dismiss.test_dismiss import cli, three_failures
from aiq_pipeline_tests.pipeline.conftest import Stack
from aiq_pipeline_tests.pipeline.helpers import statuses

pytestmark = pytest.mark.slow

UI = "http://dagster.example:3000"
SENSOR = "exception_alerts_sensor"


def daemon_life(stack: Stack) -> dg.Definitions:
    """The code location as a (re)started daemon loads it: settings from the environment, the test's connections."""
    wanted = ("accountsiq", "bunny", "store", "sync_settings")
    return build_definitions({k: v for k, v in stack.defs.resources.items() if k in wanted})


def alerts_tick(defs: dg.Definitions, stack: Stack) -> str:
    sensor = defs.get_sensor_def(SENSOR)
    context = dg.build_sensor_context(
        instance=stack.instance,
        resources={"store": defs.resources["store"], "alert_channels": defs.resources["alert_channels"]},
    )
    result = sensor(context)
    assert isinstance(result, dg.SkipReason), result  # it never starts a run, and never raises for a channel
    return str(result.skip_message)


def test_alerts_through_dagster(stack: Stack, smtp: SmtpServer, hook: Webhook, monkeypatch, caplog) -> None:
    found = three_failures(stack, monkeypatch)  # the command line's environment, as the daemon has it
    monkeypatch.setenv("AIQ_PIPELINE_ALERT_URLS", f"{smtp.url}, {hook.url}")
    monkeypatch.setenv("AIQ_PIPELINE_UI_URL", UI)
    defs = daemon_life(stack)
    sensor = defs.get_sensor_def(SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING  # on once channels are set
    assert SMTP_PASSWORD not in repr(defs.resources["alert_channels"])

    # One message for the batch, to both channels.
    alerts_tick(defs, stack)
    (mail,) = smtp.received
    (posted,) = hook.received
    assert mail.subject == posted["title"]
    assert mail.subject == "[aiq-pipeline] 3 new exception(s): pair default (Bunny entity 1 -> AIQ entity DEMO01)"
    for key, e in found.items():
        assert f"[{e['reason_code']}]" in mail.text
        assert f"{UI}/assets/aiq/posted_invoices?view=partitions&partition={key}" in mail.text
        if e["fix"]:
            assert f"Fix: {e['fix']}" in mail.text
    assert f"All failed invoices: {UI}/assets/aiq/posted_invoices?view=partitions&status=FAILED" in mail.text

    # Nothing again: not on the next tick, nor after a restart (a new code location on the same store).
    alerts_tick(defs, stack)
    alerts_tick(daemon_life(stack), stack)
    assert len(smtp.received) == len(hook.received) == 1

    # The webhook is down when one is dismissed: the mail has the note, the webhook gets it on a later tick.
    dismissed = next(k for k, e in found.items() if e["reason_code"] == "CLOSED_PERIOD")
    assert cli("exceptions", "dismiss", dismissed, "--reason", "booked by hand", "--by", "alice").exit_code == 0
    hook.answering = 503
    with caplog.at_level(logging.WARNING):
        summary = alerts_tick(defs, stack)
    assert "1 delivery(ies) failed, tried again next tick" in summary
    assert "not delivered to channel 2 (JSON)" in caplog.text
    assert len(smtp.received) == 2 and len(hook.received) == 1
    assert f"- invoice {dismissed}" in smtp.received[1].text and smtp.received[1].text.strip().endswith("dismissed")
    hook.answering = 200
    alerts_tick(daemon_life(stack), stack)
    assert len(smtp.received) == 2 and len(hook.received) == 2
    assert (
        hook.received[1]["title"]
        == smtp.received[1].subject
        == ("[aiq-pipeline] 1 exception(s) cleared: pair default (Bunny entity 1 -> AIQ entity DEMO01)")
    )

    # Fixed and retried: one note that the other two are posted. Undismissed: it is news again.
    stack.fix_demo_data()
    assert cli("retry", "--all").exit_code == 0
    assert all(statuses(stack)[k] == dg.AssetPartitionStatus.MATERIALIZED for k in found if k != dismissed)
    alerts_tick(defs, stack)
    assert smtp.received[2].subject.startswith("[aiq-pipeline] 2 exception(s) cleared")
    assert smtp.received[2].text.count(": posted") == 2
    assert cli("exceptions", "undismiss", dismissed, "--by", "bob").exit_code == 0
    alerts_tick(defs, stack)
    assert smtp.received[3].subject.startswith("[aiq-pipeline] 1 new exception(s)")
    assert f"invoice {dismissed}" in smtp.received[3].text
    assert len(smtp.received) == len(hook.received) == 4

    # No secret in what the store, the UI (sensor logs, resource) or the log show.
    tables = ("alert_messages", "alert_deliveries", "alerted_exceptions")
    stored = " ".join(repr(row) for table in tables for row in stack.store.query(f"SELECT * FROM {table}"))
    for secret in (SMTP_PASSWORD, WEBHOOK_TOKEN):
        assert secret not in stored and secret not in caplog.text


def test_without_alert_urls_the_sensor_is_stopped_and_sends_nothing(stack: Stack, monkeypatch) -> None:
    three_failures(stack, monkeypatch)
    monkeypatch.delenv("AIQ_PIPELINE_ALERT_URLS", raising=False)
    defs = daemon_life(stack)
    assert defs.get_sensor_def(SENSOR).default_status == dg.DefaultSensorStatus.STOPPED
    assert "no alert channel is configured" in alerts_tick(defs, stack)
    assert stack.store.query("SELECT * FROM alert_messages") == []


def test_posting_runs_in_flight_hold_the_digest() -> None:
    from dagster._core.test_utils import create_run_for_test

    from aiq_pipeline.defs.alerts.sensor import posting_in_flight
    from aiq_pipeline_tests.pair_names import CREDIT_NOTES, DOCUMENT_ASSETS, INVOICES

    with dg.instance_for_test() as instance:
        assert not posting_in_flight(instance, DOCUMENT_ASSETS)
        other = create_run_for_test(
            instance, status=dg.DagsterRunStatus.STARTED, asset_selection=frozenset({dg.AssetKey(["aiq", "periods"])})
        )
        done = create_run_for_test(
            instance, status=dg.DagsterRunStatus.FAILURE, asset_selection=frozenset({INVOICES.key})
        )
        assert other and done and not posting_in_flight(instance, DOCUMENT_ASSETS)
        create_run_for_test(
            instance, status=dg.DagsterRunStatus.STARTING, asset_selection=frozenset({CREDIT_NOTES.key})
        )
        assert posting_in_flight(instance, DOCUMENT_ASSETS)
        assert not posting_in_flight(instance, [INVOICES])


def test_a_tick_reads_each_kinds_partitions_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every minute the sensor reads the exceptions, the posted and the dismissed documents of each kind: with
    100,000 invoices the partition list is the largest read, so the three share one."""
    from collections import Counter

    from aiq_pipeline.defs.alerts.sensor import read_documents
    from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS, INVOICES
    from aiq_pipeline_tests.pipeline.helpers import partition_reads

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(INVOICES.partitions_name, ["1", "2", "3"])
        reads = partition_reads(instance, monkeypatch)
        failing, settled = read_documents(instance, DOCUMENT_ASSETS, None)
    assert (failing, settled) == ([], {})
    assert reads == Counter({asset.partitions_name: 1 for asset in DOCUMENT_ASSETS})
