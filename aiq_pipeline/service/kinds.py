"""The document kinds the posting service knows: for each, its Bunny query and its planner, and nothing else.

Adding a kind means writing its planner (in `sync/documents/`) and its Bunny query (a method of
`BunnyDocuments`), and registering both here; the posting service, the journal, the asset factory and the
exceptions list then work for it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
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
    invoice_reference,
    payment_key,
    payment_reference,
    void_key,
    void_reference,
)
from aiq_pipeline.sync.inputs import BunnyAccount

S = TypeVar("S")


@dataclass(frozen=True)
class Related:
    """An AIQ document a plan needs to know about: its reference, type, and the partition key that posts it."""

    reference: str
    target: AiqTarget
    claim_key: str


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


class BunnyDocuments:
    """The Bunny queries of every kind, over one open client, read once per batch."""

    def __init__(self, bunny: BunnyClient, entity_id: str) -> None:
        self.bunny = bunny
        self.entity_id = entity_id
        self._invoices: dict[str, Invoice | None] = {}
        self._notes: dict[str, CreditNote] | None = None
        self._payments: dict[str, Payment | None] = {}

    def invoice(self, invoice_id: str) -> Invoice | None:
        if invoice_id not in self._invoices:
            self._invoices[invoice_id] = self.bunny.get_invoice(invoice_id)
        return self._invoices[invoice_id]

    def credit_note(self, credit_note_id: str) -> CreditNoteSource | None:
        # Bunny's client reads credit notes as a list: read it once per batch, and again on a miss (a new one).
        if self._notes is None or credit_note_id not in self._notes:
            self._notes = {n.id: n for n in self.bunny.iter_credit_notes(self.entity_id)}
        note = self._notes.get(credit_note_id)
        if note is None:
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


def _note_related(source: CreditNoteSource) -> tuple[Related, ...]:
    own = Related(credit_note_reference(source.note.id), AiqTarget.SALES_CREDIT_NOTE, credit_note_key(source.note.id))
    invoice_id = source.note.credited_invoice_id
    if not invoice_id:
        return (own,)
    return own, Related(invoice_reference(invoice_id), AiqTarget.SALES_INVOICE, invoice_id)


INVOICE: DocumentKind[Invoice] = DocumentKind(
    name=KIND_INVOICE,
    fetch=lambda docs, invoice_id: docs.invoice(invoice_id),
    plan=plan_invoice,
    facts=lambda invoice: _invoice_facts(invoice, invoice_reference(invoice.id)),
    related=lambda invoice: (Related(invoice_reference(invoice.id), AiqTarget.SALES_INVOICE, invoice.id),),
    currency=lambda invoice: invoice.currency_code,
)

CREDIT_NOTE: DocumentKind[CreditNoteSource] = DocumentKind(
    name=KIND_CREDIT_NOTE,
    fetch=lambda docs, note_id: docs.credit_note(note_id),
    plan=plan_credit_note,
    facts=_note_facts,
    related=_note_related,
    currency=lambda source: source.invoice.currency_code if source.invoice else (source.note.currency_code or ""),
)

VOID: DocumentKind[Invoice] = DocumentKind(
    name=KIND_VOID,
    fetch=lambda docs, invoice_id: docs.invoice(invoice_id),
    plan=plan_void_reversal,
    facts=lambda invoice: _invoice_facts(invoice, void_reference(invoice.id)),
    related=lambda invoice: (
        Related(void_reference(invoice.id), AiqTarget.SALES_CREDIT_NOTE, void_key(invoice.id)),
        Related(invoice_reference(invoice.id), AiqTarget.SALES_INVOICE, invoice.id),
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
    own = Related(payment_reference(payment.id), AiqTarget.SALES_RECEIPT, payment_key(payment.id))
    invoices = tuple(Related(invoice_reference(i), AiqTarget.SALES_INVOICE, i) for i in applications(payment))
    return (own, *invoices)


PAYMENT: DocumentKind[Payment] = DocumentKind(
    name=KIND_PAYMENT,
    fetch=lambda docs, payment_id: docs.payment(payment_id),
    plan=plan_payment,
    facts=_payment_facts,
    related=_payment_related,
    currency=lambda payment: payment.currency_code or "",
)


def _credit_related(invoice: Invoice) -> tuple[Related, ...]:
    key = account_credit_key(invoice.id)
    own, *later = (Related(r, AiqTarget.SALES_CREDIT_JOURNAL, key) for r in part_references(invoice.id))
    return own, Related(invoice_reference(invoice.id), AiqTarget.SALES_INVOICE, invoice.id), *later


ACCOUNT_CREDIT: DocumentKind[Invoice] = DocumentKind(
    name=KIND_ACCOUNT_CREDIT,
    fetch=lambda docs, invoice_id: docs.invoice(invoice_id),
    plan=plan_account_credit,
    facts=lambda invoice: replace(
        _invoice_facts(invoice, account_credit_reference(invoice.id)), net=None, tax=None, gross=invoice.credits
    ),
    related=_credit_related,
    currency=lambda invoice: invoice.currency_code,
)

KINDS: dict[str, DocumentKind[Any]] = {
    kind.name: kind for kind in (INVOICE, CREDIT_NOTE, VOID, PAYMENT, ACCOUNT_CREDIT)
}
