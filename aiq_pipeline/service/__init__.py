"""Application services: the steps of the product, composed from the clients and the pure sync domain.

No Dagster here: the Dagster layer (`aiq_pipeline.defs`) and the CLI call these.
"""
