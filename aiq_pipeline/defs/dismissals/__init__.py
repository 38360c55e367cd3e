"""Dismissing exceptions with an audit trail: the shared steps (`dismissal`) and the UI's jobs (`jobs`)."""

import dagster as dg

from aiq_pipeline.defs.dismissals.jobs import dismiss_exceptions, undismiss_exceptions


def definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[dismiss_exceptions, undismiss_exceptions])
