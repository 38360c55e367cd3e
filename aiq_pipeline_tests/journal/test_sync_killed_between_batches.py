"""`aiq-pipeline sync` SIGKILLed while it posts the first of several batches loses none of the later ones: the next
`sync` posts the documents no run ever took up as well as the interrupted ones, each exactly once.

Found by the randomized concurrency test: `sync` adds the new invoices' partitions, then posts them batch after batch
(one run each). Killed during the first run, the later batches never got a run: their partitions had no status, so
they were not on the exceptions list, and the next `sync` skipped them (not new, not INTERRUPTED); they were never
posted and nobody was told.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from aiq_emulators.runner import running_emulators
from aiq_pipeline.sync.identity import invoice_reference
from aiq_pipeline_tests.journal.runner_pool import ROOT
from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY, connection_env

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "aiq_pipeline.cli"]
BATCH = 5
INVOICES = 20  # four batches


def test_a_sync_killed_in_its_first_batch_leaves_no_later_batch_behind(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    with running_emulators() as emulators:
        new = emulators.bunny.create_invoices({}, count=INVOICES, release=True)
        issued = min(i.issued_at for i in emulators.bunny.store.tenant.invoices if i.id in set(new))
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            **connection_env(emulators),
            "AIQ_PIPELINE_STORE": str(tmp_path / "store.duckdb"),
            "AIQ_PIPELINE_SYNC_START_DATE": issued.isoformat(),  # type: ignore[union-attr]  # these invoices only
            "AIQ_PIPELINE_BATCH_SIZE": str(BATCH),
            "AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE": "3",
        }

        def held() -> Counter[str]:
            transactions = emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.values()
            return Counter(t.external_reference for t in transactions if t.type_code == "SI")

        emulators.accountsiq.faults.add({"kind": "latency", "latency_ms": 150})
        running = subprocess.Popen(
            [*CLI, "sync"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while sum(held().values()) < 2:  # killed inside the first batch
            assert running.poll() is None, running.communicate()
            assert time.monotonic() < deadline, "nothing was posted in time"
            time.sleep(0.05)
        os.killpg(running.pid, signal.SIGKILL)
        running.wait()
        emulators.accountsiq.faults.clear()
        assert sum(held().values()) < INVOICES - BATCH  # later batches were left unposted

        again = subprocess.run([*CLI, "sync"], env=env, capture_output=True, text=True, timeout=240)
        listed = subprocess.run([*CLI, "exceptions", "--json"], env=env, capture_output=True, text=True, timeout=120)
        unknown = [e["key"] for e in json.loads(listed.stdout) if e["reason_code"] == "OUTCOME_UNKNOWN"]
        if unknown:  # the write in flight when it died: a person's retry looks once more, then settles it
            settled = subprocess.run([*CLI, "retry", *unknown], env=env, capture_output=True, text=True, timeout=240)
            assert settled.returncode == 0, settled.stdout + settled.stderr
        counts = held()
        assert {i: counts[invoice_reference(i)] for i in new} == dict.fromkeys(new, 1), again.stdout + again.stderr
