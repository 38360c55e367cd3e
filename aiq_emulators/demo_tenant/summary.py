"""`demo-summary.json`: what the demo tenant holds and what a sync of it is expected to do (picked up, posted,
failed and why, gross posted per currency), in counts a person and a test can check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiq_emulators.accountsiq.fixtures import EmulatorFixture
from aiq_emulators.bunny.models import Invoice, Tenant
from aiq_emulators.demo_tenant.invoices import Draft
from aiq_emulators.demo_tenant.vocabulary import AS_OF, FAILURE_REASONS, ISO

POSTABLE = ("NOT_DUE", "DUE", "PAID")


def summarise(
    seed: int, tenant: Tenant, invoices: list[Invoice], drafts: list[Draft], aiq: EmulatorFixture
) -> dict[str, Any]:
    """`invoices[i]` is the Bunny invoice made from `drafts[i]`."""
    failures = _expected_failures(invoices, drafts)
    return {
        "seed": seed,
        "as_of": AS_OF.isoformat(),
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
    gross: Counter[str] = Counter()
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
