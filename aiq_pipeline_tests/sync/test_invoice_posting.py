from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiq_pipeline.accountsiq.models import Customer
from aiq_pipeline.service.aiq_documents import batch_invoice
from aiq_pipeline.sync.documents.context import BunnyReadings, PostingSettings
from aiq_pipeline.sync.documents.invoice import plan_invoice
from aiq_pipeline.sync.documents.plan import PostingPlan, Skip
from aiq_pipeline.sync.problems import PreflightFailed, ProblemCode
from aiq_pipeline_tests.sync.builders import SETTINGS, context, invoice, item, mapping, replace

D = Decimal


def plan(inv, **kw) -> PostingPlan:
    decision = plan_invoice(inv, context(**kw))
    assert isinstance(decision, PostingPlan), decision
    return decision


def failure(inv, **kw) -> PreflightFailed:
    with pytest.raises(PreflightFailed) as caught:
        plan(inv, **kw)
    return caught.value


def test_demo_invoice_plan() -> None:
    inv = invoice(
        item("i1", charge="1", amount="49.00", tax="11.27", tax_rate=D(23)),
        item("i2", charge="2", amount="200.00", tax="27.00", tax_code="v02"),
        item("i3", charge="3", amount="0.00", tax="0.00"),
    )
    p = plan(inv)
    assert p.customer_code == "BNY-42" and p.main.reference == "BUNNY-INV-1001"
    assert p.main.date == date(2026, 6, 2) and p.main.due_date == date(2026, 7, 2)
    assert "INV-1001" in p.main.description and len(p.main.description) <= 500
    assert p.main.exchange_rate == 1 and p.main.currency_code == "EUR"
    assert (p.main.period_name, p.main.financial_year) == ("Jun 2026", 2026)
    assert [(ln.gl_account_code, ln.gl_source) for ln in p.main.lines] == [
        ("4000", "default"),
        ("4010", "charge"),
        ("4000", "default"),
    ]
    assert [ln.tax_code for ln in p.main.lines] == ["V01", "V02", "V01"]  # default "v01" sent upper case
    assert [ln.tax_rate for ln in p.main.lines] == [D("0.23"), D("0.135"), D("0.23")]  # the AIQ code's rate
    assert [ln.net_amount for ln in p.main.lines] == [D("49.00"), D("200.00"), D("0.00")]
    assert (p.main.net, p.main.tax, p.main.gross) == (D("249.00"), D("38.27"), D("287.27"))
    assert p.customer is not None and p.customer.code == "BNY-42" and p.customer.currency_code == "EUR"


def test_plan_builds_the_real_aiq_request_dataclasses() -> None:
    p = plan(invoice())
    batch = batch_invoice(p.main)
    assert batch.customer_code == "BNY-42" and batch.lines[0].tax_amount == D("11.27")
    assert isinstance(batch.lines[0].tax_rate, Decimal) and isinstance(batch.exchange_rate, Decimal)


def test_all_problems_are_reported_at_once() -> None:
    inv = invoice(
        item("i1", charge="4"),  # LEGACY-ADDON -> 4900, a control account
        item("i2", charge="1", tax_code="ZZ9"),
        entity_id="2",
        state="DRAFT",
        issued_at=date(2026, 3, 5),
    )
    codes = set(failure(inv).codes)
    assert codes == {
        ProblemCode.WRONG_ENTITY,
        ProblemCode.NOT_POSTABLE,
        ProblemCode.NOT_POSTING_ACCOUNT,
        ProblemCode.UNKNOWN_TAX_CODE,
        ProblemCode.CLOSED_PERIOD,
    }


def test_closed_period_names_the_period_and_the_fix() -> None:
    (problem,) = failure(invoice(issued_at=date(2026, 5, 31))).problems
    assert problem.code is ProblemCode.CLOSED_PERIOD
    assert "May 2026" in problem.message and "2026" in problem.message
    assert "reopen the period" in problem.fix.lower() and "retry" in problem.fix


def test_first_open_day_posts() -> None:
    assert plan(invoice(issued_at=date(2026, 6, 1))).main.period_name == "Jun 2026"


def test_date_outside_every_period() -> None:
    (problem,) = failure(invoice(issued_at=date(2030, 1, 1))).problems
    assert problem.code is ProblemCode.NO_OPEN_PERIOD and "2030-01-01" in problem.message


def test_unknown_explicit_tax_code_fails_instead_of_falling_back() -> None:
    (problem,) = failure(invoice(item(tax_code="V99"))).problems
    assert problem.code is ProblemCode.UNKNOWN_TAX_CODE and "V99" in problem.message


def test_unknown_default_tax_code_is_reported_once() -> None:
    inv = invoice(item("a"), item("b"), item("c"))
    (problem,) = failure(inv, settings=replace(SETTINGS, default_tax_code="NOPE")).problems
    assert problem.code is ProblemCode.UNKNOWN_TAX_CODE and "AIQ_DEFAULT_TAX_CODE" in problem.fix


def test_negative_lines_net_against_lines_of_the_same_account_and_tax_code() -> None:
    inv = invoice(
        item("a", amount="100.00", tax="23.00"),
        item("b", amount="-10.00", tax="-2.30", is_credit=True),  # a proration credit on the same charge
        item("c", charge="2", amount="200.00", tax="46.00"),
    )
    p = plan(inv)
    assert len(p.documents) == 1 and not p.allocations
    assert [(ln.item_id, ln.net_amount, ln.tax_amount) for ln in p.main.lines] == [
        ("a", D("90.00"), D("20.70")),
        ("c", D("200.00"), D("46.00")),
    ]
    assert p.main.lines[0].source_items == ("a", "b")  # a credit note of line b finds its account here
    assert (p.main.net, p.main.tax) == (D("290.00"), D("66.70"))
    assert any("line b (-10.00) netted" in note for note in p.notes)


def test_credits_exceeding_their_lines_post_as_a_credit_note_allocated_to_the_invoice() -> None:
    inv = invoice(
        item("a", amount="100.00", tax="23.00"),
        item("b", charge="2", amount="50.00", tax="11.50"),
        item("c", charge="2", amount="-80.00", tax="-18.40", is_credit=True),  # a downgrade's proration credit
    )
    p = plan(inv)
    invoice_doc, credit_doc = p.documents
    assert (invoice_doc.target, credit_doc.target) == ("SI", "SN")
    assert [(ln.gl_account_code, ln.net_amount, ln.tax_amount) for ln in invoice_doc.lines] == [
        ("4000", D("100.00"), D("23.00"))
    ]
    (line,) = credit_doc.lines
    assert (line.gl_account_code, line.tax_code, line.net_amount, line.tax_amount) == (
        "4010",
        "V01",
        D("30.00"),
        D("6.90"),
    )
    assert credit_doc.reference == "BUNNY-INVCR-1001" and credit_doc.customer_code == invoice_doc.customer_code
    (allocation,) = p.allocations
    assert (allocation.source, allocation.target) == ("BUNNY-INVCR-1001", "BUNNY-INV-1001")
    # AIQ's debit less its credit is Bunny's invoice, to the cent.
    assert invoice_doc.gross - credit_doc.gross == inv.amount


def test_an_invoice_whose_total_is_negative_is_a_credit_note() -> None:
    inv = invoice(item("a", amount="20.00", tax="4.60"), item("b", amount="-50.00", tax="-11.50", is_coupon=True))
    p = plan(inv)
    (only,) = p.documents
    assert only.target == "SN" and only.reference == "BUNNY-INVCR-1001" and only.gross == D("36.90")
    assert not p.allocations


def test_net_and_tax_of_opposite_signs_cannot_be_netted() -> None:
    inv = invoice(item("a", amount="10.00", tax="2.30"), item("b", amount="-20.00", tax="0.00"))
    codes = failure(inv).codes
    assert ProblemCode.NEGATIVE_LINE in codes


def test_a_zero_value_invoice_posts_nothing_unless_asked() -> None:
    trial = invoice(item("a", amount="0.00", tax="0.00"))
    decision = plan_invoice(trial, context())
    assert isinstance(decision, Skip) and decision.code == "NOTHING_TO_POST"
    coupon = invoice(item("a", amount="49.00", tax="11.27"), item("b", amount="-49.00", tax="-11.27", is_coupon=True))
    assert isinstance(plan_invoice(coupon, context()), Skip)
    posted = plan(coupon, settings=replace(SETTINGS, post_zero_value=True))
    assert posted.main.gross == D("0.00")


def test_credit_applied_is_a_settlement_the_invoice_posts_at_full_value() -> None:
    inv = invoice(item(amount="49.00", tax="11.27"), credits=D("10.00"))
    p = plan(inv)
    assert p.main.gross == D("60.27")
    assert any("10.00 of account credit" in note for note in p.notes)
    # A tenant whose Bunny reports `amount` after applied credits reads the same invoice the other way.
    less = replace(inv, amount=D("50.27"))
    assert failure(less).codes == (ProblemCode.TOTALS_MISMATCH,)
    readings = replace(SETTINGS, readings=BunnyReadings(amount="less_credits"))
    assert plan(less, settings=readings).main.gross == D("60.27")


def test_totals_must_match_bunny_to_the_cent() -> None:
    inv = invoice(item(amount="49.00", tax="11.27"), amount=D("50.27"))  # e.g. 10.00 credit applied
    (problem,) = failure(inv).problems
    assert problem.code is ProblemCode.TOTALS_MISMATCH
    assert "gross 60.27 vs Bunny 50.27" in problem.message and "AIQ_PIPELINE_BUNNY_AMOUNT" in problem.fix


def test_no_lines() -> None:
    inv = replace(invoice(), items=())
    assert ProblemCode.NO_LINES in failure(inv).codes
    empty = replace(inv, subtotal=D(0), tax_amount=D(0), amount=D(0))
    assert isinstance(plan_invoice(empty, context()), Skip)  # zero value: nothing to post


def test_missing_customer_data_only_matters_when_the_customer_must_be_created() -> None:
    inv = invoice(account=None)
    assert failure(inv).codes == (ProblemCode.MISSING_CUSTOMER_DATA,)
    existing = Customer(code="BNY-42", name="Acme", currency_code="EUR")
    assert plan(inv, existing_customer=existing).customer is None


def test_existing_customer_in_another_currency() -> None:
    existing = Customer(code="BNY-42", name="Acme", currency_code="GBP")
    assert failure(invoice(), existing_customer=existing).codes == (ProblemCode.CURRENCY_MISMATCH,)


def test_unmapped_charge_and_missing_default() -> None:
    from aiq_pipeline_tests.sync.builders import BUNNY_ACCOUNTS

    no_default = [replace(a, default_account=False) for a in BUNNY_ACCOUNTS]
    m = mapping(accounts=no_default)
    problems = failure(invoice(item(charge="1"), item("x", charge=None)), mapping=m).problems
    assert {p.code for p in problems} == {ProblemCode.UNMAPPED_CHARGE}
    unknown = failure(invoice(item(charge="777"))).problems[0]
    assert unknown.code is ProblemCode.UNMAPPED_CHARGE and "777" in unknown.message


def test_line_without_charge_uses_the_default_account() -> None:
    assert plan(invoice(item(charge=None))).main.lines[0].gl_account_code == "4000"


def test_foreign_currency_rate_from_bunny_conversion() -> None:
    inv = invoice(item(amount="100.00", tax="23.00"), currency_code="USD", base_currency_total=D("113.16"))
    assert plan(inv).main.exchange_rate == D("0.92")


def test_foreign_currency_rate_from_settings_when_bunny_has_none() -> None:
    inv = invoice(currency_code="GBP", base_currency_total=None)
    assert plan(inv).main.exchange_rate == D("1.17")


def test_foreign_currency_without_rate() -> None:
    inv = invoice(currency_code="USD", base_currency_code="USD", base_currency_total=D(1))
    assert failure(inv).codes == (ProblemCode.NO_EXCHANGE_RATE,)
    bad = PostingSettings("1", "V01", exchange_rates={"USD": D(0)})
    assert failure(inv, settings=bad).codes == (ProblemCode.NO_EXCHANGE_RATE,)


def test_currency_the_aiq_company_lacks() -> None:
    inv = invoice(currency_code="CHF", base_currency_total=D("70.00"))
    assert ProblemCode.UNKNOWN_CURRENCY in failure(inv).codes


def test_a_line_never_posts_at_a_rate_bunny_did_not_charge() -> None:
    (problem,) = failure(invoice(item(tax_rate=D(230)))).problems
    assert problem.code is ProblemCode.TAX_RATE_MISMATCH and "230" in problem.message and "V01" in problem.message


def test_descriptions_are_single_line_and_bounded() -> None:
    p = plan(invoice(item(line_text="a\nb  " + "c" * 600), number="N" * 600))
    assert p.main.lines[0].description.startswith("a b c") and len(p.main.lines[0].description) == 500
    assert len(p.main.description) == 500


def test_problem_messages_name_the_invoice_and_say_what_to_do() -> None:
    for problem in failure(invoice(item(charge="4"), state="DRAFT", issued_at=date(2025, 1, 1))).problems:
        assert "INV-1001" in problem.message or "4900" in problem.message
        assert problem.fix and str(problem).startswith(f"[{problem.code}]")


# (net, tax) pairs: any net, its tax at the default code's 23 %
cents = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False)
taxed = cents.map(lambda net: (net, (net * D("0.23")).quantize(D("0.01"), rounding=ROUND_HALF_UP)))


@settings(max_examples=150)
@given(st.lists(taxed, min_size=1, max_size=30).filter(lambda amounts: any(net for net, _ in amounts)))
def test_plan_totals_equal_the_sum_of_lines_to_the_cent(amounts) -> None:
    items = [item(f"i{n}", amount=str(net), tax=str(tax)) for n, (net, tax) in enumerate(amounts)]
    p = plan(invoice(*items))
    assert p.main.net == sum((ln.net_amount for ln in p.main.lines), D(0)) == sum((net for net, _ in amounts), D(0))
    assert p.main.tax == sum((ln.tax_amount for ln in p.main.lines), D(0)) == sum((tax for _, tax in amounts), D(0))
    assert p.main.gross == p.main.net + p.main.tax
    for ln in p.main.lines:
        assert ln.net_amount.as_tuple().exponent == -2 and ln.tax_amount.as_tuple().exponent == -2
        assert D(0) <= ln.tax_rate <= D(1)


def test_consolidated_billing_posts_each_revenue_once_under_both_readings() -> None:
    component = invoice(state="CONSOLIDATED", merged_to_invoice_id="2001")  # Bunny's docs: the queued ones
    decision = plan_invoice(component, context())
    assert isinstance(decision, Skip) and decision.code == "CONSOLIDATED" and "2001" in decision.reason
    combined = invoice(state="CONSOLIDATED")  # the other reading: the combined invoice is CONSOLIDATED
    assert plan(combined).main.reference == "BUNNY-INV-1001"
