"""Fixture loading: a custom tenant seeds the emulator; mistakes name the field."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from aiq_emulators.accountsiq import FixtureError, demo_fixture, load_fixture, start_emulator
from aiq_emulators.accountsiq.fixtures import parse_fixture
from aiq_pipeline_tests.emulators.accountsiq.conftest import Soap


def _fixture_dict() -> dict:
    return {
        "clients": [{"client_id": "acme-client", "client_secret": "acme-secret", "entities": ["ACME"]}],
        "entities": [
            {
                "entity_id": "ACME",
                "name": "Acme BV",
                "base_currency": "EUR",
                "currencies": ["EUR"],
                "debtors_control_gl": "1300",
                "sales_vat_gl": "1500",
                "gl_accounts": [
                    {"code": "8000", "description": "Omzet", "account_type": "Posting"},
                    {"code": "1300", "description": "Debiteuren", "account_type": "Control"},
                    {"code": "1500", "description": "BTW", "account_type": "VAT"},
                ],
                "tax_codes": [{"code": "H", "description": "Hoog", "rate": "21", "is_default": True}],
                "financial_years": [2026],
                "customers": [{"code": "KLANT-1", "name": "Klant Een"}],
            }
        ],
    }


def test_custom_fixture_seeds_the_emulator(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(_fixture_dict()))
    with start_emulator(fixture=path) as (url, _):
        soap = Soap(url)
        answer = soap.call("TokenGet", "<clientId>acme-client</clientId><clientSecret>acme-secret</clientSecret>")
        soap.token = answer.text("AccessToken")
        chart = soap.call("GetChartOfAccounts", entity="ACME")
        assert chart.texts("Code") == ["8000", "1300", "1500"]
        assert soap.call("GetCustomerList", entity="ACME").texts("Code") == ["KLANT-1"]
        soap.close()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda f: f["entities"][0]["gl_accounts"][0].update(code="abc"), "entities.0.gl_accounts.0.code"),
        (
            lambda f: f["entities"][0]["gl_accounts"][0].update(account_type="Income"),
            "entities.0.gl_accounts.0.account_type",
        ),
        (lambda f: f["entities"][0]["tax_codes"][0].update(rate="150"), "entities.0.tax_codes.0.rate"),
        (lambda f: f["clients"][0].update(entities=["NOPE"]), "clients.0.entities"),
        (lambda f: f["entities"][0].update(debtors_control_gl="8000"), "debtors_control_gl"),
        (lambda f: f["entities"][0]["customers"][0].update(currency_code="USD"), "customers.0.currency_code"),
        (lambda f: f["entities"][0].update(colour="blue"), "entities.0.colour"),
    ],
)
def test_fixture_errors_name_the_field(tmp_path: Path, mutate, field: str) -> None:
    data = _fixture_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(FixtureError, match=field.replace(".", r"\.")):
        load_fixture(path)


def test_unreadable_fixture_is_a_fixture_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(FixtureError, match=r"broken\.json"):
        load_fixture(path)


def test_demo_fixture_matches_the_documented_tenant() -> None:
    fixture = demo_fixture()
    (client,) = fixture.clients
    assert (client.client_id, client.client_secret.get_secret_value(), client.entities) == (
        "demo-aiq-client",
        "demo-aiq-secret",
        ["DEMO01"],
    )
    assert "demo-aiq-secret" not in repr(fixture)
    demo01, demo02 = fixture.entities
    assert (demo01.entity_id, demo01.base_currency, demo02.entity_id, demo02.base_currency) == (
        "DEMO01",
        "EUR",
        "DEMO02",
        "GBP",
    )
    assert demo01.currencies == ["EUR", "GBP", "USD"]
    assert {t.code: str(t.rate) for t in demo01.tax_codes} == {"V01": "23", "V02": "13.5", "V00": "0", "EX": "0"}


def test_exchange_rates_must_name_listed_currencies_and_be_positive() -> None:
    raw = _fixture_dict()
    entity = raw["entities"][0]
    entity["currencies"] = ["EUR", "GBP"]
    assert parse_fixture(raw).entities[0].exchange_rates == {}  # optional
    entity["exchange_rates"] = {"GBP": "1.25"}
    assert parse_fixture(raw).entities[0].exchange_rates == {"GBP": Decimal("1.25")}
    entity["exchange_rates"] = {"JPY": "160"}
    with pytest.raises(FixtureError, match=r"exchange_rates\.JPY: not one of currencies"):
        parse_fixture(raw)
    entity["exchange_rates"] = {"GBP": "0"}
    with pytest.raises(FixtureError, match="must be > 0"):
        parse_fixture(raw)
    assert demo_fixture().entities[0].exchange_rates == {"GBP": Decimal("1.17"), "USD": Decimal("0.92")}
