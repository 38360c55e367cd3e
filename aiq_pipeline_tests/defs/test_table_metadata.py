"""Dagster's table metadata for the store's tables: column schemas that match the tables, previews that keep money
exact, and every table asset saying which table it is."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from aiq_pipeline.defs.accounts.assets import financial_accounts, gl_mapping
from aiq_pipeline.defs.ledger.assets import aiq_ledger_snapshot
from aiq_pipeline.defs.metadata import column_schema, pick, table_preview
from aiq_pipeline.defs.reconciliation.assets import TOTALS_SCHEMA, monthly_reconciliation
from aiq_pipeline.store import Store
from aiq_pipeline.store.schema import SNAPSHOT_TABLES
from aiq_pipeline_tests.pair_names import (
    CHART_OF_ACCOUNTS,
    FINANCIAL_ACCOUNTS,
    GL_MAPPING,
    MONTHLY_RECONCILIATION,
    NAMES,
    PERIODS,
    TAX_CODES,
)

DUCKDB_TYPES = {"VARCHAR": "string", "BOOLEAN": "bool", "INTEGER": "int", "DATE": "date", "TIMESTAMP": "timestamp"}


@pytest.mark.parametrize("table", sorted(SNAPSHOT_TABLES))
def test_column_schema_is_the_store_tables_columns(tmp_path: Path, table: str) -> None:
    store = Store(tmp_path / "aiq.duckdb")
    described = store.query(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    )
    columns = column_schema(table).columns
    assert [c.name for c in columns] == [r["column_name"] for r in described]
    for column, row in zip(columns, described, strict=True):
        sql = row["data_type"]
        assert column.type == DUCKDB_TYPES.get(sql, sql.lower().replace(" ", "")), column.name
        assert column.constraints.nullable == (row["is_nullable"] == "YES"), column.name


def test_preview_keeps_money_exact_and_types_as_they_are() -> None:
    rows = [
        {"kind": "invoice", "bunny_count": 3, "bunny_net": Decimal("49.10"), "matches": True, "extra": "not shown"},
        {"kind": "credit_note", "bunny_count": None, "bunny_net": Decimal("1234567890123456.78"), "matches": False},
    ]
    schema = pick(column_schema("period_reconciliation"), ["kind", "bunny_count", "bunny_net", "matches"])
    value = table_preview(rows, schema)
    assert [r.data for r in value.records] == [
        {"kind": "invoice", "bunny_count": 3, "bunny_net": "49.10", "matches": True},
        {"kind": "credit_note", "bunny_count": None, "bunny_net": "1234567890123456.78", "matches": False},
    ]
    assert [(c.name, c.type) for c in value.schema.columns] == [
        ("kind", "string"),
        ("bunny_count", "int"),
        ("bunny_net", "decimal(18,2)"),
        ("matches", "string"),  # not a store column, and not added: text
    ]
    short = table_preview([{"d": date(2026, 6, 1)}] * 30, dg.TableSchema(columns=[dg.TableColumn("d", "date")]))
    assert len(short.records) == 25 and short.records[0].data == {"d": "2026-06-01"}
    assert len(table_preview([{"d": None}] * 30, short.schema, limit=None).records) == 30


def test_reconciliation_totals_say_whether_they_match_as_a_flag() -> None:
    matches = next(c for c in TOTALS_SCHEMA.columns if c.name == "matches")
    assert matches.type == "bool"
    assert next(c for c in TOTALS_SCHEMA.columns if c.name == "aiq_gross").type == "decimal(18,2)"


@pytest.mark.parametrize(
    ("asset", "key", "table"),
    [
        (aiq_ledger_snapshot(NAMES), CHART_OF_ACCOUNTS, "aiq_gl_accounts"),
        (aiq_ledger_snapshot(NAMES), TAX_CODES, "aiq_tax_codes"),
        (aiq_ledger_snapshot(NAMES), PERIODS, "aiq_periods"),
        (financial_accounts(NAMES), FINANCIAL_ACCOUNTS, "bunny_financial_accounts"),
        (gl_mapping(NAMES), GL_MAPPING, "gl_mapping"),
        (monthly_reconciliation(NAMES), MONTHLY_RECONCILIATION, "period_reconciliation"),
    ],
)
def test_each_table_asset_names_its_table_and_columns(asset: dg.AssetsDefinition, key: dg.AssetKey, table: str) -> None:
    metadata = asset.specs_by_key[key].metadata
    assert metadata["dagster/table_name"] == table
    assert metadata["dagster/column_schema"] == column_schema(table)
