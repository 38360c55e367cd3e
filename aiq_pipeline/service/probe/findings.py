"""What one probe check found: a reading of AIQ or Bunny, what the tenant shows, and whether the product agrees.

A `Finding` holds only counts, ids, codes and rates the tenant showed: never a secret, a token or a customer's
name. Its verdict is one of three:

- agrees: the tenant shows the reading the product is set to (or one the product copes with either way);
- contradicts: the tenant shows another reading than the one in use; `variable` and `wanted` say which setting to
  change to what, or `fix` says what to do when no setting covers the reading (the product's reading is fixed);
- undetermined: nothing the tenant holds tells the readings apart (e.g. no invoice carries a discount), or the read
  failed. Never a reason to stop, and never taken as agreement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

UNDETERMINED_SHOWS = "cannot tell"
MAX_EXAMPLES = 5


class Verdict(StrEnum):
    AGREES = "agrees"
    CONTRADICTS = "contradicts"
    UNDETERMINED = "undetermined"


@dataclass(frozen=True)
class Finding:
    """One row of the probe's table."""

    reading: str  # what is read, e.g. "Bunny subtotal"
    shows: str  # what the tenant shows, short: "before_discount", "percent", "cannot tell"
    evidence: str  # counts and example ids
    setting: str  # the product's current setting: "AIQ_PIPELINE_BUNNY_SUBTOTAL=after_discount", or its fixed reading
    verdict: Verdict
    variable: str | None = None  # the variable to change when the verdict is contradicts
    wanted: str | None = None  # ... and the value to set it to
    fix: str | None = None  # what to do when no variable covers the reading

    @property
    def contradicts(self) -> bool:
        return self.verdict is Verdict.CONTRADICTS

    def fix_line(self) -> str:
        """What to change, one line: `set VARIABLE=value` or the fix in words."""
        if self.variable and self.wanted is not None:
            return f"{self.reading}: set {self.variable}={self.wanted} (the tenant shows {self.shows})"
        return f"{self.reading}: {self.fix or 'no setting covers this reading; report it to the maintainers'}"


def setting_finding(
    reading: str, shown: str | None, evidence: str, variable: str, current: str, *, shows: str | None = None
) -> Finding:
    """A reading a setting decides: agrees when the tenant shows `current`, contradicts when it shows another value
    (set `variable` to it), undetermined when `shown` is None."""
    setting = f"{variable}={current}"
    if shown is None:
        return Finding(reading, shows or UNDETERMINED_SHOWS, evidence, setting, Verdict.UNDETERMINED)
    if shown == current:
        return Finding(reading, shows or shown, evidence, setting, Verdict.AGREES)
    return Finding(reading, shows or shown, evidence, setting, Verdict.CONTRADICTS, variable=variable, wanted=shown)


def fixed_finding(
    reading: str, shown: str | None, evidence: str, product: str, *, fix: str, shows: str | None = None
) -> Finding:
    """A reading the product has no setting for (it reads `product`): agrees, contradicts (then `fix` says what to
    do), or undetermined when `shown` is None."""
    setting = f"none: the product reads {product}"
    if shown is None:
        return Finding(reading, shows or UNDETERMINED_SHOWS, evidence, setting, Verdict.UNDETERMINED)
    if shown == product:
        return Finding(reading, shows or shown, evidence, setting, Verdict.AGREES)
    return Finding(reading, shows or shown, evidence, setting, Verdict.CONTRADICTS, fix=fix)


def failed_finding(reading: str, setting: str, error: Exception) -> Finding:
    """A check whose read failed: undetermined, with the error (the clients keep secrets out of their messages)."""
    return Finding(reading, UNDETERMINED_SHOWS, f"the read failed: {error}", setting, Verdict.UNDETERMINED)


def examples(ids: Iterable[object], limit: int = MAX_EXAMPLES) -> str:
    """`a, b, c` or `a, b, c, ... (12 in all)`: a few ids as evidence, never a whole list."""
    items = [str(i) for i in ids]
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} in all)"
