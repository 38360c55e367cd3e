"""Money: `Decimal` only, quantized to cents with ROUND_HALF_UP (the rounding invoices are printed with)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_decimal(value: Decimal | int | str) -> Decimal:
    """A Decimal from a Decimal, an int or a decimal string. A float is refused: its binary value is not the
    amount that was meant (0.1 + 0.2 != 0.3), so it must be converted at the client boundary, never here."""
    # bool is an int subclass; True is not an amount.
    if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"money must be Decimal, int or str, not {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"money must be finite, got {value!r}")
    return result


def to_cents(value: Decimal | int | str) -> Decimal:
    """`value` rounded half-up to exactly two decimal places."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def is_cents(value: Decimal) -> bool:
    """True when `value` has no fraction of a cent (so quantizing it changes nothing)."""
    return to_decimal(value) == to_cents(value)


def money_sum(values: Iterable[Decimal | int | str]) -> Decimal:
    """Exact sum of amounts, returned in cents (an empty sum is 0.00)."""
    return to_cents(sum((to_decimal(v) for v in values), ZERO))


class HasAmounts(Protocol):
    """Anything with a net, tax and gross amount (a planned document, a reconciled one)."""

    @property
    def net(self) -> Decimal: ...
    @property
    def tax(self) -> Decimal: ...
    @property
    def gross(self) -> Decimal: ...


@dataclass
class Totals:
    """A running count and sum of documents' amounts."""

    count: int = 0
    net: Decimal = ZERO
    tax: Decimal = ZERO
    gross: Decimal = ZERO

    def add(self, amounts: HasAmounts) -> None:
        self.count += 1
        self.net += amounts.net
        self.tax += amounts.tax
        self.gross += amounts.gross


@dataclass(frozen=True)
class SignedAmounts:
    """Net, tax and gross signed as a Bunny document is (negative for an invoice whose total is negative)."""

    net: Decimal
    tax: Decimal
    gross: Decimal


def signed_sum(parts: Iterable[tuple[bool, HasAmounts]]) -> SignedAmounts:
    """A Bunny document's AIQ parts (whether it is of the document's own type, its amounts) as one total signed as
    the Bunny document, in cents. AIQ gives each part as magnitudes, so the sign comes from its role: a part of the
    document's own type (an invoice's sales invoice, a void's reversal SN) adds, one of the other type (a remainder
    `BUNNY-INVCR-`, `BUNNY-VOIDCR-`) subtracts. No parts: zero."""
    signed = [(1 if own else -1, amounts) for own, amounts in parts]
    return SignedAmounts(
        net=money_sum(sign * a.net for sign, a in signed),
        tax=money_sum(sign * a.tax for sign, a in signed),
        gross=money_sum(sign * a.gross for sign, a in signed),
    )
