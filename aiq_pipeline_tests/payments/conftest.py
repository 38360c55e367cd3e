"""A product stack for payments: both emulators over real HTTP (AIQ with bank accounts per currency and a
bank-charges account), a DuckDB store, a Dagster instance, and the bank mapping a finance team would set."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from aiq_emulators.accountsiq.fixtures import payments_demo_fixture
from aiq_emulators.runner import RunningEmulators, running_emulators
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.resources import PostingRulesResource
from aiq_pipeline.store import Store
from aiq_pipeline_tests.pipeline.conftest import Stack, make_resources

# stripe in EUR to the EUR current account, in GBP and USD to their own banks; "paypal" is left unmapped on purpose.
BANKS = {"stripe:EUR": "1200", "stripe:GBP": "1210", "stripe:USD": "1220", "manual:*": "1230"}
FEES_ACCOUNT = "6900"
ACCOUNT_CREDIT_ACCOUNT = "8000"  # a finance team would use a customer-credits account; the demo chart has Sundry


def payment_rules(**overrides: object) -> PostingRulesResource:
    rules = {"bank_accounts": BANKS, "fees_account": FEES_ACCOUNT, "account_credit_account": ACCOUNT_CREDIT_ACCOUNT}
    return PostingRulesResource(**(rules | overrides))


# Only what these tests create posts: the sample tenant's invoices are history, issued before today.
START = date.today().isoformat()


def payments_definitions(emulators: RunningEmulators, store_path: Path, **rules: object) -> dg.Definitions:
    resources = make_resources(emulators, store_path, sync_start_date=START)
    return build_definitions(resources | {"posting_rules": payment_rules(**rules)})


def aiq_fixture_json() -> dict[str, Any]:
    """The payments tenant as a fixture file holds it (the emulator-only client secret in clear)."""
    fixture = payments_demo_fixture()
    data = fixture.model_dump(mode="json", exclude_defaults=True)
    for raw, client in zip(data["clients"], fixture.clients, strict=True):
        raw["client_secret"] = client.client_secret.get_secret_value()
    return data


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    fixture = tmp_path / "aiq-fixture.json"
    fixture.write_text(json.dumps(aiq_fixture_json()), encoding="utf-8")
    with (
        running_emulators(state_dir=tmp_path / "emulators", accountsiq_fixture=fixture) as emulators,
        dg.instance_for_test() as instance,
    ):
        store_path = tmp_path / "store.duckdb"
        yield Stack(emulators, payments_definitions(emulators, store_path), instance, Store(store_path), tmp_path)
