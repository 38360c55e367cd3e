"""A runner SIGKILLed after its run was created and before the run started loses nothing: the run, left NOT_STARTED
with its partitions IN_PROGRESS, is found dead like a started one, its documents are listed INTERRUPTED, and the
next `aiq-pipeline sync` posts them, once each.

Found while building the randomized concurrency test: `reap_dead_runs` only looked at STARTING/STARTED runs, so such
a run stayed NOT_STARTED for ever, its documents were neither posted nor on the exceptions list, and `sync` never
posted them (they are not new partitions and not exceptions).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from aiq_emulators.runner import running_emulators
from aiq_pipeline.defs.posting.status import list_exceptions, partition_status
from aiq_pipeline.defs.recovery import PROCESS_TAG
from aiq_pipeline.operations.sync import sync_once
from aiq_pipeline.sync.identity import invoice_reference
from aiq_pipeline_tests.journal.runner_pool import ROOT
from aiq_pipeline_tests.journal.runner_process import AIQ_ENTITY, RunnerConfig, definitions
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS, INVOICES

pytestmark = pytest.mark.slow

# The runner, killed by itself the moment its run exists (the run is created, not yet started).
DIES_AFTER_CREATING_ITS_RUN = """
import os, signal, sys
from pathlib import Path
import dagster as dg
from aiq_pipeline.operations.runs import post_in_process
from aiq_pipeline_tests.journal.runner_process import RunnerConfig, definitions

config = RunnerConfig.read(Path(sys.argv[1]))
create = dg.DagsterInstance.create_run_for_job

def create_then_die(self, *args, **kwargs):
    create(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

dg.DagsterInstance.create_run_for_job = create_then_die
instance = dg.DagsterInstance.from_config(config.dagster_home)
post_in_process(instance, config.slices[0], trigger="sync", defs=definitions(config))
"""


def test_a_runner_killed_between_creating_and_starting_its_run_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    with running_emulators() as emulators:
        invoices = emulators.bunny.create_invoices({}, count=4, release=True)
        issued = {i.issued_at for i in emulators.bunny.store.tenant.invoices if i.id in set(invoices)}
        config = RunnerConfig(
            name="doomed",
            dagster_home=str(home),
            store=str(tmp_path / "store.duckdb"),
            accountsiq_url=str(emulators.accountsiq_url),
            bunny_url=str(emulators.bunny_url),
            slices=[invoices],
            progress=str(tmp_path / "progress.jsonl"),
            sync_start_date=min(issued).isoformat(),  # type: ignore[type-var]
        )
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            instance.add_dynamic_partitions(INVOICES.partitions_name, invoices)
            path = config.write(tmp_path / "runner.json")
            doomed = subprocess.run(
                [sys.executable, "-c", DIES_AFTER_CREATING_ITS_RUN, str(path)], cwd=ROOT, capture_output=True
            )
            assert doomed.returncode == -signal.SIGKILL, doomed.stderr.decode()[-2000:]
            (run,) = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.NOT_STARTED and PROCESS_TAG in run.tags
            assert set(partition_status(instance, INVOICES).values()) == {dg.AssetPartitionStatus.IN_PROGRESS}

            # The next sync finds the run dead, lists its documents as INTERRUPTED, and posts them, once each.
            summary = sync_once(instance, echo=lambda _line: None, defs=definitions(config))
            transactions = emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.values()
            held = Counter(t.external_reference for t in transactions)
            assert {i: held[invoice_reference(i)] for i in invoices} == dict.fromkeys(invoices, 1), summary.render()
            assert sorted(summary.posted) == sorted(invoices)
            assert list_exceptions(instance, DOCUMENT_ASSETS) == []
            statuses = partition_status(instance, INVOICES)
            assert {statuses[i] for i in invoices} == {dg.AssetPartitionStatus.MATERIALIZED}
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE  # type: ignore[union-attr]
        finally:
            instance.dispose()
