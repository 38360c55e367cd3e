"""The payment planner and a refund's money out, on their own: what a Bunny payment posts, to which bank account,
allocated how; what waits, what is skipped and what is a clear problem."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from aiq_pipeline.bunny import models as bunny
from aiq_pipeline.sync.documents.context import PaymentAccounts, PostedDocument, PostingSettings
from aiq_pipeline.sync.documents.credit_note import CreditNoteSource, plan_credit_note
from aiq_pipeline.sync.documents.payment import PAYMENT_FAILED, PAYMENT_PENDING, plan_payment
from aiq_pipeline.sync.documents.plan import INVOICE_NOT_POSTED, AiqTarget, PostingPlan, Skip, Wait
from aiq_pipeline.sync.identity import fee_reference, invoice_reference, payment_reference, refund_reference
from aiq_pipeline.sync.problems import PreflightFailed, ProblemCode
from aiq_pipeline_tests.sync.builders import ACCOUNT, CHART, SETTINGS, context, invoice, item, ledger, replace

D = Decimal
BANKS = PaymentAccounts(banks={("stripe", "EUR"): "1200", ("*", "GBP"): "1210"}, fees_account="8000")
PAYING = replace(SETTINGS, payments=BANKS)
CHART_WITH_BANKS = (*CHART, replace(CHART[7], code="1210", description="Bank GBP account"))
RECEIVED = datetime(2026, 7, 14, 9, 30)


def application(invoice_id: str, amount: str, app_id: str = "a1") -> bunny.PaymentApplication:
    return bunny.PaymentApplication(app_id, "p1", invoice_id, D(amount), "EUR", "card", RECEIVED)


def payment(*applications: bunny.PaymentApplication, **kw: object) -> bunny.Payment:
    fields: dict[str, object] = {
        "id": "p1",
        "entity_id": "1",
        "account_id": "42",
        "currency_code": "EUR",
        "amount": D("100.00"),
        "fees": D("0"),
        "amount_unapplied": D("0"),
        "state": "APPLIED",
        "processing_state": "SUCCEEDED",
        "payment_processor": "stripe",
        "received_at": RECEIVED,
        "completed_at": RECEIVED,
        "updated_at": RECEIVED,
        "applications": applications,
        "account": ACCOUNT,
    }
    return bunny.Payment(**(fields | kw))  # type: ignore[arg-type]


def posted(*invoice_ids: str) -> dict[str, PostedDocument]:
    return {
        invoice_reference(i): PostedDocument(invoice_reference(i), 500 + n, D("100.00"), customer_code="BNY-42")
        for n, i in enumerate(invoice_ids)
    }


def plan(p: bunny.Payment, *invoice_ids: str, settings: PostingSettings = PAYING, **kw: object) -> object:
    ctx = context(settings=settings, posted=posted(*invoice_ids), ledger=ledger(chart=CHART_WITH_BANKS), **kw)
    return plan_payment(p, ctx)


def test_a_payment_is_a_receipt_into_the_mapped_bank_dated_when_received_and_allocated_as_applied() -> None:
    decision = plan(payment(application("7", "60.00"), application("8", "40.00", "a2")), "7", "8")
    assert isinstance(decision, PostingPlan)
    (receipt,) = decision.documents
    assert receipt.target is AiqTarget.SALES_RECEIPT and receipt.reference == payment_reference("p1")
    assert receipt.lines[0].gl_account_code == "1200" and receipt.gross == D("100.00")
    assert receipt.date == RECEIVED.date() and receipt.customer_code == "BNY-42"
    assert [(a.target, a.amount) for a in decision.allocations] == [
        (invoice_reference("7"), D("60.00")),
        (invoice_reference("8"), D("40.00")),
    ]


def test_fees_credit_the_customer_against_the_fees_account_and_the_bank_gets_the_rest() -> None:
    decision = plan(payment(application("7", "100.00"), fees=D("2.90")), "7")
    assert isinstance(decision, PostingPlan)
    receipt, fee = decision.documents
    assert receipt.gross == D("97.10") and receipt.lines[0].gl_account_code == "1200"
    assert fee.target is AiqTarget.SALES_CREDIT_JOURNAL and fee.reference == fee_reference("p1")
    assert fee.gross == D("2.90") and fee.lines[0].gl_account_code == "8000"
    assert [(a.source, a.amount) for a in decision.allocations] == [
        (payment_reference("p1"), D("97.10")),
        (fee_reference("p1"), D("2.90")),
    ]


def test_net_of_fees_reading_adds_the_fees_back() -> None:
    readings = replace(PAYING.readings, payment_amount="net_of_fees")
    p = payment(application("7", "100.00"), amount=D("97.10"), fees=D("2.90"))
    decision = plan(p, "7", settings=replace(PAYING, readings=readings))
    assert isinstance(decision, PostingPlan)
    assert [d.gross for d in decision.documents] == [D("97.10"), D("2.90")]
    with pytest.raises(PreflightFailed) as failed:  # read the gross way, the applications exceed the payment
        plan(p, "7")
    assert ProblemCode.PAYMENT_AMOUNTS in failed.value.codes
    assert "AIQ_PIPELINE_BUNNY_PAYMENT_AMOUNT" in str(failed.value)


def test_an_overpayment_stays_unallocated_and_says_so() -> None:
    decision = plan(payment(application("7", "80.00")), "7")
    assert isinstance(decision, PostingPlan)
    assert [a.amount for a in decision.allocations] == [D("80.00")]
    assert any("20.00 not applied" in note for note in decision.notes)


def test_pending_waits_failed_is_skipped() -> None:
    assert isinstance(waiting := plan(payment(processing_state="PENDING")), Wait) and waiting.code == PAYMENT_PENDING
    assert isinstance(skipped := plan(payment(processing_state="FAILED")), Skip) and skipped.code == PAYMENT_FAILED


def test_a_payment_waits_for_its_invoices_in_aiq() -> None:
    decision = plan(payment(application("7", "60.00"), application("8", "40.00", "a2")), "7")
    assert isinstance(decision, Wait) and decision.code == INVOICE_NOT_POSTED
    assert decision.details == {"invoice_ids": "8"}


@pytest.mark.parametrize(
    ("processor", "currency", "code"),
    [
        ("paypal", "EUR", ProblemCode.UNMAPPED_BANK_ACCOUNT),
        ("stripe", "USD", ProblemCode.UNMAPPED_BANK_ACCOUNT),
    ],
)
def test_an_unmapped_processor_or_currency_is_never_guessed(processor: str, currency: str, code: ProblemCode) -> None:
    with pytest.raises(PreflightFailed) as failed:
        plan(payment(payment_processor=processor, currency_code=currency))
    (problem,) = [p for p in failed.value.problems if p.code is code]
    assert f"{processor}:{currency}=" in problem.fix


def test_a_mapped_account_that_is_not_a_bank_or_holds_another_currency_is_refused() -> None:
    not_bank = replace(PAYING, payments=PaymentAccounts(banks={("*", "*"): "4000"}))
    with pytest.raises(PreflightFailed) as failed:
        plan(payment(), settings=not_bank)
    assert failed.value.codes == (ProblemCode.NOT_A_BANK_ACCOUNT,)
    ctx = context(settings=PAYING, ledger=ledger(chart=CHART_WITH_BANKS, banks=[("1200", "USD"), ("1210", "GBP")]))
    with pytest.raises(PreflightFailed) as failed:
        plan_payment(payment(), ctx)
    assert failed.value.codes == (ProblemCode.BANK_CURRENCY_MISMATCH,)


def test_a_foreign_currency_bank_takes_the_payments_rate_a_base_currency_bank_one() -> None:
    gbp = plan(payment(currency_code="GBP"))
    assert isinstance(gbp, PostingPlan)
    assert gbp.main.exchange_rate == D("1.17") and gbp.main.bank_exchange_rate == D("1.17")
    ctx = context(settings=PAYING, ledger=ledger(chart=CHART_WITH_BANKS, banks=[("1210", "EUR")]))
    base_bank = plan_payment(payment(currency_code="GBP"), ctx)
    assert isinstance(base_bank, PostingPlan) and base_bank.main.bank_exchange_rate == D(1)


def test_fees_without_a_fees_account_are_a_clear_problem() -> None:
    no_fees = replace(PAYING, payments=replace(BANKS, fees_account=None))
    with pytest.raises(PreflightFailed) as failed:
        plan(payment(fees=D("1.00")), settings=no_fees)
    assert failed.value.codes == (ProblemCode.NO_FEES_ACCOUNT,)
    assert "AIQ_PIPELINE_FEES_ACCOUNT" in failed.value.problems[0].fix


def test_a_payment_of_invoices_matched_to_another_customer_posts_to_that_customer() -> None:
    matched = {
        invoice_reference("7"): PostedDocument(invoice_reference("7"), 9, D("100.00"), customer_code="EXISTING-001")
    }
    decision = plan_payment(
        payment(application("7", "100.00")),
        context(settings=PAYING, posted=matched, ledger=ledger(chart=CHART_WITH_BANKS)),
    )
    assert isinstance(decision, PostingPlan) and decision.main.customer_code == "EXISTING-001"


# -- refunds ------------------------------------------------------------------------------------------


def _refund(payments: tuple[bunny.Payment, ...]) -> object:
    inv = invoice(item("i1", amount="100.00", tax="23.00"))
    refunded = bunny.CreditNoteItem("i1", "refund", D("100.00"), D("100.00"), D("23.00"), id="n1")
    note = bunny.CreditNote(
        "c1",
        "CN-1",
        "READY",
        "REFUND",
        "1",
        inv.account_id,
        inv.id,
        "EUR",
        RECEIVED.date(),
        D("100.00"),
        D("23.00"),
        D("123.00"),
        RECEIVED,
        items=(refunded,),
    )
    ctx = context(settings=PAYING, posted=posted(inv.id), ledger=ledger(chart=CHART_WITH_BANKS))
    return plan_credit_note(CreditNoteSource(note, inv, payments), ctx)


def test_a_refund_of_a_paid_invoice_pays_the_money_back_through_the_payments_bank() -> None:
    paid = payment(application("1001", "123.00"), amount=D("123.00"))
    decision = _refund((paid,))
    assert isinstance(decision, PostingPlan)
    credit, money_out = decision.documents
    assert money_out.target is AiqTarget.SALES_DEBIT_JOURNAL and money_out.reference == refund_reference("c1")
    assert money_out.gross == D("123.00") and money_out.lines[0].gl_account_code == "1200"
    ((allocation),) = decision.allocations
    assert (allocation.source, allocation.target) == (credit.reference, money_out.reference)


def test_a_refund_of_an_unpaid_invoice_settles_the_invoice_as_before() -> None:
    decision = _refund(())
    assert isinstance(decision, PostingPlan) and len(decision.documents) == 1
    assert [a.target for a in decision.allocations] == [invoice_reference("1001")]


def test_a_refund_through_an_unmapped_processor_is_a_clear_problem() -> None:
    with pytest.raises(PreflightFailed) as failed:
        _refund((payment(application("1001", "123.00"), amount=D("123.00"), payment_processor="paypal"),))
    assert failed.value.codes == (ProblemCode.UNMAPPED_BANK_ACCOUNT,)
