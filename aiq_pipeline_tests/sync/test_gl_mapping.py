from aiq_pipeline.bunny.models import FinancialAccount, PriceListCharge
from aiq_pipeline.sync.gl_mapping import account_problem, chart_by_code, resolve_gl_mapping, validate_gl_mapping
from aiq_pipeline.sync.problems import ProblemCode
from aiq_pipeline_tests.sync.builders import BUNNY_ACCOUNTS, CHARGES, CHART, mapping, replace


def rows_by_code(m):
    return {row.charge_code: row for row in m.rows}


def test_demo_tenant_resolution() -> None:
    rows = rows_by_code(resolve_gl_mapping(CHARGES, BUNNY_ACCOUNTS, entity_id="1"))
    assert (rows["SUB-MONTHLY"].account_code, rows["SUB-MONTHLY"].source) == ("4000", "default")
    assert (rows["PRO-SERVICES"].account_code, rows["PRO-SERVICES"].source) == ("4010", "charge")
    assert (rows["API-USAGE"].account_code, rows["API-USAGE"].source) == ("4000", "default")
    assert (rows["LEGACY-ADDON"].account_code, rows["LEGACY-ADDON"].source) == ("4900", "charge")
    assert all(row.problem is None for row in rows.values())  # resolution alone reads Bunny only


def test_demo_tenant_validation_flags_the_control_account() -> None:
    m = mapping()
    rows = rows_by_code(m)
    problem = rows["LEGACY-ADDON"].problem
    assert problem is not None and problem.code is ProblemCode.NOT_POSTING_ACCOUNT
    assert "LEGACY-ADDON" in problem.message and "4900" in problem.message and "Control" in problem.message
    assert "Bunny" in problem.fix
    assert [p.code for p in m.problems] == [ProblemCode.NOT_POSTING_ACCOUNT]
    assert m.default_account_code == "4000" and m.default_problem is None


def test_charge_mapped_by_id_only_takes_the_accounts_code() -> None:
    charge = PriceListCharge("9", "X", "X", financial_account_id="11")
    (row,) = resolve_gl_mapping([charge], BUNNY_ACCOUNTS, entity_id="1").rows
    assert (row.account_code, row.source) == ("4010", "charge")


def test_charge_mapped_to_a_bunny_built_in_account_is_unmapped() -> None:
    charge = PriceListCharge("9", "X", "X", financial_account_id="b1")
    (row,) = resolve_gl_mapping([charge], BUNNY_ACCOUNTS, entity_id="1").rows
    assert row.account_code is None and row.source is None
    assert row.problem.code is ProblemCode.UNMAPPED_CHARGE and "no AIQ code" in row.problem.message


def test_charge_mapped_to_another_entitys_account_is_unmapped() -> None:
    other = FinancialAccount("99", "5000", "US revenue", "earned_revenue", True, False, "2")
    charge = PriceListCharge("9", "X", "X", financial_account_id="99")
    (row,) = resolve_gl_mapping([charge], [*BUNNY_ACCOUNTS, other], entity_id="1").rows
    assert row.problem.code is ProblemCode.UNMAPPED_CHARGE and "entity 1" in row.problem.message


def test_no_default_means_unmapped_with_a_fix() -> None:
    accounts = [replace(a, default_account=False) if a.code == "4000" else a for a in BUNNY_ACCOUNTS]
    m = resolve_gl_mapping(CHARGES, accounts, entity_id="1")
    row = rows_by_code(m)["SUB-MONTHLY"]
    assert row.account_code is None and row.problem.code is ProblemCode.UNMAPPED_CHARGE
    assert "SUB-MONTHLY" in row.problem.message and "Default" in row.problem.fix
    assert rows_by_code(m)["PRO-SERVICES"].problem is None  # own mapping unaffected
    assert m.default_account_code is None and m.default_problem is not None


def test_inactive_or_non_revenue_or_other_entity_defaults_are_ignored() -> None:
    accounts = [
        FinancialAccount("1", "4000", "a", "earned_revenue", False, True, "1"),
        FinancialAccount("2", "4010", "b", "deferred_revenue", True, True, "1"),
        FinancialAccount("3", "4020", "c", "earned_revenue", True, True, "2"),
    ]
    assert resolve_gl_mapping([], accounts, entity_id="1").default_account_code is None


def test_two_coded_defaults_are_ambiguous() -> None:
    accounts = [*BUNNY_ACCOUNTS, FinancialAccount("13", "4020", "Usage", "earned_revenue", True, True, "1")]
    m = resolve_gl_mapping(CHARGES, accounts, entity_id="1")
    assert m.default_account_code is None
    assert "4000" in m.default_problem.message and "4020" in m.default_problem.message


def test_codes_are_compared_and_sent_upper_case() -> None:
    charge = PriceListCharge("9", "X", "X", None, financial_account_code=" 4000a ")
    (row,) = resolve_gl_mapping([charge], [], entity_id="1").rows
    assert row.account_code == "4000A"


def test_each_aiq_refusal_is_a_specific_problem() -> None:
    chart = chart_by_code(CHART)
    expected = {
        "4999": ProblemCode.UNKNOWN_GL_ACCOUNT,
        "4099": ProblemCode.INACTIVE_GL_ACCOUNT,
        "4900": ProblemCode.NOT_POSTING_ACCOUNT,
        "1200": ProblemCode.NOT_POSTING_ACCOUNT,
        "4030": ProblemCode.DEPARTMENTAL_ACCOUNT,
    }
    for code, problem_code in expected.items():
        problem = account_problem(code, chart, used_by="charge Z (id 5)")
        assert problem is not None and problem.code is problem_code, code
        assert code in problem.message and "charge Z (id 5)" in problem.message and problem.fix
    assert account_problem("4000", chart, used_by="x") is None


def test_validation_attaches_problems_per_charge_and_to_the_default() -> None:
    charges = [PriceListCharge("5", "REGIONAL", "r", None, "4030"), PriceListCharge("6", "OLD", "o", None, "4099")]
    accounts = [FinancialAccount("1", "4999", "gone", "earned_revenue", True, True, "1")]
    m = validate_gl_mapping(resolve_gl_mapping(charges, accounts, entity_id="1"), CHART)
    assert [row.problem.code for row in m.rows] == [ProblemCode.DEPARTMENTAL_ACCOUNT, ProblemCode.INACTIVE_GL_ACCOUNT]
    assert m.default_problem.code is ProblemCode.UNKNOWN_GL_ACCOUNT
    assert m.for_charge("5").charge_code == "REGIONAL" and m.for_charge("nope") is None
