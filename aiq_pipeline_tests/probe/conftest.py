"""Both emulators for `doctor --probe`, shared by the tests of a module; readings switched through the control routes.

The AIQ emulator holds the demo tenant with financial years around today (open sales ledgers), and after every reset
the documents an AIQ user would have posted: a USD invoice at AIQ's own rate for the day, and the same reference
twice (AIQ keeps both unless it refuses duplicates). The Bunny emulator holds the sample tenant plus invoices that
tell each money reading apart: a discount, account credit applied, a credit line, taxes that round differently per
document, and one issued last year (whose period AIQ's list must cover).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from aiq_emulators.accountsiq import start_emulator as start_accountsiq
from aiq_emulators.accountsiq.fixtures import EmulatorFixture, EntityFixture, demo_fixture
from aiq_emulators.bunny.app import start_emulator as start_bunny
from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import AiqDuplicateReference
from aiq_pipeline.accountsiq.models import BatchLine, BatchSalesInvoice
from aiq_pipeline.cli import main
from aiq_pipeline.settings import VARIABLES

AIQ_ENTITY, AIQ_CLIENT, AIQ_SECRET = "DEMO01", "demo-aiq-client", "demo-aiq-secret"
BUNNY_ENTITY, BUNNY_CLIENT, BUNNY_SECRET = "1", "demo-bunny-client", "demo-bunny-secret"
MANUAL_REFERENCE = "MANUAL-0001"
TODAY = date.today()
LAST_YEAR_ISSUE = date(TODAY.year - 1, 6, 15)

# One invoice per money reading to tell apart (README of the Bunny emulator, "Creating real-world invoices").
TELLING_INVOICES: tuple[dict[str, Any], ...] = (
    {"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "quantity": 2, "price": "100.00", "discount": "20.00",
                                   "tax_rate": "23"}]},
    {"account": "ACME", "credits": "20.00", "items": [{"charge": "SUB-MONTHLY", "price": "100.00", "tax_rate": "23"}]},
    {"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "price": "100.00", "tax_rate": "23"},
                                  {"charge": "SUB-MONTHLY", "price": "-30.00", "tax_rate": "23", "is_credit": True}]},
    {"account": "ACME", "items": [{"charge": "SUB-MONTHLY", "price": "0.10", "tax_rate": "23"}] * 3},
    {"account": "ACME", "issued_at": LAST_YEAR_ISSUE.isoformat(),
     "items": [{"charge": "SUB-MONTHLY", "price": "100.00", "tax_rate": "23"}]},
)  # fmt: skip


def aiq_fixture() -> EmulatorFixture:
    """The demo tenant with periods from two years back to next year, none closed."""
    demo = demo_fixture()
    first, *others = demo.entities
    years = list(range(TODAY.year - 2, TODAY.year + 2))
    entity = EntityFixture.model_validate(
        first.model_dump() | {"financial_years": years, "sales_ledger_closed_before": None}
    )
    return EmulatorFixture(clients=demo.clients, entities=[entity, *others])


def _invoice(customer: str, reference: str, amount: str, rate: Decimal) -> BatchSalesInvoice:
    line = BatchLine(
        gl_account_code="4000",
        tax_code="V01",
        description="Subscription",
        net_amount=Decimal(amount),
        tax_rate=Decimal("0.23"),
        tax_amount=None,
    )
    day = TODAY - timedelta(days=3)
    return BatchSalesInvoice(customer, day, reference, "Posted by hand", (line,), exchange_rate=rate)


@dataclass
class Result:
    """One `doctor --probe` run: exit code, output, and its table as rows of five cells keyed by reading."""

    exit_code: int
    output: str
    rows: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def fixes(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("FIX  ")]

    def row(self, reading: str) -> dict[str, str]:
        assert reading in self.rows, f"no row {reading!r} in:\n{self.output}"
        return self.rows[reading]


HEADERS = ("reading", "tenant shows", "evidence", "setting", "verdict")


def parse_table(output: str) -> dict[str, dict[str, str]]:
    """The probe's table: each line is five cells on ' | '; a wrapped row's later lines have no reading."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("reading ") and " | tenant shows" in line), None)
    assert start is not None, output
    rows: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = [c.strip() for c in line.split(" | ")]
        assert len(cells) == len(HEADERS), line
        if cells[0]:
            current = dict(zip(HEADERS, cells, strict=True))
            rows[cells[0]] = current
        else:
            assert current is not None
            for name, cell in zip(HEADERS, cells, strict=True):
                if cell:
                    current[name] = f"{current[name]} {cell}".strip()
    return rows


@dataclass
class Tenants:
    aiq_url: str
    bunny_url: str
    home: Path
    http: httpx.Client
    bunny_defaults: dict[str, Any]

    def environment(self, **settings: str) -> dict[str, str]:
        return {
            "DAGSTER_HOME": str(self.home),
            "AIQ_BASE_URL": self.aiq_url,
            "AIQ_ENTITY_ID": AIQ_ENTITY,
            "AIQ_CLIENT_ID": AIQ_CLIENT,
            "AIQ_CLIENT_SECRET": AIQ_SECRET,
            "AIQ_DEFAULT_TAX_CODE": "V01",
            "BUNNY_BASE_URL": self.bunny_url,
            "BUNNY_CLIENT_ID": BUNNY_CLIENT,
            "BUNNY_CLIENT_SECRET": BUNNY_SECRET,
            "BUNNY_ENTITY_ID": BUNNY_ENTITY,
        } | settings

    def aiq_options(self, **values: Any) -> None:
        answer = self.http.post(f"{self.aiq_url}/_emulator/options", json=values)
        assert answer.status_code == 200, answer.text

    def bunny_options(self, **values: Any) -> None:
        answer = self.http.post(f"{self.bunny_url}/_emulator/options", json=values)
        assert answer.status_code == 200, answer.text

    def defaults(self) -> None:
        """Every reading back to the emulators' defaults (AIQ's data too, re-seeded)."""
        assert self.http.delete(f"{self.aiq_url}/_emulator/options").status_code == 200
        self.bunny_options(**self.bunny_defaults)
        self.reset_aiq()

    def reset_aiq(self, *, duplicate: str = MANUAL_REFERENCE) -> None:
        """AIQ back to its seed, then what its users posted under the readings now set (a duplicate only if AIQ
        takes it)."""
        answer = self.http.post(f"{self.aiq_url}/_emulator/reset", json={"data": True, "faults": True, "stats": True})
        assert answer.status_code == 200, answer.text
        with self.aiq_client() as aiq:
            rate = aiq.get_currency_exchange_rate("USD")  # as an AIQ user posts: at AIQ's own rate
            aiq.create_batch_sales_invoice_get_back_transaction_id(_invoice("EXISTING-003", "MANUAL-USD", "100", rate))
            for amount in ("50.00", "60.00"):
                with suppress(AiqDuplicateReference):  # AIQ refuses duplicates under this reading: none is stored
                    aiq.create_batch_sales_invoice_get_back_transaction_id(
                        _invoice("EXISTING-001", duplicate, amount, Decimal(1))
                    )

    def aiq_client(self) -> AccountsIQClient:
        return AccountsIQClient(
            base_url=self.aiq_url, entity_id=AIQ_ENTITY, client_id=AIQ_CLIENT, client_secret=AIQ_SECRET
        )

    def probe(self, monkeypatch: pytest.MonkeyPatch, *args: str, **settings: str) -> Result:
        """`aiq-pipeline doctor --probe` through the command line (click), with only these settings set."""
        for name in VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.environment(**settings).items():
            monkeypatch.setenv(name, value)
        done = CliRunner().invoke(main, ["doctor", "--probe", *args])
        if done.exception is not None and not isinstance(done.exception, SystemExit):
            raise done.exception
        rows = parse_table(done.output) if "tenant shows" in done.output else {}
        return Result(done.exit_code, done.output, rows)


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with ExitStack() as stack:
        aiq_url, _aiq = stack.enter_context(start_accountsiq(fixture=aiq_fixture()))
        bunny_url, _bunny = stack.enter_context(start_bunny())
        http = stack.enter_context(httpx.Client(timeout=30))
        for spec in TELLING_INVOICES:
            created = http.post(f"{bunny_url}/_emulator/invoices", json={**spec, "release": True})
            assert created.status_code == 201, created.text
        defaults = http.get(f"{bunny_url}/_emulator/options").json()
        tenants = Tenants(aiq_url, bunny_url, tmp_path_factory.mktemp("dagster_home"), http, defaults)
        tenants.reset_aiq()
        yield tenants


@pytest.fixture
def fresh(tenants: Tenants) -> Iterator[Tenants]:
    """The shared tenants with every reading at its default (and AIQ's documents re-posted under them)."""
    tenants.defaults()
    yield tenants
