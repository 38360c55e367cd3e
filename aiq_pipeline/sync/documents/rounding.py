"""Document-level tax rounding: AIQ's tax and gross must equal Bunny's exactly.

Bunny may round tax once per document while its lines carry their own rounded taxes; the two then differ by a cent
or two. Up to `rounding_tolerance` per document the difference is absorbed, so AIQ's tax equals the document's: on a
rounding line (net 0) on `rounding_account` when one is configured and tax is missing, else on the line carrying
the most tax. Beyond the tolerance it is TAX_ROUNDING, for a person.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from aiq_pipeline.sync.documents.context import PostingSettings
from aiq_pipeline.sync.documents.plan import PlannedLine
from aiq_pipeline.sync.money import ZERO, money_sum
from aiq_pipeline.sync.problems import Problem, ProblemCode


@dataclass(frozen=True)
class Rounded:
    lines: tuple[PlannedLine, ...]
    note: str | None = None
    problem: Problem | None = None


def round_tax(lines: tuple[PlannedLine, ...], wanted_tax: Decimal, settings: PostingSettings, label: str) -> Rounded:
    """`lines` (one document's, all >= 0) adjusted so their tax adds up to `wanted_tax`."""
    difference = wanted_tax - money_sum(line.tax_amount for line in lines)
    if difference == ZERO or not lines:
        return Rounded(lines)
    if abs(difference) > settings.rounding_tolerance:
        return Rounded(lines, problem=_beyond_tolerance(label, difference, settings.rounding_tolerance))
    largest = max(range(len(lines)), key=lambda i: lines[i].tax_amount)
    if difference > 0 and settings.rounding_account:
        line = PlannedLine(
            gl_account_code=settings.rounding_account,
            tax_code=lines[largest].tax_code,
            description="Tax rounding (Bunny rounds tax on the whole document)",
            net_amount=ZERO,
            tax_rate=ZERO,
            tax_amount=difference,
            item_id="rounding",
            gl_source="rounding",
        )
        return Rounded((*lines, line), f"tax rounding of {difference} on a rounding line ({settings.rounding_account})")
    target = lines[largest]
    if target.tax_amount + difference < 0:
        return Rounded(lines, problem=_beyond_tolerance(label, difference, settings.rounding_tolerance))
    adjusted = replace(target, tax_amount=target.tax_amount + difference)
    note = f"tax rounding of {difference} absorbed by line {target.item_id}"
    return Rounded(tuple(adjusted if i == largest else line for i, line in enumerate(lines)), note)


def _beyond_tolerance(label: str, difference: Decimal, tolerance: Decimal) -> Problem:
    return Problem(
        ProblemCode.TAX_ROUNDING,
        f"The tax of {label}'s lines differs from its tax total by {difference}, more than the rounding tolerance "
        f"of {tolerance}.",
        "Check the invoice's tax in Bunny; if the difference is right, raise AIQ_PIPELINE_ROUNDING_TOLERANCE, then "
        "retry.",
    )
