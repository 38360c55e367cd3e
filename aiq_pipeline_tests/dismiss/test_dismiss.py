"""Dismissing an exception through the real command line and Dagster, with the store on DuckDB and PostgreSQL: the
document leaves the exceptions list, stays visible with --dismissed and in its partition's history, keeps an audit
trail (who, when, why; undismiss adds a row), and nothing posts it (the sensor's re-runs, `retry --all`, a backfill,
`retry KEY`) until it is undismissed."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from aiq_pipeline.cli import main
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.posting.status import list_exceptions
from aiq_pipeline.defs.resources import StoreResource
from aiq_pipeline.store.dismissals import DismissalAction, DismissalLog, dismissed_keys
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS, INVOICES
from aiq_pipeline_tests.pipeline.conftest import Stack, make_resources
from aiq_pipeline_tests.pipeline.helpers import aiq_documents, apply_tick, sensor_tick, statuses
from aiq_pipeline_tests.pipeline.test_full_cycle import _cli_env

pytestmark = pytest.mark.slow

FAILED = dg.AssetPartitionStatus.FAILED
MATERIALIZED = dg.AssetPartitionStatus.MATERIALIZED


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def listed() -> dict[str, dict]:
    result = cli("exceptions", "--json")
    assert result.exit_code == 0, result.output
    return {e["key"]: e for e in json.loads(result.output)}


def three_failures(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict]:
    """The sample tenant posted by the sensor: three invoices fail (closed period, tax code, control account)."""
    _cli_env(stack, monkeypatch)
    apply_tick(stack, sensor_tick(stack))
    found = listed()
    assert len(found) == 3
    return found


def history(stack: Stack, key: str) -> list:
    with stack.store.session() as session:
        return DismissalLog(session).history(key)


def interrupt(stack: Stack, key: str) -> None:
    """A run of `key` that dies before it says anything about it (its store cannot be opened): INTERRUPTED."""
    resources = make_resources(stack.emulators, stack.tmp)
    resources["store"] = StoreResource(location=str(stack.tmp))  # a directory: no store opens there
    broken = build_definitions(resources)
    job = broken.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=stack.instance, partition_key=key, asset_selection=[INVOICES.key], raise_on_error=False
    )
    assert not result.success
    assert {e.key: e.reason_code for e in list_exceptions(stack.instance, DOCUMENT_ASSETS)}[key] == "INTERRUPTED"


def test_dismissed_documents_leave_the_list_and_are_never_posted_until_undismissed(stack, monkeypatch) -> None:
    found = three_failures(stack, monkeypatch)
    closed = next(k for k, e in found.items() if e["reason_code"] == "CLOSED_PERIOD")
    others = sorted(set(found) - {closed})

    # Its run died: the sensor would run it again of its own accord ...
    interrupt(stack, closed)
    assert any(r.partition_key == closed for r in sensor_tick(stack).run_requests)

    # ... until a person dismisses it.
    done = cli("exceptions", "dismiss", closed, "--reason", "booked by hand in AIQ", "--by", "alice")
    assert done.exit_code == 0, done.output
    assert f"dismissed: {closed}" in done.output and f"exceptions undismiss {closed}" in done.output
    assert set(listed()) == set(others)
    plain = cli("exceptions").output
    assert f"- {closed} " not in plain and all(f"- {k} " in plain for k in others)
    assert [e.key for e in list_exceptions(stack.instance, DOCUMENT_ASSETS, dismissed=True)] == [closed]

    # Visible with --dismissed (who, when, why) and in the partition's history in the UI.
    shown = cli("exceptions", "--dismissed")
    assert shown.exit_code == 0, shown.output
    assert f"- {closed} " in shown.output and "dismissed by alice on " in shown.output
    assert "why: booked by hand in AIQ" in shown.output
    (row,) = json.loads(cli("exceptions", "--dismissed", "--json").output)
    assert row["key"] == closed and row["dismissed_by"] == "alice" and row["reason"] == "booked by hand in AIQ"
    assert row["scope"] == INVOICES.partitions_name and row["via"] == "cli"
    events = stack.instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=INVOICES.key, asset_partitions=[closed]), limit=10
    ).records
    assert events[0].asset_observation.description == "Dismissed by alice: booked by hand in AIQ"
    assert statuses(stack)[closed] == FAILED  # its history is untouched: it was never posted
    assert dismissed_keys(stack.store) == {closed}

    # Never posted: not by the sensor's re-runs, `retry --all`, a backfill, nor a direct retry.
    stack.fix_demo_data()  # it would post now
    assert all(r.partition_key != closed for r in sensor_tick(stack).run_requests)
    refused = cli("retry", closed)
    assert refused.exit_code == 2
    assert f"aiq-pipeline exceptions undismiss {closed}" in refused.output
    retried = cli("retry", "--all")
    assert retried.exit_code == 0, retried.output
    assert f"BUNNY-INV-{closed}" not in aiq_documents(stack)
    assert all(statuses(stack)[k] == MATERIALIZED for k in others)
    backfilled = cli("backfill", "--from", "2025-01-01", "--to", "2026-12-31")
    assert "1 dismissed invoice(s) left alone" in backfilled.output, backfilled.output
    assert f"BUNNY-INV-{closed}" not in aiq_documents(stack)
    assert statuses(stack)[closed] == FAILED
    assert cli("exceptions").output.startswith("No exceptions")

    # Undismissed: back on the list, both rows kept, and then it posts.
    back = cli("exceptions", "undismiss", closed, "--by", "bob", "--reason", "not booked after all")
    assert back.exit_code == 0, back.output
    assert set(listed()) == {closed}
    assert [(h.action, h.actor, h.reason) for h in history(stack, closed)] == [
        (DismissalAction.DISMISSED, "alice", "booked by hand in AIQ"),
        (DismissalAction.UNDISMISSED, "bob", "not booked after all"),
    ]
    assert dismissed_keys(stack.store) == frozenset()
    assert cli("exceptions", "--dismissed").output.startswith("No dismissed documents")
    posted = cli("retry", closed)
    assert posted.exit_code == 0, posted.output
    assert aiq_documents(stack)[f"BUNNY-INV-{closed}"] == 1


def test_what_cannot_be_dismissed_is_refused_and_nothing_changes(stack, monkeypatch) -> None:
    found = three_failures(stack, monkeypatch)
    posted = next(k for k, s in statuses(stack).items() if s == MATERIALIZED)
    failing = sorted(found)[0]

    for args, words in [
        (["dismiss", failing, "no-such-document", "--reason", "x"], "not on the exceptions list"),
        (["dismiss", posted, "--reason", "x"], "not on the exceptions list"),
        (["dismiss", failing, "--reason", "  "], "say why"),
        (["undismiss", failing], "not dismissed"),
    ]:
        result = cli("exceptions", *args)
        assert result.exit_code == 2, result.output
        assert words in result.output
    assert cli("exceptions", "dismiss", failing).exit_code == 2  # --reason is required
    assert set(listed()) == set(found)
    assert history(stack, failing) == []

    # Dismissing twice keeps one row; the OS user is recorded when --by is not given.
    assert cli("exceptions", "dismiss", failing, "--reason", "test invoice").exit_code == 0
    again = cli("exceptions", "dismiss", failing, "--reason", "test invoice")
    assert again.exit_code == 0 and f"already dismissed: {failing}" in again.output
    (entry,) = history(stack, failing)
    assert entry.actor and entry.reason == "test invoice" and entry.kind == "invoice"
    assert entry.reason_code == found[failing]["reason_code"]


def test_dismiss_and_undismiss_from_the_ui_jobs(stack, monkeypatch) -> None:
    found = three_failures(stack, monkeypatch)
    key = sorted(found)[0]
    dismiss_job = stack.defs.get_job_def("dismiss_exceptions")
    result = dismiss_job.execute_in_process(
        instance=stack.instance,
        run_config={
            "ops": {"dismiss_documents": {"config": {"keys": [key], "reason": "a test invoice", "by": "carol"}}}
        },
    )
    assert result.success
    assert key not in listed()
    (entry,) = history(stack, key)
    assert (entry.actor, entry.via, entry.reason) == ("carol", "ui", "a test invoice")

    refused = dismiss_job.execute_in_process(
        instance=stack.instance,
        run_config={"ops": {"dismiss_documents": {"config": {"keys": ["nope"], "reason": "x", "by": "carol"}}}},
        raise_on_error=False,
    )
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure)
    assert "not on the exceptions list" in failure.step_failure_data.error.message

    undismissed = stack.defs.get_job_def("undismiss_exceptions").execute_in_process(
        instance=stack.instance,
        run_config={"ops": {"undismiss_documents": {"config": {"keys": [key], "by": "dave"}}}},
    )
    assert undismissed.success
    assert key in listed()
    assert [h.actor for h in history(stack, key)] == ["carol", "dave"]
