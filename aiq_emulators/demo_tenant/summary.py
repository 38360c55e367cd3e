"""`demo-summary.json`: what the demo tenant holds and what a sync of it is expected to do (picked up, posted,
failed and why, gross posted per currency; payments per case, receipts per AIQ bank account, refunds, fees), in
counts a person and a test can check."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from aiq_emulators.accountsiq.fixtures import EmulatorFixture
from aiq_emulators.bunny.models import Invoice, Payment, Tenant
from aiq_emulators.demo_tenant.invoices import Draft
from aiq_emulators.demo_tenant.payments import (
    ACCOUNT_CREDIT,
    OTHER_ENTITY,
    PAYMENT_CASES,
    REFUNDED,
    UNMAPPED,
    WAITING,
    PaymentStory,
)
from aiq_emulators.demo_tenant.vocabulary import (
    ACCOUNT_CREDIT_ACCOUNT,
    AS_OF,
    BANK_ACCOUNTS,
    BANK_ACCOUNTS_SETTING,
    FAILURE_REASONS,
    FEES_ACCOUNT,
    INVOICE_NOT_POSTED,
    ISO,
    PAYMENT_EXCEPTIONS,
    SYNC_START_DATE,
    UNMAPPED_BANK_ACCOUNT,
    UNMAPPED_PROCESSOR,
)
from aiq_pipeline.bunny.models import POSTABLE_INVOICE_STATES
from aiq_pipeline.sync.identity import account_credit_key, payment_key

POSTABLE = tuple(sorted(POSTABLE_INVOICE_STATES))


def summarise(
    seed: int, tenant: Tenant, drafts: list[Draft], aiq: EmulatorFixture, story: PaymentStory
) -> dict[str, Any]:
    """`tenant.invoices[i]` is the Bunny invoice made from `drafts[i]`."""
    invoices = tenant.invoices
    failures = _expected_failures(invoices, drafts)
    return {
        "seed": seed,
        "as_of": AS_OF.isoformat(),
        "settings": {
            "AIQ_PIPELINE_SYNC_START_DATE": SYNC_START_DATE.isoformat(),
            "AIQ_PIPELINE_BANK_ACCOUNTS": BANK_ACCOUNTS_SETTING,
            "AIQ_PIPELINE_FEES_ACCOUNT": FEES_ACCOUNT,
            "AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT": ACCOUNT_CREDIT_ACCOUNT,
            "unmapped_processor": UNMAPPED_PROCESSOR,
        },
        "customers": {
            "bunny": len(tenant.accounts),
            "bunny_by_entity": _counts(a.entity_id for a in tenant.accounts),
            "bunny_by_currency": _counts(ISO[a.currency_id] for a in tenant.accounts),
            "aiq_existing": len(aiq.entities[0].customers),
        },
        "invoices": _invoice_counts(invoices),
        "expected_sync": _expected_sync(invoices, failures),
        "failures_by_reason": _counts(f["reason_code"] for f in failures),
        "expected_failures": failures,
        "payments": _payments(tenant, story),
        "credit_notes": _credit_notes(tenant),
    }


def _counts(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _expected_failures(invoices: list[Invoice], drafts: list[Draft]) -> list[dict[str, Any]]:
    return [
        {
            "invoice_id": invoice.id,
            "number": invoice.number,
            "reason_code": draft.failure,
            "why": FAILURE_REASONS[draft.failure],
        }
        for invoice, draft in zip(invoices, drafts, strict=True)
        if draft.failure
    ]


def _invoice_counts(invoices: list[Invoice]) -> dict[str, Any]:
    return {
        "total": len(invoices),
        "lines": sum(len(i.items) for i in invoices),
        "by_state": _counts(i.state for i in invoices),
        "by_currency": _counts(ISO[i.currency_id] for i in invoices),
        "by_entity": _counts(i.entity_id for i in invoices),
        "first_issued": min(i.issued_at for i in invoices if i.issued_at).isoformat(),
        "last_issued": max(i.issued_at for i in invoices if i.issued_at).isoformat(),
    }


def _expected_sync(invoices: list[Invoice], failures: list[dict[str, Any]]) -> dict[str, Any]:
    """Entity 1's released invoices are picked up; all but the planted failures post."""
    failed_ids = {f["invoice_id"] for f in failures}
    synced = [i for i in invoices if i.entity_id == "1" and i.state in POSTABLE]
    posted = [i for i in synced if i.id not in failed_ids]
    gross: defaultdict[str, Decimal] = defaultdict(Decimal)
    for invoice in posted:
        gross[ISO[invoice.currency_id]] += invoice.amount
    return {
        "picked_up": len(synced),
        "posted": len(posted),
        "failed": len(failures),
        "posted_gross_by_currency": {k: str(v) for k, v in sorted(gross.items())},
        "not_picked_up": {
            "draft": sum(1 for i in invoices if i.entity_id == "1" and i.state == "DRAFT"),
            "voided": sum(1 for i in invoices if i.entity_id == "1" and i.state == "VOIDED"),
            "other_entity": sum(1 for i in invoices if i.entity_id != "1"),
        },
    }


def _money(totals: dict[str, Decimal]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(totals.items())}


def _bank(payment: Payment) -> str:
    return BANK_ACCOUNTS[f"{payment.payment_processor}:{ISO[payment.currency_id]}"]


def _payments(tenant: Tenant, story: PaymentStory) -> dict[str, Any]:
    """Entity 1's payments per case, and what a first sync is expected to post of them (per AIQ bank account)."""
    payments = tenant.payments
    mine = [p for p in payments if p.entity_id == "1"]
    received = [p for p in mine if p.processing_state == "SUCCEEDED"]
    held = set(story.cases[UNMAPPED]) | set(story.cases[WAITING])
    posted = [p for p in received if p.id not in held]
    applied: defaultdict[str, Decimal] = defaultdict(Decimal)
    for application in tenant.payment_applications:
        applied[application.payment_id] += application.amount
    gross: defaultdict[str, Decimal] = defaultdict(Decimal)
    fees: defaultdict[str, Decimal] = defaultdict(Decimal)
    unapplied: defaultdict[str, Decimal] = defaultdict(Decimal)
    receipts: defaultdict[str, Decimal] = defaultdict(Decimal)
    for payment in received:
        currency = ISO[payment.currency_id]
        gross[currency] += payment.amount
        fees[currency] += payment.fees
        unapplied[currency] += payment.amount - applied[payment.id]
    for payment in posted:
        receipts[_bank(payment)] += payment.amount - payment.fees
    credited = [i for i in tenant.invoices if i.id in set(story.cases[ACCOUNT_CREDIT])]
    credit: defaultdict[str, Decimal] = defaultdict(Decimal)
    for invoice in credited:
        credit[ISO[invoice.currency_id]] += invoice.credits_applied
    exceptions = [
        {
            "partition": payment_key(p.id),
            "payment_id": p.id,
            "invoice_ids": sorted(a.invoice_id for a in tenant.payment_applications if a.payment_id == p.id),
            "reason_code": UNMAPPED_BANK_ACCOUNT if p.id in story.cases[UNMAPPED] else INVOICE_NOT_POSTED,
            "why": PAYMENT_EXCEPTIONS[UNMAPPED_BANK_ACCOUNT if p.id in story.cases[UNMAPPED] else INVOICE_NOT_POSTED],
        }
        for p in received
        if p.id in held
    ]
    refunds = _refunds(tenant, story)
    return {
        "total": len(payments),
        "by_processing_state": _counts(p.processing_state for p in mine),
        "by_processor": _counts(p.payment_processor or "none" for p in mine),
        "cases": {case: len(story.cases[case]) for case in (*PAYMENT_CASES, ACCOUNT_CREDIT)},
        "received_by_currency": _money(gross),
        "fees_by_currency": _money(fees),
        "unapplied_by_currency": _money(unapplied),
        "account_credit_by_currency": _money(credit),
        "refunds": refunds,
        "expected_sync": {
            "picked_up": len(received) + len(credited),
            "posted": len(posted) + len(credited),
            "failed": len(exceptions),
            "receipts_by_bank": _money(receipts),
            "not_picked_up": {
                "pending": sum(1 for p in mine if p.processing_state in ("PENDING", "PROCESSING")),
                "failed": sum(1 for p in mine if p.processing_state == "FAILED"),
                OTHER_ENTITY: len(payments) - len(mine),
            },
        },
        "exceptions_by_reason": _counts(str(e["reason_code"]) for e in exceptions),
        "expected_exceptions": exceptions,
        "account_credit_partitions": [account_credit_key(i.id) for i in credited],
    }


def _refunds(tenant: Tenant, story: PaymentStory) -> dict[str, Any]:
    notes = [n for n in tenant.credit_notes if n.id in set(story.refund_notes)]
    payments = {p.id: p for p in tenant.payments}
    by_currency: defaultdict[str, Decimal] = defaultdict(Decimal)
    by_bank: defaultdict[str, Decimal] = defaultdict(Decimal)
    for note in notes:
        by_currency[ISO[note.currency_id]] += note.amount
        payment = payments[note.description.rsplit(" ", 1)[-1]]  # "Refund of payment <id>"
        by_bank[_bank(payment)] += note.amount
    return {
        "payments": len(set(story.cases[REFUNDED])),
        "credit_notes": len(notes),
        "by_currency": _money(by_currency),
        "paid_back_by_bank": _money(by_bank),
    }


def _credit_notes(tenant: Tenant) -> dict[str, Any]:
    """Every credit note is a refund of a synced, posted invoice paid through a mapped processor: all post."""
    notes = [n for n in tenant.credit_notes if n.entity_id == "1"]
    return {
        "total": len(tenant.credit_notes),
        "by_kind": _counts(n.kind for n in tenant.credit_notes),
        "expected_sync": {"picked_up": len(notes), "posted": len(notes), "failed": 0},
    }
