"""AIQ's totals are compared with Bunny's for the whole plan: an invoice posted as a sales invoice and a remainder
credit note (its credit beyond a group of lines) matches Bunny when the two combined do, an invoice whose total is
negative (posted as a credit note alone) matches with Bunny's negative totals, and a remainder AIQ holds at another
amount is still a mismatch, named as the plan's documents combined (real HTTP, both emulators)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

import aiq_pipeline_tests.journal.conftest as journal_bench
from aiq_pipeline.service.outcome import Status
from aiq_pipeline.sync.documents.context import BunnyReadings
from aiq_pipeline.sync.identity import (
    invoice_credit_reference,
    invoice_reference,
    void_credit_reference,
    void_key,
    void_reference,
)
from aiq_pipeline_tests.journal.conftest import Bench
from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY

STANDARD = {"charge": "SUB-MONTHLY", "tax_rate": "23", "tax_code": "V01", "price": "200.00"}
SERVICES = {"charge": "PRO-SERVICES", "tax_rate": "13.5", "tax_code": "V02", "charge_kind": "quote", "price": "50.00"}
# The V02 group's credit exceeds its charge by 20.00: a remainder credit note, allocated to the invoice.
BEYOND_GROUP = SERVICES | {"price": "-70.00", "is_credit": True, "credits_line": 2, "line_text": "Credit"}
# A move to a cheaper plan: the unused time on the dearer one exceeds the new charge, the invoice's total is negative.
UNUSED_TIME = STANDARD | {"price": "-250.00", "is_credit": True, "credits_line": 1, "line_text": "Unused time"}
CENT = Decimal("0.01")
LESS_CREDITS = BunnyReadings(amount="less_credits")


def _remainder_invoice(bench: Bench) -> str:
    (invoice_id,) = bench.emulators.bunny.create_invoices({"items": [STANDARD, SERVICES, BEYOND_GROUP]}, release=True)
    return str(invoice_id)


def test_an_invoice_with_a_remainder_credit_note_matches_bunny_as_the_two_combined(bench: Bench) -> None:
    invoice_id = _remainder_invoice(bench)
    outcome = bench.service().post(invoice_id)
    assert outcome.status == Status.POSTED, outcome
    assert bench.aiq_count(invoice_reference(invoice_id)) == bench.aiq_count(invoice_credit_reference(invoice_id)) == 1
    # Bunny: net 200.00 + 50.00 - 70.00; AIQ: the invoice's 250.00 less the remainder's 20.00 (the main one alone
    # differed).
    assert outcome.net == Decimal("180.00")
    assert outcome.totals_match and outcome.differences == (), outcome.differences


def test_an_invoice_whose_total_is_negative_matches_bunny_as_its_credit_note(bench: Bench) -> None:
    (invoice_id,) = bench.emulators.bunny.create_invoices({"items": [STANDARD, UNUSED_TIME]}, release=True)
    outcome = bench.service().post(invoice_id)
    assert outcome.status == Status.POSTED, outcome
    # AIQ holds the credit note alone; Bunny's totals are negative (they differed in sign before).
    assert bench.aiq_count(invoice_reference(invoice_id)) == 0
    assert bench.aiq_count(invoice_credit_reference(invoice_id)) == 1
    assert outcome.gross is not None and outcome.gross < 0
    assert outcome.totals_match and outcome.differences == (), outcome.differences


def test_the_void_of_an_invoice_with_a_remainder_matches_bunny_as_its_two_reversals_combined(bench: Bench) -> None:
    invoice_id = _remainder_invoice(bench)
    assert bench.service("run-1").post(invoice_id).totals_match
    bench.emulators.bunny.store.void_invoice(invoice_id)
    reversal = bench.service("run-2").post(void_key(invoice_id))
    assert reversal.status == Status.POSTED, reversal
    assert bench.aiq_count(void_reference(invoice_id)) == bench.aiq_count(void_credit_reference(invoice_id)) == 1
    assert reversal.totals_match and reversal.differences == (), reversal.differences


def test_a_remainder_aiq_holds_at_another_amount_is_a_mismatch_of_the_plan_combined(bench: Bench) -> None:
    invoice_id = _remainder_invoice(bench)
    assert bench.service("run-1").post(invoice_id).totals_match
    rest = invoice_credit_reference(invoice_id)
    with bench.emulators.accountsiq.state.writing() as data:  # someone edits the remainder in AIQ: a cent more
        (note,) = (t for t in data.entities[AIQ_ENTITY].transactions.values() if t.external_reference == rest)
        net = next(line for line in note.lines if line.kind == "Net")
        control = next(line for line in note.lines if line.kind == "Control")
        for line in (net, control):
            step = CENT if line.amount > 0 else -CENT
            line.amount += step
            line.bc_amount += step
        note.control_amount += CENT if note.control_amount > 0 else -CENT
    again = bench.service("run-2").post(invoice_id)
    assert again.transaction_id is not None and not again.totals_match, again
    combined = f"({invoice_reference(invoice_id)} less {rest})"
    assert again.differences == (
        f"net: Bunny 180.00, AIQ 179.99 {combined}",
        f"gross: Bunny 223.30, AIQ 223.29 {combined}",
    ), again.differences


def test_a_rerun_of_an_invoice_aiq_holds_with_its_remainder_is_already_posted_and_still_matches(bench: Bench) -> None:
    invoice_id = _remainder_invoice(bench)
    assert bench.service("run-1").post(invoice_id).status == Status.POSTED
    again = bench.service("run-2").post(invoice_id)
    # Before, the remainder found in the journal counted as written by this run: "posted", with a look-up lag.
    assert again.status == Status.ALREADY_POSTED, again
    assert "aiq_lookup_lag_seconds" not in again.details
    assert again.totals_match and again.differences == (), again.differences
    assert bench.aiq_count(invoice_reference(invoice_id)) == bench.aiq_count(invoice_credit_reference(invoice_id)) == 1


def test_the_void_of_an_invoice_with_credit_applied_reverses_it_whole_under_the_less_credits_reading(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where Bunny's `amount` is net of the account credit applied (the `less_credits` reading), the invoice posts at
    its full value and so must its reversal. Before, the reversal's check left the credits out (246.00 against 226.00):
    TOTALS_MISMATCH on every retry, and AIQ kept the voided invoice's revenue (found in review)."""
    monkeypatch.setattr(journal_bench, "SETTINGS", replace(journal_bench.SETTINGS, readings=LESS_CREDITS))
    bench.emulators.bunny.store.set_options({"amount_includes_credits": True})
    (created,) = bench.emulators.bunny.create_invoices({"credits": "20.00", "items": [STANDARD]}, release=True)
    invoice_id = str(created)
    posted = bench.service("run-1").post(invoice_id)
    assert posted.status == Status.POSTED and posted.aiq_gross == Decimal("246.00"), posted.reason
    bench.emulators.bunny.store.void_invoice(invoice_id)
    reversal = bench.service("run-2").post(void_key(invoice_id))
    assert reversal.status == Status.POSTED, (reversal.reason_code, reversal.reason)
    assert bench.aiq_count(void_reference(invoice_id)) == 1


@pytest.mark.parametrize(
    ("readings", "emulator", "invoice", "bunny"),
    [
        (  # Bunny's amount is net of the 20.00 credit applied: the invoice's value is 246.00 all the same
            LESS_CREDITS,
            {"amount_includes_credits": True},
            {"credits": "20.00", "items": [STANDARD]},
            ("200.00", "46.00", "246.00"),
        ),
        (  # Bunny's subtotal is before the 20.00 discount: the net AIQ holds is 180.00
            BunnyReadings(subtotal="before_discount"),
            {"subtotal_semantics": "before_discount"},
            {"items": [STANDARD | {"quantity": 1, "discount": "20.00"}]},
            ("180.00", "41.40", "221.40"),
        ),
    ],
    ids=["less_credits", "before_discount"],
)
def test_the_totals_check_reads_bunny_as_the_tenant_does(
    bench: Bench,
    monkeypatch: pytest.MonkeyPatch,
    readings: BunnyReadings,
    emulator: dict[str, object],
    invoice: dict[str, object],
    bunny: tuple[str, str, str],
) -> None:
    """The planner checks a document against Bunny's totals read this tenant's way; so does the totals check after
    posting. Before, the check took Bunny's raw fields and was red on every invoice with credit applied or a
    discount, though AIQ held exactly what Bunny billed (found in review)."""
    monkeypatch.setattr(journal_bench, "SETTINGS", replace(journal_bench.SETTINGS, readings=readings))
    bench.emulators.bunny.store.set_options(emulator)
    (created,) = bench.emulators.bunny.create_invoices(invoice, release=True)
    outcome = bench.service().post(str(created))
    assert outcome.status == Status.POSTED, outcome.reason
    assert (outcome.net, outcome.tax, outcome.gross) == tuple(Decimal(v) for v in bunny)
    assert outcome.totals_match, outcome.differences


def _close_every_period(bench: Bench) -> None:
    """The month's sales ledger is closed in AIQ after the documents posted (a re-run then fails preflight)."""
    with bench.emulators.accountsiq.state.writing() as data:
        for period in data.entities[AIQ_ENTITY].periods:
            period.sales_closed = True


def test_a_rerun_after_the_month_closed_of_an_invoice_with_a_remainder_is_already_posted_and_matches(
    bench: Bench,
) -> None:
    invoice_id = _remainder_invoice(bench)
    assert bench.service("run-1").post(invoice_id).totals_match
    _close_every_period(bench)
    again = bench.service("run-2").post(invoice_id)
    # Before, the sales invoice alone was compared (net 250.00 against Bunny's 180.00): a red re-run.
    assert again.status == Status.ALREADY_POSTED, (again.reason_code, again.reason)
    assert again.totals_match and again.differences == (), again.differences


def test_a_rerun_after_the_month_closed_of_a_negative_invoice_is_already_posted_as_its_credit_note(
    bench: Bench,
) -> None:
    (created,) = bench.emulators.bunny.create_invoices({"items": [STANDARD, UNUSED_TIME]}, release=True)
    invoice_id = str(created)
    assert bench.service("run-1").post(invoice_id).totals_match
    _close_every_period(bench)
    again = bench.service("run-2").post(invoice_id)
    # Before, FAILED CLOSED_PERIOD: the plan's only document (the credit note) was not among those looked for.
    assert again.status == Status.ALREADY_POSTED, (again.reason_code, again.reason)
    assert again.transaction_id is not None and again.gross is not None and again.gross < 0
    assert again.totals_match and again.differences == (), again.differences


def test_a_rerun_after_the_month_closed_of_a_void_with_a_remainder_is_already_posted_and_matches(
    bench: Bench,
) -> None:
    invoice_id = _remainder_invoice(bench)
    assert bench.service("run-1").post(invoice_id).totals_match
    bench.emulators.bunny.store.void_invoice(invoice_id)
    assert bench.service("run-2").post(void_key(invoice_id)).totals_match
    _close_every_period(bench)
    again = bench.service("run-3").post(void_key(invoice_id))
    assert again.status == Status.ALREADY_POSTED, (again.reason_code, again.reason)
    assert again.totals_match and again.differences == (), again.differences
    assert bench.aiq_count(void_reference(invoice_id)) == bench.aiq_count(void_credit_reference(invoice_id)) == 1
