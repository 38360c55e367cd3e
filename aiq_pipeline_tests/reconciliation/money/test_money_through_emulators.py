"""The monthly reconciliation's money through real HTTP against both emulators: payments (full with fees, partial,
over, in another currency) and a refund posted by the sensors reconcile clean, per day and bank account and per
customer; then each side is broken on purpose and the difference is listed with both figures, in the check, the
store and what `aiq-pipeline sync` prints (exit code 3); and under the Bunny emulator's other refund reading (a
refund of an unpaid invoice allowed) the customer it leaves apart is listed."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import dagster as dg

from aiq_pipeline.accountsiq import AccountsIQClient, SalesReceipt
from aiq_pipeline.defs.reconciliation.assets import RECONCILIATION_CHECK
from aiq_pipeline.defs.resources import AccountsIQResource
from aiq_pipeline.operations.reconcile import MonthOutcome, reconcile_after_sync, reconcile_months_in_process
from aiq_pipeline.operations.runs import EXIT_RECONCILIATION_DIFFERS, SyncSummary
from aiq_pipeline.service.reconciliation import (
    latest_bank_reconciliation,
    latest_customer_balances,
    latest_reconciliation,
    month_key,
)
from aiq_pipeline.sync.identity import (
    credit_note_reference,
    customer_code,
    fee_reference,
    payment_reference,
    refund_reference,
)
from aiq_pipeline_tests.pair_names import MONTHLY_RECONCILIATION
from aiq_pipeline_tests.payments.driving import (
    AIQ_ENTITY,
    Daemon,
    aiq_by_reference,
    aiq_customer_balances,
    bunny_customer_balances,
    bunny_post,
    new_invoice,
    take_payment,
)
from aiq_pipeline_tests.pipeline.conftest import Stack

CUSTOMER = customer_code("1")
GBP_CUSTOMER = customer_code("3")  # the sample tenant's account 3 pays in GBP


def this_month() -> str:
    return month_key(datetime.now(UTC).date())


def reconcile(stack: Stack) -> MonthOutcome:
    (outcome,) = reconcile_months_in_process(stack.instance, [this_month()], stack.defs, "test")
    assert outcome.ran, outcome.description
    return outcome


def due(stack: Stack, invoice_id: str) -> Decimal:
    store = stack.emulators.bunny.store
    amount: Decimal = store.figures(store._invoice(invoice_id)).amount_due
    return amount


def paid_and_refunded(stack: Stack) -> dict[str, Any]:
    """Account 1: one invoice paid in full with fees and refunded in part, one paid in part, one overpaid;
    account 3: a GBP invoice paid in full. Every document posted by the sensors."""
    daemon = Daemon(stack)
    full, part, over = new_invoice(stack), new_invoice(stack), new_invoice(stack)
    pounds = new_invoice(stack, account="3")
    daemon.tick()
    paid = take_payment(stack, "1", [full], fees=Decimal("3.87"))
    take_payment(stack, "1", [part], amount=due(stack, part) - Decimal("10.00"))
    overpaid = take_payment(stack, "1", [over], amount=due(stack, over) + Decimal("25.50"))
    take_payment(stack, "3", [pounds], fees=Decimal("0.50"))
    daemon.tick()
    (note,) = bunny_post(stack, f"/_emulator/payments/{paid['id']}/refund", {"amount": "20.00"})["credit_notes"]
    daemon.tick()
    assert aiq_by_reference(stack, refund_reference(note["id"])), "the refund's money out was posted"
    return {"paid": paid, "overpaid": overpaid, "note": note}


def aiq(stack: Stack) -> AbstractContextManager[AccountsIQClient]:
    resource = stack.defs.resources["accountsiq"] if stack.defs.resources else None
    assert isinstance(resource, AccountsIQResource)
    return resource.open()


def test_payments_and_a_refund_reconcile_per_bank_day_and_per_customer(stack: Stack) -> None:
    posted = paid_and_refunded(stack)
    outcome = reconcile(stack)
    assert outcome.passed, outcome.description
    assert "receipts and refunds agree" in outcome.description and "customer balance(s) agree" in outcome.description

    month = this_month()[:7]
    days = [r for r in latest_bank_reconciliation(stack.store, month) if r["row_type"] == "bank_day"]
    assert days and all(r["passed"] for r in days)
    by_bank = {(r["bank_account"], r["kind"], r["currency"]): r for r in days}
    eur = by_bank[("1200", "receipts", "EUR")]
    assert (eur["bunny_count"], eur["aiq_count"]) == (3, 3)
    assert eur["bunny_amount"] == eur["aiq_amount"]
    # The receipt of the paid invoice is the payment less its fees.
    (receipt,) = aiq_by_reference(stack, payment_reference(posted["paid"]["id"]))
    assert abs(receipt.control_amount) == Decimal(posted["paid"]["amount"]) - Decimal("3.87")
    assert by_bank[("1210", "receipts", "GBP")]["aiq_count"] == 1
    refunds = by_bank[("1200", "refunds", "EUR")]
    assert (refunds["bunny_amount"], refunds["aiq_amount"]) == (Decimal("20.00"), Decimal("20.00"))

    customers = {r["customer_code"]: r for r in latest_customer_balances(stack.store, month)}
    assert set(customers) == {CUSTOMER, GBP_CUSTOMER}
    ours = customers[CUSTOMER]
    # The emulators' own ground truth: the partial payment's 10.00 due, less the overpayment's 25.50.
    truth = aiq_customer_balances(stack)[CUSTOMER]
    assert truth == bunny_customer_balances(stack)[CUSTOMER] == Decimal("-15.50")
    assert (ours["bunny_amount_due"], ours["aiq_balance"], ours["aiq_outstanding"]) == (truth, truth, truth)
    assert ours["passed"] and ours["currency"] == "EUR"
    assert customers[GBP_CUSTOMER]["aiq_balance"] == 0 and customers[GBP_CUSTOMER]["currency"] == "GBP"
    summary = latest_reconciliation(stack.store, month)[0]
    assert (summary["row_type"], summary["passed"]) == ("summary", True)


def one_payment(stack: Stack) -> dict[str, Any]:
    """Account 1: one invoice paid in full with fees, posted by the sensors."""
    daemon = Daemon(stack)
    invoice = new_invoice(stack)
    daemon.tick()
    paid = take_payment(stack, "1", [invoice], fees=Decimal("1.25"))
    daemon.tick()
    return paid


def test_a_receipt_bunny_never_took_is_listed_per_bank_day_per_customer_and_by_sync(stack: Stack) -> None:
    one_payment(stack)
    assert reconcile(stack).passed
    with aiq(stack) as client:  # someone books money by hand under one of our references
        client.save_sales_receipt_get_back_transaction_id(
            SalesReceipt(CUSTOMER, "1200", datetime.now(UTC).date(), Decimal("99.99"), "BUNNY-PAY-999", "by hand")
        )
    outcome = reconcile(stack)
    assert not outcome.passed and "BUNNY-PAY-999" in outcome.description

    month = this_month()[:7]
    bank = latest_bank_reconciliation(stack.store, month)
    (extra,) = [r for r in bank if r["row_type"] == "difference"]
    assert (extra["external_reference"], extra["problem"], extra["aiq_amount"], extra["bunny_amount"]) == (
        "BUNNY-PAY-999",
        "NOT_IN_BUNNY",
        Decimal("99.99"),
        None,
    )
    (day,) = [r for r in bank if r["row_type"] == "bank_day" and not r["passed"]]
    assert (day["bank_account"], day["aiq_amount"] - day["bunny_amount"]) == ("1200", Decimal("99.99"))
    (customer,) = [r for r in latest_customer_balances(stack.store, month) if not r["passed"]]
    assert (customer["customer_code"], customer["currency"], customer["problem"]) == (
        CUSTOMER,
        "EUR",
        "BALANCE_DIFFERS",
    )
    assert (customer["bunny_amount_due"], customer["aiq_balance"]) == (Decimal("0.00"), Decimal("-99.99"))

    # The check's own metadata lists them too, as typed tables.
    key = dg.AssetCheckKey(MONTHLY_RECONCILIATION, RECONCILIATION_CHECK)
    record = stack.instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    assert record.evaluation is not None and not record.evaluation.passed
    metadata = record.evaluation.metadata
    listed, customers = metadata["payment_differences"], metadata["customer_balances"]
    assert isinstance(listed, dg.TableMetadataValue) and isinstance(customers, dg.TableMetadataValue)
    assert [(r.data["external_reference"], r.data["aiq_amount"]) for r in listed.records] == [
        ("BUNNY-PAY-999", "99.99")
    ]
    assert [
        (r.data["customer_code"], r.data["bunny_amount_due"], r.data["aiq_balance"]) for r in customers.records
    ] == [(CUSTOMER, "0.00", "-99.99")]

    printed: list[str] = []
    months = reconcile_after_sync(stack.instance, stack.defs, echo=printed.append)
    failed = [m.description for m in months if not m.passed]
    assert any("BUNNY-PAY-999" in line and line.startswith("RECONCILIATION FAILED") for line in printed), printed
    assert SyncSummary(reconciliation_failed=failed).exit_code == EXIT_RECONCILIATION_DIFFERS


def test_bunny_money_aiq_lacks_an_unmapped_processor_and_aiq_against_itself(stack: Stack) -> None:
    paid = one_payment(stack)
    invoice = new_invoice(stack)
    Daemon(stack).tick()
    late = take_payment(stack, "1", [invoice])  # taken in Bunny, not posted yet
    elsewhere = take_payment(stack, "1", [], amount=Decimal("5.00"), processor="paypal")  # nobody mapped paypal
    with stack.emulators.accountsiq.state.writing() as data:  # AIQ's own figures disagree with its balance
        transactions = data.entities[AIQ_ENTITY].transactions.values()
        (fees,) = [t for t in transactions if t.external_reference == fee_reference(paid["id"])]
        fees.outstanding_amount -= Decimal("1.00")
    outcome = reconcile(stack)
    assert not outcome.passed

    month = this_month()[:7]
    rows = latest_bank_reconciliation(stack.store, month)
    found = {r["external_reference"]: r for r in rows if r["row_type"] == "difference"}
    assert set(found) == {payment_reference(late["id"]), payment_reference(elsewhere["id"])}
    missing = found[payment_reference(late["id"])]
    assert (missing["problem"], missing["bunny_amount"], missing["aiq_amount"]) == (
        "MISSING_IN_AIQ",
        Decimal(late["amount"]),
        None,
    )
    unmapped = found[payment_reference(elsewhere["id"])]
    assert (unmapped["problem"], unmapped["processor"], unmapped["bunny_bank"], unmapped["bunny_amount"]) == (
        "UNMAPPED_PROCESSOR",
        "paypal",
        None,
        Decimal("5.00"),
    )
    banked = sum((r["bunny_amount"] for r in rows if r["row_type"] == "bank_day"), Decimal(0))
    assert banked == Decimal(paid["amount"]) - Decimal("1.25") + Decimal(late["amount"])  # paypal's 5.00 in no bank

    (customer,) = [r for r in latest_customer_balances(stack.store, month) if not r["passed"]]
    assert customer["customer_code"] == CUSTOMER and customer["problem"] == "BALANCE_DIFFERS"
    assert customer["bunny_amount_due"] == bunny_customer_balances(stack)[CUSTOMER] == Decimal("-5.00")
    assert customer["aiq_balance"] == aiq_customer_balances(stack)[CUSTOMER] == Decimal(late["amount"])
    assert customer["aiq_outstanding"] == customer["aiq_balance"] - Decimal("1.00")
    assert "its transactions' outstanding" in customer["detail"]


def test_a_refund_of_an_unpaid_invoice_under_the_other_reading_posts_and_its_customer_is_listed(stack: Stack) -> None:
    """Bunny's docs bound a refund by the paid amount; that Bunny enforces it is UNVERIFIED (MONEY.md). Under the
    other reading, `refund_bound: "none"`, a refund of an invoice nobody paid is a REFUND credit note like any other:
    the product posts it (no money goes back: nothing was paid) and it settles the invoice in AIQ, while Bunny still
    shows the invoice due. The reconciliation survives it: that customer is listed, AIQ lower by exactly the refund,
    and everything else agrees."""
    bunny_post(stack, "/_emulator/options", {"refund_bound": "none"})
    daemon = Daemon(stack)
    unpaid, pounds = new_invoice(stack), new_invoice(stack, account="3")
    daemon.tick()
    take_payment(stack, "3", [pounds])
    store = stack.emulators.bunny.store
    first_line = store._invoice(unpaid).items[0].id
    refunded = bunny_post(stack, f"/_emulator/invoices/{unpaid}/refund", {"amounts": {first_line: "10.00"}})
    daemon.tick()
    note = next(n for n in store.tenant.credit_notes if n.id == refunded["credit_note_id"])
    gross = store.figures(store._invoice(unpaid)).gross
    assert note.kind == "REFUND" and due(stack, unpaid) == gross  # Bunny: still due in full
    (credit,) = aiq_by_reference(stack, credit_note_reference(note.id))
    assert credit.type_code == "SN" and abs(credit.control_amount) == note.amount
    assert aiq_by_reference(stack, refund_reference(note.id)) == []  # nothing paid, nothing paid back

    outcome = reconcile(stack)
    assert not outcome.passed and "1 of 2 customer balance(s) differ" in outcome.description, outcome.description
    month = this_month()[:7]
    customers = {r["customer_code"]: r for r in latest_customer_balances(stack.store, month)}
    listed = customers[CUSTOMER]
    assert (listed["problem"], listed["bunny_amount_due"], listed["aiq_balance"], listed["aiq_outstanding"]) == (
        "BALANCE_DIFFERS",
        gross,
        gross - note.amount,
        gross - note.amount,
    )
    assert note.amount == Decimal("12.30")  # 10.00 and its 23 % tax
    assert aiq_customer_balances(stack)[CUSTOMER] == bunny_customer_balances(stack)[CUSTOMER] - note.amount
    assert customers[GBP_CUSTOMER]["passed"]
    assert [r for r in latest_bank_reconciliation(stack.store, month) if not r["passed"]] == []
    rows = latest_reconciliation(stack.store, month)
    assert [r for r in rows if r["row_type"] != "summary" and not r["passed"]] == []  # the documents agree
