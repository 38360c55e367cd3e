"""Money is Decimal straight from the JSON text (never float); dates and timestamps are typed and aware."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from aiq_pipeline.bunny import decoding
from aiq_pipeline.bunny.graphql_http import decode_json
from aiq_pipeline_tests.bunny.fake_bunny import FakeBunny, currencies_handler, json_response
from aiq_pipeline_tests.bunny.invoice_samples import invoice_node, item_node


def _invoice_text() -> str:
    node = invoice_node("1", items=[item_node("11", amount=0.1, tax=0.2), item_node("12", amount=0.2, tax=0.1)])
    text = json.dumps({"data": {"invoice": node}})
    # Spell the totals exactly as a float-summing server never could, and one amount beyond float precision.
    text = text.replace('"subtotal": 0.30000000000000004', '"subtotal": 0.3')
    text = text.replace('"baseCurrencyTotal": 0.6', '"baseCurrencyTotal": 12345678901234567.89')
    return text


def test_money_is_decimal_and_exact_to_the_cent() -> None:
    bunny = FakeBunny()
    bunny.handlers["Currencies"] = currencies_handler
    bunny.handlers["Invoice"] = lambda _: json_response(_invoice_text())
    with bunny.client() as client:
        invoice = client.get_invoice("1")
    assert invoice is not None
    nets = [item.amount for item in invoice.items]
    taxes = [item.tax_amount for item in invoice.items]
    assert all(isinstance(v, Decimal) for v in [*nets, *taxes, invoice.subtotal, invoice.amount])
    assert nets == [Decimal("0.1"), Decimal("0.2")]
    assert sum(nets) == Decimal("0.3") == invoice.subtotal  # 0.1 + 0.2 == 0.3, unlike float
    assert sum(taxes) == invoice.tax_amount == Decimal("0.3")
    assert invoice.amount == Decimal("0.6")
    assert invoice.base_currency_total == Decimal("12345678901234567.89")  # float would give ...567.9 or worse
    assert invoice.items[0].price == Decimal("0.1") and invoice.items[0].discount == Decimal(0)
    assert invoice.items[0].quantity == 1


def test_decode_json_never_produces_float() -> None:
    body = decode_json('{"a": 1.10, "b": [2, 3.000], "c": 1e2}')
    assert body == {"a": Decimal("1.10"), "b": [2, Decimal("3.000")], "c": Decimal("1E+2")}
    assert str(body["a"]) == "1.10"


@pytest.mark.parametrize("value", [1.5, "1.50", True, None])
def test_money_refuses_anything_but_json_numbers(value: object) -> None:
    with pytest.raises(decoding.DecodingError):
        decoding.money(value)


def test_whole_number_money_becomes_decimal() -> None:
    assert decoding.money(100) == Decimal(100) and isinstance(decoding.money(100), Decimal)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01T10:00:00Z", datetime(2026, 6, 1, 10, tzinfo=UTC)),
        ("2026-06-01T10:00:00+00:00", datetime(2026, 6, 1, 10, tzinfo=UTC)),
        ("2026-06-01T12:00:00+02:00", datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=2)))),
        ("2026-06-01T10:00:00.250-05:00", datetime(2026, 6, 1, 10, 0, 0, 250000, tzinfo=timezone(timedelta(hours=-5)))),
        ("2026-06-01T10:00:00", datetime(2026, 6, 1, 10, tzinfo=UTC)),
    ],
)
def test_timestamps_are_aware(text: str, expected: datetime) -> None:
    parsed = decoding.timestamp(text)
    assert parsed == expected and parsed.utcoffset() == expected.utcoffset()


def test_offsets_compare_as_instants() -> None:
    assert decoding.timestamp("2026-06-01T12:00:00+02:00") == decoding.timestamp("2026-06-01T10:00:00Z")


def test_dates() -> None:
    assert decoding.optional_date("2026-06-30") == date(2026, 6, 30)
    assert decoding.optional_date(None) is None
    with pytest.raises(decoding.DecodingError):
        decoding.optional_date("30/06/2026")
