"""Beside the command line: running the pipeline in this process (sync, retry, backfill, reconciliation)."""
