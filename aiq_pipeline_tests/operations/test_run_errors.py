"""A run that stops on an error of its own (not a document's problem) is reported by the command with that error for
each document it never reached, and Dagster's console stays quiet: the summary is the whole story."""

from __future__ import annotations

import pytest

from aiq_pipeline.operations.runs import post_in_process
from aiq_pipeline.service.posting import PostingService
from aiq_pipeline_tests.pair_names import INVOICES
from aiq_pipeline_tests.pipeline.conftest import Stack


def test_documents_a_crashed_run_never_reached_are_listed_with_its_error(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    keys = list(stack.emulators.bunny.create_invoices({}, count=2, release=True))
    stack.instance.add_dynamic_partitions(INVOICES.partitions_name, keys)

    def broken(self: PostingService, batch: object) -> list[object]:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(PostingService, "post_many", broken)
    summary = post_in_process(stack.instance, keys, trigger="sync", defs=stack.defs)
    assert summary.exit_code == 1
    assert [line.split(":")[0] for line in summary.stopped] == keys
    assert all("the store went away" in line for line in summary.stopped), summary.stopped
    assert "not reached: 2" in summary.render()
    printed = capfd.readouterr()
    assert "STEP_FAILURE" not in printed.out + printed.err and "Traceback" not in printed.out + printed.err
