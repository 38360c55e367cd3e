"""The dry runs through the real command line against both emulators (real HTTP): the demo tenant (three broken
invoices, a credit note, a voided invoice) and the payments tenant (bank accounts per currency, the bank mapping a
finance team would set). The command reads its settings from the environment, as a user's shell gives them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from aiq_emulators.runner import running_emulators
from aiq_pipeline.cli import main
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.settings import VARIABLES
from aiq_pipeline.store import Store
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS
from aiq_pipeline_tests.payments.conftest import (
    ACCOUNT_CREDIT_ACCOUNT,
    BANKS,
    FEES_ACCOUNT,
    aiq_fixture_json,
    payments_definitions,
)
from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY, Stack, make_resources

PAYMENT_SETTINGS = {
    "AIQ_PIPELINE_BANK_ACCOUNTS": ",".join(f"{key}={account}" for key, account in BANKS.items()),
    "AIQ_PIPELINE_FEES_ACCOUNT": FEES_ACCOUNT,
    "AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT": ACCOUNT_CREDIT_ACCOUNT,
}


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The demo tenant, and the environment the command reads pointing at it."""
    with running_emulators(state_dir=tmp_path / "emulators") as emulators, dg.instance_for_test() as instance:
        store_path = tmp_path / "store.duckdb"
        stack = Stack(
            emulators, build_definitions(make_resources(emulators, store_path)), instance, Store(store_path), tmp_path
        )
        set_environment(stack, monkeypatch)
        yield stack


@pytest.fixture
def payments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The payments tenant with its bank mapping (paypal left unmapped), and the environment pointing at it."""
    fixture = tmp_path / "aiq-fixture.json"
    fixture.write_text(json.dumps(aiq_fixture_json()), encoding="utf-8")
    with (
        running_emulators(state_dir=tmp_path / "emulators", accountsiq_fixture=fixture) as emulators,
        dg.instance_for_test() as instance,
    ):
        store_path = tmp_path / "store.duckdb"
        stack = Stack(emulators, payments_definitions(emulators, store_path), instance, Store(store_path), tmp_path)
        set_environment(stack, monkeypatch, **PAYMENT_SETTINGS)
        yield stack


def environment(stack: Stack, **extra: str) -> dict[str, str]:
    resources = stack.defs.resources or {}
    aiq, bunny = resources["accountsiq"], resources["bunny"]
    return {
        "DAGSTER_HOME": stack.instance.root_directory,
        "AIQ_BASE_URL": aiq.base_url,
        "AIQ_ENTITY_ID": aiq.entity_id,
        "AIQ_CLIENT_ID": aiq.client_id,
        "AIQ_CLIENT_SECRET": aiq.client_secret,
        "AIQ_DEFAULT_TAX_CODE": aiq.default_tax_code,
        "BUNNY_BASE_URL": bunny.base_url,
        "BUNNY_CLIENT_ID": bunny.client_id,
        "BUNNY_CLIENT_SECRET": bunny.client_secret,
        "BUNNY_ENTITY_ID": bunny.entity_id,
        "AIQ_PIPELINE_STORE": resources["store"].location,
        "AIQ_PIPELINE_BATCH_SIZE": "5",
        "AIQ_PIPELINE_SYNC_START_DATE": "2025-01-01",
        **extra,
    }


def set_environment(stack: Stack, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    for name in VARIABLES:  # none of the product's settings from the shell running the tests
        if name != "AIQ_PIPELINE_TRANSIENT_RETRY_DELAY":
            monkeypatch.delenv(name, raising=False)
    for name, value in environment(stack, **extra).items():
        monkeypatch.setenv(name, value)


def run(*args: str) -> Result:
    """`aiq-pipeline ARGS` in this process (stdout and stderr apart)."""
    return CliRunner().invoke(main, list(args))


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.stdout)


def written(stack: Stack) -> dict[str, Any]:
    """Everything a dry run must leave as it found it: AIQ's whole entity (documents, customers, allocations and its
    numbering), every table of the store, the partitions and the runs of the instance."""
    entity = stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY].model_dump(mode="json")
    tables: dict[str, Any] = {}
    if Path(stack.store.location).exists():
        with stack.store.session() as session:
            names = [r["table_name"] for r in session.query("SELECT table_name FROM information_schema.tables")]
            for name in names:
                rows = session.query(f"SELECT * FROM {name}")  # every row, as text: any change shows
                tables[name] = sorted(json.dumps(row, default=str, sort_keys=True) for row in rows)
    partitions = {a.partitions_name: stack.instance.get_dynamic_partitions(a.partitions_name) for a in DOCUMENT_ASSETS}
    return {
        "aiq": entity,
        "store": {name: rows for name, rows in tables.items() if rows},
        "partitions": partitions,
        "runs": len(stack.instance.get_runs()),
    }


def aiq_money(stack: Stack) -> dict[tuple[str, str, str], tuple[int, Decimal]]:
    """What AIQ holds, per month (of the document's date), currency and type: (documents, gross)."""
    out: dict[tuple[str, str, str], tuple[int, Decimal]] = {}
    for t in stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.values():
        key = (t.transaction_date.strftime("%Y-%m"), t.currency_code, str(t.type_code))
        count, gross = out.get(key, (0, Decimal(0)))
        out[key] = (count + 1, gross + abs(t.control_amount))
    return out


def dry_run_money(summary: dict[str, Any]) -> dict[tuple[str, str, str], tuple[int, Decimal]]:
    """A dry run's JSON money table in the same shape."""
    return {(m["month"], m["currency"], m["type"]): (m["documents"], Decimal(m["gross"])) for m in summary["money"]}
