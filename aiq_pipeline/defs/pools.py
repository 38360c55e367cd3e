"""Dagster pools: every asset that writes the store (and posts to AIQ) holds a slot of `aiq_pipeline_store`.

DuckDB allows one writer process per file, so the local profile gives the pool one slot; PostgreSQL takes more
(deploy/dagster.production.yaml). Exactly-once does not depend on it: the posting journal's claims do that.
"""

STORE_POOL = "aiq_pipeline_store"
