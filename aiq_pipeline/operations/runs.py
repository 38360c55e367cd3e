"""Running the pipeline without the daemon: what `aiq-pipeline sync`, `retry` and `backfill` do.

Runs execute in this process against the persistent instance, so they appear in the UI's run list and partition
status exactly like the daemon's runs. Each run carries this process in its tags, so a killed command's runs are
found dead and cleared by the next command (or the sensors) instead of blocking everything after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import dagster as dg

from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.journal.assets import REFRESH_JOB
from aiq_pipeline.defs.names import PairNames, names_of
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.run_requests import TRIGGER_TAG, contiguous_groups, range_tags
from aiq_pipeline.defs.posting.status import DocumentException, document_exceptions, list_exceptions
from aiq_pipeline.defs.recovery import process_tags
from aiq_pipeline.defs.resources import Resource, SyncSettings
from aiq_pipeline.service.outcome import Reason, Status
from aiq_pipeline.sync.identity import parse_key

# Exit codes of `sync`, `retry` and `backfill` (the README documents them; 4 is a settings or connection problem).
EXIT_OK = 0
EXIT_DOCUMENTS_FAILED = 1
EXIT_RECONCILIATION_DIFFERS = 3
# The run's events all reach the instance (the UI); the terminal gets only what the command prints.
# The command prints its own summary (every failure with its reason): Dagster's console says nothing.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

_R = TypeVar("_R", bound="Resource")


@dataclass
class SyncSummary:
    posted: list[str] = field(default_factory=list)
    already_posted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[DocumentException] = field(default_factory=list)
    runs: int = 0
    reconciliation_failed: list[str] = field(default_factory=list)  # month descriptions
    stopped: list[str] = field(default_factory=list)  # documents a run stopped before reaching, with why

    def add(self, other: SyncSummary) -> None:
        self.posted += other.posted
        self.already_posted += other.already_posted
        self.skipped += other.skipped
        self.runs += other.runs
        self.stopped += other.stopped

    @property
    def exit_code(self) -> int:
        if self.failed or self.stopped:
            return EXIT_DOCUMENTS_FAILED
        return EXIT_RECONCILIATION_DIFFERS if self.reconciliation_failed else EXIT_OK

    def render(self) -> str:
        lines = [
            f"posted: {len(self.posted)}",
            f"already posted: {len(self.already_posted)}",
            f"skipped: {len(self.skipped)}",
            f"failed: {len(self.failed)}",
        ]
        lines += [f"  - {e.key} [{e.reason_code}] {e.reason}" for e in self.failed]
        if self.stopped:
            lines.append(f"not reached: {len(self.stopped)}")
            lines += [f"  - {line}" for line in self.stopped]
        lines.append(f"({self.runs} run(s))")
        return "\n".join(lines)


def load_definitions(defs: dg.Definitions | None = None) -> dg.Definitions:
    return defs if defs is not None else build_definitions()  # the environment, read now (not at import)


def resource(defs: dg.Definitions, key: str, kind: type[_R]) -> _R:
    """The definitions' resource `key` as configured (EnvVar fields not resolved), which must be a `kind`."""
    found = (defs.resources or {})[key]
    if not isinstance(found, kind):
        raise TypeError(f"the {key!r} resource is a {type(found).__name__}, not a {kind.__name__}")
    return found


def initialized(defs: dg.Definitions, key: str, kind: type[_R]) -> _R:
    """The definitions' resource `key` with its EnvVar fields resolved from the environment, as a run's start does."""
    value: _R = resource(defs, key, kind).process_config_and_initialize()
    return value


def asset_of(names: PairNames, key: str) -> DocumentAsset:
    """The pair's document asset whose partitions hold `key` (by its kind: `CN-`/`VOID-` credit notes, `PAY-`
    payments, anything else invoices)."""
    kind, _ = parse_key(key)
    return next(asset for asset in names.documents if kind in asset.kinds)


def execute(
    defs: dg.Definitions, instance: dg.DagsterInstance, asset: dg.AssetKey, keys: Sequence[str], trigger: str
) -> dg.ExecuteInProcessResult:
    """One run of `asset` over `keys` (contiguous in the partition order), in this process."""
    job = defs.resolve_implicit_global_asset_job_def()
    tags = {TRIGGER_TAG: trigger, **process_tags(), **range_tags(keys)}
    return job.execute_in_process(
        run_config=QUIET,
        instance=instance,
        partition_key=keys[0] if len(keys) == 1 else None,
        asset_selection=[asset],
        tags=tags,
        raise_on_error=False,
    )


def _collect(summary: SyncSummary, names: PairNames, result: dg.ExecuteInProcessResult) -> None:
    keys = {asset.key for asset in names.documents}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat.asset_key not in keys or mat.partition is None:
            continue
        outcome = str(getattr(mat.metadata.get("outcome"), "value", ""))
        buckets: dict[str, list[str]] = {
            Status.ALREADY_POSTED: summary.already_posted,
            Status.SKIPPED: summary.skipped,
            Status.NOTHING_TO_POST: summary.skipped,
        }
        buckets.get(outcome, summary.posted).append(mat.partition)


def post_in_process(
    instance: dg.DagsterInstance, keys: Sequence[str], trigger: str, defs: dg.Definitions | None = None
) -> SyncSummary:
    """Materialize any mix of document partitions now, in as few runs as their order allows; invoices first, so
    credit notes find their invoices posted."""
    defs = load_definitions(defs)
    names = names_of(defs)
    batch_size = resource(defs, "sync_settings", SyncSettings).batch_size
    summary = SyncSummary()
    for asset in names.documents:
        mine = [k for k in keys if asset_of(names, k) == asset]
        if not mine:
            continue
        order = instance.get_dynamic_partitions(asset.partitions_name)
        for group in contiguous_groups(mine, order, batch_size):
            result = execute(defs, instance, asset.key, group, trigger)
            _collect(summary, names, result)
            summary.runs += 1
            if not result.success:
                summary.stopped += _not_reached(instance, asset, group, summary, result)
    wanted = set(keys)
    summary.failed = [e for e in list_exceptions(instance, names.documents) if e.key in wanted]
    return summary


def refresh_journal(instance: dg.DagsterInstance, defs: dg.Definitions, trigger: str) -> bool:
    """Read the posting journal into the UI (`aiq/posting_journal`) after a command posted, as the journal sensor
    does after the daemon's runs (that sensor may be off); False when the refresh failed (posting stands)."""
    result = defs.resolve_job_def(REFRESH_JOB).execute_in_process(
        run_config=QUIET, instance=instance, tags={TRIGGER_TAG: trigger, **process_tags()}, raise_on_error=False
    )
    return result.success


def _not_reached(
    instance: dg.DagsterInstance,
    asset: DocumentAsset,
    group: Sequence[str],
    summary: SyncSummary,
    result: dg.ExecuteInProcessResult,
) -> list[str]:
    """Documents a failed run never gave an outcome (its step stopped on an error of its own), with that error."""
    done = {*summary.posted, *summary.already_posted, *summary.skipped}
    said = document_exceptions(instance, asset)
    done |= {e.key for e in said if e.run_id == result.run_id and e.reason_code != Reason.INTERRUPTED}
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    error = failure.step_failure_data.error if failure and failure.step_failure_data else None
    while error is not None and error.cause is not None:  # "Exceeded max_retries": the step's own error is inside
        error = error.cause
    why = error.message.strip().splitlines()[0] if error and error.message else "the run failed"
    return [f"{key}: the run stopped before posting it ({why})" for key in group if key not in done]
