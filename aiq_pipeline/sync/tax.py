"""Which AIQ tax code a Bunny line posts under, and whether its rate agrees.

Bunny's `taxCode` is not an AIQ code: with Avalara or Kintsugi it is the tax engine's product code, and Simple Tax
leaves it empty and says the rate. So the finance team keeps a mapping (a CSV file, `AIQ_PIPELINE_TAX_MAPPING`) of
rules, each naming the AIQ tax code for Bunny lines with a given tax code, VAT code and/or rate, optionally for one
customer country. The most specific rule wins:

1. Bunny tax code (+ country, then any country);
2. Bunny VAT code (+ country, then any) - e.g. reverse charge or export markers;
3. rate (+ country, then any).

A line that no rule maps keeps its own tax code when AIQ knows that code (a tenant whose Bunny codes are AIQ codes);
a line with no tax code at all takes the configured default code, but only when its rate is the default code's rate
(a 0 % export line never lands on the standard-rate code). Every line's rate is then checked against the AIQ code's
rate: a difference is TAX_RATE_MISMATCH, naming both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

HUNDRED = Decimal(100)
RATE_PLACES = Decimal("0.0001")
MAPPING_COLUMNS = ("bunny_tax_code", "bunny_vat_code", "rate", "country", "aiq_tax_code")


class TaxMappingError(ValueError):
    """The mapping file is wrong: the message names the row and column."""


@dataclass(frozen=True)
class TaxRule:
    aiq_tax_code: str
    bunny_tax_code: str | None = None
    bunny_vat_code: str | None = None
    rate: Decimal | None = None  # percent
    country: str | None = None  # ISO 3166-1 alpha-2; None: any

    def describe(self) -> str:
        keys = [
            f"tax code {self.bunny_tax_code}" if self.bunny_tax_code else "",
            f"VAT code {self.bunny_vat_code}" if self.bunny_vat_code else "",
            f"rate {self.rate}%" if self.rate is not None else "",
            f"country {self.country}" if self.country else "",
        ]
        return " + ".join(k for k in keys if k) + f" -> {self.aiq_tax_code}"


def _norm(text: str | None) -> str | None:
    value = (text or "").strip().upper()
    return value or None


@dataclass(frozen=True)
class TaxMapping:
    rules: tuple[TaxRule, ...] = ()

    def resolve(
        self,
        *,
        tax_code: str | None,
        vat_code: str | None,
        rate_matches: Callable[[Decimal], bool],
        country: str | None,
    ) -> TaxRule | None:
        """The most specific rule for a line: by tax code, then VAT code, then rate (`rate_matches(percent)` says
        whether a rule's rate is the line's); each for the customer's country first, then for any country."""
        code, vat = _norm(tax_code), _norm(vat_code)
        keys: list[Callable[[TaxRule], bool]] = []
        if code:
            keys.append(lambda r: r.bunny_tax_code == code)
        if vat:
            keys.append(lambda r: r.bunny_vat_code == vat)
        keys.append(lambda r: r.rate is not None and _keyed_by(r, "rate") and rate_matches(r.rate))
        for matches in keys:
            for wanted_country in (_norm(country), None):
                found = next((r for r in self.rules if r.country == wanted_country and matches(r)), None)
                if found is not None:
                    return found
        return None


def _keyed_by(rule: TaxRule, field: str) -> bool:
    """A rate rule is one that names neither a tax code nor a VAT code."""
    return field != "rate" or (rule.bunny_tax_code is None and rule.bunny_vat_code is None)


def parse_tax_mapping(text: str, *, source: str = "the tax mapping") -> TaxMapping:
    """Rules from CSV with the header `bunny_tax_code,bunny_vat_code,rate,country,aiq_tax_code` (any may be blank
    except `aiq_tax_code`; each rule needs a tax code, a VAT code or a rate)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in MAPPING_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise TaxMappingError(
            f"{source} lacks the column(s) {', '.join(missing)} (header: {','.join(MAPPING_COLUMNS)})"
        )
    return TaxMapping(tuple(_rule(row, line, source) for line, row in enumerate(reader, start=2)))


def _rule(row: Mapping[str, str | None], line: int, source: str) -> TaxRule:
    aiq = _norm(row.get("aiq_tax_code"))
    if not aiq:
        raise TaxMappingError(f"{source}, line {line}: aiq_tax_code is empty")
    rate_text = (row.get("rate") or "").strip().rstrip("%")
    try:
        rate = Decimal(rate_text).quantize(RATE_PLACES) if rate_text else None
    except InvalidOperation:
        raise TaxMappingError(f"{source}, line {line}: rate {rate_text!r} is not a number (a percentage)") from None
    rule = TaxRule(
        aiq_tax_code=aiq,
        bunny_tax_code=_norm(row.get("bunny_tax_code")),
        bunny_vat_code=_norm(row.get("bunny_vat_code")),
        rate=rate,
        country=_norm(row.get("country")),
    )
    if rule.bunny_tax_code is None and rule.bunny_vat_code is None and rule.rate is None:
        raise TaxMappingError(f"{source}, line {line}: a rule needs a bunny_tax_code, a bunny_vat_code or a rate")
    return rule


def rates_agree(bunny_percent: Decimal, aiq_percent: Decimal) -> bool:
    return bunny_percent.quantize(RATE_PLACES) == aiq_percent.quantize(RATE_PLACES)


def percent(rate: Decimal, *, units: str) -> Decimal:
    """A rate as a percentage, from `percent` (23) or `fraction` (0.23) units."""
    return rate * HUNDRED if units == "fraction" else rate


def known_rates(codes: Iterable[tuple[str, Decimal]], *, units: str) -> dict[str, Decimal]:
    """AIQ tax codes (upper case) -> rate in percent, from GetTaxCodeList's rates in `units`."""
    return {code.strip().upper(): percent(rate, units=units) for code, rate in codes}
