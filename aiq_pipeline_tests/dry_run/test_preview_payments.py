"""`aiq-pipeline preview PAY-<id>` through the command line against both emulators, with the bank mapping a finance
team would set (AIQ_PIPELINE_BANK_ACCOUNTS, the fees and account-credit accounts): the receipt into the mapped bank,
allocated to the invoice it paid; waiting for an invoice AIQ does not hold; an unmapped processor, with its fix."""

from __future__ import annotations

from decimal import Decimal

from aiq_pipeline.sync.identity import invoice_reference, payment_reference
from aiq_pipeline_tests.dry_run.conftest import run, run_json, written
from aiq_pipeline_tests.payments.conftest import START
from aiq_pipeline_tests.payments.driving import new_invoice, take_payment
from aiq_pipeline_tests.pipeline.conftest import Stack


def _due(stack: Stack, invoice_id: str) -> Decimal:
    store = stack.emulators.bunny.store
    return Decimal(store.figures(store._invoice(invoice_id)).amount_due)


def test_a_payment_is_a_receipt_into_the_mapped_bank_allocated_to_its_invoice(payments: Stack) -> None:
    invoice = new_invoice(payments)
    due = _due(payments, invoice)
    payment = take_payment(payments, "1", [invoice])
    key = f"PAY-{payment['id']}"
    before = written(payments)

    alone = run("preview", key)  # the invoice is not in AIQ, and not previewed with it
    assert alone.exit_code == 1, alone.output
    assert f"{key}" in alone.stdout and "would wait [INVOICE_NOT_POSTED]" in alone.stdout
    assert "fix: Nothing to do if the invoice is on its way" in alone.stdout

    shown = {p["key"]: p for p in run_json("preview", key, invoice)}
    assert written(payments) == before  # nothing in AIQ, the store, the partitions or the runs
    receipt = shown[key]
    assert receipt["would"] == "would post" and receipt["assumes_posted"] == [invoice_reference(invoice)]
    (document,) = receipt["documents"]  # no fees: the receipt alone
    assert (document["type"], document["reference"]) == ("SR", payment_reference(payment["id"]))
    assert (document["currency"], document["date"][:10]) == ("EUR", START)
    (line,) = document["lines"]
    assert (line["gl_account_code"], line["gl_source"]) == ("1200", "bank")  # stripe:EUR=1200
    assert Decimal(document["gross"]) == due
    (allocation,) = receipt["allocations"]
    assert (allocation["source"], allocation["target"]) == (
        payment_reference(payment["id"]),
        invoice_reference(invoice),
    )
    assert Decimal(allocation["amount"]) == due

    text = run("preview", invoice, key)
    assert text.exit_code == 0, text.output
    assert f"SR sales receipt {payment_reference(payment['id'])}" in text.stdout
    assert f"- GL 1200 (bank)  no tax  net {due}  tax 0.00" in text.stdout
    assert f"allocate {payment_reference(payment['id'])} against {invoice_reference(invoice)}: {due}" in text.stdout
    assert written(payments) == before


def test_an_unmapped_processor_would_fail_with_the_setting_to_add(payments: Stack) -> None:
    invoice = new_invoice(payments)
    payment = take_payment(payments, "1", [invoice], processor="paypal")
    key = f"PAY-{payment['id']}"
    before = written(payments)
    result = run("preview", invoice, key)
    assert result.exit_code == 1, result.output
    assert f"{key}" in result.stdout and "would fail [UNMAPPED_BANK_ACCOUNT]" in result.stdout
    assert "paypal" in result.stdout and "AIQ_PIPELINE_BANK_ACCOUNTS" in result.stdout
    shown = {p["key"]: p for p in run_json("preview", invoice, key)}
    assert shown[invoice]["would"] == "would post"
    assert shown[key]["reason_code"] == "UNMAPPED_BANK_ACCOUNT" and "paypal:EUR=" in shown[key]["fix"]
    assert written(payments) == before
