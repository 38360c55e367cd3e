"""A sensor tick never asks a recovery run for a document a live run is posting (seen once in the e2e UI test: a
finance person's "Failed and missing" backfill posted a fixed invoice while a recovery run was asked for it too).

The exceptions list is read from the instance in several steps: which partitions are FAILED, their newest failure
observations, the run that planned each last. A run created between the first read and the last (the UI's backfill,
a person's retry) planned the document after the failure it is listed with: the document then looked as if that
new run had died before saying why (INTERRUPTED), and the sensor asked a recovery run for it while the new run was
posting it. Both posted it (exactly once in AIQ, held by the journal's claim; but the recovery run materialized it
again, or pre-empted the person's run). Each race is made here deterministically by creating the run at the moment
it would have to appear.
"""

from collections.abc import Iterator, Sequence

import dagster as dg
import pytest

from aiq_pipeline.defs.posting import sensing, status
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.events import failure_observation
from aiq_pipeline.defs.posting.status import DocumentException, document_exceptions
from aiq_pipeline.service.outcome import Outcome, Reason, Status
from aiq_pipeline_tests.pair_names import INVOICES

FIXED = "INV-2"  # failed on data a person then fixed; the person's run posts it
KEYS = ["INV-1", FIXED, "INV-3"]


def _failed(key: str, code: str, **details: str) -> Outcome:
    return Outcome(key, "invoice", Status.FAILED, reason_code=code, reason=f"{code} (test)", details=details)


@dg.asset(key=INVOICES.key, partitions_def=INVOICES.partitions)
def _not_posting_account(context: dg.AssetExecutionContext) -> Iterator[dg.AssetObservation]:
    """A posting run whose document fails on its data: it says why, then the run fails."""
    yield failure_observation(INVOICES, _failed(context.partition_key, "NOT_POSTING_ACCOUNT"))
    raise dg.Failure("1 of 1 invoice(s) could not be posted")


def _job() -> dg.JobDefinition:
    return dg.Definitions(assets=[_not_posting_account]).resolve_implicit_global_asset_job_def()


def _fail(instance: dg.DagsterInstance, key: str) -> str:
    """A run that fails `key` with its reason (as the sensor's first run did); its id."""
    result = dg.materialize([_not_posting_account], instance=instance, partition_key=key, raise_on_error=False)
    assert not result.success
    return result.run_id


def _new_run(instance: dg.DagsterInstance, key: str, *, tags: dict[str, str] | None = None) -> dg.DagsterRun:
    """A run of `key` created, not yet started (as the backfill daemon creates one): its planned materialization is
    logged, so Dagster shows the partition IN_PROGRESS."""
    job = _job()
    return instance.create_run_for_job(
        job,
        tags={"dagster/partition": key, **(tags or {})},
        asset_selection=frozenset({INVOICES.key}),
    )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(INVOICES.partitions_name, KEYS)
        for key in KEYS:
            _fail(instance, key)
        yield instance


def test_a_run_created_while_the_exceptions_are_read_is_not_taken_for_a_dead_one(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {e.key: e.reason_code for e in document_exceptions(instance, INVOICES)} == dict.fromkeys(
        KEYS, "NOT_POSTING_ACCOUNT"
    )
    read_statuses = status.failed_keys
    created: list[dg.DagsterRun] = []

    def backfill_starts_right_after(
        instance: dg.DagsterInstance, asset: DocumentAsset, keys: Sequence[str] | None = None
    ) -> list[str]:
        failed = read_statuses(instance, asset, keys)
        if not created:  # the person's backfill creates its run for the fixed invoice, just after the tick read this
            created.append(_new_run(instance, FIXED, tags={"dagster/backfill": "ui"}))
        return failed

    monkeypatch.setattr(status, "failed_keys", backfill_starts_right_after)
    requests = sensing.rerun_requests(instance, INVOICES, batch_size=5)
    (backfill,) = created
    assert instance.get_run_by_id(backfill.run_id).status == dg.DagsterRunStatus.NOT_STARTED  # type: ignore[union-attr]
    # The still-broken ones wait for a person; the fixed one is the backfill's: nothing for a recovery run. (Before,
    # the fixed one was INTERRUPTED "in" the backfill's run, and a recovery run was asked for it: `again:INV-2-INV-2:
    # <the backfill's run id>`.)
    assert requests == []
    monkeypatch.undo()
    assert {e.key for e in document_exceptions(instance, INVOICES)} == {"INV-1", "INV-3"}


def test_a_run_holding_the_document_that_starts_while_the_tick_reads_is_seen_active(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document BEING_POSTED by a run that started while the tick read (another run, refused the document by that
    run's claim, failed saying so): the holder is live, so nothing is asked for the document. Before, the active runs
    were read first, and such a holder was taken for a finished one."""
    read_exceptions = document_exceptions
    holder: list[dg.DagsterRun] = []

    def holder_starts_and_refuses_another_run(
        instance: dg.DagsterInstance, asset: DocumentAsset, keys: Sequence[str] | None = None
    ) -> list[DocumentException]:
        if not holder:
            run = _new_run(instance, FIXED)  # created (the holder's claim is taken once it runs)
            holder.append(run)

            @dg.asset(key=INVOICES.key, partitions_def=INVOICES.partitions)
            def refused(context: dg.AssetExecutionContext) -> Iterator[dg.AssetObservation]:
                yield failure_observation(
                    INVOICES, _failed(context.partition_key, Reason.BEING_POSTED, held_by_run=run.run_id)
                )
                raise dg.Failure("1 of 1 invoice(s) could not be posted")

            result = dg.materialize([refused], instance=instance, partition_key=FIXED, raise_on_error=False)
            assert not result.success
        return read_exceptions(instance, asset, keys=keys)

    monkeypatch.setattr(sensing, "document_exceptions", holder_starts_and_refuses_another_run)
    requests = sensing.rerun_requests(instance, INVOICES, batch_size=5)
    (run,) = holder
    assert run.run_id in sensing.active_run_ids(instance)
    assert requests == []


def test_a_run_that_died_before_saying_why_is_still_run_again_once(instance: dg.DagsterInstance) -> None:
    """The race's fix keeps recovery: a document whose last run failed without a reason for it is INTERRUPTED."""
    died = _new_run(instance, FIXED)
    instance.report_run_failed(died, "its process is gone")
    (exception,) = [e for e in document_exceptions(instance, INVOICES) if e.key == FIXED]
    assert exception.reason_code == Reason.INTERRUPTED and exception.run_id == died.run_id
    (request,) = sensing.rerun_requests(instance, INVOICES, batch_size=5)
    assert request.partition_key == FIXED and request.run_key == f"again:{FIXED}-{FIXED}:{died.run_id}"
