"""The project's own tables: ledger snapshots, the GL mapping and the invoice sync ledger.

Embedded default: one DuckDB file. Production: PostgreSQL, by giving a `postgresql://` URL instead of a
path (the same SQL runs on both; placeholders are translated). Connections are short-lived: DuckDB
allows one process per file, so every call opens, works and closes, retrying briefly while another
process (another run) holds the file.

Snapshots keep history: each materialization appends rows under a new `snapshot_id`; the `*_current`
views show the latest one. Money columns are DECIMAL(18,2) and come back as `Decimal`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

# table -> (column, SQL type) pairs; every snapshot table also has snapshot_id, snapshot_at, entity_id.
SNAPSHOT_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "aiq_gl_accounts": (
        ("code", "VARCHAR NOT NULL"),
        ("description", "VARCHAR"),
        ("account_type", "VARCHAR"),
        ("is_active", "BOOLEAN"),
        ("is_departmental", "BOOLEAN"),
        ("is_posting", "BOOLEAN"),
        ("currency_code", "VARCHAR"),
        ("gl_category", "VARCHAR"),
        ("gl_sub_category", "VARCHAR"),
        ("gl_category_type_description", "VARCHAR"),
        ("balance_sheet_type", "VARCHAR"),
    ),
    "aiq_tax_codes": (
        ("code", "VARCHAR NOT NULL"),
        ("description", "VARCHAR"),
        ("rate", "DECIMAL(9,4)"),
        ("is_default", "BOOLEAN"),
    ),
    "aiq_periods": (
        ("period_id", "INTEGER"),
        ("period_number", "INTEGER"),
        ("period_name", "VARCHAR"),
        ("financial_year", "INTEGER"),
        ("start_date", "DATE"),
        ("end_date", "DATE"),
        ("sales_ledger_closed", "BOOLEAN"),
    ),
    "bunny_financial_accounts": (
        ("id", "VARCHAR NOT NULL"),
        ("code", "VARCHAR"),
        ("name", "VARCHAR"),
        ("account_type", "VARCHAR"),
        ("active", "BOOLEAN"),
        ("default_account", "BOOLEAN"),
        ("external_id", "VARCHAR"),
        ("source", "VARCHAR"),
    ),
    "gl_mapping": (
        ("charge_id", "VARCHAR NOT NULL"),
        ("charge_code", "VARCHAR"),
        ("charge_name", "VARCHAR"),
        ("account_code", "VARCHAR"),
        ("resolved_from", "VARCHAR"),
        ("problem_code", "VARCHAR"),
        ("problem", "VARCHAR"),
    ),
}

_SCHEMA = [
    *(
        f"""CREATE TABLE IF NOT EXISTS {table} (
            snapshot_id VARCHAR NOT NULL, snapshot_at TIMESTAMP NOT NULL, entity_id VARCHAR NOT NULL,
            {", ".join(f"{name} {sql_type}" for name, sql_type in columns)})"""
        for table, columns in SNAPSHOT_TABLES.items()
    ),
    *(
        f"""CREATE OR REPLACE VIEW {table}_current AS
            SELECT * FROM {table} WHERE snapshot_id = (
                SELECT snapshot_id FROM {table} ORDER BY snapshot_at DESC, snapshot_id DESC LIMIT 1)"""
        for table in SNAPSHOT_TABLES
    ),
    """CREATE TABLE IF NOT EXISTS invoice_sync_ledger (
        invoice_id VARCHAR PRIMARY KEY, invoice_number VARCHAR, entity_id VARCHAR, outcome VARCHAR NOT NULL,
        customer_code VARCHAR, external_reference VARCHAR, aiq_transaction_id BIGINT, currency VARCHAR,
        net DECIMAL(18,2), tax DECIMAL(18,2), gross DECIMAL(18,2), aiq_gross DECIMAL(18,2),
        reason_code VARCHAR, reason VARCHAR, fix VARCHAR, retryable BOOLEAN,
        attempts INTEGER NOT NULL, first_attempt_at TIMESTAMP NOT NULL, last_attempt_at TIMESTAMP NOT NULL,
        posted_at TIMESTAMP, run_id VARCHAR)""",
    """CREATE OR REPLACE VIEW invoice_exceptions AS
        SELECT invoice_id, invoice_number, reason_code, reason, fix, retryable, attempts, last_attempt_at, run_id
        FROM invoice_sync_ledger WHERE outcome = 'failed'""",
]

LEDGER_COLUMNS = (
    "invoice_id",
    "invoice_number",
    "entity_id",
    "outcome",
    "customer_code",
    "external_reference",
    "aiq_transaction_id",
    "currency",
    "net",
    "tax",
    "gross",
    "aiq_gross",
    "reason_code",
    "reason",
    "fix",
    "retryable",
    "posted_at",
    "run_id",
)


@dataclass(frozen=True)
class LedgerEntry:
    """One invoice's latest sync outcome: posted, already_posted, skipped or failed."""

    invoice_id: str
    outcome: str
    invoice_number: str | None = None
    entity_id: str | None = None
    customer_code: str | None = None
    external_reference: str | None = None
    aiq_transaction_id: int | None = None
    currency: str | None = None
    net: Any = None
    tax: Any = None
    gross: Any = None
    aiq_gross: Any = None
    reason_code: str | None = None
    reason: str | None = None
    fix: str | None = None
    retryable: bool | None = None
    posted_at: datetime | None = None
    run_id: str | None = None


class _Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def utcnow() -> datetime:
    """Naive UTC: both backends store TIMESTAMP without a zone, always in UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class Store:
    """Access to the project's tables. `location` is a DuckDB file path or a `postgresql://` URL."""

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)
        self.is_postgres = self.location.startswith(("postgresql://", "postgres://"))
        self._initialised = False

    def __repr__(self) -> str:
        # A PostgreSQL URL may carry a password: never show it.
        shown = re.sub(r"://[^@/]*@", "://***@", self.location)
        return f"Store({shown!r})"

    # -- connections -------------------------------------------------------------------------

    @contextmanager
    def connect(self) -> Iterator[_Connection]:
        if self.is_postgres:
            with self._postgres() as conn:
                yield conn
        else:
            conn = self._open_duckdb()
            try:
                yield conn
            finally:
                conn.close()
        self._initialised = True

    @retry(
        retry=retry_if_exception(_is_lock_error),
        wait=wait_exponential(multiplier=0.05, max=2),
        stop=stop_after_delay(60),
        reraise=True,
    )
    def _open_duckdb(self) -> duckdb.DuckDBPyConnection:
        Path(self.location).parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(self.location)
        if not self._initialised:
            for statement in _SCHEMA:
                conn.execute(statement)
        return conn

    @contextmanager
    def _postgres(self) -> Iterator[_Connection]:
        import psycopg2  # only the production profile needs it

        raw = psycopg2.connect(self.location)
        try:
            with raw:  # commit on success, roll back on error
                conn = _PostgresConnection(raw)
                if not self._initialised:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                yield conn
        finally:
            raw.close()

    # -- snapshots ---------------------------------------------------------------------------

    def write_snapshot(self, table: str, entity_id: str, rows: Sequence[dict[str, Any]]) -> tuple[str, datetime]:
        """Append `rows` as a new snapshot of `table`; returns (snapshot_id, snapshot_at)."""
        if table not in SNAPSHOT_TABLES:
            raise ValueError(f"unknown snapshot table {table!r}")
        snapshot_at = utcnow()
        snapshot_id = snapshot_at.strftime("%Y%m%dT%H%M%S%fZ")
        columns = [name for name, _ in SNAPSHOT_TABLES[table]]
        sql = (
            f"INSERT INTO {table} (snapshot_id, snapshot_at, entity_id, {', '.join(columns)}) "
            f"VALUES ({', '.join(['?'] * (len(columns) + 3))})"
        )
        params = [[snapshot_id, snapshot_at, entity_id, *(row.get(c) for c in columns)] for row in rows]
        with self.connect() as conn:
            if params:
                conn.executemany(sql, params)
        return snapshot_id, snapshot_at

    def current(self, table: str) -> list[dict[str, Any]]:
        """The rows of the latest snapshot of `table`."""
        if table not in SNAPSHOT_TABLES:
            raise ValueError(f"unknown snapshot table {table!r}")
        return self.query(f"SELECT * FROM {table}_current")

    def snapshot_count(self, table: str) -> int:
        if table not in SNAPSHOT_TABLES:
            raise ValueError(f"unknown snapshot table {table!r}")
        return int(self.query(f"SELECT COUNT(DISTINCT snapshot_id) AS n FROM {table}")[0]["n"])

    # -- invoice sync ledger -----------------------------------------------------------------

    def record_invoice_outcomes(self, entries: Sequence[LedgerEntry]) -> None:
        """Upsert each invoice's latest outcome, counting attempts."""
        now = utcnow()
        names = ", ".join(LEDGER_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in LEDGER_COLUMNS if c != "invoice_id")
        sql = (
            f"INSERT INTO invoice_sync_ledger ({names}, attempts, first_attempt_at, last_attempt_at) "
            f"VALUES ({', '.join(['?'] * (len(LEDGER_COLUMNS) + 3))}) "
            f"ON CONFLICT (invoice_id) DO UPDATE SET {updates}, "
            f"attempts = invoice_sync_ledger.attempts + 1, last_attempt_at = excluded.last_attempt_at"
        )
        params = [[*(getattr(entry, c) for c in LEDGER_COLUMNS), 1, now, now] for entry in entries]
        with self.connect() as conn:
            if params:
                conn.executemany(sql, params)

    def ledger(self, outcome: str | None = None) -> list[dict[str, Any]]:
        if outcome is None:
            return self.query("SELECT * FROM invoice_sync_ledger ORDER BY invoice_id")
        return self.query("SELECT * FROM invoice_sync_ledger WHERE outcome = ? ORDER BY invoice_id", [outcome])

    # -- generic -----------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.connect() as conn:
            cursor = conn.execute(sql, list(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class _PostgresConnection:
    """Gives a psycopg2 connection DuckDB's `execute(sql, params)` face, with `?` placeholders."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        sql = sql.replace("?", "%s")
        cursor = self._raw.cursor()
        cursor.execute(sql, list(params) or None)
        return cursor

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        cursor = self._raw.cursor()
        cursor.executemany(sql.replace("?", "%s"), [list(p) for p in params])
        return cursor
