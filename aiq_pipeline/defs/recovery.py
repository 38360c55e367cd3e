"""Runs whose process is gone are marked failed and their pool slots freed, so nothing after them waits for ever.

A run records its process in a tag (`aiq_pipeline/process`, host/pid/start): the CLI sets it on the runs it executes
itself, and every asset that holds a store slot sets it when it starts (runs the daemon launched). A run not yet
finished (created but not started, starting, started) whose process ran on this host and is gone is dead: it is
reported failed (its unfinished partitions become FAILED, listed as INTERRUPTED) and its slots are freed. A run the
CLI created carries the tag from the start, so one whose process died before the run started is found too (left
NOT_STARTED, its partitions would stay IN_PROGRESS: neither posted nor listed). Slots still held by runs that already
ended are freed too. On other hosts, Dagster's run monitoring does the same (deploy/dagster.production.yaml), and
the posting journal's claims expire with their lease.

The sensors call `reap_dead_runs` on every tick; `aiq-pipeline sync`, `retry` and `backfill` call it before they
run anything, and so does `make demo` when it starts.
"""

from __future__ import annotations

import dagster as dg

from aiq_pipeline.service.processes import is_dead, this_process

PROCESS_TAG = "aiq_pipeline/process"
_ACTIVE = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_ENDED = frozenset({dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED})


def process_tags() -> dict[str, str]:
    """The tag that names this process, for a run this process executes."""
    return {PROCESS_TAG: this_process()}


def mark_run_process(context: dg.AssetExecutionContext) -> None:
    """Record the process running this run (once): what `reap_dead_runs` checks."""
    if PROCESS_TAG not in context.run.tags:
        context.instance.add_run_tags(context.run.run_id, process_tags())


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the runs whose process is gone and free every slot held by a run that is not running; their ids."""
    dead = []
    for run in instance.get_runs(dg.RunsFilter(statuses=_ACTIVE)):
        process = run.tags.get(PROCESS_TAG)
        if process and is_dead(process):
            instance.report_run_failed(run, f"Its process ({process}) is gone: marked failed by aiq-pipeline.")
            dead.append(run.run_id)
    storage = instance.event_log_storage
    for run_id in storage.get_concurrency_run_ids():
        holder = instance.get_run_by_id(run_id)
        if holder is None or holder.status in _ENDED:
            storage.free_concurrency_slots_for_run(run_id)
    return dead
