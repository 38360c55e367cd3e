import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from aiq_pipeline.accountsiq.models import GLAccount
from aiq_pipeline.bunny.models import FinancialAccount, FinancialAccountAttributes
from aiq_pipeline.sync.financial_accounts import (
    FinancialAccountPlan,
    bunny_account_type,
    external_id,
    plan_financial_accounts,
)
from aiq_pipeline_tests.sync.builders import BUNNY_ACCOUNTS, CHART, replace


def plan(chart, existing) -> FinancialAccountPlan:
    return plan_financial_accounts(chart, existing, bunny_entity_id="1", aiq_entity_id="DEMO01")


def apply(plan_: FinancialAccountPlan, state: dict[str, FinancialAccount]) -> dict[str, FinancialAccount]:
    """What Bunny ends up with after the client sends the plan's mutations."""
    state = dict(state)
    ids = itertools.count(1000 + len(state))
    for create in plan_.creates:
        attrs = FinancialAccountAttributes(**create.attributes())  # the real client input type accepts it
        new_id = f"n{next(ids)}"
        state[new_id] = FinancialAccount(
            new_id,
            attrs.code,
            attrs.name,
            attrs.account_type,
            bool(attrs.active),
            False,
            attrs.entity_id,
            external_id=attrs.external_id,
            source=attrs.source,
            description=attrs.description,
        )
    for update in plan_.updates:
        state[update.id] = replace(state[update.id], **update.changes)
    for deactivation in plan_.deactivations:
        state[deactivation.id] = replace(state[deactivation.id], **deactivation.changes)
    return state


def test_demo_account_types() -> None:
    types = {a.code: bunny_account_type(a) for a in CHART}
    assert types == {
        "4000": "earned_revenue",
        "4010": "earned_revenue",
        "4020": "earned_revenue",
        "4030": "earned_revenue",
        "4099": "earned_revenue",
        "4900": "earned_revenue",
        "1100": "accounts_receivable",
        "1200": "payments",
        "2200": "tax_payable",
        "8000": None,
    }


def test_category_information_wins_over_the_description() -> None:
    def acct(desc, category, kind="Posting", balance=None):
        return GLAccount(
            "9", desc, kind, True, False, gl_category_type_description=category, balance_sheet_type=balance
        )

    assert bunny_account_type(acct("Widgets", "Revenue")) == "earned_revenue"
    assert bunny_account_type(acct("Sales of widgets", "Cost of Sales")) is None
    assert bunny_account_type(acct("Deferred income", "Current liabilities")) == "deferred_revenue"
    assert bunny_account_type(acct("Sales ledger control", None, "Control")) == "accounts_receivable"
    assert bunny_account_type(acct("Revenue reserve", None, balance="Balance Sheet")) is None


def test_demo_plan() -> None:
    p = plan(CHART, BUNNY_ACCOUNTS)
    assert sorted(c.code for c in p.creates) == ["1100", "1200", "2200", "4020", "4030"]
    created = {c.code: c for c in p.creates}
    assert created["4020"].account_type == "earned_revenue" and created["4020"].name == "Usage revenue"
    assert created["4020"].external_id == "AIQ:DEMO01:4020" and created["4020"].source == "accountsiq"
    assert created["4020"].entity_id == "1" and created["4020"].active is True
    # existing coded accounts are adopted: name/description/externalId only, never type/default
    assert {u.code for u in p.updates} == {"4000", "4010", "4900"}
    for update in p.updates:
        assert set(update.changes) <= {"name", "description", "external_id", "active"}
        assert update.changes["external_id"] == external_id("DEMO01", update.code)
    assert p.deactivations == () and p.unchanged == ()
    assert {s.code for s in p.skipped} == {"4099", "8000"}


def test_plan_is_empty_once_applied_and_built_ins_untouched() -> None:
    state = apply(plan(CHART, BUNNY_ACCOUNTS), {a.id: a for a in BUNNY_ACCOUNTS})
    again = plan(CHART, state.values())
    assert again.is_empty and len(again.unchanged) == 8
    assert state["b1"] == BUNNY_ACCOUNTS[0] and state["b2"] == BUNNY_ACCOUNTS[1]
    assert state["10"].default_account is True  # the user's Default survives adoption


def test_user_retyped_account_keeps_its_type() -> None:
    state = apply(plan(CHART, []), {})
    retyped = {k: (replace(v, account_type="deferred_revenue") if v.code == "4020" else v) for k, v in state.items()}
    assert plan(CHART, retyped.values()).is_empty


def test_removed_or_inactive_aiq_accounts_are_deactivated_only_if_ours() -> None:
    state = apply(plan(CHART, BUNNY_ACCOUNTS), {a.id: a for a in BUNNY_ACCOUNTS})
    user_own = FinancialAccount("u1", "7777", "Manual", "earned_revenue", True, False, "1")
    state["u1"] = user_own
    shrunk = [a if a.code != "4010" else replace(a, is_active=False) for a in CHART if a.code != "4020"]
    p = plan(shrunk, state.values())
    assert sorted(d.code for d in p.deactivations) == ["4010", "4020"]
    assert all(d.changes == {"active": False} for d in p.deactivations)
    assert not p.creates and not p.updates
    state = apply(p, state)
    assert state["u1"] == user_own
    assert plan(shrunk, state.values()).is_empty
    # back in AIQ -> reactivated
    back = plan(CHART, state.values())
    assert sorted(u.code for u in back.updates) == ["4010", "4020"]
    assert all(u.changes == {"active": True} for u in back.updates)


def test_other_entities_and_other_aiq_companies_are_left_alone() -> None:
    other_entity = FinancialAccount(
        "o1", "4000", "US", "earned_revenue", True, False, "2", external_id="AIQ:DEMO01:4000"
    )
    other_company = FinancialAccount(
        "o2", "9999", "X", "earned_revenue", True, False, "1", external_id="AIQ:DEMO02:9999"
    )
    p = plan(CHART, [other_entity, other_company])
    assert "4000" in {c.code for c in p.creates}
    assert not p.deactivations and not p.updates


aiq_accounts = st.builds(
    GLAccount,
    code=st.sampled_from(["4000", "4010", "4020", "1100", "1200", "2200", "8000", "4900", "5000"]),
    description=st.sampled_from(["Sales", "Revenue control", "Debtors control", "Bank", "VAT", "Rent", "Fees income"]),
    account_type=st.sampled_from(["Posting", "Control", "Bank", "VAT", None]),
    is_active=st.booleans(),
    is_departmental=st.booleans(),
    gl_category_type_description=st.sampled_from([None, "Revenue", "Expense", "Current assets"]),
)
bunny_accounts = st.builds(
    FinancialAccount,
    id=st.text("abc123", min_size=1, max_size=4),
    code=st.sampled_from([None, "4000", "4010", "1100", "4020", "7000", "4000a"]),
    name=st.sampled_from([None, "Sales", "Old name"]),
    account_type=st.sampled_from(["earned_revenue", "payments", "deferred_revenue"]),
    active=st.booleans(),
    default_account=st.booleans(),
    entity_id=st.sampled_from(["1", "2"]),
    external_id=st.sampled_from([None, "AIQ:DEMO01:4000", "AIQ:DEMO01:7000", "AIQ:DEMO02:4000", "manual"]),
)


@settings(max_examples=200)
@given(
    chart=st.lists(aiq_accounts, unique_by=lambda a: a.code, max_size=9),
    later=st.lists(aiq_accounts, unique_by=lambda a: a.code, max_size=9),
    existing=st.lists(bunny_accounts, unique_by=lambda a: a.id, max_size=8),
)
def test_applying_a_plan_then_planning_again_is_empty(chart, later, existing) -> None:
    state = {a.id: a for a in existing}
    for ledger in (chart, later, chart):  # the chart changes between syncs
        before = dict(state)
        state = apply(plan(ledger, state.values()), state)
        assert plan(ledger, state.values()).is_empty
        for account_id, old in before.items():  # what a user set is never changed
            new = state[account_id]
            assert (new.account_type, new.default_account, new.price_list_charge_ids, new.code, new.entity_id) == (
                old.account_type,
                old.default_account,
                old.price_list_charge_ids,
                old.code,
                old.entity_id,
            )
            if old.code is None or old.entity_id != "1":
                assert new == old
