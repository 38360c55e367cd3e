"""The generated demo tenant (aiq_emulators/demo_tenant/): loads in both emulators, agrees with itself, is
deterministic, and fails exactly where it was planted to (end to end through the real pipeline)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from aiq_emulators.accountsiq.fixtures import demo_fixture, load_fixture
from aiq_emulators.accountsiq.state import EmulatorState
from aiq_emulators.bunny.app import load_fixture as load_bunny_fixture
from aiq_emulators.bunny.sample_tenant import sample_tenant
from aiq_emulators.bunny.store import TenantStore
from aiq_emulators.demo_tenant import (
    AS_OF,
    FAILURE_REASONS,
    build_demo_tenant,
    write_demo_fixtures,
)

CENT = Decimal("0.01")
RELEASED = {"NOT_DUE", "DUE", "PAID"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    return write_demo_fixtures(tmp_path_factory.mktemp("demo"))  # the defaults: 300 customers, 3000 invoices


@pytest.fixture(scope="module")
def raw(demo) -> dict[str, Any]:
    return {
        "aiq": json.loads(demo.accountsiq.read_text(encoding="utf-8")),
        "bunny": json.loads(demo.bunny.read_text(encoding="utf-8")),
    }


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def test_both_fixtures_load_through_their_emulators_loaders_and_seed_a_state(demo, tmp_path):
    aiq = load_fixture(demo.accountsiq)
    bunny = load_bunny_fixture(demo.bunny)
    state = EmulatorState(fixture=aiq, state_dir=tmp_path / "aiq")
    assert len(state.data.entities["DEMO01"].customers) == demo.summary["customers"]["aiq_existing"]
    store = TenantStore(bunny, state_dir=tmp_path / "bunny")
    assert len(store.tenant.invoices) == 3000
    assert len(store.tenant.accounts) == 300


def test_same_vocabulary_as_the_built_in_sample_tenant(raw, demo):
    aiq, bunny = load_fixture(demo.accountsiq), load_bunny_fixture(demo.bunny)
    builtin_aiq, builtin_bunny = demo_fixture(), sample_tenant()
    assert aiq.clients == builtin_aiq.clients
    assert raw["aiq"]["clients"][0]["client_secret"] == "demo-aiq-secret"
    for mine, theirs in zip(aiq.entities, builtin_aiq.entities, strict=True):
        assert mine.model_copy(update={"customers": []}) == theirs.model_copy(update={"customers": []})
    assert {c.code for c in builtin_aiq.entities[0].customers} <= {c.code for c in aiq.entities[0].customers}
    for part in ("api_clients", "currencies", "financial_accounts", "price_list_charges"):
        assert getattr(bunny, part) == getattr(builtin_bunny, part), part
    assert [(e.id, e.name, e.base_currency_id) for e in bunny.entities] == [
        (e.id, e.name, e.base_currency_id) for e in builtin_bunny.entities
    ]


def test_sizes_states_currencies_and_dates_are_in_the_requested_ranges(demo):
    bunny = load_bunny_fixture(demo.bunny)
    invoices = bunny.invoices
    assert len(bunny.accounts) == 300 and len(invoices) == 3000
    states = Counter(i.state for i in invoices)
    assert set(states) == {"DRAFT", "NOT_DUE", "DUE", "PAID", "VOIDED"}
    assert sum(states[s] for s in RELEASED) > 0.85 * len(invoices)
    assert 20 <= states["DRAFT"] <= 0.06 * len(invoices)
    assert 5 <= states["VOIDED"] <= 0.03 * len(invoices)
    currencies = Counter(i.currency_id for i in invoices)
    assert currencies["1"] > 0.6 * len(invoices) and currencies["2"] > 100 and currencies["3"] > 100
    multi_line = sum(1 for i in invoices if len(i.items) > 1)
    assert multi_line > len(invoices) / 2
    issued = sorted(i.issued_at for i in invoices if i.issued_at)
    months = Counter((d.year, d.month) for d in issued)
    assert {(2026, m) for m in range(6, 12)} <= set(months)
    assert all(months[(2026, m)] > 200 for m in range(6, 12))  # spread, not bunched
    assert set(months) - {(2026, m) for m in range(6, 12)} == {(2026, 5)}  # only the planted closed-period ones
    entity2 = [i for i in invoices if i.entity_id == "2"]
    assert entity2 and all(i.currency_id == "3" for i in entity2)
    names = [a.name for a in bunny.accounts]
    assert len(set(names)) == len(names)
    assert any("&" in n for n in names) and any("<" in n for n in names)
    assert any(any(ord(ch) > 127 for ch in n) for n in names)
    assert any(len(n) > 50 for n in names)  # AIQ's limit: the sync must truncate it


def test_every_timestamp_is_before_as_of_so_a_release_now_is_newer(demo):
    bunny = load_bunny_fixture(demo.bunny)
    for invoice in bunny.invoices:
        assert invoice.created_at <= invoice.updated_at <= AS_OF, invoice.id
        assert invoice.paid_at is None or invoice.created_at <= invoice.paid_at <= AS_OF
        assert (invoice.state == "PAID") == (invoice.paid_at is not None)
        if invoice.state == "DRAFT":
            assert invoice.number is None and invoice.issued_at is not None and invoice.due_at is None
        else:
            assert invoice.number and invoice.due_at == invoice.issued_at + dt.timedelta(days=invoice.net_payment_days)
        if invoice.state == "NOT_DUE":
            assert invoice.due_at > AS_OF.date()
        if invoice.state == "DUE":
            assert invoice.due_at <= AS_OF.date()


def test_every_invoice_references_existing_accounts_charges_and_currencies(demo):
    bunny = load_bunny_fixture(demo.bunny)
    accounts = {a.id: a for a in bunny.accounts}
    charges = {c.id for c in bunny.price_list_charges}
    currencies = {c.id for c in bunny.currencies}
    entities = {e.id for e in bunny.entities}
    ids = [i.id for i in bunny.invoices]
    assert len(set(ids)) == len(ids)
    item_ids = [item.id for i in bunny.invoices for item in i.items]
    assert len(set(item_ids)) == len(item_ids)
    numbers = [i.number for i in bunny.invoices if i.number]
    assert len(set(numbers)) == len(numbers)
    for invoice in bunny.invoices:
        account = accounts[invoice.account_id]
        assert invoice.entity_id in entities and account.entity_id == invoice.entity_id
        # An account is invoiced in its own currency only (AIQ customers have one currency).
        assert invoice.currency_id in currencies and invoice.currency_id == account.currency_id
        assert invoice.items and all(item.price_list_charge_id in charges for item in invoice.items)
    for entity in bunny.entities:
        mine = [
            int(n.removeprefix(entity.invoice_number_prefix))
            for n in numbers
            if n.startswith(entity.invoice_number_prefix)
        ]
        assert entity.invoice_number_seq == max(mine) + 1  # a release in the emulator continues the sequence


def test_money_is_consistent_to_the_cent(raw, demo):
    """Recomputed from the JSON itself with the semantics of docs/demo-tenant.md, and equal to the models'."""
    bunny = load_bunny_fixture(demo.bunny)
    by_id = {i.id: i for i in bunny.invoices}
    for data in raw["bunny"]["invoices"]:
        subtotal = tax = Decimal("0.00")
        for item in data["items"]:
            line_subtotal = (_d(item["price"]) * item.get("quantity", 1)).quantize(CENT, ROUND_HALF_UP)
            amount = line_subtotal - _d(item.get("discount", "0"))
            line_tax = (amount * _d(item["tax_rate"]) / 100).quantize(CENT, ROUND_HALF_UP)
            assert _d(item["tax_amount"]) == line_tax, (data["id"], item["id"])
            assert _d(item.get("discount", "0")) <= max(line_subtotal, Decimal(0))
            subtotal, tax = subtotal + amount, tax + line_tax
        model = by_id[data["id"]]
        assert (model.subtotal, model.tax_amount, model.amount) == (subtotal, tax, subtotal + tax)
        assert model.amount > 0
        rate = model.fx_rate
        if model.currency_id == "1" or model.entity_id == "2":
            assert rate == 1
        else:
            assert (Decimal("1.1") if model.currency_id == "2" else Decimal("0.85")) < rate < Decimal("1.25")


def test_the_planted_failures_are_present_and_each_has_exactly_its_defect(demo):
    summary = demo.summary
    failures = summary["expected_failures"]
    assert 5 <= len(failures) <= 12
    assert set(summary["failures_by_reason"]) == set(FAILURE_REASONS)
    bunny = load_bunny_fixture(demo.bunny)
    aiq = load_fixture(demo.accountsiq).entities[0]
    aiq_customers = {c.code: c for c in aiq.customers}
    charges = {c.id: c.code for c in bunny.price_list_charges}
    invoices = {i.id: i for i in bunny.invoices}
    planted = {f["invoice_id"] for f in failures}

    def defects(invoice) -> set[str]:
        found = set()
        if any(charges[item.price_list_charge_id] == "LEGACY-ADDON" for item in invoice.items):
            found.add("NOT_POSTING_ACCOUNT")
        if any(item.tax_code not in (None, "V01", "V02", "V00", "EX") for item in invoice.items):
            found.add("UNKNOWN_TAX_CODE")
        if invoice.issued_at < dt.date(2026, 6, 1):
            found.add("CLOSED_PERIOD")
        existing = aiq_customers.get(f"BNY-{invoice.account_id}")
        if existing is not None and existing.currency_code != "EUR":  # every planted case is an EUR invoice
            found.add("CURRENCY_MISMATCH")
        if any(item.amount < 0 for item in invoice.items):
            found.add("NEGATIVE_LINE")
        return found

    for failure in failures:
        invoice = invoices[failure["invoice_id"]]
        assert invoice.entity_id == "1" and invoice.state in RELEASED and invoice.currency_id == "1"
        assert invoice.number == failure["number"]
        assert defects(invoice) == {failure["reason_code"]}, failure
        assert failure["why"] == FAILURE_REASONS[failure["reason_code"]]
    # ...and no other synced invoice has any of these defects.
    for invoice in bunny.invoices:
        if invoice.id not in planted and invoice.entity_id == "1" and invoice.state != "VOIDED":
            assert not defects(invoice), invoice.id
    # The mismatched customer has that one invoice only, so nothing else of it fails.
    mismatch = next(f for f in failures if f["reason_code"] == "CURRENCY_MISMATCH")
    account = invoices[mismatch["invoice_id"]].account_id
    assert [i.id for i in bunny.invoices if i.account_id == account] == [mismatch["invoice_id"]]


def test_aiq_customers_are_existing_ones_and_earlier_imports_of_bunny_accounts(demo):
    bunny = load_bunny_fixture(demo.bunny)
    accounts = {a.id: a for a in bunny.accounts}
    customers = load_fixture(demo.accountsiq).entities[0].customers
    bunny_side = [c for c in customers if c.code.startswith("BNY-")]
    assert len(bunny_side) == 3 and len(customers) > len(bunny_side) + 3
    for customer in bunny_side:
        account = accounts[customer.code.removeprefix("BNY-")]
        assert account.entity_id == "1" and customer.name == account.name


def test_summary_counts_agree_with_the_files(demo):
    bunny = load_bunny_fixture(demo.bunny)
    summary = demo.summary
    assert summary == json.loads((demo.bunny.parent / "demo-summary.json").read_text(encoding="utf-8"))
    assert summary["invoices"]["by_state"] == dict(Counter(i.state for i in bunny.invoices))
    assert sum(summary["invoices"]["by_currency"].values()) == len(bunny.invoices)
    synced = [i for i in bunny.invoices if i.entity_id == "1" and i.state in RELEASED]
    expected = summary["expected_sync"]
    assert expected["picked_up"] == len(synced) == expected["posted"] + expected["failed"]
    not_picked = expected["not_picked_up"]
    assert len(synced) + sum(not_picked.values()) == len(bunny.invoices)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    sizes = {"customers": 40, "invoices": 200}
    first = write_demo_fixtures(tmp_path / "a", seed=11, **sizes)
    again = write_demo_fixtures(tmp_path / "b", seed=11, **sizes)
    other = write_demo_fixtures(tmp_path / "c", seed=12, **sizes)
    for name in ("accountsiq", "bunny"):
        assert getattr(first, name).read_bytes() == getattr(again, name).read_bytes()
    assert first.bunny.read_bytes() != other.bunny.read_bytes()
    assert first.summary == again.summary


@pytest.mark.parametrize(("customers", "invoices"), [(20, 60), (40, 200), (120, 900)])
def test_small_and_mid_sizes_keep_every_kind_of_case(customers, invoices):
    summary = build_demo_tenant(customers=customers, invoices=invoices, seed=3).summary
    assert summary["customers"]["bunny"] == customers and summary["invoices"]["total"] == invoices
    assert set(summary["failures_by_reason"]) == set(FAILURE_REASONS)
    assert {"DRAFT", "VOIDED", "PAID"} <= set(summary["invoices"]["by_state"])
    assert summary["expected_sync"]["not_picked_up"]["other_entity"] >= 2


def test_too_small_a_tenant_is_refused():
    with pytest.raises(ValueError, match="at least"):
        build_demo_tenant(customers=5, invoices=10)


@pytest.mark.slow
def test_end_to_end_sync_fails_exactly_the_planted_invoices_and_posts_the_rest(tmp_path):
    import dagster as dg

    from aiq_emulators.runner import running_emulators
    from aiq_pipeline.defs.code_location import build_definitions
    from aiq_pipeline.operations.sync import sync_once
    from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY, make_resources

    fixtures = write_demo_fixtures(tmp_path / "fixtures", customers=40, invoices=200, seed=7)
    expected = fixtures.summary["expected_sync"]
    planted = {f["invoice_id"]: f["reason_code"] for f in fixtures.summary["expected_failures"]}
    bunny = load_bunny_fixture(fixtures.bunny)
    postable = {i.id for i in bunny.invoices if i.entity_id == "1" and i.state in RELEASED} - set(planted)

    with (
        running_emulators(
            state_dir=tmp_path / "emulators", accountsiq_fixture=fixtures.accountsiq, bunny_fixture=fixtures.bunny
        ) as emulators,
        dg.instance_for_test() as instance,
    ):
        defs = build_definitions(make_resources(emulators, tmp_path / "store.duckdb", batch_size=50))
        summary = sync_once(instance, echo=lambda _: None, defs=defs)

        assert {e.key: e.reason_code for e in summary.failed} == planted  # an invoice's partition key is its id
        assert set(summary.posted) == postable and len(postable) == expected["posted"]
        assert not summary.already_posted and not summary.skipped
        transactions = emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.values()
        posted_refs = Counter(t.external_reference for t in transactions)
        assert posted_refs == Counter(f"BUNNY-INV-{i}" for i in postable)  # exactly one AIQ document each
        gross: Counter[str] = Counter()
        for t in transactions:
            gross[t.currency_code] += t.control_amount
        assert {k: str(v) for k, v in gross.items()} == expected["posted_gross_by_currency"]
