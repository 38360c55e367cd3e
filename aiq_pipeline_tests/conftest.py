"""Suite-wide settings: short retry pauses so fault-injection tests stay fast (behaviour is unchanged)."""

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "0.2")


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test leaves the environment as it found it.

    Fixtures that open `dg.instance_for_test()` (which sets DAGSTER_HOME to a temporary directory) and
    then monkeypatch DAGSTER_HOME unwind in an order that puts the deleted directory back into the
    environment; the next test reading its settings would then fail on a path that no longer exists.
    This fixture is set up first and torn down last, so whatever a test's fixtures left is undone.
    """
    before = dict(os.environ)
    yield
    for name in set(os.environ) - set(before):
        del os.environ[name]
    os.environ.update(before)
