"""The exceptions list at the size of a billing day: more failed documents than Dagster returns records at once
(it refuses more than 10,000) are read in chunks, each with its newest failure and dismissal mark."""

import dagster as dg

from aiq_pipeline.defs.posting import status
from aiq_pipeline.defs.posting.status import dismissal_marks, dismissal_observation, latest_observations
from aiq_pipeline_tests.pair_names import PAYMENTS


def test_more_failed_documents_than_one_read_may_return_are_all_read() -> None:
    keys = [f"PAY-{i}" for i in range(1, status.MAX_RECORDS // status.OBSERVATIONS_PER_KEY + 30)]  # 529: 10,580 a read
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PAYMENTS.partitions_name, keys)
        for key in keys:
            instance.report_runless_asset_event(dg.AssetObservation(PAYMENTS.key, partition=key, metadata={"n": 1}))
        instance.report_runless_asset_event(
            dismissal_observation(PAYMENTS, keys[-1], dismissed=True, by="ana", reason="booked by hand")
        )
        latest = latest_observations(instance, PAYMENTS, keys)
        marks = dismissal_marks(instance, PAYMENTS, keys)
    assert set(latest) == set(keys)
    assert set(marks) == {keys[-1]} and marks[keys[-1]].dismissed


def test_dagster_still_refuses_a_read_of_more_than_the_limit() -> None:
    """The chunk size stands on Dagster's own limit: if Dagster lifts it, this says so."""
    with dg.instance_for_test() as instance:
        try:
            instance.fetch_observations(dg.AssetRecordsFilter(asset_key=PAYMENTS.key), limit=status.MAX_RECORDS + 1)
        except Exception as exc:  # Dagster's CheckError
            assert "10000" in str(exc)
        else:
            raise AssertionError("Dagster read more than 10,000 records at once")
