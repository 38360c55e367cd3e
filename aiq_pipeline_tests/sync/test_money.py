from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiq_pipeline.sync.money import SignedAmounts, is_cents, money_sum, signed_sum, to_cents, to_decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.005", "1.01"), ("1.004", "1.00"), ("-1.005", "-1.01"), ("2.675", "2.68"), (3, "3.00"), ("0", "0.00")],
)
def test_to_cents_rounds_half_up_to_two_places(value, expected) -> None:
    result = to_cents(Decimal(value) if isinstance(value, str) else value)
    assert result == Decimal(expected)
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize("bad", [0.1, 1.0, True])
def test_float_and_bool_are_refused(bad) -> None:
    with pytest.raises(TypeError):
        to_cents(bad)
    with pytest.raises(TypeError):
        money_sum([Decimal("1.00"), bad])


def test_non_finite_is_refused() -> None:
    with pytest.raises(ValueError):
        to_decimal(Decimal("NaN"))


def test_money_sum_is_exact_where_float_is_not() -> None:
    assert money_sum([Decimal("0.1"), Decimal("0.2")]) == Decimal("0.30")
    assert money_sum([]) == Decimal("0.00")
    assert money_sum(["10.10", 5]) == Decimal("15.10")


def test_is_cents() -> None:
    assert is_cents(Decimal("1.10")) and is_cents(Decimal("7"))
    assert not is_cents(Decimal("1.105"))


@given(st.lists(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False), max_size=50))
def test_money_sum_equals_exact_sum_of_cents(values) -> None:
    assert money_sum(values) == sum(values, Decimal(0))


@dataclass(frozen=True)
class _Part:
    net: Decimal
    tax: Decimal
    gross: Decimal


SI = _Part(Decimal("200.00"), Decimal("46.00"), Decimal("246.00"))  # AIQ's magnitudes
SN = _Part(Decimal("20.00"), Decimal("2.70"), Decimal("22.70"))


def test_signed_sum_subtracts_a_part_of_the_other_type() -> None:
    # An invoice's SI less its remainder credit note; the credit note alone is the invoice's negative total.
    less = signed_sum([(True, SI), (False, SN)])
    assert less == SignedAmounts(Decimal("180.00"), Decimal("43.30"), Decimal("223.30"))
    assert signed_sum([(False, SN)]) == SignedAmounts(Decimal("-20.00"), Decimal("-2.70"), Decimal("-22.70"))


def test_signed_sum_of_one_part_is_that_part_in_cents() -> None:
    total = signed_sum([(True, SI)])
    assert total == SignedAmounts(Decimal("200.00"), Decimal("46.00"), Decimal("246.00"))
    assert {v.as_tuple().exponent for v in (total.net, total.tax, total.gross)} == {-2}
    assert signed_sum([]) == SignedAmounts(Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
