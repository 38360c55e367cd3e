"""Dismissing exceptions with an audit trail: the shared steps (`dismissal`) and the UI's jobs (`jobs`)."""

import dagster as dg

from aiq_pipeline.defs.dismissals.jobs import dismissal_jobs
from aiq_pipeline.defs.names import PairNames


def definitions(names: PairNames) -> dg.Definitions:
    return dg.Definitions(jobs=dismissal_jobs(names))
