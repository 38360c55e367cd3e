"""The bench scripts (bench/) still start and finish, at a tiny size, so they cannot rot behind a refactor.

Nothing here times anything: a bench's figures are for people to read (bench/README.md). The scripts run as
subprocesses, exactly as a person runs them, with the project's interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
SCRIPTS = ("invoice_burst.py", "sensor_tick.py", "profile_batch.py", "lookup_listing.py")


def run_script(name: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-4000:]}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_imports_the_current_layout_and_shows_its_options(script: str) -> None:
    result = run_script(script, "--help", timeout=120)
    assert result.returncode == 0, explain(result)
    assert "usage:" in result.stdout


def test_noop_floor_sensor_adds_the_new_keys_and_requests_batched_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import noop_location
    finally:
        sys.path.remove(str(BENCH))
    keys = [f"k{i:03d}" for i in range(7)]
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("\n".join(keys) + "\n", encoding="utf-8")
    monkeypatch.setenv(noop_location.KEYS_FILE_ENV, str(keys_file))
    monkeypatch.setenv(noop_location.BATCH_SIZE_ENV, "3")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(noop_location.NOOP_PARTITIONS_NAME, keys[:2])
        sensor = noop_location.defs.get_repository_def().get_sensor_def("noop_burst_sensor")
        data = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=noop_location.defs))
    (request,) = data.dynamic_partitions_requests
    assert list(request.partition_keys) == keys[2:]
    ranges = [
        (r.tags.get("dagster/asset_partition_range_start"), r.tags.get("dagster/asset_partition_range_end"))
        for r in data.run_requests
    ]
    assert ranges == [("k002", "k004"), ("k005", "k006")]
    assert data.cursor == "done"


@pytest.mark.slow
@pytest.mark.postgres
def test_invoice_burst_with_latency_on_postgres_compares_with_no_latency_and_the_floor_and_drops_its_databases() -> (
    None
):
    # One run of the script covers its options (a run costs a daemon and a webserver start per burst).
    result = run_script(
        "invoice_burst.py",
        "--invoices",
        "2",
        "--batch-size",
        "2",
        "--aiq-latency-ms",
        "5",
        "--bunny-latency-ms",
        "5",
        "--storage",
        "postgres",
    )
    assert result.returncode == 0, explain(result)
    out = result.stdout
    assert "result: OK" in out
    assert out.count("duplicates found in AIQ        : 0 ") == 2  # with and without latency
    assert re.search(r"injected latency\s+: AIQ 5 ms on [1-9]\d* calls, Bunny 5 ms on [1-9]\d* requests", out)
    assert re.search(r"AIQ round trips per invoice\s+: \d+\.\d\d", out)
    assert re.search(r"Bunny requests per invoice\s+: \d+\.\d\d", out)
    assert re.search(r"ratio to the same burst with no latency: \d+\.\d\d", out)
    assert re.search(r"ratio to the floor \(pipeline \(no latency\)\): \d+\.\d\d", out)
    # Every phase's processes were sampled: the runs used some CPU, as this process did (the emulators' threads).
    cpu = re.findall(r"CPU seconds \(sampled\)\s+: run (\d+\.\d), .*; this process \(emulators, polls\) (\d+\.\d)", out)
    assert len(cpu) == 3 and all(float(run) > 0 and float(own) > 0 for run, own in cpu), cpu
    databases = set(re.findall(r"\b(aiq_bench_[0-9a-f]{12}(?:_\d)?)\b", out))
    assert len(databases) >= 2, out  # the instance's and the store's, per burst
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", (sorted(databases),))
            assert cursor.fetchall() == []
    finally:
        conn.close()


@pytest.mark.slow
def test_sensor_tick_evaluates_and_ticks_the_sensor_and_the_floor() -> None:
    result = run_script("sensor_tick.py", "--existing", "300", "--new", "5", "--batch-size", "2")
    assert result.returncode == 0, explain(result)
    out = result.stdout
    assert "result: OK" in out
    assert out.count("asked to add / run requests    : 5 partitions, 3 runs") == 2  # the sensor and the floor
    assert out.count("after the tick                 : 305 partitions, 3 runs queued") == 2
    assert out.count("[SUCCESS]") == 2


@pytest.mark.slow
def test_profile_batch_posts_a_tiny_batch_three_ways() -> None:
    result = run_script("profile_batch.py", "--invoices", "3", "--top", "3")
    assert result.returncode == 0, explain(result)
    out = result.stdout
    assert "(0 failed)" in out
    assert "B. Dagster floor in process" in out
    assert "(success: True)" in out


def test_lookup_listing_creates_each_level_and_looks_up_a_batch_at_it() -> None:
    result = run_script("lookup_listing.py", "--existing", "4,12", "--batch", "3", timeout=300)
    assert result.returncode == 0, explain(result)
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+\.\d) MB", result.stdout, flags=re.MULTILINE)
    assert [(int(level), int(calls)) for level, calls, _ in rows] == [(4, 1), (12, 1)], result.stdout
    assert "result: OK" in result.stdout
