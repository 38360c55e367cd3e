"""The pure credit-note plan: lines follow the credited invoice lines; voids reverse the invoice exactly."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from aiq_pipeline.bunny import models as bunny
from aiq_pipeline.sync.credit_note_posting import (
    credit_note_key,
    parse_key,
    plan_credit_note_posting,
    plan_void_reversal,
    void_key,
)
from aiq_pipeline.sync.invoice_posting import plan_invoice_posting
from aiq_pipeline.sync.problems import PreflightFailed
from aiq_pipeline_tests.sync.builders import SETTINGS, invoice, item, ledger, mapping, replace

D = Decimal
INVOICE = invoice(
    item("i1", charge="1", amount="49.00", tax="11.27"),
    item("i2", charge="2", amount="300.00", tax="69.00", tax_code="V01"),
)


def note(*items: bunny.CreditNoteItem, **kw) -> bunny.CreditNote:
    subtotal = sum((i.amount for i in items), D("0.00"))
    tax = sum((i.tax_amount for i in items), D("0.00"))
    fields = {
        "id": "77",
        "number": "CN-0077",
        "state": "READY",
        "kind": "REFUND",
        "entity_id": "1",
        "account_id": INVOICE.account_id,
        "credited_invoice_id": INVOICE.id,
        "currency_code": "EUR",
        "issued_at": date(2026, 6, 20),
        "subtotal": subtotal,
        "tax_amount": tax,
        "amount": subtotal + tax,
        "updated_at": datetime(2026, 6, 20, 9),
        "items": items,
    }
    fields.update(kw)
    return bunny.CreditNote(**fields)


def credit(invoice_item_id: str | None, amount: str, tax: str) -> bunny.CreditNoteItem:
    return bunny.CreditNoteItem(invoice_item_id, "refund", D(amount), D(amount), D(tax))


def _plan(n: bunny.CreditNote, inv: bunny.Invoice = INVOICE):
    return plan_credit_note_posting(n, inv, mapping=mapping(), ledger=ledger(), settings=SETTINGS)


def test_credit_lines_post_on_the_credited_lines_account_and_tax_code_with_credited_amounts():
    invoice_plan = plan_invoice_posting(INVOICE, mapping=mapping(), ledger=ledger(), settings=SETTINGS)
    plan = _plan(note(credit("i2", "100.00", "23.00")))
    (line,) = plan.lines
    credited = invoice_plan.lines[1]
    assert (line.gl_account_code, line.tax_code) == (credited.gl_account_code, credited.tax_code) == ("4010", "V01")
    assert (line.net_amount, line.tax_amount) == (D("100.00"), D("23.00"))
    assert (plan.net, plan.tax, plan.gross) == (D("100.00"), D("23.00"), D("123.00"))
    assert plan.external_reference == "BUNNY-CN-77" and plan.credited_invoice_reference == "BUNNY-INV-1001"
    assert plan.credit_note_date == date(2026, 6, 20) and plan.customer_code == invoice_plan.customer_code
    fields = plan.batch_credit_note_fields()
    assert fields["credit_note_date"] == date(2026, 6, 20) and fields["external_reference"] == "BUNNY-CN-77"


def test_a_line_that_credits_no_invoice_line_fails_rather_than_guess_an_account():
    with pytest.raises(PreflightFailed) as failed:
        _plan(note(credit("nope", "10.00", "0.00")))
    assert "UNMATCHED_CREDIT_LINE" in failed.value.codes


def test_totals_must_match_the_credit_note_to_the_cent():
    bad = replace(note(credit("i1", "10.00", "2.30")), amount=D("12.31"))
    with pytest.raises(PreflightFailed) as failed:
        _plan(bad)
    assert "TOTALS_MISMATCH" in failed.value.codes and "CN-0077" in str(failed.value)


def test_draft_credit_notes_are_not_posted():
    with pytest.raises(PreflightFailed) as failed:
        _plan(note(credit("i1", "10.00", "2.30"), state="DRAFT"))
    assert "NOT_POSTABLE" in failed.value.codes


def test_void_reversal_is_the_invoice_posting_under_the_void_reference_dated_like_the_invoice():
    voided = replace(INVOICE, state="VOIDED")
    invoice_plan = plan_invoice_posting(INVOICE, mapping=mapping(), ledger=ledger(), settings=SETTINGS)
    plan = plan_void_reversal(voided, mapping=mapping(), ledger=ledger(), settings=SETTINGS)
    assert plan.lines == invoice_plan.lines
    assert (plan.net, plan.tax, plan.gross) == (invoice_plan.net, invoice_plan.tax, invoice_plan.gross)
    assert plan.credit_note_date == INVOICE.issued_at and plan.external_reference == "BUNNY-VOID-1001"
    with pytest.raises(PreflightFailed):
        plan_void_reversal(INVOICE, mapping=mapping(), ledger=ledger(), settings=SETTINGS)  # not voided


def test_foreign_currency_credit_uses_the_invoice_rate():
    foreign = replace(INVOICE, currency_code="USD", base_currency_code="EUR", base_currency_total=D("391.47"))
    invoice_plan = plan_invoice_posting(foreign, mapping=mapping(), ledger=ledger(), settings=SETTINGS)
    plan = _plan(note(credit("i1", "10.00", "2.30")), foreign)
    assert plan.exchange_rate == invoice_plan.exchange_rate != 1


def test_partition_keys_round_trip():
    assert parse_key(credit_note_key("12")) == ("credit_note", "12")
    assert parse_key(void_key("9")) == ("void", "9")
    with pytest.raises(ValueError):
        parse_key("12")
