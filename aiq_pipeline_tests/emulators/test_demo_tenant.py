"""The generated demo tenant (aiq_emulators/demo_tenant/): loads in both emulators, agrees with itself, is
deterministic, tells its payments story (paid in full, in part, refunded, overpaid, fees, pending, failed, account
credit, one processor unmapped on purpose), and fails exactly where it was planted to (end to end through the
demo's own settings and the real pipeline)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from aiq_emulators.accountsiq.fixtures import demo_fixture, load_fixture, payments_demo_fixture
from aiq_emulators.accountsiq.state import EmulatorState
from aiq_emulators.bunny.app import load_fixture as load_bunny_fixture
from aiq_emulators.bunny.sample_tenant import sample_tenant
from aiq_emulators.bunny.store import TenantStore
from aiq_emulators.demo_tenant import (
    AS_OF,
    FAILURE_REASONS,
    assembly,
    build_demo_tenant,
    write_demo_fixtures,
)
from aiq_emulators.demo_tenant.holdings import HOLDINGS_BUNNY_ENTITY, set_up_holdings
from aiq_emulators.demo_tenant.payments import PaymentStory
from aiq_emulators.demo_tenant.vocabulary import (
    ACCOUNT_CREDIT_ACCOUNT,
    BANK_ACCOUNTS,
    FEES_ACCOUNT,
    ISO,
    PAYMENT_EXCEPTIONS,
    UNMAPPED_PROCESSOR,
)
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS

CENT = Decimal("0.01")
RELEASED = {"NOT_DUE", "DUE", "PAID", "PROCESSING_PAYMENT"}
PAYMENT_ACCOUNTS = {"1210", "1220", "1230", "6900", "2150"}  # payments_demo_fixture's additions to the chart


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
    """The sample tenant's vocabulary; AIQ's chart is the sample ledger's plus the accounts payments post to."""
    aiq, bunny = load_fixture(demo.accountsiq), load_bunny_fixture(demo.bunny)
    builtin_aiq, builtin_bunny = payments_demo_fixture(), sample_tenant()
    sample_chart = {a.code for a in demo_fixture().entities[0].gl_accounts}
    chart = {a.code: a for a in aiq.entities[0].gl_accounts}
    assert set(chart) == sample_chart | PAYMENT_ACCOUNTS and not sample_chart & PAYMENT_ACCOUNTS
    assert {chart[code].account_type for code in set(BANK_ACCOUNTS.values())} == {"Bank"}
    assert chart[FEES_ACCOUNT].account_type == chart[ACCOUNT_CREDIT_ACCOUNT].account_type == "Posting"
    assert aiq.clients == builtin_aiq.clients
    assert [(c["client_id"], c["client_secret"], c["entities"]) for c in raw["aiq"]["clients"]] == [
        ("demo-aiq-client", "demo-aiq-secret", ["DEMO01"]),
        ("demo-aiq-client-2", "demo-aiq-secret-2", ["DEMO02"]),
    ]
    for mine, theirs in zip(aiq.entities, builtin_aiq.entities, strict=True):
        assert mine.model_copy(update={"customers": []}) == theirs.model_copy(update={"customers": []})
    assert {c.code for c in builtin_aiq.entities[0].customers} <= {c.code for c in aiq.entities[0].customers}
    for part in ("api_clients", "currencies", "price_list_charges"):
        assert getattr(bunny, part) == getattr(builtin_bunny, part), part
    # Bunny's financial accounts: the sample tenant's, with entity 2's AIQ accounts imported for the holdings pair.
    set_up_holdings(builtin_bunny)
    assert bunny.financial_accounts == builtin_bunny.financial_accounts
    assert [(e.id, e.name, e.base_currency_id) for e in bunny.entities] == [
        (e.id, e.name, e.base_currency_id) for e in builtin_bunny.entities
    ]


def test_sizes_states_currencies_and_dates_are_in_the_requested_ranges(demo):
    bunny = load_bunny_fixture(demo.bunny)
    invoices = bunny.invoices
    assert len(bunny.accounts) == 300 and len(invoices) == 3000
    states = Counter(i.state for i in invoices)
    assert set(states) == {"DRAFT", "NOT_DUE", "DUE", "PAID", "VOIDED", "PROCESSING_PAYMENT"}
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
            if amount < 0:  # the one planted NEGATIVE_LINE credit: its tax keyed with the wrong sign
                line_tax = -line_tax
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
        if any(item.amount < 0 < item.tax for item in invoice.items):  # net and tax of opposite signs
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


def _applied(bunny) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """(payment id -> amount applied to invoices, invoice id -> amount applied by payments)."""
    by_payment: dict[str, Decimal] = defaultdict(Decimal)
    by_invoice: dict[str, Decimal] = defaultdict(Decimal)
    for application in bunny.payment_applications:
        by_payment[application.payment_id] += application.amount
        by_invoice[application.invoice_id] += application.amount
    return by_payment, by_invoice


def test_payments_tell_the_story_and_agree_with_the_summary(demo):
    """Each case read back from the Bunny fixture itself, counted, and compared with demo-summary.json."""
    bunny = load_bunny_fixture(demo.bunny)
    summary = demo.summary["payments"]
    cases = summary["cases"]
    store = TenantStore(bunny)  # the emulator's own reading of the money (amount due, paid)
    invoices = {i.id: i for i in store.tenant.invoices}
    mine = [p for p in bunny.payments if p.entity_id == "1"]
    received = [p for p in mine if p.processing_state == "SUCCEEDED"]
    by_payment, by_invoice = _applied(bunny)
    applications = defaultdict(list)
    for application in bunny.payment_applications:
        applications[application.payment_id].append(application)

    synced = [i for i in invoices.values() if i.entity_id == "1" and i.state in RELEASED]
    paid = [i for i in synced if i.state == "PAID"]
    assert len(paid) > 0.7 * len(synced)  # most invoices are paid in full
    for invoice in paid:
        figures = store.figures(invoice)
        assert figures.amount_due == 0 and by_invoice[invoice.id] + invoice.credits_applied == invoice.amount
    for invoice in synced:
        assert store.figures(invoice).amount_paid == by_invoice[invoice.id], invoice.id

    partial = [
        p
        for p in received
        if by_payment[p.id] == p.amount and invoices[applications[p.id][0].invoice_id].state != "PAID"
    ]
    assert len(partial) == cases["partial"] >= 2
    for payment in partial:
        (application,) = applications[payment.id]
        invoice = invoices[application.invoice_id]
        assert invoice.state in ("DUE", "NOT_DUE") and 0 < store.figures(invoice).amount_due < invoice.amount

    (overpaid,) = [p for p in received if p.amount > by_payment[p.id]]
    assert cases["overpaid"] == 1 and overpaid.payment_processor == "manual"
    assert invoices[applications[overpaid.id][0].invoice_id].state == "PAID"
    assert summary["unapplied_by_currency"][ISO[overpaid.currency_id]] == str(overpaid.amount - by_payment[overpaid.id])

    with_fees = [p for p in mine if p.fees]
    assert len(with_fees) == cases["with_fees"] >= 3
    assert all(p.payment_processor == "stripe" and 0 < p.fees < p.amount for p in with_fees)

    pending = [p for p in mine if p.processing_state == "PENDING"]
    assert len(pending) == cases["pending"] == 2
    for payment in pending:
        assert not applications[payment.id] and payment.completed_at is None
        assert [invoices[i].state for i in payment.intended_invoice_ids] == ["PROCESSING_PAYMENT"]
    (failed,) = [p for p in mine if p.processing_state == "FAILED"]
    assert cases["failed"] == 1 and failed.error_code and not applications[failed.id]
    assert invoices[failed.intended_invoice_ids[0]].state in ("DUE", "NOT_DUE")

    unmapped = [p for p in mine if p.payment_processor == UNMAPPED_PROCESSOR]
    assert len(unmapped) == cases["unmapped"] >= 2 and all(p.processing_state == "SUCCEEDED" for p in unmapped)
    assert not any(key.startswith(f"{UNMAPPED_PROCESSOR}:") or key.startswith("*:") for key in BANK_ACCOUNTS)
    for payment in received:  # every other processor and currency the demo uses is mapped
        if payment.payment_processor != UNMAPPED_PROCESSOR:
            assert f"{payment.payment_processor}:{ISO[payment.currency_id]}" in BANK_ACCOUNTS, payment.id

    credited = [i for i in synced if i.credits_applied > 0]
    assert len(credited) == cases["account_credit"] == 2
    assert any(i.state == "PAID" and not by_invoice[i.id] for i in credited)  # one settled by credit alone

    # The invoices planted to fail stay unpaid, except one NOT_POSTING_ACCOUNT invoice whose payment waits for it.
    planted = {f["invoice_id"]: f["reason_code"] for f in demo.summary["expected_failures"]}
    paid_planted = [i for i in planted if by_invoice[i] or invoices[i].credits_applied]
    assert [planted[i] for i in paid_planted] == ["NOT_POSTING_ACCOUNT"] and cases["waiting_for_invoice"] == 1
    expected = {e["partition"]: e["reason_code"] for e in summary["expected_exceptions"]}
    assert expected == {f"PAY-{p.id}": "UNMAPPED_BANK_ACCOUNT" for p in unmapped} | {
        f"PAY-{a.payment_id}": "INVOICE_NOT_POSTED" for a in bunny.payment_applications if a.invoice_id in paid_planted
    }
    assert {e["why"] for e in summary["expected_exceptions"]} == set(PAYMENT_EXCEPTIONS.values())

    # Money is received (and refunded) in AIQ's open periods, after the invoice and by AS_OF.
    open_from = load_fixture(demo.accountsiq).entities[0].sales_ledger_closed_before
    assert open_from is not None
    for payment in mine:
        for invoice_id in payment.intended_invoice_ids:
            assert invoices[invoice_id].created_at <= payment.received_at <= payment.updated_at <= AS_OF
        assert payment.received_at.date() >= open_from
    assert all(open_from <= n.issued_at <= AS_OF.date() for n in bunny.credit_notes)


def test_refunds_are_the_emulators_refund_credit_notes_of_paid_invoices(demo):
    bunny = load_bunny_fixture(demo.bunny)
    summary = demo.summary["payments"]
    payments = {p.id: p for p in bunny.payments}
    invoices = {i.id: i for i in bunny.invoices}
    applied: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for application in bunny.payment_applications:
        applied[(application.payment_id, application.invoice_id)] += application.amount
    notes = bunny.credit_notes
    assert notes and {n.kind for n in notes} == {"REFUND"} and {n.state for n in notes} == {"READY"}
    refunded: dict[str, Decimal] = defaultdict(Decimal)
    for note in notes:
        payment = payments[note.description.removeprefix("Refund of payment ")]
        invoice = invoices[note.credited_invoice_id]
        assert payment.processing_state == "SUCCEEDED" and payment.payment_processor != UNMAPPED_PROCESSOR
        assert invoice.state == "PAID" and note.account_id == invoice.account_id
        assert note.currency_id == invoice.currency_id and note.issued_at >= payment.received_at.date()
        assert note.number and note.uuid and {i.invoice_item_id for i in note.items} <= {i.id for i in invoice.items}
        refunded[payment.id] += note.amount
        assert refunded[payment.id] <= applied[(payment.id, invoice.id)]
    shares = [refunded[p] / sum(a for (q, _), a in applied.items() if q == p) for p in refunded]
    assert 1 in shares and any(s < 1 for s in shares)  # one refunded in full, others in part
    assert summary["cases"]["refunded"] == summary["refunds"]["payments"] == len(refunded) >= 2
    assert summary["refunds"]["credit_notes"] == len(notes) == demo.summary["credit_notes"]["expected_sync"]["posted"]
    by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for note in notes:
        by_currency[ISO[note.currency_id]] += note.amount
    assert summary["refunds"]["by_currency"] == {k: str(v) for k, v in sorted(by_currency.items())}


def test_payment_figures_of_the_summary_agree_with_the_files(demo):
    bunny = load_bunny_fixture(demo.bunny)
    summary = demo.summary["payments"]
    mine = [p for p in bunny.payments if p.entity_id == "1"]
    assert summary["total"] == len(bunny.payments)
    assert summary["by_processing_state"] == dict(Counter(p.processing_state for p in mine))
    received = [p for p in mine if p.processing_state == "SUCCEEDED"]
    held = {e["payment_id"] for e in summary["expected_exceptions"]}
    receipts: dict[str, Decimal] = defaultdict(Decimal)
    gross: dict[str, Decimal] = defaultdict(Decimal)
    for payment in received:
        gross[ISO[payment.currency_id]] += payment.amount
        if payment.id not in held:
            receipts[BANK_ACCOUNTS[f"{payment.payment_processor}:{ISO[payment.currency_id]}"]] += (
                payment.amount - payment.fees
            )
    expected = summary["expected_sync"]
    assert expected["receipts_by_bank"] == {k: str(v) for k, v in sorted(receipts.items())}
    assert summary["received_by_currency"] == {k: str(v) for k, v in sorted(gross.items())}
    credited = sum(1 for i in bunny.invoices if i.credits_applied > 0)
    assert expected["picked_up"] == len(received) + credited == expected["posted"] + expected["failed"]
    assert expected["failed"] == len(held) == sum(summary["exceptions_by_reason"].values())
    assert expected["not_picked_up"] == {
        "pending": summary["cases"]["pending"],
        "failed": summary["cases"]["failed"],
        "other_entity": len(bunny.payments) - len(mine),
    }
    settings = demo.summary["settings"]
    assert settings["AIQ_PIPELINE_BANK_ACCOUNTS"] == ",".join(f"{k}={v}" for k, v in BANK_ACCOUNTS.items())
    assert (settings["AIQ_PIPELINE_FEES_ACCOUNT"], settings["AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT"]) == (
        FEES_ACCOUNT,
        ACCOUNT_CREDIT_ACCOUNT,
    )


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    sizes = {"customers": 40, "invoices": 200}
    first = write_demo_fixtures(tmp_path / "a", seed=11, **sizes)
    again = write_demo_fixtures(tmp_path / "b", seed=11, **sizes)
    other = write_demo_fixtures(tmp_path / "c", seed=12, **sizes)
    for name in ("accountsiq", "bunny"):
        assert getattr(first, name).read_bytes() == getattr(again, name).read_bytes()
    assert (tmp_path / "a" / "demo-summary.json").read_bytes() == (tmp_path / "b" / "demo-summary.json").read_bytes()
    assert first.bunny.read_bytes() != other.bunny.read_bytes()
    assert first.summary == again.summary and first.summary["payments"] != other.summary["payments"]
    assert json.loads(first.bunny.read_text(encoding="utf-8"))["payments"]  # the payments are in the file


def test_the_payments_leave_the_invoices_as_drawn(monkeypatch):
    """Payments are drawn after everything the invoices draw: without them (the story's maker stubbed out) the
    invoices are the same but for their payment state, and an invoice drawn PAID keeps its paid_at."""
    with_payments = build_demo_tenant(customers=40, invoices=200, seed=5).bunny

    class NoPayments:
        def __init__(self, *_args: object) -> None:
            pass

        def play(self) -> PaymentStory:
            return PaymentStory()

    monkeypatch.setattr(assembly, "PaymentMaker", NoPayments)
    drawn = build_demo_tenant(customers=40, invoices=200, seed=5).bunny
    assert not drawn.payments and with_payments.payments
    moving = {"state", "paid_at", "amount_paid", "credits_applied", "updated_at"}
    kept_paid = 0
    for before, after in zip(drawn.invoices, with_payments.invoices, strict=True):
        assert before.model_dump(exclude=moving) == after.model_dump(exclude=moving)
        if before.state == after.state == "PAID" and after.amount_paid == after.amount:
            kept_paid += before.paid_at == after.paid_at
    assert kept_paid > 0.9 * sum(1 for i in drawn.invoices if i.state == "PAID")


@pytest.mark.parametrize(("customers", "invoices"), [(20, 60), (40, 200), (120, 900)])
def test_small_and_mid_sizes_keep_every_kind_of_case(customers, invoices):
    summary = build_demo_tenant(customers=customers, invoices=invoices, seed=3).summary
    assert summary["customers"]["bunny"] == customers and summary["invoices"]["total"] == invoices
    assert set(summary["failures_by_reason"]) == set(FAILURE_REASONS)
    assert {"DRAFT", "VOIDED", "PAID"} <= set(summary["invoices"]["by_state"])
    assert summary["expected_sync"]["not_picked_up"]["other_entity"] >= 2
    payments = summary["payments"]
    assert all(payments["cases"][case] >= 1 for case in payments["cases"] if case != "other_entity"), payments
    assert payments["exceptions_by_reason"] == {
        "INVOICE_NOT_POSTED": 1,
        "UNMAPPED_BANK_ACCOUNT": payments["cases"]["unmapped"],
    }


def test_too_small_a_tenant_is_refused():
    with pytest.raises(ValueError, match="at least"):
        build_demo_tenant(customers=5, invoices=10)


def _owners(store: TenantStore, keys: list[str]) -> set[str]:
    """The AIQ customer codes of the documents behind these partition keys (invoice ids, CN-, PAY-, CREDIT-)."""
    from aiq_pipeline.sync.identity import customer_code

    owners = set()
    for key in keys:
        prefix, _, raw = key.rpartition("-")
        collection = {"": "invoices", "CREDIT": "invoices", "CN": "credit_notes", "PAY": "payments"}[prefix]
        owners.add(customer_code(store.find(collection, raw).account_id))
    return owners


def _bunny_balances(store: TenantStore, start: dt.date) -> dict[str, Decimal]:
    """Customer code -> what the synced entity's customer owes in Bunny: the amount due of its synced invoices less
    the money it paid that is not applied to an invoice."""
    from aiq_pipeline.sync.identity import customer_code

    out: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in store.tenant.invoices:
        if invoice.entity_id == "1" and invoice.state in RELEASED and invoice.issued_at >= start:
            out[customer_code(invoice.account_id)] += store.figures(invoice).amount_due
    for payment in store.tenant.payments:
        if payment.entity_id == "1" and payment.processing_state == "SUCCEEDED":
            out[customer_code(payment.account_id)] -= store.unapplied(payment)
    return out


def _aiq_balances(transactions) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for transaction in transactions:
        out[transaction.customer_code] += transaction.control_amount
    return out


@pytest.mark.slow
def test_the_demo_settings_post_the_story_end_to_end(tmp_path, monkeypatch):
    """The demo's own environment (aiq_emulators.demo.demo_environment) read by the code location, `sync` once:
    exactly the planted invoices fail, payments post as receipts into the mapped banks except the unmapped
    processor's (UNMAPPED_BANK_ACCOUNT) and the one waiting for its invoice (INVOICE_NOT_POSTED); customers without
    exceptions owe AIQ what they owe Bunny. Then the walkthrough's fix (map the processor, retry) posts the rest."""
    import dagster as dg

    from aiq_emulators.demo import demo_environment, unmapped_fix, unmapped_payments
    from aiq_emulators.runner import running_emulators
    from aiq_pipeline.defs.code_location import build_definitions
    from aiq_pipeline.defs.posting.status import list_exceptions
    from aiq_pipeline.operations.sync import retry, sync_once

    fixtures = write_demo_fixtures(tmp_path / "fixtures", customers=20, invoices=80, seed=7)
    summary = fixtures.summary
    payments = summary["payments"]
    planted = {f["invoice_id"]: f["reason_code"] for f in summary["expected_failures"]}
    held = {e["partition"]: e["reason_code"] for e in payments["expected_exceptions"]}
    assert set(held.values()) == {"UNMAPPED_BANK_ACCOUNT", "INVOICE_NOT_POSTED"}
    (tmp_path / "home").mkdir()

    with (
        running_emulators(
            state_dir=tmp_path / "emulators", accountsiq_fixture=fixtures.accountsiq, bunny_fixture=fixtures.bunny
        ) as emulators,
        dg.instance_for_test() as instance,
    ):
        assert emulators.accountsiq_url and emulators.bunny_url
        env = demo_environment(
            emulators.accountsiq_url,
            emulators.bunny_url,
            store=tmp_path / "store.duckdb",
            dagster_home=tmp_path / "home",
            batch_size=50,
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        result = sync_once(instance, echo=lambda _: None, defs=build_definitions())

        assert {e.key: e.reason_code for e in result.failed} == planted | held
        posted = set(result.posted)
        assert len([k for k in posted if k.startswith(("PAY-", "CREDIT-"))]) == payments["expected_sync"]["posted"]
        assert set(payments["account_credit_partitions"]) <= posted
        assert len([k for k in posted if k.startswith("CN-")]) == summary["credit_notes"]["expected_sync"]["posted"]
        assert len([k for k in posted if k.isdigit()]) == summary["expected_sync"]["posted"]

        transactions = list(emulators.accountsiq.state.data.entities["DEMO01"].transactions.values())
        receipts: dict[str, Decimal] = defaultdict(Decimal)
        for t in transactions:
            if t.type_code == "SR":
                receipts[t.bank_account_code] -= t.control_amount
        assert {k: str(v) for k, v in sorted(receipts.items())} == payments["expected_sync"]["receipts_by_bank"]
        references = Counter(t.external_reference.rsplit("-", 1)[0] for t in transactions)
        assert references["BUNNY-FEE"] == payments["cases"]["with_fees"]
        assert references["BUNNY-RFND"] == references["BUNNY-CN"] == payments["refunds"]["credit_notes"]
        assert references["BUNNY-ACR"] == payments["cases"]["account_credit"]
        assert max(Counter(t.external_reference for t in transactions).values()) == 1  # each posted once

        bunny = emulators.bunny.store
        start = dt.date.fromisoformat(env["AIQ_PIPELINE_SYNC_START_DATE"])
        with_exceptions = _owners(bunny, list(planted) + list(held))
        aiq, owed = _aiq_balances(transactions), _bunny_balances(bunny, start)
        compared = set(owed) - with_exceptions
        assert len(compared) >= 10
        assert {c: aiq.get(c, Decimal(0)) for c in compared} == {c: owed[c] for c in compared}
        overpaid = next(p for p in bunny.tenant.payments if bunny.unapplied(p) > 0)
        code = f"BNY-{overpaid.account_id}"
        assert code in compared and aiq[code] == owed[code]

        # The walkthrough's fix: map the unmapped processor (in the CLI's environment) and retry its payments.
        unmapped = unmapped_payments(bunny)
        keys = [f"PAY-{i}" for ids in unmapped.values() for i in ids]
        assert sorted(keys) == sorted(k for k, code in held.items() if code == "UNMAPPED_BANK_ACCOUNT")
        monkeypatch.setenv(
            "AIQ_PIPELINE_BANK_ACCOUNTS", f"{env['AIQ_PIPELINE_BANK_ACCOUNTS']},{unmapped_fix(unmapped)}"
        )
        fixed = retry(instance, keys, defs=build_definitions())
        assert sorted(fixed.posted) == sorted(keys)
        assert {e.key for e in list_exceptions(instance, DOCUMENT_ASSETS)} == set(planted) | {
            k for k, code in held.items() if code == "INVOICE_NOT_POSTED"
        }
        transactions = list(emulators.accountsiq.state.data.entities["DEMO01"].transactions.values())
        aiq = _aiq_balances(transactions)
        now_compared = set(owed) - _owners(
            bunny, list(planted) + [k for k, c in held.items() if c != "UNMAPPED_BANK_ACCOUNT"]
        )
        assert now_compared > compared
        assert {c: aiq.get(c, Decimal(0)) for c in now_compared} == {c: owed[c] for c in now_compared}


def test_the_holdings_pair_has_its_own_client_and_ledger():
    """DEMO02 has the second integration application (and only it); the demo client still reaches DEMO01 alone."""
    fixture = payments_demo_fixture()
    grants = {c.client_id: (c.client_secret.get_secret_value(), c.entities) for c in fixture.clients}
    assert grants == {
        "demo-aiq-client": ("demo-aiq-secret", ["DEMO01"]),
        "demo-aiq-client-2": ("demo-aiq-secret-2", ["DEMO02"]),
    }
    demo02 = {e.entity_id: e for e in fixture.entities}["DEMO02"]
    chart = {a.code: a for a in demo02.gl_accounts}
    assert demo02.base_currency == "GBP" and "USD" in demo02.currencies and demo02.exchange_rates["USD"] > 0
    assert {chart[c].account_type for c in ("4000", "4010", "6900", "2150")} == {"Posting"}
    assert (chart["1220"].account_type, chart["1220"].currency_code) == ("Bank", "USD")
    assert {t.code: str(t.rate) for t in demo02.tax_codes} == {"S": "20", "Z": "0"}


@pytest.mark.slow
def test_the_demo_pairs_file_posts_entity_2_to_demo02_and_nothing_of_entity_1(tmp_path, monkeypatch):
    """The demo's pairs file (aiq_emulators.demo.demo_pairs_text), pair holdings synced once: every released invoice
    and received payment of Bunny entity 2 posts to DEMO02, as the summary expects; nothing of entity 1 does, and
    DEMO01 stays untouched."""
    import dagster as dg

    from aiq_emulators.demo import HOLDINGS, demo_pairs_environment, demo_pairs_text
    from aiq_emulators.runner import running_emulators
    from aiq_pipeline.defs.code_location import build_definitions
    from aiq_pipeline.operations.sync import sync_once
    from aiq_pipeline.settings import VARIABLES

    fixtures = write_demo_fixtures(tmp_path / "fixtures", customers=20, invoices=80, seed=7)
    expected = fixtures.summary["holdings"]
    assert expected["invoices"]["picked_up"] >= 2 and expected["payments"]["picked_up"] >= 1
    home = tmp_path / "home"
    home.mkdir()
    with (
        running_emulators(
            state_dir=tmp_path / "emulators", accountsiq_fixture=fixtures.accountsiq, bunny_fixture=fixtures.bunny
        ) as emulators,
        dg.instance_for_test() as instance,
    ):
        assert emulators.accountsiq_url and emulators.bunny_url
        pairs_file = tmp_path / "pairs.toml"
        pairs_file.write_text(demo_pairs_text(emulators.accountsiq_url, emulators.bunny_url, batch_size=50))
        for name in VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in demo_pairs_environment(pairs_file, home).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AIQ_PIPELINE_PAIR", HOLDINGS.name)
        result = sync_once(instance, echo=lambda _: None, defs=build_definitions(pair=HOLDINGS.name))

        assert result.failed == []
        posted = set(result.posted)
        invoices = {k for k in posted if k.isdigit()}
        assert len(invoices) == expected["invoices"]["posted"]
        assert len([k for k in posted if k.startswith("PAY-")]) == expected["payments"]["posted"]
        bunny = emulators.bunny.store.tenant
        assert {i.entity_id for i in bunny.invoices if i.id in invoices} == {HOLDINGS_BUNNY_ENTITY}
        data = emulators.accountsiq.state.data
        assert data.entities["DEMO01"].transactions == {}
        assert len([t for t in data.entities["DEMO02"].transactions.values() if t.type_code == "SI"]) == len(invoices)
        assert (home / "aiq_pipeline_holdings.duckdb").exists()
