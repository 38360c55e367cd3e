"""Dagster resources: the settings of both systems and the store, fed from the environment.

Secrets come in through `dg.EnvVar`, so the UI shows the variable's name, never its value, and the
fields are excluded from reprs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
from pydantic import Field

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.store import Store
from aiq_pipeline.sync.invoice_posting import CLOSED_PERIOD_FAIL, CLOSED_PERIOD_POLICIES

# Measured (bench/invoice_burst.py, 1000 invoices): 200 per run is 2.2x faster than 50; launching runs dominates.
DEFAULT_BATCH_SIZE = 200
DEFAULT_MAX_INVOICES_PER_TICK = 2000


class AccountsIQResource(dg.ConfigurableResource):
    """AIQ_REGION or AIQ_BASE_URL, AIQ_ENTITY_ID, AIQ_CLIENT_ID, AIQ_CLIENT_SECRET, AIQ_DEFAULT_TAX_CODE."""

    region: str | None = Field(default=None, description="US1, EU1, EU2 or UK1")
    base_url: str | None = Field(default=None, description="Overrides the region's host (the emulator)")
    entity_id: str = Field(description="The AIQ entity (company) invoices are posted to")
    client_id: str = Field(description="Integration application client id")
    client_secret: str = Field(repr=False, description="Integration application client secret")
    default_tax_code: str = Field(description="AIQ tax code for lines that carry none")
    backoff_seconds: float = Field(default=0.5, ge=0, description="First pause before a retry; doubles each time")

    @contextmanager
    def open(self) -> Iterator[AccountsIQClient]:
        with AccountsIQClient(
            entity_id=self.entity_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            region=self.region or None,
            base_url=self.base_url or None,
            backoff_base=self.backoff_seconds,
        ) as client:
            yield client


class BunnyResource(dg.ConfigurableResource):
    """BUNNY_BASE_URL, BUNNY_CLIENT_ID, BUNNY_CLIENT_SECRET, BUNNY_ENTITY_ID."""

    base_url: str = Field(description="https://<tenant>.bunny.com (or the emulator)")
    client_id: str = Field(description="API client id")
    client_secret: str = Field(repr=False, description="API client secret")
    entity_id: str = Field(description="The Bunny entity whose invoices are synced")
    backoff_seconds: float = Field(default=0.5, ge=0, description="First pause before a retry; doubles each time")

    @contextmanager
    def open(self) -> Iterator[BunnyClient]:
        with BunnyClient(
            base_url=self.base_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            backoff_base=self.backoff_seconds,
        ) as client:
            yield client


class StoreResource(dg.ConfigurableResource):
    """AIQ_PIPELINE_STORE: a DuckDB file path (default) or a postgresql:// URL."""

    location: str = Field(repr=False, description="DuckDB file path or postgresql:// URL")

    def store(self) -> Store:
        return Store(self.location)


class SyncSettings(dg.ConfigurableResource):
    """How the invoice sync batches, where it starts, and how it dates documents in closed AIQ periods."""

    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=500, description="Invoices per run")
    max_invoices_per_tick: int = Field(default=DEFAULT_MAX_INVOICES_PER_TICK, ge=1)
    overlap_minutes: int = Field(default=10, ge=0, description="How far the sensor re-reads behind its cursor")
    sync_start_date: str | None = Field(
        default=None, description="YYYY-MM-DD: invoices issued before this date are never picked up"
    )

    closed_period_policy: str = Field(
        default=CLOSED_PERIOD_FAIL,
        pattern="^(" + "|".join(CLOSED_PERIOD_POLICIES) + ")$",
        description="fail (default): a document dated in a closed AIQ sales period is an exception; "
        "first_open_day: it posts on the first day of the next open period, Bunny's date kept in its description",
    )

    def start_date(self) -> date | None:
        return date.fromisoformat(self.sync_start_date) if self.sync_start_date else None


def default_store_location() -> str:
    home = os.environ.get("DAGSTER_HOME") or str(Path.cwd() / ".dagster_home")
    return str(Path(home) / "aiq_pipeline.duckdb")


def _optional(name: str) -> str | None:
    return os.environ.get(name) or None


def resources_from_environment() -> dict[str, dg.ConfigurableResource]:
    """The production wiring: every setting from its environment variable (see the README's table)."""
    return {
        "accountsiq": AccountsIQResource(
            region=_optional("AIQ_REGION"),
            base_url=_optional("AIQ_BASE_URL"),
            entity_id=dg.EnvVar("AIQ_ENTITY_ID"),
            client_id=dg.EnvVar("AIQ_CLIENT_ID"),
            client_secret=dg.EnvVar("AIQ_CLIENT_SECRET"),
            default_tax_code=dg.EnvVar("AIQ_DEFAULT_TAX_CODE"),
        ),
        "bunny": BunnyResource(
            base_url=dg.EnvVar("BUNNY_BASE_URL"),
            client_id=dg.EnvVar("BUNNY_CLIENT_ID"),
            client_secret=dg.EnvVar("BUNNY_CLIENT_SECRET"),
            entity_id=dg.EnvVar("BUNNY_ENTITY_ID"),
        ),
        "store": StoreResource(location=_optional("AIQ_PIPELINE_STORE") or default_store_location()),
        "sync_settings": SyncSettings(
            batch_size=int(os.environ.get("AIQ_PIPELINE_BATCH_SIZE", DEFAULT_BATCH_SIZE)),
            sync_start_date=_optional("AIQ_PIPELINE_SYNC_START_DATE"),
            closed_period_policy=_optional("AIQ_PIPELINE_CLOSED_PERIOD_POLICY") or CLOSED_PERIOD_FAIL,
        ),
    }
