"""The project's own tables, on DuckDB (embedded default) or PostgreSQL (production).

- `database`: connections (`Store`, `Session`), the PostgreSQL schema lock, secrets kept out of every message
- `schema`: the DDL (snapshots, the posting journal, claims, outcomes)
- `journal`: the posting journal exactly-once rests on
"""

from aiq_pipeline.store.database import (
    Session,
    Store,
    StoreConnectionError,
    is_postgres_location,
    redact_location,
    to_pyformat,
    utcnow,
)

__all__ = [
    "Session",
    "Store",
    "StoreConnectionError",
    "is_postgres_location",
    "redact_location",
    "to_pyformat",
    "utcnow",
]
