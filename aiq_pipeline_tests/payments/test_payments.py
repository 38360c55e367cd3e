"""Bunny payments posted to AIQ through real HTTP against both emulators: receipts into the mapped bank account,
allocated to the invoices they paid with the applied amounts; overpayments left on account; pending and failed
payments never posted; an unmapped processor or an invoice not yet in AIQ as a clear exception."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from aiq_pipeline.defs.posting.status import document_exceptions
from aiq_pipeline.sync.identity import (
    account_credit_reference,
    customer_code,
    fee_reference,
    invoice_reference,
    payment_reference,
)
from aiq_pipeline_tests.pair_names import PAYMENTS
from aiq_pipeline_tests.payments.conftest import FEES_ACCOUNT, START
from aiq_pipeline_tests.payments.driving import (
    Daemon,
    aiq_by_reference,
    aiq_customer_balances,
    bunny_customer_balances,
    bunny_post,
    new_invoice,
    statuses,
    take_payment,
)
from aiq_pipeline_tests.payments.product_checks import posted_totals
from aiq_pipeline_tests.pipeline.conftest import Stack

CUSTOMER = customer_code("1")


def _invoice_amount(stack: Stack, invoice_id: str) -> Decimal:
    store = stack.emulators.bunny.store
    return store.figures(store._invoice(invoice_id)).amount_due


def test_a_full_payment_becomes_a_receipt_into_the_mapped_bank_allocated_to_its_invoice(stack: Stack) -> None:
    daemon = Daemon(stack)
    invoice = new_invoice(stack)
    daemon.tick()
    due = _invoice_amount(stack, invoice)
    payment = take_payment(stack, "1", [invoice])
    daemon.tick()

    (receipt,) = aiq_by_reference(stack, payment_reference(payment["id"]))
    assert receipt.type_code == "SR" and receipt.bank_account_code == "1200"
    assert abs(receipt.control_amount) == due and receipt.outstanding_amount == 0
    (posted_invoice,) = aiq_by_reference(stack, invoice_reference(invoice))
    assert posted_invoice.outstanding_amount == 0
    assert statuses(stack)[f"PAY-{payment['id']}"] is not None
    assert aiq_customer_balances(stack).get(CUSTOMER, Decimal(0)) == 0
    assert bunny_customer_balances(stack).get(CUSTOMER, Decimal(0)) == 0


def test_partial_and_over_payments_leave_aiq_balances_equal_to_bunnys(stack: Stack) -> None:
    daemon = Daemon(stack)
    first, second = new_invoice(stack), new_invoice(stack)
    daemon.tick()
    due = _invoice_amount(stack, first)
    take_payment(stack, "1", [first], amount=due - Decimal("10.00"))  # partly paid
    over = take_payment(stack, "1", [second], amount=_invoice_amount(stack, second) + Decimal("25.50"))
    daemon.tick()

    (invoice,) = aiq_by_reference(stack, invoice_reference(first))
    assert invoice.outstanding_amount == Decimal("10.00")
    (receipt,) = aiq_by_reference(stack, payment_reference(over["id"]))
    assert abs(receipt.outstanding_amount) == Decimal("25.50")  # the overpayment stays on account
    assert aiq_customer_balances(stack)[CUSTOMER] == bunny_customer_balances(stack)[CUSTOMER] == Decimal("-15.50")


def test_pending_payments_post_only_once_they_succeed_and_failed_ones_never(stack: Stack) -> None:
    daemon = Daemon(stack)
    paid, declined = new_invoice(stack), new_invoice(stack)
    daemon.tick()
    pending = take_payment(stack, "1", [paid], pending=True)
    failing = take_payment(stack, "1", [declined], pending=True)
    daemon.tick()
    assert stack.instance.get_dynamic_partitions(PAYMENTS.partitions_name) == []

    bunny_post(stack, f"/_emulator/payments/{pending['id']}/complete")
    bunny_post(stack, f"/_emulator/payments/{failing['id']}/fail")
    daemon.tick()
    assert stack.instance.get_dynamic_partitions(PAYMENTS.partitions_name) == [f"PAY-{pending['id']}"]
    assert len(aiq_by_reference(stack, payment_reference(pending["id"]))) == 1
    assert aiq_by_reference(stack, payment_reference(failing["id"])) == []


def test_an_unmapped_processor_is_a_clear_exception_and_nothing_is_written(stack: Stack) -> None:
    daemon = Daemon(stack)
    invoice = new_invoice(stack)
    daemon.tick()
    payment = take_payment(stack, "1", [invoice], processor="paypal")
    daemon.tick()

    (failure,) = document_exceptions(stack.instance, PAYMENTS)
    assert failure.key == f"PAY-{payment['id']}" and failure.reason_code == "UNMAPPED_BANK_ACCOUNT"
    assert "paypal" in failure.reason and "EUR" in failure.reason
    assert "AIQ_PIPELINE_BANK_ACCOUNTS" in (failure.fix or "") and "paypal:EUR=" in (failure.fix or "")
    assert aiq_by_reference(stack, payment_reference(payment["id"])) == []


def test_a_payment_seen_before_its_invoice_waits_for_it_then_posts(stack: Stack) -> None:
    """A burst's payments may be seen before its invoices: a payment of an invoice the invoices sensor will pick up
    waits for it (no exception, no failed run), then posts once the invoice is in AIQ."""
    daemon = Daemon(stack)
    invoice = new_invoice(stack)
    payment = take_payment(stack, "1", [invoice])
    daemon.tick(PAYMENTS)  # the payment is seen before its invoice has a partition
    assert document_exceptions(stack.instance, PAYMENTS) == []
    assert f"PAY-{payment['id']}" not in statuses(stack)  # no partition yet: it waits in the sensor's cursor
    assert "1 waiting for their invoices" in (daemon.last[PAYMENTS.sensor_name] or "")

    daemon.tick()  # the invoice posts, then the payment
    assert document_exceptions(stack.instance, PAYMENTS) == []
    (receipt,) = aiq_by_reference(stack, payment_reference(payment["id"]))
    assert receipt.outstanding_amount == 0


def test_a_payment_of_an_invoice_the_sync_never_takes_is_an_exception_at_once(stack: Stack) -> None:
    """Issued before the sync's start date, the invoice never gets a partition: its payment does not wait silently,
    it fails as INVOICE_NOT_POSTED where a person sees it (and posts by itself once the invoice is backfilled)."""
    daemon = Daemon(stack)
    old = new_invoice(stack, issued_at=(date.fromisoformat(START) - timedelta(days=3)).isoformat())
    payment = take_payment(stack, "1", [old])
    daemon.tick()
    (waiting,) = document_exceptions(stack.instance, PAYMENTS)
    assert waiting.key == f"PAY-{payment['id']}" and waiting.reason_code == "INVOICE_NOT_POSTED"
    assert old in waiting.reason and waiting.retryable
    assert aiq_by_reference(stack, payment_reference(payment["id"])) == []


def aiq_options(stack: Stack, **values: object) -> None:
    answer = httpx.post(f"{stack.emulators.accountsiq_url}/_emulator/options", json=values, timeout=30)
    assert answer.status_code < 300, answer.text


@pytest.mark.parametrize("pairs", ["debit_credit", "wiki_table"])
def test_fees_post_to_the_fees_account_and_the_bank_gets_the_rest(stack: Stack, pairs: str) -> None:
    aiq_options(stack, allocation_pairs=pairs)
    daemon = Daemon(stack)
    invoice = new_invoice(stack)
    daemon.tick()
    due = _invoice_amount(stack, invoice)
    payment = take_payment(stack, "1", [invoice], fees=Decimal("2.90"))
    daemon.tick()

    assert document_exceptions(stack.instance, PAYMENTS) == []
    (receipt,) = aiq_by_reference(stack, payment_reference(payment["id"]))
    (fee,) = aiq_by_reference(stack, fee_reference(payment["id"]))
    assert abs(receipt.control_amount) == due - Decimal("2.90") and receipt.bank_account_code == "1200"
    assert fee.type_code == "SC" and abs(fee.control_amount) == Decimal("2.90")
    assert {line.gl_account_code for line in fee.lines if line.kind != "Control"} == {FEES_ACCOUNT}
    (posted_invoice,) = aiq_by_reference(stack, invoice_reference(invoice))
    # AIQ pairs a credit journal with an invoice under one reading only; the balance is right under both.
    assert posted_invoice.outstanding_amount == (0 if pairs == "debit_credit" else Decimal("2.90"))
    assert aiq_customer_balances(stack).get(CUSTOMER, Decimal(0)) == 0


def test_account_credit_applied_to_an_invoice_settles_it_in_aiq(stack: Stack) -> None:
    daemon = Daemon(stack)
    invoice = new_invoice(stack)
    bunny_post(stack, f"/_emulator/invoices/{invoice}/credits", {"amount": "15.00"})
    daemon.tick()
    daemon.tick()  # the credit's partition waits for the invoice's run, then posts

    (journal,) = aiq_by_reference(stack, account_credit_reference(invoice))
    assert journal.type_code == "SC" and abs(journal.control_amount) == Decimal("15.00")
    (posted_invoice,) = aiq_by_reference(stack, invoice_reference(invoice))
    assert posted_invoice.outstanding_amount == _invoice_amount(stack, invoice)
    bunny_post(stack, f"/_emulator/invoices/{invoice}/credits", {"amount": "5.00"})  # more credit, later
    daemon.tick()
    (more,) = aiq_by_reference(stack, account_credit_reference(invoice) + "-2")
    assert abs(more.control_amount) == Decimal("5.00")
    assert aiq_customer_balances(stack)[CUSTOMER] == bunny_customer_balances(stack)[CUSTOMER]
    # The totals check compares Bunny's credit (20.00) with the parts combined; before, the new part alone: 5.00.
    totals = posted_totals(stack.instance)
    assert totals.checked >= 2 and totals.problems == [], totals.problems
