"""Small renderers for Dagster metadata: previews a finance person can read in the UI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

PREVIEW_ROWS = 25


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def preview(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], limit: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """A markdown table of the first `limit` rows, saying how many were left out."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n…and {len(rows) - limit} more rows.")
    return dg.MetadataValue.md("\n".join(lines))
