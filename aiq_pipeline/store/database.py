"""Connections to the project's tables (the DDL is in `schema.py`).

Embedded default: one DuckDB file. Production: PostgreSQL, by giving a `postgresql://` URL instead of a
path (the same SQL runs on both; placeholders are translated). DuckDB allows one process per file, so
it is opened for one transaction at a time (never across a call to AIQ or Bunny), and opening retries briefly
while another process (another run) holds the file: two posting runs interleave their transactions.

On PostgreSQL many processes share the database, so: statements run in transactions (committed on success,
rolled back on error); the schema is created once per schema version under an advisory lock (concurrent
`CREATE TABLE IF NOT EXISTS` / `CREATE OR REPLACE VIEW` from several runs otherwise fail with duplicate-type or
"tuple concurrently updated" errors); sessions run in UTC so TIMESTAMP columns hold UTC whatever the server's
zone; and upserts touch rows in key order so two runs never deadlock. A password in the URL never reaches a
repr, a log line or an error message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

import duckdb
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from aiq_pipeline.store import schema

# pg_advisory_xact_lock key serialising schema creation across processes (any constant unique to the project).
_SCHEMA_LOCK_KEY = 0x41495150  # "AIQP"

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgres+psycopg2://")


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


def values_rows(rows: int, columns: int) -> str:
    """`(?, ?), (?, ?)`: the VALUES list of one statement of `rows` rows."""
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


def utcnow() -> datetime:
    """Naive UTC: both backends store TIMESTAMP without a zone, always in UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class Session:
    """The store for a batch of work. `execute` and `query` commit at once; `transaction()` groups statements so
    they commit together or not at all.

    PostgreSQL: one connection held for the batch. DuckDB: the file is opened for each outermost transaction and
    closed after it (`opener`), because DuckDB admits one process per file and a batch spends most of its time
    waiting on AIQ and Bunny and writing Dagster's events: held for the batch, the file would keep every other
    run out. Opening and closing costs some 15-25 ms: 0.7 s for the 32 transactions of a batch of 500.
    """

    def __init__(self, raw: Any, *, is_postgres: bool, opener: Callable[[], Any] | None = None) -> None:
        self._raw = raw
        self._opener = opener
        self.is_postgres = is_postgres
        self._in_transaction = False

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        if self._in_transaction:  # nested: part of the outer transaction
            yield self._connection()
            return
        opened = self._raw is None
        if opened:
            assert self._opener is not None
            self._raw = self._opener()
        self._in_transaction = True
        try:
            if self.is_postgres:
                with self._raw:  # commit on success, roll back on error
                    yield self._connection()
            else:
                self._raw.begin()
                try:
                    yield self._raw
                except BaseException:
                    self._raw.rollback()
                    raise
                self._raw.commit()
        finally:
            self._in_transaction = False
            if opened:
                self.close()

    def _connection(self) -> _Connection:
        return _PostgresConnection(self._raw) if self.is_postgres else self._raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.transaction() as conn:
            conn.execute(sql, list(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.transaction() as conn:
                conn.executemany(sql, rows)

    def executemany_values(self, sql: str, rows: Sequence[Sequence[Any]], *, per_statement: int = 500) -> None:
        """`sql` with `{values}` for a VALUES list, run over `rows` as statements of up to `per_statement` rows
        in one transaction (DuckDB runs one many-row statement far faster than `executemany`)."""
        with self.transaction() as conn:
            for n in range(0, len(rows), per_statement):
                part = rows[n : n + per_statement]
                conn.execute(sql.format(values=values_rows(len(part), len(part[0]))), [v for r in part for v in r])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            return _rows(conn.execute(sql, list(params)))

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None


def _rows(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


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
    def session(self) -> Iterator[Session]:
        """The store until the block ends (see `Session`)."""
        if not self.is_postgres:
            session = Session(None, is_postgres=False, opener=self._open_duckdb)
        else:
            raw = self._open_postgres()
            session = Session(raw, is_postgres=True)
            try:
                if not self._initialised:
                    _ensure_postgres_schema(raw)
                self._initialised = True
            except BaseException:
                session.close()
                raise
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def connect(self) -> Iterator[_Connection]:
        """One transaction on a short-lived connection."""
        with self.session() as session, session.transaction() as conn:
            yield conn

    @retry(
        retry=retry_if_exception(_is_lock_error),
        wait=wait_exponential(multiplier=0.05, max=2),
        stop=stop_after_delay(60),
        reraise=True,
    )
    def _open_duckdb(self) -> duckdb.DuckDBPyConnection:
        Path(self.location).parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(self.location)
        if not self._initialised:  # the first open creates the schema
            for statement in schema.STATEMENTS:
                conn.execute(statement)
            self._initialised = True
        return conn

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
        columns = [name for name, _ in _snapshot_columns(table)]
        snapshot_at = utcnow()
        snapshot_id = snapshot_at.strftime("%Y%m%dT%H%M%S%fZ")
        sql = (
            f"INSERT INTO {table} (snapshot_id, snapshot_at, entity_id, {', '.join(columns)}) "
            f"VALUES ({', '.join(['?'] * (len(columns) + 3))})"
        )
        params = [[snapshot_id, snapshot_at, entity_id, *(row.get(c) for c in columns)] for row in rows]
        with self.session() as session:
            session.executemany(sql, params)
        return snapshot_id, snapshot_at

    def current(self, table: str, entity_id: str) -> list[dict[str, Any]]:
        """The rows of the entity's latest snapshot of `table`."""
        _snapshot_columns(table)
        return self.query(f"SELECT * FROM {table}_current WHERE entity_id = ?", [entity_id])

    def snapshot_count(self, table: str) -> int:
        _snapshot_columns(table)
        return int(self.query(f"SELECT COUNT(DISTINCT snapshot_id) AS n FROM {table}")[0]["n"])

    # -- generic -----------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.session() as session:
            return session.query(sql, params)


def _snapshot_columns(table: str) -> tuple[tuple[str, str], ...]:
    if table not in schema.SNAPSHOT_TABLES:
        raise ValueError(f"unknown snapshot table {table!r}")
    return schema.SNAPSHOT_TABLES[table]


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
        for statement in schema.STATEMENTS:
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO aiq_pipeline_schema (fingerprint, applied_at) VALUES (%s, %s)",
            [schema.FINGERPRINT, utcnow()],
        )


def _schema_applied(cursor: Any) -> bool:
    cursor.execute("SELECT to_regclass('aiq_pipeline_schema') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return False
    cursor.execute("SELECT 1 FROM aiq_pipeline_schema WHERE fingerprint = %s", [schema.FINGERPRINT])
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
