"""PostgreSQL fixtures: a fresh, uniquely named database per test on the local server, and a Dagster instance
built from deploy/dagster.production.yaml pointing at it."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

PG_HOST = os.environ.get("AIQ_PIPELINE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("AIQ_PIPELINE_TEST_PG_PORT", "5432")
PG_USER = os.environ.get("AIQ_PIPELINE_TEST_PG_USER", "postgres")
PRODUCTION_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.production.yaml"


def _admin_connection() -> Any:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return conn


def database_url(name: str, *, password: str | None = None, scheme: str = "postgresql") -> str:
    userinfo = f"{PG_USER}:{password}" if password else PG_USER
    return f"{scheme}://{userinfo}@{PG_HOST}:{PG_PORT}/{name}"


@pytest.fixture
def pg_database() -> Iterator[str]:
    """The name of a database created for this test alone and dropped after it (with any lingering sessions)."""
    name = f"aiq_test_{uuid.uuid4().hex[:16]}"
    conn = _admin_connection()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    return database_url(pg_database)


def production_env(database: str) -> dict[str, str]:
    return {
        "DAGSTER_PG_HOST": PG_HOST,
        "DAGSTER_PG_PORT": PG_PORT,
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": "",  # trust auth on the local server
        "DAGSTER_PG_DB": database,
    }


@pytest.fixture
def production_home(tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME holding the production yaml as is, its env vars pointing at the fresh database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    for name, value in production_env(pg_database).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def open_instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))
