"""Two pairs in one deployment, through the real command line and Dagster: `trading` (Bunny entity 1 -> AIQ DEMO01)
and `holdings` (Bunny entity 2 -> AIQ DEMO02, its own AIQ client). One Dagster instance; nothing crosses between
the pairs: documents, partitions, stores, exceptions, retries and dismissals each stay with their own pair."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from aiq_emulators.accountsiq.fixtures import TaxCodeFixture
from aiq_emulators.accountsiq.state import ClientRecord, digest
from aiq_emulators.runner import RunningEmulators, running_emulators
from aiq_pipeline.cli import main
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.settings import VARIABLES
from aiq_pipeline.store import Store
from aiq_pipeline_tests.postgres.conftest import pg_database, pg_url  # noqa: F401 (fixtures)

TRADING, HOLDINGS = PairNames("trading"), PairNames("holdings")
SECRETS = {"TRADING_AIQ_SECRET": "demo-aiq-secret", "HOLDINGS_AIQ_SECRET": "pair-two-secret"}
BUNNY_SECRET = "demo-bunny-secret"
PROBLEM_EXIT = 4
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class TwoPairs:
    emulators: RunningEmulators
    home: Path
    shared_store: str | None  # a PostgreSQL URL both pairs share; None: each pair its own DuckDB file

    def cli(self, *args: str, pair: str | None = None) -> Result:
        """`aiq-pipeline [--pair PAIR] ARGS`, with AIQ_PIPELINE_PAIR unset around it (as in a fresh process)."""
        command = ["--pair", pair, *args] if pair else list(args)
        return CliRunner().invoke(main, command, env={"AIQ_PIPELINE_PAIR": None}, catch_exceptions=False)

    def exceptions(self, pair: str) -> set[str]:
        result = self.cli("exceptions", "--json", pair=pair)
        assert result.exit_code == 0, result.output
        return {e["key"] for e in json.loads(result.stdout)}

    def journaled(self, pair: str) -> dict[str, set[str]]:
        """The documents the pair's store journals, per AIQ entity (customers left out)."""
        with Store(self.shared_store or self.home / f"aiq_pipeline_{pair}.duckdb").session() as session:
            rows = session.query("SELECT DISTINCT entity_id, claim_key FROM posting_journal")
        found: dict[str, set[str]] = {}
        for row in rows:
            if not row["claim_key"].startswith("CUSTOMER:"):
                found.setdefault(row["entity_id"], set()).add(row["claim_key"])
        return found

    def aiq_references(self, entity: str) -> set[str]:
        with self.emulators.accountsiq.state.writing() as data:
            return {t.external_reference for t in data.entities[entity].transactions.values()}

    def bunny_entity_of(self, reference: str) -> str:
        """The Bunny entity of the document an AIQ reference names (BUNNY-INV-<id>, BUNNY-CN-<id>)."""
        tenant = self.emulators.bunny.store.tenant
        kind, _, bunny_id = reference.removeprefix("BUNNY-").partition("-")
        documents = {"INV": tenant.invoices, "CN": tenant.credit_notes}[kind]
        return next(d.entity_id for d in documents if d.id == bunny_id)

    def bunny_invoice_ids(self, entity: str) -> set[str]:
        invoices = self.emulators.bunny.store.tenant.invoices
        return {i.id for i in invoices if i.entity_id == entity and i.state != "DRAFT"}


def _pairs_file(emulators: RunningEmulators, path: Path, shared_store: str | None) -> None:
    store = 'AIQ_PIPELINE_STORE = { env = "PAIRS_STORE" }' if shared_store else ""
    path.write_text(
        f"""
[defaults]
{store}
AIQ_BASE_URL = "{emulators.accountsiq_url}"
BUNNY_BASE_URL = "{emulators.bunny_url}"
BUNNY_CLIENT_ID = "demo-bunny-client"
BUNNY_CLIENT_SECRET = {{ env = "BUNNY_SECRET" }}
AIQ_PIPELINE_SYNC_START_DATE = "2025-01-01"
AIQ_PIPELINE_BATCH_SIZE = 5

[pairs.trading]
AIQ_ENTITY_ID = "DEMO01"
AIQ_CLIENT_ID = "demo-aiq-client"
AIQ_CLIENT_SECRET = {{ env = "TRADING_AIQ_SECRET" }}
AIQ_DEFAULT_TAX_CODE = "V01"
BUNNY_ENTITY_ID = "1"

[pairs.holdings]
AIQ_ENTITY_ID = "DEMO02"
AIQ_CLIENT_ID = "pair-two-client"
AIQ_CLIENT_SECRET = {{ env = "HOLDINGS_AIQ_SECRET" }}
AIQ_DEFAULT_TAX_CODE = "Z"
BUNNY_ENTITY_ID = "2"
""",
        encoding="utf-8",
    )


def _second_aiq_entity(emulators: RunningEmulators) -> None:
    """DEMO02 gets its own integration client, and what Bunny entity 2's (USD, untaxed) invoices need."""
    with emulators.accountsiq.state.writing() as data:
        data.clients["pair-two-client"] = ClientRecord(
            client_id="pair-two-client", secret_sha256=digest(SECRETS["HOLDINGS_AIQ_SECRET"]), entities=["DEMO02"]
        )
        entity = data.entities["DEMO02"]
        entity.currencies.append("USD")
        entity.exchange_rates["USD"] = Decimal("0.79")
        entity.tax_codes["Z"] = TaxCodeFixture(code="Z", description="Zero", rate=Decimal("0"))


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str | None:
    """Each pair its own DuckDB file (the default), or (parametrized) one PostgreSQL database both pairs share."""
    return request.getfixturevalue("pg_url") if getattr(request, "param", "duckdb") == "postgresql" else None


@pytest.fixture
def pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str | None) -> Iterator[TwoPairs]:
    with running_emulators(state_dir=tmp_path / "emulators") as emulators:
        _second_aiq_entity(emulators)
        for name in VARIABLES:
            monkeypatch.delenv(name, raising=False)
        environment = {**SECRETS, "BUNNY_SECRET": BUNNY_SECRET, "DAGSTER_HOME": str(tmp_path)}
        for name, value in {**environment, **({"PAIRS_STORE": store} if store else {})}.items():
            monkeypatch.setenv(name, value)
        _pairs_file(emulators, tmp_path / "pairs.toml", store)
        monkeypatch.setenv("AIQ_PIPELINE_PAIRS_FILE", str(tmp_path / "pairs.toml"))
        yield TwoPairs(emulators, tmp_path, store)


def _make_holdings_revenue_default(pairs: TwoPairs) -> None:
    """The fix a finance team makes in Bunny for entity 2: its AIQ-coded revenue account becomes the default."""
    bunny = pairs.emulators.bunny.store
    (account,) = [
        a
        for a in bunny.tenant.financial_accounts
        if a.entity_id == "2" and a.account_type == "earned_revenue" and a.code == "4000"
    ]
    bunny.update_financial_account(account.id, {"default_account": True})


@pytest.mark.slow
@pytest.mark.parametrize("store", ["duckdb", "postgresql"], indirect=True)
def test_two_pairs_post_each_to_its_own_entity_and_keep_their_exceptions_retries_and_dismissals_apart(
    pairs: TwoPairs,
) -> None:
    trading_invoices, holdings_invoices = pairs.bunny_invoice_ids("1"), pairs.bunny_invoice_ids("2")
    assert trading_invoices and holdings_invoices

    # With two pairs, a command must say which.
    unchosen = pairs.cli("exceptions")
    assert unchosen.exit_code == PROBLEM_EXIT and "AIQ_PIPELINE_PAIR" in unchosen.output

    trading = pairs.cli("sync", pair="trading")
    holdings = pairs.cli("sync", pair="holdings")
    assert trading.exit_code == 1 and holdings.exit_code == 1, trading.output + holdings.output

    # Each pair's partitions hold its own entity's documents only; the unprefixed (default) names stay empty.
    with dg.DagsterInstance.get() as instance:
        trading_keys = set(instance.get_dynamic_partitions(TRADING.invoices.partitions_name))
        holdings_keys = set(instance.get_dynamic_partitions(HOLDINGS.invoices.partitions_name))
        assert instance.get_dynamic_partitions(PairNames().invoices.partitions_name) == []
    assert holdings_keys == holdings_invoices
    assert trading_keys <= trading_invoices and trading_keys

    # Each pair's exceptions are its own: the demo tenant's three planted failures, and entity 2's unmapped charge.
    assert pairs.exceptions("trading") == {"6", "7", "8"}
    assert pairs.exceptions("holdings") == holdings_invoices
    assert "UNMAPPED_CHARGE" in holdings.output and "Bunny entity 2" in holdings.output

    # AIQ: DEMO01 holds entity 1's invoices only, DEMO02 nothing yet; each store journals its own entity.
    assert pairs.aiq_references("DEMO01") and pairs.aiq_references("DEMO02") == set()
    assert {pairs.bunny_entity_of(ref) for ref in pairs.aiq_references("DEMO01")} == {"1"}
    assert set(pairs.journaled("trading")) == {"DEMO01"}
    assert pairs.journaled("trading")["DEMO01"] <= trading_keys | {f"CN-{i}" for i in range(1, 100)}

    # A pair's retry is its own: trading cannot retry holdings' documents; holdings retries them after the fix.
    foreign = pairs.cli("retry", *sorted(holdings_invoices), pair="trading")
    assert foreign.exit_code == 2, foreign.output
    _make_holdings_revenue_default(pairs)
    # A dry run is the pair's own too: holdings plans its invoice at DEMO02's USD rate (DEMO01's is 0.92) and with
    # its own default tax code.
    (planned,) = json.loads(pairs.cli("preview", sorted(holdings_invoices)[0], "--json", pair="holdings").stdout)
    (document,) = planned["documents"]
    assert planned["would"] == "would post" and document["exchange_rate"] == "0.79"
    assert {line["tax_code"] for line in document["lines"]} == {"Z"}
    retried = pairs.cli("retry", "--all", pair="holdings")
    assert retried.exit_code == 0, retried.output
    assert pairs.exceptions("holdings") == set()
    assert pairs.aiq_references("DEMO02") == {f"BUNNY-INV-{i}" for i in holdings_invoices}
    assert pairs.journaled("holdings")["DEMO02"] == holdings_invoices
    assert set(pairs.journaled("holdings")) == ({"DEMO01", "DEMO02"} if pairs.shared_store else {"DEMO02"})
    assert pairs.exceptions("trading") == {"6", "7", "8"}  # untouched by holdings' retry
    audit = pairs.cli("journal", "--json", pair="holdings")
    assert {e["entity_id"] for e in json.loads(audit.stdout)} == {"DEMO02"}, audit.output

    # A dismissal is the pair's own too.
    dismissed = pairs.cli("exceptions", "dismiss", "7", "--reason", "booked by hand", pair="trading")
    assert dismissed.exit_code == 0, dismissed.output
    assert "Undo with: aiq-pipeline --pair trading exceptions undismiss 7" in dismissed.output
    assert pairs.exceptions("trading") == {"6", "8"}
    listed = pairs.cli("exceptions", "--dismissed", "--json", pair="holdings")
    assert json.loads(listed.stdout) == []


def test_each_pair_is_a_code_location_of_its_own_whose_names_never_meet(pairs: TwoPairs) -> None:
    locations = {pair: build_definitions(pair=pair.pair) for pair in (TRADING, HOLDINGS)}
    keys = {}
    for names, defs in locations.items():
        dg.Definitions.validate_loadable(defs)
        keys[names] = set(defs.resolve_asset_graph().get_all_asset_keys())
        assert all(key.path[0] == names.pair for key in keys[names]), keys[names]
        assert defs.resolve_assets_def(names.invoices.key).partitions_def == names.invoices.partitions
    assert not keys[TRADING] & keys[HOLDINGS]
    assert len(keys[TRADING]) == len(keys[HOLDINGS])


@pytest.mark.slow
def test_the_workspace_lists_one_location_per_pair_and_dagster_loads_each(pairs: TwoPairs) -> None:
    workspace = pairs.home / "workspace.yaml"
    written = pairs.cli("workspace", "-o", str(workspace), "--working-directory", str(ROOT))
    assert written.exit_code == 0, written.output
    validated = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(workspace)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert validated.returncode == 0, validated.stderr[-2000:]
    for location in ("aiq_pipeline_trading", "aiq_pipeline_holdings"):
        assert f"Validation successful for code location {location}" in validated.stdout + validated.stderr


def test_each_pairs_sensor_adds_its_own_entitys_invoices_to_its_own_partitions(pairs: TwoPairs) -> None:
    with dg.DagsterInstance.get() as instance:
        for names, entity in ((TRADING, "1"), (HOLDINGS, "2")):
            defs = build_definitions(pair=names.pair)
            sensor = defs.get_sensor_def(names.invoices.sensor_name)
            resources = {key: defs.resources[key] for key in ("bunny", "sync_settings")}
            result = sensor(dg.build_sensor_context(instance=instance, resources=resources))
            assert isinstance(result, dg.SensorResult)
            (added,) = result.dynamic_partitions_requests or []
            assert added.partitions_def_name == names.invoices.partitions_name
            assert set(added.partition_keys or []) <= pairs.bunny_invoice_ids(entity) and added.partition_keys
            assert all(request.asset_selection == [names.invoices.key] for request in result.run_requests or [])
