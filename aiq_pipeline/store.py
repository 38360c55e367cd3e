"""The project's own tables: ledger snapshots, the GL mapping and the invoice sync ledger.

Embedded default: one DuckDB file. Production: PostgreSQL, by giving a `postgresql://` URL instead of a
path (the same SQL runs on both; placeholders are translated). Connections are short-lived: DuckDB
allows one process per file, so every call opens, works and closes, retrying briefly while another
process (another run) holds the file.

On PostgreSQL many processes share the database, so: each call is one transaction (committed on success,
rolled back on error); the schema is created once per schema version under an advisory lock (concurrent
`CREATE TABLE IF NOT EXISTS` / `CREATE OR REPLACE VIEW` from several runs otherwise fail with duplicate-type or
"tuple concurrently updated" errors); sessions run in UTC so TIMESTAMP columns hold UTC whatever the server's
zone; and upserts touch rows in key order so two runs never deadlock. A password in the URL never reaches a
repr, a log line or an error message.

Snapshots keep history: each materialization appends rows under a new `snapshot_id`; the `*_current`
views show the latest one. Money columns are DECIMAL(18,2) and come back as `Decimal`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

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
    # Monthly Bunny-vs-AIQ reconciliation (defs/reconciliation.py): per run, one `summary` row, one `totals` row
    # per kind and currency, one `difference` row per differing document. Read the latest snapshot per month.
    "period_reconciliation": (
        ("month", "VARCHAR NOT NULL"),
        ("bunny_entity_id", "VARCHAR"),
        ("row_type", "VARCHAR NOT NULL"),
        ("passed", "BOOLEAN"),
        ("kind", "VARCHAR"),
        ("currency", "VARCHAR"),
        ("problem", "VARCHAR"),
        ("external_reference", "VARCHAR"),
        ("bunny_id", "VARCHAR"),
        ("bunny_number", "VARCHAR"),
        ("aiq_transaction_ids", "VARCHAR"),
        ("bunny_count", "INTEGER"),
        ("aiq_count", "INTEGER"),
        ("bunny_net", "DECIMAL(18,2)"),
        ("bunny_tax", "DECIMAL(18,2)"),
        ("bunny_gross", "DECIMAL(18,2)"),
        ("aiq_net", "DECIMAL(18,2)"),
        ("aiq_tax", "DECIMAL(18,2)"),
        ("aiq_gross", "DECIMAL(18,2)"),
        ("detail", "VARCHAR"),
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

# Changes whenever the DDL above changes, so a new release re-applies it once (under the lock) on PostgreSQL.
SCHEMA_FINGERPRINT = hashlib.sha256("\n".join(_SCHEMA).encode()).hexdigest()[:16]
# pg_advisory_xact_lock key serialising schema creation across processes (any constant unique to the project).
_SCHEMA_LOCK_KEY = 0x41495150  # "AIQP"

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgres+psycopg2://")

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


class StoreConnectionError(RuntimeError):
    """The store could not be reached; the message names the location with any password hidden."""


def is_postgres_location(location: str) -> bool:
    return location.startswith(POSTGRES_SCHEMES)


def redact_location(location: str) -> str:
    """`location` with any password (in the user info or a `password=` parameter) replaced by `***`."""
    if not is_postgres_location(location):
        return location
    parts = urlsplit(location)
    userinfo, at, hostinfo = parts.netloc.rpartition("@")  # rpartition: a password may contain '@'
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    query = "&".join(
        f"{name}=***" if name.lower() == "password" else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, f"{userinfo}{at}{hostinfo}", parts.path, query, parts.fragment))


def _secrets(location: str) -> list[str]:
    """The password(s) a URL carries, as written and percent-decoded, longest first."""
    parts = urlsplit(location)
    found = [parts.password or ""]
    found += [v for k, _, v in (i.partition("=") for i in parts.query.split("&")) if k.lower() == "password"]
    return sorted({s for raw in found if raw for s in (raw, unquote(raw))}, key=len, reverse=True)


def _hide_secrets(text: str, location: str) -> str:
    for secret in _secrets(location):
        text = text.replace(secret, "***")
    return text


def utcnow() -> datetime:
    """Naive UTC: both backends store TIMESTAMP without a zone, always in UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class Store:
    """Access to the project's tables. `location` is a DuckDB file path or a `postgresql://` URL."""

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)
        self.is_postgres = is_postgres_location(self.location)
        self._initialised = False

    def __repr__(self) -> str:
        # A PostgreSQL URL may carry a password: never show it.
        return f"Store({redact_location(self.location)!r})"

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
        raw = self._open_postgres()
        try:
            if not self._initialised:
                _ensure_postgres_schema(raw)
            with raw:  # one transaction: commit on success, roll back on error
                yield _PostgresConnection(raw)
        finally:
            raw.close()

    def _open_postgres(self) -> Any:
        import psycopg2  # only the production profile needs it

        # libpq does not know SQLAlchemy's driver suffix, which Dagster's own URLs carry.
        dsn = re.sub(r"^(postgres(?:ql)?)\+psycopg2://", r"\1://", self.location)
        problem = None
        try:
            raw = _connect_postgres(dsn)
        except psycopg2.Error as exc:
            # Raised outside the handler so the original (which may quote the DSN) is not chained.
            problem = _hide_secrets(str(exc).strip(), self.location)
        if problem is not None:
            raise StoreConnectionError(f"cannot open the store at {redact_location(self.location)}: {problem}")
        return raw

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
        # Key order: two runs upserting overlapping invoices lock rows in the same order, so never deadlock
        # (a stable sort keeps the last of two entries for one invoice last).
        ordered = sorted(entries, key=lambda entry: entry.invoice_id)
        params = [[*(getattr(entry, c) for c in LEDGER_COLUMNS), 1, now, now] for entry in ordered]
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


# Connection failures worth a short wait: the server is starting, stopping or out of connection slots.
# A wrong host, database, user or password fails at once.
_TRANSIENT_CONNECT = ("starting up", "shutting down", "too many clients", "remaining connection slots", "recovery mode")


def _is_transient_connect_failure(exc: BaseException) -> bool:
    import psycopg2

    return isinstance(exc, psycopg2.OperationalError) and any(m in str(exc).lower() for m in _TRANSIENT_CONNECT)


@retry(
    retry=retry_if_exception(_is_transient_connect_failure),
    wait=wait_exponential(multiplier=0.1, max=2),
    stop=stop_after_delay(20),
    reraise=True,
)
def _connect_postgres(dsn: str) -> Any:
    import psycopg2

    extra: dict[str, Any] = {"application_name": "aiq-pipeline"}
    if "connect_timeout" not in dsn:
        extra["connect_timeout"] = 10
    if "options" not in dsn:
        # TIMESTAMP columns hold naive UTC; a session in another zone would shift aware datetimes on the way in.
        extra["options"] = "-c TimeZone=UTC"
    raw = psycopg2.connect(dsn, **extra)
    if "options" in dsn:
        with raw, raw.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
    return raw


def _ensure_postgres_schema(raw: Any) -> None:
    """Create the tables and views once per schema version, safely while other processes do the same."""
    with raw, raw.cursor() as cursor:
        if _schema_applied(cursor):
            return
        # Held to the end of this transaction: the second process waits, then sees the version and skips.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK_KEY])
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS aiq_pipeline_schema (fingerprint VARCHAR PRIMARY KEY, applied_at TIMESTAMP)"
        )
        if _schema_applied(cursor):
            return
        for statement in _SCHEMA:
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO aiq_pipeline_schema (fingerprint, applied_at) VALUES (%s, %s)",
            [SCHEMA_FINGERPRINT, utcnow()],
        )


def _schema_applied(cursor: Any) -> bool:
    cursor.execute("SELECT to_regclass('aiq_pipeline_schema') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return False
    cursor.execute("SELECT 1 FROM aiq_pipeline_schema WHERE fingerprint = %s", [SCHEMA_FINGERPRINT])
    return cursor.fetchone() is not None


# Single-quoted literals (with '' escapes), double-quoted identifiers, or one placeholder/percent sign.
_SQL_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[?%]")


def to_pyformat(sql: str) -> str:
    """DuckDB's `?` placeholders as psycopg2's `%s`; literal `%` doubled (psycopg2 formats the whole string).
    A `?` inside a quoted literal or identifier stays as it is."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        return token.replace("%", "%%")

    return _SQL_TOKENS.sub(replace, sql)


class _PostgresConnection:
    """Gives a psycopg2 connection DuckDB's `execute(sql, params)` face, with `?` placeholders."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = self._raw.cursor()
        cursor.execute(to_pyformat(sql), list(params))
        return cursor

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        from psycopg2.extras import execute_batch

        cursor = self._raw.cursor()
        # Statements stay separate (as with DuckDB's executemany) but travel 100 to a round trip.
        execute_batch(cursor, to_pyformat(sql), [list(p) for p in params], page_size=100)
        return cursor
