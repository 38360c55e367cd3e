"""Refunds through real HTTP against both emulators: a Bunny refund of a paid invoice is a credit note in AIQ and the
money paid back out of the payment's bank account, allocated to each other; the customer owes in AIQ what Bunny
says, and the invoice stays settled by its receipt."""

from __future__ import annotations

from decimal import Decimal

from aiq_pipeline.defs.posting.status import document_exceptions
from aiq_pipeline.sync.identity import credit_note_reference, customer_code, invoice_reference, refund_reference
from aiq_pipeline_tests.pair_names import CREDIT_NOTES
from aiq_pipeline_tests.payments.driving import (
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


def test_a_refund_pays_the_money_back_out_of_the_payments_bank_and_balances_stay_equal(stack: Stack) -> None:
    daemon = Daemon(stack)
    invoice = new_invoice(stack)
    daemon.tick()
    payment = take_payment(stack, "1", [invoice])
    daemon.tick()
    refunded = bunny_post(stack, f"/_emulator/payments/{payment['id']}/refund", {"amount": "20.00"})
    (note,) = refunded["credit_notes"]
    daemon.tick()

    assert document_exceptions(stack.instance, CREDIT_NOTES) == []
    (credit,) = aiq_by_reference(stack, credit_note_reference(note["id"]))
    (paid_back,) = aiq_by_reference(stack, refund_reference(note["id"]))
    assert paid_back.type_code == "SD" and paid_back.bank_account_code == "1200"
    assert abs(credit.control_amount) == abs(paid_back.control_amount) == Decimal("20.00")
    assert credit.outstanding_amount == paid_back.outstanding_amount == 0  # settled against each other
    (posted_invoice,) = aiq_by_reference(stack, invoice_reference(invoice))
    assert posted_invoice.outstanding_amount == 0  # still settled by its receipt
    assert aiq_customer_balances(stack).get(CUSTOMER, Decimal(0)) == bunny_customer_balances(stack).get(
        CUSTOMER, Decimal(0)
    )


def test_a_refund_posted_before_its_payment_still_balances(stack: Stack) -> None:
    daemon = Daemon(stack)
    invoice = new_invoice(stack)
    daemon.tick()
    payment = take_payment(stack, "1", [invoice])
    bunny_post(stack, f"/_emulator/payments/{payment['id']}/refund")
    daemon.tick(CREDIT_NOTES)  # the refund posts first, the payment after
    daemon.tick()
    assert aiq_customer_balances(stack).get(CUSTOMER, Decimal(0)) == 0
    assert bunny_customer_balances(stack).get(CUSTOMER, Decimal(0)) == 0
