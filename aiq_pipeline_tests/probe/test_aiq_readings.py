"""`doctor --probe` names each AIQ reading the emulator serves, under every value of its option, and exits 5 naming
what to change when the product's reading disagrees (README of the AccountsIQ emulator, "Unverified readings")."""

from __future__ import annotations

from typing import Any

import pytest

from aiq_pipeline.service.probe import READING_CONTRADICTS_EXIT_CODE

from .conftest import LAST_YEAR_ISSUE, MANUAL_REFERENCE, Result, Tenants

AGREES, CONTRADICTS, UNDETERMINED = "agrees", "contradicts", "undetermined"

# reading -> (emulator option, {option value: (what the tenant shows, verdict under the default settings)})
READINGS: dict[str, tuple[str, dict[Any, tuple[str, str]]]] = {
    "AIQ AccountType": (
        "account_type_spelling",
        {"word": ("word", AGREES), "upper": ("upper", AGREES), "letter": ("letter", CONTRADICTS)},
    ),
    "AIQ tax rate units": ("tax_rate_unit", {"percent": ("percent", AGREES), "fraction": ("fraction", CONTRADICTS)}),
    "AIQ period list": (
        "period_list_without_date",
        {"all_years": ("all_years", AGREES), "current_year": ("current_year", CONTRADICTS)},
    ),
    "AIQ exchange-rate direction": (
        "exchange_rate_direction",
        {"multiply": ("multiply", AGREES), "divide": ("divide", CONTRADICTS)},
    ),
    "AIQ external references": (
        "unique_external_references",
        {False: ("not unique", AGREES), True: ("no duplicate seen", UNDETERMINED)},
    ),
}
# Configuration k sets every option to its k-th value (the first again when it has fewer): all values, 3 runs.
CONFIGURATIONS = max(len(values) for _option, values in READINGS.values())


def configuration(k: int) -> dict[str, Any]:
    return {option: list(values)[k % len(values)] for option, values in READINGS.values()}


def expected(k: int) -> dict[str, tuple[str, str]]:
    return {reading: values[configuration(k)[option]] for reading, (option, values) in READINGS.items()}


@pytest.mark.parametrize("k", range(CONFIGURATIONS), ids=lambda k: "-".join(map(str, configuration(k).values())))
def test_every_reading_is_named_under_every_option(fresh: Tenants, monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    fresh.aiq_options(**configuration(k))
    fresh.reset_aiq()  # what AIQ's users posted, under these readings
    result = fresh.probe(monkeypatch)
    wanted = expected(k)
    for reading, (shows, verdict) in wanted.items():
        row = result.row(reading)
        assert (row["tenant shows"], row["verdict"]) == (shows, verdict), (reading, row)
    contradicting = [reading for reading, (_shows, verdict) in wanted.items() if verdict == CONTRADICTS]
    assert result.exit_code == (READING_CONTRADICTS_EXIT_CODE if contradicting else 0), result.output
    assert sorted(line.split(":")[0].removeprefix("FIX  ") for line in result.fixes) == sorted(contradicting)
    for reading in result.rows:  # Bunny is at its defaults throughout
        if reading.startswith("Bunny"):
            assert result.rows[reading]["verdict"] == AGREES, result.rows[reading]


def test_a_tenant_at_the_products_readings_checks_out(fresh: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    result = fresh.probe(monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.fixes == []
    assert "probe: 13 readings, 13 agree, 0 contradict, 0 undetermined" in result.output
    assert {row["verdict"] for row in result.rows.values()} == {AGREES}


def test_the_evidence_names_counts_and_ids_never_secrets(fresh: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh.aiq_options(period_list_without_date="current_year", exchange_rate_direction="divide")
    fresh.reset_aiq()
    result = fresh.probe(monkeypatch)
    periods = result.row("AIQ period list")["evidence"]
    assert str(LAST_YEAR_ISSUE) in periods and "GetPeriodList with a date finds a period" in periods
    direction = result.row("AIQ exchange-rate direction")["evidence"]
    assert "100.00 USD" in direction or "123.00 USD" in direction, direction
    assert "AIQ states USD at 1.08" in direction, direction
    assert MANUAL_REFERENCE in result.row("AIQ external references")["evidence"]
    for secret in ("demo-aiq-secret", "demo-bunny-secret"):
        assert secret not in result.output


@pytest.mark.parametrize(("emulator", "setting", "verdict"), [
    ("percent", "fraction", CONTRADICTS),  # (fraction served, percent set: the configurations above)
    ("fraction", "fraction", AGREES),
])  # fmt: skip
def test_tax_rate_units_follow_the_setting(
    fresh: Tenants, monkeypatch: pytest.MonkeyPatch, emulator: str, setting: str, verdict: str
) -> None:
    fresh.aiq_options(tax_rate_unit=emulator)
    result = fresh.probe(monkeypatch, AIQ_PIPELINE_AIQ_TAX_RATE_UNITS=setting)
    row = result.row("AIQ tax rate units")
    assert (row["tenant shows"], row["setting"], row["verdict"]) == (
        emulator,
        f"AIQ_PIPELINE_AIQ_TAX_RATE_UNITS={setting}",
        verdict,
    )
    if verdict == CONTRADICTS:
        assert result.exit_code == READING_CONTRADICTS_EXIT_CODE
        assert result.fixes == [
            f"FIX  AIQ tax rate units: set AIQ_PIPELINE_AIQ_TAX_RATE_UNITS={emulator} (the tenant shows {emulator})"
        ]
    else:
        assert result.exit_code == 0, result.output


def test_the_products_own_reference_twice_is_a_contradiction(fresh: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh.reset_aiq(duplicate="BUNNY-INV-9001")
    result: Result = fresh.probe(monkeypatch)
    row = result.row("AIQ external references")
    assert (row["tenant shows"], row["verdict"]) == ("not unique", CONTRADICTS)
    assert result.exit_code == READING_CONTRADICTS_EXIT_CODE
    (fix,) = result.fixes
    assert "BUNNY-INV-9001" in fix and "reverse the extra one in AIQ" in fix
