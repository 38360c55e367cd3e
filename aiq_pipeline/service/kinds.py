"""The document kinds the posting service knows: for each, its Bunny query and its planner, and nothing else.

Adding a kind means writing its planner (in `sync/documents/`) and its Bunny query (a method of
`BunnyDocuments`), and registering both here; the posting service, the journal, the asset factory and the
exceptions list then work for it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Generic, TypeVar

from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.models import CreditNote, Invoice, Payment
from aiq_pipeline.sync.documents.account_credit import part_references, plan_account_credit
from aiq_pipeline.sync.documents.context import PlanContext
from aiq_pipeline.sync.documents.credit_note import CreditNoteSource, plan_credit_note, plan_void_reversal
from aiq_pipeline.sync.documents.invoice import plan_invoice
from aiq_pipeline.sync.documents.payment import applications, plan_payment
from aiq_pipeline.sync.documents.plan import AiqTarget, Decision
from aiq_pipeline.sync.documents.refund import REFUND
from aiq_pipeline.sync.identity import (
    KIND_ACCOUNT_CREDIT,
    KIND_CREDIT_NOTE,
    KIND_INVOICE,
    KIND_PAYMENT,
    KIND_VOID,
    account_credit_key,
    account_credit_reference,
    credit_note_key,
    credit_note_reference,
    customer_code,
    invoice_credit_reference,
    invoice_reference,
    payment_key,
    payment_reference,
    void_credit_reference,
    void_key,
    void_reference,
)
from aiq_pipeline.sync.inputs import BunnyAccount, BunnyInvoice

S = TypeVar("S")


@dataclass(frozen=True)
class Related:
    """An AIQ document a plan needs to know about: its reference, type, the partition key that posts it, and the
    Bunny date it is dated from (None: not known here; it is then looked up on its own, not with the batch)."""

    reference: str
    target: AiqTarget
    claim_key: str
    around: date | None = None


@dataclass(frozen=True)
class Facts:
    """What the Bunny document says about itself, for the outcome even when it cannot be posted."""

    number: str | None
    customer_code: str | None
    external_reference: str
    currency: str | None
    net: Decimal | None
    tax: Decimal | None
    gross: Decimal | None
    account: BunnyAccount | None = None  # the Bunny customer, for matching the AIQ customer
    credits: Decimal | None = None  # account credit applied (an invoice's), for the `less_credits` reading


class BunnyDocuments:
    """The Bunny queries of every kind, over one open client, read once per batch."""

    def __init__(self, bunny: BunnyClient, entity_id: str) -> None:
        self.bunny = bunny
        self.entity_id = entity_id
        self._invoices: dict[str, Invoice | None] = {}
        self._notes: dict[str, CreditNote | None] = {}
        self._payments: dict[str, Payment | None] = {}

    # A batch's documents are read in bulk first (one request per page of ids); a miss is read on its own.

    def prefetch_invoices(self, ids: Iterable[str]) -> None:
        wanted = [i for i in dict.fromkeys(ids) if i not in self._invoices]
        if wanted:
            found = self.bunny.get_invoices(wanted)
            self._invoices |= {i: found.get(i) for i in wanted}

    def prefetch_credit_notes(self, ids: Iterable[str]) -> None:
        wanted = [i for i in dict.fromkeys(ids) if i not in self._notes]
        if wanted:
            found = self.bunny.get_credit_notes(wanted)
            self._notes |= {i: found.get(i) for i in wanted}
            self.prefetch_invoices(n.credited_invoice_id for n in found.values() if n.credited_invoice_id)

    def prefetch_payments(self, ids: Iterable[str]) -> None:
        wanted = [i for i in dict.fromkeys(ids) if i not in self._payments]
        if wanted:
            found = self.bunny.get_payments(wanted)
            self._payments |= {i: found.get(i) for i in wanted}

    def invoice(self, invoice_id: str) -> Invoice | None:
        if invoice_id not in self._invoices:
            self._invoices[invoice_id] = self.bunny.get_invoice(invoice_id)
        return self._invoices[invoice_id]

    def credit_note(self, credit_note_id: str) -> CreditNoteSource | None:
        if credit_note_id not in self._notes:
            self._notes[credit_note_id] = self.bunny.get_credit_note(credit_note_id)
        note = self._notes[credit_note_id]
        if note is None or (note.entity_id is not None and note.entity_id != self.entity_id):
            return None
        invoice = self.invoice(note.credited_invoice_id) if note.credited_invoice_id else None
        if invoice is None or (note.kind or "").upper() != REFUND:
            return CreditNoteSource(note, invoice)
        paid_by = dict.fromkeys(a.payment_id for a in invoice.payment_applications if a.payment_id)
        payments = tuple(p for p in (self.payment(i) for i in paid_by if i) if p is not None)
        return CreditNoteSource(note, invoice, payments)

    def payment(self, payment_id: str) -> Payment | None:
        if payment_id not in self._payments:
            self._payments[payment_id] = self.bunny.get_payment(payment_id)
        return self._payments[payment_id]


@dataclass(frozen=True)
class DocumentKind(Generic[S]):
    name: str
    prefetch: Callable[[BunnyDocuments, list[str]], None]  # its Bunny query for a whole batch
    fetch: Callable[[BunnyDocuments, str], S | None]  # its Bunny query
    plan: Callable[[S, PlanContext], Decision]  # its planner (pure)
    facts: Callable[[S], Facts]
    related: Callable[[S], tuple[Related, ...]]  # the documents the plan needs to see; the first is its own
    currency: Callable[[S], str]  # for AIQ's exchange rate when Bunny gives none


def _invoice_facts(invoice: Invoice, reference: str) -> Facts:
    return Facts(
        number=invoice.number,
        customer_code=customer_code(invoice.account_id),
        external_reference=reference,
        currency=invoice.currency_code,
        net=invoice.subtotal,
        tax=invoice.tax_amount,
        gross=invoice.amount,
        account=invoice.account,
        credits=invoice.credits,
    )


def _note_facts(source: CreditNoteSource) -> Facts:
    note = source.note
    return Facts(
        number=note.number,
        customer_code=customer_code(note.account_id),
        external_reference=credit_note_reference(note.id),
        currency=note.currency_code or (source.invoice.currency_code if source.invoice else None),
        net=note.subtotal,
        tax=note.tax_amount,
        gross=note.amount,
        account=source.invoice.account if source.invoice else None,
    )


def _issued(invoice: BunnyInvoice) -> date:
    return invoice.issued_at or invoice.updated_at.date()


def _invoice_related(invoice: BunnyInvoice) -> Related:
    return Related(invoice_reference(invoice.id), AiqTarget.SALES_INVOICE, invoice.id, _issued(invoice))


def _invoice_own_related(invoice: Invoice) -> tuple[Related, ...]:
    """An invoice's own document and its remainder credit note. What AIQ holds of the two is what a re-run reports
    (the remainder alone, for an invoice whose total is negative), and a voided invoice of which AIQ holds either is
    completed, not skipped (`plan_invoice`)."""
    remainder = Related(invoice_credit_reference(invoice.id), AiqTarget.SALES_CREDIT_NOTE, invoice.id, _issued(invoice))
    return _invoice_related(invoice), remainder


def _note_related(source: CreditNoteSource) -> tuple[Related, ...]:
    note = source.note
    own = Related(credit_note_reference(note.id), AiqTarget.SALES_CREDIT_NOTE, credit_note_key(note.id), note.issued_at)
    if source.invoice is not None:
        return own, _invoice_related(source.invoice)
    if note.credited_invoice_id:
        return own, Related(
            invoice_reference(note.credited_invoice_id), AiqTarget.SALES_INVOICE, note.credited_invoice_id
        )
    return (own,)


INVOICE: DocumentKind[Invoice] = DocumentKind(
    name=KIND_INVOICE,
    prefetch=BunnyDocuments.prefetch_invoices,
    fetch=lambda docs, invoice_id: docs.invoice(invoice_id),
    plan=plan_invoice,
    facts=lambda invoice: _invoice_facts(invoice, invoice_reference(invoice.id)),
    related=_invoice_own_related,
    currency=lambda invoice: invoice.currency_code,
)

CREDIT_NOTE: DocumentKind[CreditNoteSource] = DocumentKind(
    name=KIND_CREDIT_NOTE,
    prefetch=BunnyDocuments.prefetch_credit_notes,
    fetch=lambda docs, note_id: docs.credit_note(note_id),
    plan=plan_credit_note,
    facts=_note_facts,
    related=_note_related,
    currency=lambda source: source.invoice.currency_code if source.invoice else (source.note.currency_code or ""),
)

VOID: DocumentKind[Invoice] = DocumentKind(
    name=KIND_VOID,
    prefetch=BunnyDocuments.prefetch_invoices,
    fetch=lambda docs, invoice_id: docs.invoice(invoice_id),
    plan=plan_void_reversal,
    facts=lambda invoice: _invoice_facts(invoice, void_reference(invoice.id)),
    related=lambda invoice: (
        # A void is dated on the day of the void (Bunny's updatedAt of the voided invoice).
        Related(
            void_reference(invoice.id), AiqTarget.SALES_CREDIT_NOTE, void_key(invoice.id), invoice.updated_at.date()
        ),
        _invoice_related(invoice),
        # The invoice's remainder credit note (when its credits exceeded a group's charges): reversed only once held.
        Related(invoice_credit_reference(invoice.id), AiqTarget.SALES_CREDIT_NOTE, invoice.id, _issued(invoice)),
        # ... by an invoice of the void's own, which a re-run reports with the reversal.
        Related(
            void_credit_reference(invoice.id), AiqTarget.SALES_INVOICE, void_key(invoice.id), invoice.updated_at.date()
        ),
    ),
    currency=lambda invoice: invoice.currency_code,
)


def _payment_facts(payment: Payment) -> Facts:
    # What AIQ's receipt shows (the amount less fees) depends on the tenant's reading: the plan says it.
    return Facts(
        number=payment.remote_transaction_id,
        customer_code=customer_code(payment.account_id) if payment.account_id else None,
        external_reference=payment_reference(payment.id),
        currency=payment.currency_code,
        net=None,
        tax=None,
        gross=None,
        account=payment.account,
    )


def _payment_related(payment: Payment) -> tuple[Related, ...]:
    received = payment.received_at or payment.completed_at or payment.created_at or payment.updated_at
    own = Related(payment_reference(payment.id), AiqTarget.SALES_RECEIPT, payment_key(payment.id), received.date())
    # The invoices a payment settles are in the journal once posted: their dates are not read for a payment.
    invoices = tuple(Related(invoice_reference(i), AiqTarget.SALES_INVOICE, i) for i in applications(payment))
    return (own, *invoices)


PAYMENT: DocumentKind[Payment] = DocumentKind(
    name=KIND_PAYMENT,
    prefetch=BunnyDocuments.prefetch_payments,
    fetch=lambda docs, payment_id: docs.payment(payment_id),
    plan=plan_payment,
    facts=_payment_facts,
    related=_payment_related,
    currency=lambda payment: payment.currency_code or "",
)


def _credit_related(invoice: Invoice) -> tuple[Related, ...]:
    key = account_credit_key(invoice.id)
    parts = (Related(r, AiqTarget.SALES_CREDIT_JOURNAL, key, _issued(invoice)) for r in part_references(invoice.id))
    own, *later = parts
    return own, _invoice_related(invoice), *later


ACCOUNT_CREDIT: DocumentKind[Invoice] = DocumentKind(
    name=KIND_ACCOUNT_CREDIT,
    prefetch=BunnyDocuments.prefetch_invoices,
    fetch=lambda docs, invoice_id: docs.invoice(invoice_id),
    plan=plan_account_credit,
    # The journal's gross is the credit itself: no `credits` to add back under the `less_credits` reading (that is
    # the invoice's amount, read as its value; added to the credit it doubled it).
    facts=lambda invoice: replace(
        _invoice_facts(invoice, account_credit_reference(invoice.id)),
        net=None,
        tax=None,
        gross=invoice.credits,
        credits=None,
    ),
    related=_credit_related,
    currency=lambda invoice: invoice.currency_code,
)

KINDS: dict[str, DocumentKind[Any]] = {
    kind.name: kind for kind in (INVOICE, CREDIT_NOTE, VOID, PAYMENT, ACCOUNT_CREDIT)
}
