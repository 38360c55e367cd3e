"""The probe's findings as the table `doctor --probe` prints, and the lines that say what to change.

    reading          | tenant shows    | evidence                          | setting                       | verdict
    -----------------+-----------------+-----------------------------------+-------------------------------+------------
    Bunny subtotal   | before_discount | 200 invoices: after_discount adds | AIQ_PIPELINE_BUNNY_SUBTOTAL=a | contradicts
                     |                 | up 150, before_discount adds up … | fter_discount                 |

Cells wrap inside their column; a row's later lines leave the first column blank. The text holds no `|` of its
own, so each line splits into its five cells on " | ".
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from aiq_pipeline.service.probe.findings import Finding, Verdict

# Exit code of `doctor --probe` when a reading of the tenant contradicts the setting in use (4 stays "a setting is
# missing or wrong, or a service refused it": the settings work, the tenant reads its money another way).
READING_CONTRADICTS_EXIT_CODE = 5

HEADERS = ("reading", "tenant shows", "evidence", "setting", "verdict")
FIXED_WIDTHS = {"reading": 27, "tenant shows": 20, "setting": 44, "verdict": 12}  # a setting fits on one line
MIN_WIDTH, DEFAULT_WIDTH = 150, 160


@dataclass(frozen=True)
class ProbeReport:
    findings: tuple[Finding, ...]

    @property
    def contradictions(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.verdict is Verdict.CONTRADICTS)

    @property
    def undetermined(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.verdict is Verdict.UNDETERMINED)

    @property
    def ok(self) -> bool:
        return not self.contradictions

    def table(self, width: int = DEFAULT_WIDTH) -> list[str]:
        return render_table(
            [(f.reading, f.shows, f.evidence, f.setting, f.verdict.value) for f in self.findings], width
        )

    def fix_lines(self) -> list[str]:
        return [f"FIX  {finding.fix_line()}" for finding in self.contradictions]

    def summary(self) -> str:
        agree = sum(1 for f in self.findings if f.verdict is Verdict.AGREES)
        text = (
            f"probe: {len(self.findings)} readings, {agree} agree, {len(self.contradictions)} contradict, "
            f"{len(self.undetermined)} undetermined"
        )
        if self.undetermined:
            text += " (nothing in the tenant tells those apart yet: run the probe again once it does)"
        return text


def _widths(total: int) -> list[int]:
    evidence = max(total, MIN_WIDTH) - sum(FIXED_WIDTHS.values()) - 3 * (len(HEADERS) - 1)
    return [FIXED_WIDTHS.get(name, evidence) for name in HEADERS]


def render_table(rows: Sequence[Sequence[str]], width: int = DEFAULT_WIDTH) -> list[str]:
    widths = _widths(width)
    lines = [_row(HEADERS, widths)[0], "-+-".join("-" * w for w in widths)]
    for row in rows:
        lines.extend(_row(row, widths))
    return lines


def _row(cells: Sequence[str], widths: Sequence[int]) -> list[str]:
    wrapped = [
        textwrap.wrap(" ".join(cell.replace("|", "/").split()), w, break_on_hyphens=False) or [""]
        for cell, w in zip(cells, widths, strict=True)
    ]
    height = max(len(parts) for parts in wrapped)
    lines = []
    for index in range(height):
        parts = [(p[index] if index < len(p) else "").ljust(w) for p, w in zip(wrapped, widths, strict=True)]
        parts[-1] = parts[-1].rstrip()  # a line ends with its last cell's text: each line is five cells on " | "
        lines.append(" | ".join(parts))
    return lines
