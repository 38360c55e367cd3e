"""Suite-wide settings: short retry pauses so fault-injection tests stay fast (behaviour is unchanged)."""

import os
from collections.abc import Iterator

import pytest
from dagster._core.storage.defs_state.base import DefsStateStorage, set_defs_state_storage

from aiq_pipeline.defs.resources import PROCESS_COMBINED_REFUSED, PROCESS_SORTED_LISTS, PROCESS_UNSORTED_LISTS

os.environ.setdefault("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "0.2")


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test leaves the environment, and Dagster's current state storage, as it found them.

    Fixtures that open `dg.instance_for_test()` (which sets DAGSTER_HOME to a temporary directory) and
    then monkeypatch DAGSTER_HOME unwind in an order that puts the deleted directory back into the
    environment; the next test reading its settings would then fail on a path that no longer exists.
    Likewise an instance entered and never exited leaves its state storage as Dagster's current one, and
    the next `Definitions` built outside any instance resolves it after the instance is gone ("undefined
    DagsterInstance weakref"). Set up first and torn down last, this fixture undoes both.
    """
    before = dict(os.environ)
    storage = DefsStateStorage.get()
    with set_defs_state_storage(storage):
        yield
    for name in set(os.environ) - set(before):
        del os.environ[name]
    os.environ.update(before)


@pytest.fixture(autouse=True)
def _bunny_order_forgotten() -> Iterator[None]:
    """What a process learnt of Bunny's list order, or of its combined reads, stays with the test that taught it
    (emulator ports are reused)."""
    yield
    PROCESS_UNSORTED_LISTS.clear()
    PROCESS_SORTED_LISTS.clear()
    PROCESS_COMBINED_REFUSED.clear()
