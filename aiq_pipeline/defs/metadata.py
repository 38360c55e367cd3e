"""Renderers for Dagster metadata: the tables a finance person reads in the UI.

- `table_column(name, sql_type)`: one column of a DDL as Dagster's typed column.
- `column_schema(table)`: a store table's columns as Dagster's `dagster/column_schema`, read from the DDL in
  `store.schema`, so an asset shows exactly the columns its snapshot table has (and their SQL types).
- `table_preview(rows, schema)`: rows as a Dagster table (`MetadataValue.table`) with typed columns. A Dagster
  table record holds only text, integers, floats and flags, and money is never a float here: Decimals (and dates)
  are shown as their exact text, `49.10` stays `49.10`.
- `preview(rows, columns)`: the same rows as a markdown table, for per-document notes that mix prose and values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import dagster as dg

from aiq_pipeline.store.schema import SNAPSHOT_TABLES

PREVIEW_ROWS = 25

# Every snapshot table starts with these (store/schema.py builds them into each CREATE TABLE).
_SNAPSHOT_KEY_COLUMNS = (
    ("snapshot_id", "VARCHAR NOT NULL"),
    ("snapshot_at", "TIMESTAMP NOT NULL"),
    ("entity_id", "VARCHAR NOT NULL"),
)
_SQL_TYPES = {"VARCHAR": "string", "BOOLEAN": "bool", "INTEGER": "int", "BIGINT": "int", "DATE": "date"}

# What a column means, where its name does not say it.
_NOTES = {
    "snapshot_id": "The materialization that wrote the row; the `<table>_current` view holds the latest one.",
    "entity_id": "The AIQ entity (for Bunny tables, the Bunny entity) the snapshot was read from.",
    "is_posting": "AIQ account type Posting: the only accounts a sales line can post to.",
    "external_id": "AIQ:<AIQ entity>:<code> on the accounts this pipeline imported.",
    "resolved_from": "charge: the charge's own financial account; default: the entity's default revenue account.",
    "problem_code": "Why AIQ would refuse invoice lines of this charge; empty when it would accept them.",
    "row_type": "summary (one per run), totals (one per kind and currency) or difference (one per document).",
    "passed": "summary: the month agrees; totals: both sides' totals are equal; difference rows never pass.",
    "bunny_count": "Documents counted on the Bunny side (summary row: documents matched).",
    "aiq_count": "Documents counted on the AIQ side (summary row: AIQ documents not posted by this pipeline).",
}


def table_column(name: str, sql_type: str, notes: Mapping[str, str] = _NOTES) -> dg.TableColumn:
    """A column declared `name sql_type` in DDL, as Dagster's typed column (described by `notes`, where it says)."""
    base = sql_type.removesuffix(" NOT NULL")
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", base)
    kind = f"decimal({decimal[1]},{decimal[2]})" if decimal else _SQL_TYPES.get(base, base.lower())
    return dg.TableColumn(
        name,
        kind,
        description=notes.get(name),
        constraints=dg.TableColumnConstraints(nullable=not sql_type.endswith("NOT NULL")),
    )


def column_schema(table: str) -> dg.TableSchema:
    """The columns of the store's snapshot table `table`, in order, typed as the DDL declares them."""
    return dg.TableSchema(columns=[table_column(n, t) for n, t in (*_SNAPSHOT_KEY_COLUMNS, *SNAPSHOT_TABLES[table])])


def pick(schema: dg.TableSchema, names: Sequence[str], *added: dg.TableColumn) -> dg.TableSchema:
    """The columns `names` of `schema` (or of `added`), in that order; a name found in neither is text."""
    known = {c.name: c for c in (*schema.columns, *added)}
    return dg.TableSchema(columns=[known.get(name, dg.TableColumn(name)) for name in names])


def text_columns(*names: str) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name) for name in names])


def _record_value(value: Any) -> str | int | bool | None:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)  # Decimal (exact text, never float), enums, anything else


def table_preview(
    rows: Sequence[Mapping[str, Any]], schema: dg.TableSchema, limit: int | None = PREVIEW_ROWS
) -> dg.TableMetadataValue:
    """The first `limit` rows (every row when None) as a Dagster table with `schema`'s columns."""
    shown = rows if limit is None else rows[:limit]
    names = [c.name for c in schema.columns]
    return dg.MetadataValue.table(
        [dg.TableRecord({name: _record_value(row.get(name)) for name in names}) for row in shown], schema
    )


def table_definition(table: str) -> dict[str, Any]:
    """Definition metadata of an asset that is the store table `table`: its name and column schema."""
    return {"dagster/table_name": table, "dagster/column_schema": column_schema(table)}


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
