"""The two options of the currencies-and-periods rules: posting on the first open day, and AIQ's rate as last resort."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal

import pytest

from aiq_pipeline.sync.documents.context import CLOSED_PERIOD_FIRST_OPEN_DAY, PostedDocument, PostingSettings
from aiq_pipeline.sync.documents.credit_note import plan_void_reversal
from aiq_pipeline.sync.documents.dating import posting_day
from aiq_pipeline.sync.documents.invoice import plan_invoice
from aiq_pipeline.sync.documents.plan import PostingPlan
from aiq_pipeline.sync.identity import invoice_reference
from aiq_pipeline.sync.problems import PreflightFailed, ProblemCode
from aiq_pipeline_tests.sync.builders import PERIODS, SETTINGS, context, invoice, item, ledger

D = Decimal
MOVE = dataclasses.replace(SETTINGS, closed_period_policy=CLOSED_PERIOD_FIRST_OPEN_DAY)


def plan(inv, settings: PostingSettings = SETTINGS, **kw):  # type: ignore[no-untyped-def]
    decision = plan_invoice(inv, context(settings=settings, **kw))
    assert isinstance(decision, PostingPlan), decision
    return decision


def reversal(voided, settings: PostingSettings) -> PostingPlan:  # type: ignore[no-untyped-def]
    posted = {invoice_reference(voided.id): PostedDocument(invoice_reference(voided.id), 7, voided.amount)}
    decision = plan_void_reversal(voided, context(settings=settings, posted=posted))
    assert isinstance(decision, PostingPlan), decision
    return decision


def problems(inv, settings: PostingSettings = SETTINGS, **kw) -> PreflightFailed:  # type: ignore[no-untyped-def]
    with pytest.raises(PreflightFailed) as caught:
        plan(inv, settings, **kw)
    return caught.value


# --- closed period ------------------------------------------------------------------------------------


def test_closed_period_fails_by_default_and_names_the_option() -> None:
    (problem,) = problems(invoice(issued_at=date(2026, 5, 15))).problems
    assert problem.code is ProblemCode.CLOSED_PERIOD and "May 2026" in problem.message
    assert "first_open_day" in problem.fix and "Reopen" in problem.fix


def test_first_open_day_moves_a_closed_date_and_keeps_bunnys_date_in_the_description() -> None:
    p = plan(invoice(issued_at=date(2026, 5, 15)), MOVE)
    assert p.main.date == date(2026, 6, 1) and p.bunny_issue_date == date(2026, 5, 15)
    assert p.posting_date_moved and (p.main.period_name, p.main.financial_year) == ("Jun 2026", 2026)
    assert p.main.description == "Bunny invoice INV-1001, issued 2026-05-15 in Bunny"
    assert p.main.due_date == date(2026, 7, 2)  # the customer's due date is Bunny's, untouched


def test_first_open_day_leaves_an_open_date_alone() -> None:
    p = plan(invoice(issued_at=date(2026, 6, 2)), MOVE)
    assert p.main.date == date(2026, 6, 2) and not p.posting_date_moved
    assert p.main.description == "Bunny invoice INV-1001"


def test_first_open_day_skips_closed_periods_and_closed_years() -> None:
    periods = tuple(
        dataclasses.replace(p, sales_ledger_closed=True) if (p.financial_year, p.period_number) == (2026, 6) else p
        for p in PERIODS
    )
    assert posting_day(date(2026, 5, 15), periods, CLOSED_PERIOD_FIRST_OPEN_DAY)[0] == date(2026, 7, 1)  # type: ignore[index]
    year_closed = tuple(
        dataclasses.replace(p, financial_year_closed=True) if p.start_date < date(2026, 8, 1) else p for p in PERIODS
    )
    assert posting_day(date(2026, 5, 15), year_closed, CLOSED_PERIOD_FIRST_OPEN_DAY)[0] == date(2026, 8, 1)  # type: ignore[index]


def test_first_open_day_without_a_later_open_period_is_the_same_clear_exception() -> None:
    all_closed = tuple(dataclasses.replace(p, sales_ledger_closed=True) for p in PERIODS)
    (problem,) = problems(invoice(issued_at=date(2026, 5, 15)), MOVE, ledger=ledger(periods=all_closed)).problems
    assert problem.code is ProblemCode.CLOSED_PERIOD and "May 2026" in problem.message
    assert "no later AIQ period is open" in problem.message and "Reopen" in problem.fix


def test_first_open_day_never_moves_a_date_no_period_covers() -> None:
    (problem,) = problems(invoice(issued_at=date(2030, 1, 1)), MOVE).problems
    assert problem.code is ProblemCode.NO_OPEN_PERIOD


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="closed_period_policy"):
        PostingSettings("1", "V01", closed_period_policy="post_anyway")


def test_a_void_is_dated_on_the_day_of_the_void_and_moves_out_of_a_closed_period_like_an_invoice() -> None:
    # An invoice of May (closed) voided on 9 June posts its reversal on 9 June: nothing to reopen.
    in_june = reversal(
        invoice(issued_at=date(2026, 5, 15), state="VOIDED", updated_at=datetime(2026, 6, 9, 10)), SETTINGS
    )
    assert in_june.main.date == date(2026, 6, 9) == in_june.bunny_issue_date and not in_june.posting_date_moved
    # Voided on a day that is closed by now: it moves to the first open day, as an invoice would.
    closed = invoice(issued_at=date(2026, 5, 2), state="VOIDED", updated_at=datetime(2026, 5, 20, 10))
    moved = reversal(closed, MOVE)
    assert moved.main.date == date(2026, 6, 1) and moved.posting_date_moved
    assert moved.main.description.endswith("issued 2026-05-20 in Bunny")
    with pytest.raises(PreflightFailed) as failed:
        reversal(closed, SETTINGS)
    assert failed.value.codes == (ProblemCode.CLOSED_PERIOD,)


# --- exchange rate sources ----------------------------------------------------------------------------


def test_rate_sources_in_order_base_bunny_configured_aiq() -> None:
    assert plan(invoice()).exchange_rate_source == "base"
    usd = invoice(currency_code="USD", base_currency_total=D("55.4484"))  # 0.92 x 60.27
    assert (plan(usd).main.exchange_rate, plan(usd).exchange_rate_source) == (D("0.92"), "bunny")
    gbp = invoice(currency_code="GBP", base_currency_total=None)
    with_aiq = dataclasses.replace(SETTINGS, aiq_rates={"GBP": D("1.2")})
    assert (plan(gbp, with_aiq).main.exchange_rate, plan(gbp, with_aiq).exchange_rate_source) == (
        D("1.17"),
        "configured",
    )
    only_aiq = dataclasses.replace(SETTINGS, exchange_rates={}, aiq_rates={"GBP": D("1.2")})
    p = plan(gbp, only_aiq)
    assert (p.main.exchange_rate, p.exchange_rate_source) == (D("1.2"), "aiq")


def test_no_rate_anywhere_is_no_exchange_rate_naming_aiq_and_the_setting() -> None:
    gbp = invoice(currency_code="GBP", base_currency_total=None)
    (problem,) = problems(gbp, dataclasses.replace(SETTINGS, exchange_rates={})).problems
    assert problem.code is ProblemCode.NO_EXCHANGE_RATE and "GBP" in problem.message
    assert "AIQ" in problem.fix and "configure" in problem.fix
    bad_aiq = dataclasses.replace(SETTINGS, exchange_rates={}, aiq_rates={"GBP": D(0)})
    assert problems(gbp, bad_aiq).codes == (ProblemCode.NO_EXCHANGE_RATE,)


@pytest.mark.parametrize("signed", [True, False], ids=["base_total_signed", "base_total_magnitude"])
def test_an_invoice_whose_total_is_negative_takes_bunnys_own_conversion(signed: bool) -> None:
    """Bunny's `baseCurrencyTotal` of a negative invoice, signed as its amount or as a magnitude (UNVERIFIED): the
    rate is the same either way. Before, `amount > 0` sent it to the configured rate (1.17, not Bunny's 0.92)."""
    a = item("a", amount="20.00", tax="4.60")
    b = item("b", amount="-50.00", tax="-11.50", is_coupon=True)
    base = D("-33.948") if signed else D("33.948")  # 0.92 x -36.90
    usd = invoice(a, b, currency_code="USD", base_currency_total=base)
    p = plan(usd, dataclasses.replace(SETTINGS, exchange_rates={"USD": D("1.17")}))
    assert (p.main.exchange_rate, p.exchange_rate_source) == (D("0.92"), "bunny")


def test_a_base_total_of_zero_is_no_conversion_and_the_configured_rate_is_taken() -> None:
    """Should Bunny show a negative invoice's base total as 0 (UNVERIFIED), that is no rate: before, it read as a rate
    of 0, NO_EXCHANGE_RATE on every retry, the configured rate never reached (found in review)."""
    a = item("a", amount="20.00", tax="4.60")
    b = item("b", amount="-50.00", tax="-11.50", is_coupon=True)
    usd = invoice(a, b, currency_code="USD", base_currency_total=D("0"))
    p = plan(usd, dataclasses.replace(SETTINGS, exchange_rates={"USD": D("1.17")}))
    assert (p.main.exchange_rate, p.exchange_rate_source) == (D("1.17"), "configured")
