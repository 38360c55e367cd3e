"""The demo tenant on disk: one fixture file per emulator, and `demo-summary.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiq_emulators.accountsiq.fixtures import EmulatorFixture
from aiq_emulators.demo_tenant.assembly import build_demo_tenant

AIQ_FILE = "accountsiq-demo.json"
BUNNY_FILE = "bunny-demo.json"
SUMMARY_FILE = "demo-summary.json"


@dataclass(frozen=True)
class DemoFixtures:
    accountsiq: Path
    bunny: Path
    summary: dict[str, Any]


def write_demo_fixtures(directory: Path, *, customers: int = 300, invoices: int = 3000, seed: int = 7) -> DemoFixtures:
    """Write the AccountsIQ and Bunny fixtures (and `demo-summary.json`) into `directory`; same seed, same bytes."""
    tenant = build_demo_tenant(customers=customers, invoices=invoices, seed=seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    aiq_path, bunny_path = directory / AIQ_FILE, directory / BUNNY_FILE
    _write(aiq_path, _aiq_json(tenant.accountsiq))
    _write(bunny_path, tenant.bunny.model_dump(mode="json", exclude_defaults=True))
    _write(directory / SUMMARY_FILE, tenant.summary)
    return DemoFixtures(accountsiq=aiq_path, bunny=bunny_path, summary=tenant.summary)


def _aiq_json(fixture: EmulatorFixture) -> dict[str, Any]:
    data = fixture.model_dump(mode="json", exclude_defaults=True)
    # SecretStr dumps masked; the fixture must carry the (emulator-only) secret itself.
    for raw, client in zip(data["clients"], fixture.clients, strict=True):
        raw["client_secret"] = client.client_secret.get_secret_value()
    return data


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_aiq_fixture(path: Path, fixture: EmulatorFixture) -> Path:
    """An AccountsIQ fixture file (with the emulator-only client secret in clear), e.g. the sample ledger's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, _aiq_json(fixture))
    return path
