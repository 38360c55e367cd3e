"""Bunny's rules for payments: take one (in full, in part, or more than is due), let a pending one complete or
fail, and refund one through REFUND credit notes on the invoices it paid (Bunny has no refund object: MONEY.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from aiq_emulators.bunny.core import RuleViolation
from aiq_emulators.bunny.invoicing import PAYABLE, Invoicing
from aiq_emulators.bunny.models import CreditNote, Invoice, Payment, PaymentApplication, cents
from aiq_emulators.bunny.money import ZERO, allocate

IN_FLIGHT = ("PENDING", "PROCESSING")


class Payments(Invoicing):
    # -- reading ------------------------------------------------------------------------------------
    def applications_of(self, payment_id: str) -> list[PaymentApplication]:
        return [a for a in self.tenant.payment_applications if a.payment_id == payment_id]

    def applications_to(self, invoice_id: str) -> list[PaymentApplication]:
        return [a for a in self.tenant.payment_applications if a.invoice_id == invoice_id]

    def payment_state(self, payment: Payment) -> str:
        """PaymentState: how much of the payment is applied to invoices."""
        applied = sum((a.amount for a in self.applications_of(payment.id)), ZERO)
        if applied <= 0:
            return "UNAPPLIED"
        return "APPLIED" if applied >= payment.amount else "PARTIALLY_APPLIED"

    def unapplied(self, payment: Payment) -> Decimal:
        return cents(payment.amount - sum((a.amount for a in self.applications_of(payment.id)), ZERO))

    def _payment(self, payment_id: str) -> Payment:
        payment = self.find("payments", payment_id)
        if payment is None:
            raise RuleViolation(f"Payment {payment_id} not found")
        return payment

    # -- taking -------------------------------------------------------------------------------------
    def take_payment(
        self,
        *,
        account_id: str,
        invoice_ids: Sequence[str] = (),
        amount: Decimal | None = None,
        fees: Decimal = ZERO,
        processor: str | None = "stripe",
        payment_type: str | None = "card",
        pending: bool = False,
        received_at: dt.datetime | None = None,
    ) -> Payment:
        """A payment from `account_id` for `invoice_ids` (in that order). `amount` defaults to what they owe; less
        pays the first ones (the last in part), more leaves the rest unapplied on the account. A pending payment
        puts its invoices in PROCESSING_PAYMENT and is applied when it completes."""
        with self.lock:
            account = self.find("accounts", account_id) or self.find("accounts", code=account_id)
            if account is None:
                raise RuleViolation(f"Account {account_id} not found")
            invoices = [self._invoice(str(i)) for i in invoice_ids]
            for invoice in invoices:
                if invoice.account_id != account.id or invoice.state not in PAYABLE:
                    raise RuleViolation(f"Invoice {invoice.id} cannot take a payment from account {account.id}")
            currencies = {i.currency_id for i in invoices} or {account.currency_id}
            if len(currencies) > 1:
                raise RuleViolation("One payment pays invoices of one currency")
            due = sum((self.figures(i).amount_due for i in invoices), ZERO)
            paid = cents(due if amount is None else amount)
            if paid <= 0 or cents(fees) < 0 or cents(fees) > paid:
                raise RuleViolation("A payment needs a positive amount, and fees between 0 and the amount")
            now = self.now()
            payment_id = self._allocate("payments")
            payment = Payment(
                id=payment_id,
                entity_id=invoices[0].entity_id if invoices else account.entity_id,
                account_id=account.id,
                currency_id=currencies.pop(),
                amount=paid,
                fees=cents(fees),
                processing_state="PENDING" if pending else "SUCCEEDED",
                payment_processor=processor,
                payment_type=payment_type,
                received_at=received_at or now,
                completed_at=None if pending else now,
                remote_transaction_id=f"tr_emulated_{payment_id}",
                intended_invoice_ids=[i.id for i in invoices],
                created_at=now,
                updated_at=now,
            )
            self.tenant.payments.append(payment)
            if pending:
                for invoice in invoices:
                    invoice.state = "PROCESSING_PAYMENT"
                    self._touch(invoice)
            else:
                self._apply(payment)
            self.save()
            return payment

    def _apply(self, payment: Payment) -> None:
        remaining = payment.amount
        for invoice in (self._invoice(i) for i in payment.intended_invoice_ids):
            figures = self.figures(invoice)
            share = min(figures.amount_due, remaining)
            if share > 0:
                now = self.now()
                self.tenant.payment_applications.append(
                    PaymentApplication(
                        id=self._allocate("payment_applications"),
                        payment_id=payment.id,
                        invoice_id=invoice.id,
                        amount=share,
                        currency_id=payment.currency_id,
                        payment_type=payment.payment_type,
                        created_at=now,
                        updated_at=now,
                    )
                )
                invoice.amount_paid = figures.amount_paid + share
                remaining -= share
            if share == figures.amount_due:
                invoice.state, invoice.paid_at = "PAID", self.now()
            else:
                self._back_to_due(invoice)
            self._touch(invoice)

    def _back_to_due(self, invoice: Invoice) -> None:
        if invoice.state == "PROCESSING_PAYMENT":
            invoice.state = "NOT_DUE" if invoice.due_at and invoice.due_at > self.today() else "DUE"

    def complete_payment(self, payment_id: str) -> Payment:
        with self.lock:
            payment = self._payment(payment_id)
            if payment.processing_state not in IN_FLIGHT:
                raise RuleViolation(f"Payment {payment_id} cannot complete from {payment.processing_state}")
            payment.processing_state, payment.completed_at = "SUCCEEDED", self.now()
            self._apply(payment)
            self._touch(payment)
            self.save()
            return payment

    def fail_payment(self, payment_id: str, code: str | None = None, message: str | None = None) -> Payment:
        """A pending payment that did not go through: FAILED, nothing applied, its invoices due again."""
        with self.lock:
            payment = self._payment(payment_id)
            if payment.processing_state not in IN_FLIGHT:
                raise RuleViolation(f"Payment {payment_id} cannot fail from {payment.processing_state}")
            payment.processing_state = "FAILED"
            payment.error_code, payment.error_message = code or "card_declined", message or "Your card was declined."
            for invoice in (self._invoice(i) for i in payment.intended_invoice_ids):
                self._back_to_due(invoice)
                self._touch(invoice)
            self._touch(payment)
            self.save()
            return payment

    # -- refunding ----------------------------------------------------------------------------------
    def refund_payment(self, payment_id: str, amount: Decimal | None = None) -> list[CreditNote]:
        """Money back: a REFUND credit note on each invoice the payment paid, in order, up to what it applied
        there (docs: a refund is "any amount up to the paid amount"), and, under refund_bound="paid", up to what
        the invoice has paid less its earlier refunds. Money never applied to an invoice (an overpayment) cannot be
        refunded this way."""
        with self.lock:
            payment = self._payment(payment_id)
            if payment.processing_state != "SUCCEEDED":
                raise RuleViolation(f"Payment {payment_id} cannot be refunded in state {payment.processing_state}")
            shares = self._refundable(payment)
            left = sum(shares.values(), ZERO)
            wanted = cents(left if amount is None else amount)
            if not ZERO < wanted <= left:
                raise RuleViolation(f"A refund of payment {payment_id} must be in (0, {left}]")
            takes: list[tuple[Invoice, Decimal]] = []
            for invoice_id, open_share in shares.items():
                take = min(open_share, wanted)
                if take <= 0:
                    continue
                invoice = self._invoice(invoice_id)
                self._check_refund(invoice, take)  # the invoice's own bound: refunds of it outside this payment
                takes.append((invoice, take))
                wanted -= take
            notes: list[CreditNote] = []
            for invoice, take in takes:
                figures = self.figures(invoice)
                lines = allocate([(i.item.id, i.net, i.tax) for i in figures.items], take)
                note = self._credit_note(invoice, "REFUND", "READY", lines, None)
                note.description = f"Refund of payment {payment.id}"
                notes.append(note)
            self._touch(payment)
            self.save()
            return notes

    def _refundable(self, payment: Payment) -> dict[str, Decimal]:
        """invoice id -> what this payment applied there and has not refunded yet."""
        marker = f"Refund of payment {payment.id}"
        shares: dict[str, Decimal] = {}
        for application in self.applications_of(payment.id):
            shares[application.invoice_id] = shares.get(application.invoice_id, ZERO) + application.amount
        for note in self.tenant.credit_notes:
            if note.description == marker and note.credited_invoice_id in shares:
                shares[note.credited_invoice_id] -= note.amount
        return shares
