"""The pipeline stack (both emulators over real HTTP) on either profile: the Dagster instance and the project's store
on SQLite and DuckDB, or both on PostgreSQL (the production instance yaml, deploy/dagster.production.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest

from aiq_emulators.runner import running_emulators
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.resources import StoreResource
from aiq_pipeline.store import Store
from aiq_pipeline_tests.pipeline.conftest import Stack, make_resources
from aiq_pipeline_tests.postgres.conftest import open_instance, pg_database, pg_url, production_home  # noqa: F401


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    with ExitStack() as cleanup:
        emulators = cleanup.enter_context(running_emulators(state_dir=tmp_path / "emulators"))
        if request.param == "duckdb":
            instance = cleanup.enter_context(dg.instance_for_test())
            location = str(tmp_path / "store.duckdb")
        else:
            instance = cleanup.enter_context(open_instance(request.getfixturevalue("production_home")))
            location = str(request.getfixturevalue("pg_url"))
        resources = make_resources(emulators, tmp_path / "unused.duckdb")
        resources["store"] = StoreResource(location=location)  # a path, or a PostgreSQL URL as written
        yield Stack(emulators, build_definitions(resources), instance, Store(location), tmp_path)
