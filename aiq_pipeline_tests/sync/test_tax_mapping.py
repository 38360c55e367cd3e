"""Bunny tax reaches the right AIQ tax code, at the rate Bunny charged, and AIQ's tax and gross equal Bunny's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aiq_pipeline.sync.documents.invoice import plan_invoice
from aiq_pipeline.sync.documents.plan import PostingPlan
from aiq_pipeline.sync.problems import PreflightFailed, ProblemCode
from aiq_pipeline.sync.tax import TaxMappingError, parse_tax_mapping
from aiq_pipeline_tests.sync.builders import ACCOUNT, SETTINGS, context, invoice, item, replace

D = Decimal
MAPPING = parse_tax_mapping(
    "bunny_tax_code,bunny_vat_code,rate,country,aiq_tax_code\n"
    "AVT-SAAS,,,,V01\n"  # an Avalara product tax code
    ",RC,,,V00\n"  # reverse charge
    ",,0,,EX\n"  # any other 0 % line: exempt
    ",,13.5,IE,V02\n"  # reduced rate, Irish customers
)
MAPPED = replace(SETTINGS, tax_mapping=MAPPING)


def plan(inv, **kw) -> PostingPlan:  # type: ignore[no-untyped-def]
    decision = plan_invoice(inv, context(**kw))
    assert isinstance(decision, PostingPlan), decision
    return decision


def problems(inv, **kw) -> tuple:  # type: ignore[no-untyped-def]
    with pytest.raises(PreflightFailed) as caught:
        plan_invoice(inv, context(**kw))
    return caught.value.problems


def test_the_mapping_sends_each_bunny_tax_to_its_aiq_code() -> None:
    inv = invoice(
        item("a", amount="100.00", tax="23.00", tax_code="AVT-SAAS", tax_rate=D(23)),
        item("b", amount="50.00", tax="0.00", vat_code="RC", tax_rate=D(0)),
        item("c", amount="40.00", tax="0.00", tax_rate=D(0)),
        item("d", amount="200.00", tax="27.00", tax_rate=D("13.5")),  # ACCOUNT is in IE
    )
    p = plan(inv, settings=MAPPED)
    assert [(ln.item_id, ln.tax_code, ln.tax_rate) for ln in p.main.lines] == [
        ("a", "V01", D("0.23")),
        ("b", "V00", D("0")),
        ("c", "EX", D("0")),
        ("d", "V02", D("0.135")),
    ]


def test_a_country_rule_applies_only_to_that_country() -> None:
    elsewhere = replace(ACCOUNT, billing_country="FR")
    inv = invoice(item("d", amount="200.00", tax="27.00", tax_rate=D("13.5")), account=elsewhere)
    (problem,) = problems(inv, settings=MAPPED)
    # No rule for 13.5 % outside Ireland, and the default V01 is 23 %: never posted at the default's rate.
    assert problem.code is ProblemCode.TAX_RATE_MISMATCH and "V01" in problem.message and "13.5" in problem.message


def test_the_default_code_takes_only_lines_at_its_own_rate() -> None:
    zero = invoice(item("x", amount="30.00", tax="0.00"))  # an export line: no code, no tax
    (problem,) = problems(zero)
    assert problem.code is ProblemCode.TAX_RATE_MISMATCH and "default" in problem.message
    assert "AIQ_PIPELINE_TAX_MAPPING" in problem.fix
    assert plan(zero, settings=MAPPED).main.lines[0].tax_code == "EX"
    standard = invoice(item("y", amount="30.00", tax="6.90"))
    assert plan(standard).main.lines[0].tax_code == "V01"


def test_an_engine_code_nobody_mapped_is_named_with_its_fix() -> None:
    (problem,) = problems(invoice(item(tax_code="AVT-HARDWARE", tax_rate=D(23))))
    assert problem.code is ProblemCode.UNKNOWN_TAX_CODE and "AVT-HARDWARE" in problem.message
    assert "AIQ_PIPELINE_TAX_MAPPING" in problem.fix


def test_bunny_and_aiq_rates_are_read_in_the_units_they_use() -> None:
    from aiq_pipeline.sync.documents.context import BunnyReadings

    fraction = replace(SETTINGS, readings=BunnyReadings(tax_rate_units="fraction"))
    inv = invoice(item(amount="100.00", tax="23.00", tax_rate=D("0.23")))
    assert plan(inv, settings=fraction).main.lines[0].tax_rate == D("0.23")
    assert problems(inv)[0].code is ProblemCode.TAX_RATE_MISMATCH  # 0.23 read as a percentage


def test_document_tax_rounding_within_the_tolerance_makes_aiqs_tax_bunnys() -> None:
    lines = [item(f"i{n}", amount="0.33", tax="0.08") for n in range(3)]  # 3 x 0.0759 = 0.2277 -> 0.23, not 0.24
    inv = invoice(*lines, tax_amount=D("0.23"), amount=D("1.22"))
    p = plan(inv)
    assert p.main.tax == D("0.23") and p.main.gross == inv.amount
    assert any("tax rounding of -0.01" in note for note in p.notes)
    on_a_line = plan(
        invoice(*lines, tax_amount=D("0.25"), amount=D("1.24")), settings=replace(SETTINGS, rounding_account="4000")
    )
    rounding = on_a_line.main.lines[-1]
    assert (rounding.gl_source, rounding.net_amount, rounding.tax_amount) == ("rounding", D("0.00"), D("0.01"))
    (problem,) = problems(invoice(*lines, tax_amount=D("0.30"), amount=D("1.29")))
    assert problem.code is ProblemCode.TAX_ROUNDING and "0.06" in problem.message


def test_a_bad_mapping_file_names_its_line() -> None:
    with pytest.raises(TaxMappingError, match="line 3: rate 'abc'"):
        parse_tax_mapping("bunny_tax_code,bunny_vat_code,rate,country,aiq_tax_code\nA,,,,V01\n,,abc,,V00\n")
    with pytest.raises(TaxMappingError, match="lacks the column"):
        parse_tax_mapping("code,aiq\nA,V01\n")
    with pytest.raises(TaxMappingError, match="needs a bunny_tax_code"):
        parse_tax_mapping("bunny_tax_code,bunny_vat_code,rate,country,aiq_tax_code\n,,,IE,V01\n")
