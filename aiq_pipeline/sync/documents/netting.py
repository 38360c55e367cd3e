"""Negative lines in a form AIQ accepts: AIQ's batch lines must be >= 0 (protocol-notes §4.5).

Proration credits, coupons and goodwill credits arrive as negative lines. Within each group of lines sharing an AIQ
account and tax code, they are netted against the group's positive lines, which changes nothing AIQ reports for
that account and tax code (revenue and the VAT return both add up the same). A group whose credits exceed its
charges is netted to nothing and the remainder goes on a credit note allocated to the invoice; a whole document
whose total is negative is a credit note. Lines are never netted across accounts or tax codes: that would move
revenue between accounts or tax between VAT boxes. Every change is stated in `notes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from aiq_pipeline.sync.documents.lines import ResolvedLine
from aiq_pipeline.sync.documents.plan import PlannedLine
from aiq_pipeline.sync.money import money_sum
from aiq_pipeline.sync.problems import Problem, ProblemCode


@dataclass(frozen=True)
class Netted:
    debits: tuple[PlannedLine, ...]  # the invoice's lines, >= 0
    credits: tuple[PlannedLine, ...]  # the credit note's lines, >= 0 (what the credits exceed the charges by)
    notes: tuple[str, ...] = field(default=())
    problems: tuple[Problem, ...] = field(default=())


def net_lines(lines: Sequence[ResolvedLine]) -> Netted:
    groups: dict[tuple[str, str], list[ResolvedLine]] = {}
    for line in lines:
        groups.setdefault((line.gl_account_code, line.tax_code), []).append(line)
    debits: dict[str, PlannedLine] = {}  # by item id: the lines keep Bunny's order
    credits: list[PlannedLine] = []
    notes: list[str] = []
    problems: list[Problem] = []
    for (account, tax_code), group in groups.items():
        negatives = [line for line in group if line.net < 0 or line.tax < 0]
        if not negatives:
            debits |= {line.item_id: _planned(line) for line in group}
            continue
        net, tax = money_sum(line.net for line in group), money_sum(line.tax for line in group)
        where = f"account {account}, tax code {tax_code}"
        credited = ", ".join(f"line {line.item_id} ({line.net})" for line in negatives)
        if net >= 0 and tax >= 0:
            debits |= {line.item_id: line for line in _absorb(group, negatives)}
            notes.append(f"{credited} netted against the other lines on {where}")
        elif net <= 0 and tax <= 0:
            credits.append(_remainder(group, negatives, -net, -tax))
            notes.append(f"{credited} exceed the charges on {where} by {-net} net, {-tax} tax: on a credit note")
        else:
            problems.append(
                Problem(
                    ProblemCode.NEGATIVE_LINE,
                    f"The lines on {where} add up to net {net} and tax {tax}, of opposite signs; no AIQ document can "
                    "carry that.",
                    "Check the credit lines' tax in Bunny, then retry.",
                )
            )
    ordered = tuple(debits[line.item_id] for line in lines if line.item_id in debits)
    return Netted(ordered, tuple(credits), tuple(notes), tuple(problems))


def _planned(
    line: ResolvedLine, net: Decimal | None = None, tax: Decimal | None = None, *, items: tuple[str, ...] = ()
) -> PlannedLine:
    return PlannedLine(
        gl_account_code=line.gl_account_code,
        tax_code=line.tax_code,
        description=line.description,
        net_amount=line.net if net is None else net,
        tax_rate=line.tax_rate,
        tax_amount=line.tax if tax is None else tax,
        item_id=line.item_id,
        gl_source=line.gl_source,
        source_items=items or (line.item_id,),
    )


def _absorb(group: list[ResolvedLine], negatives: list[ResolvedLine]) -> list[PlannedLine]:
    """The group's positive lines reduced by its credits, largest first; net and tax each to the cent."""
    positives = sorted((line for line in group if line not in negatives), key=lambda line: -line.net)
    owed_net, owed_tax = -money_sum(line.net for line in negatives), -money_sum(line.tax for line in negatives)
    absorbed = tuple(line.item_id for line in negatives)
    out: list[PlannedLine] = []
    for index, line in enumerate(positives):
        take_net, take_tax = min(line.net, owed_net), min(line.tax, owed_tax)
        owed_net, owed_tax = owed_net - take_net, owed_tax - take_tax
        # The first line also speaks for the credits it absorbed (a credit note of one of them finds it here).
        items = (line.item_id, *absorbed) if index == 0 else (line.item_id,)
        out.append(_planned(line, line.net - take_net, line.tax - take_tax, items=items))
    return out


def _remainder(group: list[ResolvedLine], negatives: list[ResolvedLine], net: Decimal, tax: Decimal) -> PlannedLine:
    """One credit line carrying what the group's credits exceed its charges by."""
    first = negatives[0]
    text = "; ".join(dict.fromkeys(line.description for line in negatives))
    return replace(
        _planned(first, net, tax, items=tuple(line.item_id for line in group)),
        description=text[:500],
    )
