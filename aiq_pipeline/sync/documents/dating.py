"""Which AIQ date and period a document posts in.

The document's own date must fall in an AIQ period whose sales ledger (and financial year) is open. With the
`first_open_day` closed-period policy (off by default) a date in a *closed* period posts on the first day of the
next open period instead, and the description keeps Bunny's date. A date no period covers is never moved (a
missing financial year is a setup gap, not a closed period).
"""

from __future__ import annotations

from datetime import date

from aiq_pipeline.sync.documents.context import CLOSED_PERIOD_FAIL, CLOSED_PERIOD_FIRST_OPEN_DAY
from aiq_pipeline.sync.inputs import AiqPeriod
from aiq_pipeline.sync.problems import Problem, ProblemCode


def _is_open(period: AiqPeriod) -> bool:
    return not period.sales_ledger_closed and not period.financial_year_closed


def _containing(day: date, periods: tuple[AiqPeriod, ...]) -> list[AiqPeriod]:
    return [p for p in periods if p.start_date and p.end_date and p.start_date <= day <= p.end_date]


def _first_open_period_after(day: date, periods: tuple[AiqPeriod, ...]) -> AiqPeriod | None:
    later = [p for p in periods if p.start_date and p.end_date and p.start_date > day and _is_open(p)]
    return min(later, key=lambda p: p.start_date or day, default=None)


def posting_day(
    day: date, periods: tuple[AiqPeriod, ...], policy: str = CLOSED_PERIOD_FAIL
) -> tuple[date, AiqPeriod] | None:
    """The AIQ date and period a document issued on `day` posts in, or None when it cannot post."""
    containing = _containing(day, periods)
    open_ = [p for p in containing if _is_open(p)]
    if open_:
        return day, open_[0]
    if containing and policy == CLOSED_PERIOD_FIRST_OPEN_DAY:
        later = _first_open_period_after(day, periods)
        if later is not None and later.start_date is not None:
            return later.start_date, later
    return None


def posting_date(
    label: str, day: date, periods: tuple[AiqPeriod, ...], policy: str = CLOSED_PERIOD_FAIL
) -> tuple[tuple[date, AiqPeriod] | None, list[Problem]]:
    """`posting_day`, or the problem saying why the document (named by `label`) cannot post on `day`."""
    found = posting_day(day, periods, policy)
    if found is not None:
        return found, []
    containing = _containing(day, periods)
    if not containing:
        return None, [
            Problem(
                ProblemCode.NO_OPEN_PERIOD,
                f"{label} is dated {day.isoformat()}, and no AIQ period covers that date.",
                "Create the financial year covering that date in AIQ (Period Manager), then retry.",
            )
        ]
    period = containing[0]
    if policy == CLOSED_PERIOD_FIRST_OPEN_DAY:
        tail = "; no later AIQ period is open to post it on its first day instead"
        fix = "Reopen the period's sales ledger, or open a later period, in AIQ; then retry."
    else:
        tail = ""
        fix = (
            "Reopen the period's sales ledger in AIQ, then retry (or set AIQ_PIPELINE_CLOSED_PERIOD_POLICY="
            "first_open_day to post such documents on the first day of the next open period)."
        )
    return None, [
        Problem(
            ProblemCode.CLOSED_PERIOD,
            f"{label} is dated {day.isoformat()}, in AIQ period {period.period_name or '?'} of financial year "
            f"{period.financial_year}, whose sales ledger is closed{tail}.",
            fix,
        )
    ]
