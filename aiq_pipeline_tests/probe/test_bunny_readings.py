"""`doctor --probe` names each Bunny reading the emulator serves (its money readings, its filter grammar and whether
it runs several lists in one query), under every value of its option, alone and all together, and exits 5 naming the
variable to set when a setting disagrees (README of the Bunny emulator, "Readings"; aiq_pipeline/bunny/MONEY.md)."""

from __future__ import annotations

from typing import Any

import pytest

from aiq_pipeline.service.probe import READING_CONTRADICTS_EXIT_CODE

from .conftest import Tenants

AGREES, CONTRADICTS = "agrees", "contradicts"

# reading -> (emulator option, {default value, then the other: (what the tenant shows, verdict)})
READINGS: dict[str, tuple[str, dict[Any, tuple[str, str]]]] = {
    "Bunny line amount": (
        "item_amount_semantics",
        {"after_discount": ("after_discount", AGREES), "before_discount": ("before_discount", CONTRADICTS)},
    ),
    "Bunny credit lines": (
        "credit_lines",
        {"in_subtotal": ("in_subtotal", AGREES), "in_credits": ("in_credits", CONTRADICTS)},
    ),
    "Bunny subtotal": (
        "subtotal_semantics",
        {"after_discount": ("after_discount", AGREES), "before_discount": ("before_discount", CONTRADICTS)},
    ),
    "Bunny amount": ("amount_includes_credits", {False: ("full", AGREES), True: ("less_credits", CONTRADICTS)}),
    "Bunny taxRate units": ("tax_rate_units", {"percent": ("percent", AGREES), "fraction": ("fraction", CONTRADICTS)}),
    "Bunny document tax": (
        "tax_rounding",
        {"per_line": ("sum of lines", AGREES), "per_document": ("rounded per document", AGREES)},
    ),
    "Bunny filter grammar": (
        "filter_grammar",
        {"documented": ("documented", AGREES), "single_equals": ("single_equals", AGREES)},
    ),
    "Bunny combined reads": ("combined_reads", {"accepted": ("accepted", AGREES), "refused": ("refused", AGREES)}),
}
SETTINGS = {  # the readings a setting decides: variable, and its value for the alternate reading
    "Bunny subtotal": ("AIQ_PIPELINE_BUNNY_SUBTOTAL", "before_discount", "after_discount"),
    "Bunny amount": ("AIQ_PIPELINE_BUNNY_AMOUNT", "less_credits", "full"),
    "Bunny taxRate units": ("AIQ_PIPELINE_BUNNY_TAX_RATE_UNITS", "fraction", "percent"),
}


def _default(reading: str) -> Any:
    return next(iter(READINGS[reading][1]))


def _alternate(reading: str) -> Any:
    return list(READINGS[reading][1])[1]


def _check(result: Any, options: dict[str, Any]) -> list[str]:
    """Every Bunny row shows what its option serves; the readings that contradict (by name)."""
    contradicting = []
    for reading, (option, values) in READINGS.items():
        shows, verdict = values[options.get(option, _default(reading))]
        row = result.row(reading)
        assert (row["tenant shows"], row["verdict"]) == (shows, verdict), (reading, row, result.output)
        if verdict == CONTRADICTS:
            contradicting.append(reading)
    return contradicting


def test_the_products_readings_all_agree(fresh: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    result = fresh.probe(monkeypatch)
    assert _check(result, {}) == []
    assert result.exit_code == 0, result.output
    assert "probe: 13 readings, 13 agree, 0 contradict, 0 undetermined" in result.output


@pytest.mark.parametrize("reading", list(READINGS))
def test_each_reading_alone_is_named(fresh: Tenants, monkeypatch: pytest.MonkeyPatch, reading: str) -> None:
    option = READINGS[reading][0]
    fresh.bunny_options(**{option: _alternate(reading)})
    result = fresh.probe(monkeypatch)
    contradicting = _check(result, {option: _alternate(reading)})
    assert result.exit_code == (READING_CONTRADICTS_EXIT_CODE if contradicting else 0), result.output
    assert [line.split(":")[0].removeprefix("FIX  ") for line in result.fixes] == contradicting
    if reading in SETTINGS:
        variable, wanted, _current = SETTINGS[reading]
        assert result.fixes == [f"FIX  {reading}: set {variable}={wanted} (the tenant shows {wanted})"]


def test_every_alternate_reading_at_once_is_named(fresh: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    alternates = {option: list(values)[1] for option, values in READINGS.values()}
    fresh.bunny_options(**alternates)
    result = fresh.probe(monkeypatch)
    contradicting = _check(result, alternates)
    assert result.exit_code == READING_CONTRADICTS_EXIT_CODE
    assert sorted(line.split(":")[0].removeprefix("FIX  ") for line in result.fixes) == sorted(contradicting)


def test_settings_that_follow_the_tenant_agree(fresh: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh.bunny_options(**{READINGS[r][0]: _alternate(r) for r in SETTINGS})
    result = fresh.probe(monkeypatch, **{variable: wanted for variable, wanted, _current in SETTINGS.values()})
    for reading, (variable, wanted, _current) in SETTINGS.items():
        row = result.row(reading)
        assert (row["tenant shows"], row["setting"], row["verdict"]) == (wanted, f"{variable}={wanted}", AGREES)
    assert result.exit_code == 0, result.output


def test_settings_the_tenant_does_not_follow_are_named(fresh: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator at the product's readings, the settings at the others: each setting must go back."""
    result = fresh.probe(monkeypatch, **{variable: wanted for variable, wanted, _current in SETTINGS.values()})
    assert result.exit_code == READING_CONTRADICTS_EXIT_CODE
    assert result.fixes == [
        f"FIX  {reading}: set {variable}={current} (the tenant shows {current})"
        for reading, (variable, _wanted, current) in SETTINGS.items()
    ]


def test_document_tax_beyond_the_rounding_tolerance(fresh: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh.bunny_options(tax_rounding="per_document")
    result = fresh.probe(monkeypatch, AIQ_PIPELINE_ROUNDING_TOLERANCE="0")
    row = result.row("Bunny document tax")
    assert (row["tenant shows"], row["verdict"]) == ("rounded per document", CONTRADICTS)
    assert "largest 0.01" in row["evidence"]
    assert result.exit_code == READING_CONTRADICTS_EXIT_CODE
    assert result.fixes == [
        "FIX  Bunny document tax: set AIQ_PIPELINE_ROUNDING_TOLERANCE=0.01 (the tenant shows rounded per document)"
    ]


def test_the_number_of_invoices_read_is_an_option(fresh: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    result = fresh.probe(monkeypatch, "--invoices", "3")
    assert result.row("Bunny subtotal")["evidence"].startswith("3 invoices:"), result.output
    everything = fresh.probe(monkeypatch)
    assert not everything.row("Bunny subtotal")["evidence"].startswith("3 invoices:")
