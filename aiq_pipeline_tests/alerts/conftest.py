"""Receivers started by the tests on 127.0.0.1, a store on each backend, and the pipeline stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiq_pipeline.store import Store
from aiq_pipeline_tests.alerts.receivers import SmtpServer, Webhook, smtp_server, webhook
from aiq_pipeline_tests.dismiss.conftest import stack  # noqa: F401  # both profiles: SQLite/DuckDB, PostgreSQL
from aiq_pipeline_tests.postgres.conftest import pg_database, pg_url, production_home  # noqa: F401


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with webhook() as receiver:
        yield receiver


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "duckdb":
        return Store(tmp_path / "aiq.duckdb")
    return Store(request.getfixturevalue("pg_url"))
