"""The money a refund pays back: a Bunny REFUND credit note on an invoice that was paid returns the money through
the bank account the payment came in by (Bunny has no refund object: MONEY.md; UNVERIFIED that a refund is always
paid back).

AIQ has no operation creating its refund type (SP), so the money out is a sales debit journal (BUNNY-RFND-<credit
note id>, type SD) crediting the bank account, as the vendor's payment page suggests; the refund credit note is
allocated to it, and the invoice stays settled by its receipt. What the refund credits beyond the money paid
(Bunny's docs allow none, "up to the paid amount"; UNVERIFIED that Bunny enforces it: the emulator's `refund_bound`)
is allocated to the invoice as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from aiq_pipeline.sync.documents.banks import bank_for, money_line
from aiq_pipeline.sync.documents.context import PlanContext
from aiq_pipeline.sync.documents.lines import single_line
from aiq_pipeline.sync.documents.payment import RECEIVED_STATES
from aiq_pipeline.sync.documents.plan import AiqTarget, PlannedAllocation, PlannedDocument
from aiq_pipeline.sync.identity import invoice_reference, refund_reference
from aiq_pipeline.sync.inputs import BunnyCreditNote, BunnyPayment
from aiq_pipeline.sync.money import ZERO, money_sum, to_cents
from aiq_pipeline.sync.problems import PreflightFailed

REFUND = "REFUND"


def money_out(
    note: BunnyCreditNote, credit: PlannedDocument, payments: Sequence[BunnyPayment], ctx: PlanContext, label: str
) -> PlannedDocument | None:
    """The debit journal paying `credit`'s refund back, or None when nothing was paid (PreflightFailed when the
    payment's processor has no bank account mapped)."""
    invoice_id = note.credited_invoice_id
    if (note.kind or "").upper() != REFUND or not invoice_id:
        return None
    paid = [p for p in payments if p.processing_state in RECEIVED_STATES and _applied(p, invoice_id) > 0]
    amount = min(credit.gross, money_sum(_applied(p, invoice_id) for p in paid))
    if amount <= 0:
        return None
    payment = max(paid, key=lambda p: (p.received_at or p.created_at or datetime.min, p.id))
    bank, problems = bank_for(
        label, payment.payment_processor, credit.currency_code, credit.exchange_rate, ctx.settings.payments, ctx.ledger
    )
    if bank is None:
        raise PreflightFailed(problems)
    description = single_line(f"Refund paid back: {label} (payment {payment.id})")
    return PlannedDocument(
        target=AiqTarget.SALES_DEBIT_JOURNAL,
        reference=refund_reference(note.id),
        customer_code=credit.customer_code,
        currency_code=credit.currency_code,
        date=credit.date,
        due_date=None,
        description=description,
        exchange_rate=credit.exchange_rate,
        lines=(money_line(bank.code, description, amount, payment.id, "bank"),),
        period_name=credit.period_name,
        financial_year=credit.financial_year,
        bank_exchange_rate=bank.exchange_rate or credit.exchange_rate,
    )


def refund_allocations(
    credit: PlannedDocument, paid_back: PlannedDocument, invoice_id: str
) -> tuple[PlannedAllocation, ...]:
    """The credit note settles the money paid back first; anything more it credits settles the invoice."""
    allocations = [
        PlannedAllocation(
            credit.reference,
            paid_back.reference,
            credit.date,
            amount=paid_back.gross,
            target_type=AiqTarget.SALES_DEBIT_JOURNAL,
        )
    ]
    if credit.gross > paid_back.gross:
        allocations.append(PlannedAllocation(credit.reference, invoice_reference(invoice_id), credit.date))
    return tuple(allocations)


def _applied(payment: BunnyPayment, invoice_id: str) -> Decimal:
    return money_sum(to_cents(a.amount or ZERO) for a in payment.applications if a.invoice_id == invoice_id)
