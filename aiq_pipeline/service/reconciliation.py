"""Reconciling one month of Bunny against AIQ: read both sides (clients already open), then compare (pure, in
`sync.period_reconciliation`); the result as table rows (totals, differences, and the snapshot the store keeps in
`period_reconciliation`), and the newest snapshot of a month read back.

Bunny has no filter on issue date, so the month's documents are read from the entity's invoices and credit notes
(one paged listing each); AIQ is asked only for the month's SI and SN documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.models import Period, TransactionSummary
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.models import CreditNote, Invoice
from aiq_pipeline.store import Store
from aiq_pipeline.sync.identity import KIND_CREDIT_NOTE, credit_note_reference, invoice_reference, parse_key
from aiq_pipeline.sync.period_reconciliation import (
    CREDIT_NOTE_TYPE,
    INVOICE_TYPE,
    PeriodReconciliation,
    month_bounds,
    reconcile_period,
)

LOOKUP_TO = date(2100, 1, 1)
RECONCILIATION_TABLE = "period_reconciliation"


def month_key(day: date) -> str:
    """The partition key of the month containing `day` (`YYYY-MM-01`)."""
    return day.replace(day=1).isoformat()


def recent_month_keys(today: date) -> list[str]:
    """The previous and the current month: the ones late postings, credit notes and voids still change."""
    previous = today.replace(day=1) - timedelta(days=1)
    return [month_key(previous), month_key(today)]


def reconcile_month(
    aiq: AccountsIQClient,
    bunny: BunnyClient,
    *,
    bunny_entity_id: str,
    month: str | date,
    sync_start: date | None = None,
) -> PeriodReconciliation:
    """Read the month from both systems (clients already open) and reconcile it."""
    first, last = month_bounds(month)
    transactions = list(aiq.get_transactions_by(first, last, types=[INVOICE_TYPE, CREDIT_NOTE_TYPE]))
    # Issued up to the month's end: one issued earlier may have been moved into this month out of a closed period.
    invoices = [i for i in bunny.iter_invoices(bunny_entity_id) if i.issued_at and i.issued_at <= last]
    notes = [n for n in bunny.iter_credit_notes(bunny_entity_id) if n.issued_at and n.issued_at <= last]
    periods = aiq.get_periods()
    transactions += _moved_out_of_closed_periods(aiq, periods, invoices, notes, transactions, first, last)
    return reconcile_period(
        entity_id=bunny_entity_id,
        month=first,
        invoices=invoices,
        credit_notes=notes,
        aiq_transactions=transactions,
        sync_start=sync_start,
        period_starts=[p.start_date for p in periods if p.start_date is not None],
    )


def _moved_out_of_closed_periods(
    aiq: AccountsIQClient,
    periods: Sequence[Period],
    invoices: Sequence[Invoice],
    notes: Sequence[CreditNote],
    held_transactions: Sequence[TransactionSummary],
    first: date,
    last: date,
) -> list[TransactionSummary]:
    """Documents of this month dated in a closed AIQ period may have been moved to a later month's first open day:
    when the month lacks one, it is looked up by reference (one call each; only closed days qualify), so the
    reconciliation leaves it to its posting month instead of calling it missing."""
    closed = [
        (p.start_date, p.end_date)
        for p in periods
        if p.start_date and p.end_date and (p.sales_ledger_closed or p.financial_year_closed)
    ]
    held = {(t.external_reference or "").upper() for t in held_transactions}
    candidates = [(invoice_reference(i.id), i.issued_at, INVOICE_TYPE) for i in invoices] + [
        (credit_note_reference(n.id), n.issued_at, CREDIT_NOTE_TYPE) for n in notes
    ]
    moved: list[TransactionSummary] = []
    for reference, issued, kind in candidates:
        if issued is None or issued < first or reference.upper() in held:
            continue
        if any(start <= issued <= end for start, end in closed):
            found = aiq.get_transactions_by_external_reference(
                reference, types=[kind], from_date=last, to_date=LOOKUP_TO
            )
            moved += [t for t in found if t.transaction_date is not None and t.transaction_date > last]
    return moved


def months_of_documents(bunny: BunnyClient, bunny_entity_id: str, keys: Sequence[str]) -> set[str]:
    """Month keys of the Bunny documents behind partition keys (invoice ids, `CN-<id>`, `VOID-<id>`)."""
    parsed = [parse_key(k) for k in keys]
    note_ids = {source for kind, source in parsed if kind == KIND_CREDIT_NOTE}
    invoice_ids = {source for kind, source in parsed if kind != KIND_CREDIT_NOTE}
    months: set[str] = set()
    if invoice_ids:
        refs = bunny.iter_invoice_refs(bunny_entity_id, updated_since=None)
        months |= {month_key(r.issued_at) for r in refs if r.id in invoice_ids and r.issued_at}
    if note_ids:
        notes = bunny.iter_credit_notes(bunny_entity_id)
        months |= {month_key(n.issued_at) for n in notes if n.id in note_ids and n.issued_at}
    return months


# --- the result as rows -------------------------------------------------------------------------------


def difference_rows(result: PeriodReconciliation) -> list[dict[str, Any]]:
    """One row per differing document, with both sides' amounts (Decimal) where known."""
    rows = []
    for d in result.differences:
        rows.append(
            {
                "external_reference": d.external_reference,
                "problem": str(d.problem),
                "kind": d.kind,
                "bunny_id": d.bunny_id,
                "bunny_number": d.bunny_number,
                "bunny_state": d.bunny_state,
                "aiq_transaction_ids": ",".join(str(i) for i in d.aiq_transaction_ids),
                "bunny_net": d.bunny.net if d.bunny else None,
                "bunny_tax": d.bunny.tax if d.bunny else None,
                "bunny_gross": d.bunny.gross if d.bunny else None,
                "aiq_net": d.aiq.net if d.aiq else None,
                "aiq_tax": d.aiq.tax if d.aiq else None,
                "aiq_gross": d.aiq.gross if d.aiq else None,
                "currency": (d.bunny.currency if d.bunny else None) or (d.aiq.currency if d.aiq else None),
                "detail": d.detail,
            }
        )
    return rows


def totals_rows(result: PeriodReconciliation) -> list[dict[str, Any]]:
    """One row per kind and currency: counts and totals on both sides, and whether they match."""
    return [
        {
            "kind": r.kind,
            "currency": r.currency,
            "bunny_count": r.bunny.count,
            "aiq_count": r.aiq.count,
            "bunny_net": r.bunny.net,
            "aiq_net": r.aiq.net,
            "bunny_tax": r.bunny.tax,
            "aiq_tax": r.aiq.tax,
            "bunny_gross": r.bunny.gross,
            "aiq_gross": r.aiq.gross,
            "matches": r.matches,
        }
        for r in result.totals
    ]


def store_rows(result: PeriodReconciliation) -> list[dict[str, Any]]:
    """The snapshot written to `period_reconciliation`: summary, totals and difference rows."""
    common = {"month": result.month, "bunny_entity_id": result.entity_id}
    rows: list[dict[str, Any]] = [
        common
        | {
            "row_type": "summary",
            "passed": result.passed,
            "bunny_count": result.matched_documents,
            "aiq_count": result.other_aiq_documents,
            "detail": result.describe(),
        }
    ]
    rows += [
        common | {"row_type": "totals", "passed": row["matches"]} | {k: v for k, v in row.items() if k != "matches"}
        for row in totals_rows(result)
    ]
    rows += [
        common | {"row_type": "difference", "passed": False} | {k: v for k, v in row.items() if k != "bunny_state"}
        for row in difference_rows(result)
    ]
    return rows


def latest_reconciliation(store: Store, month: str, bunny_entity_id: str | None = None) -> list[dict[str, Any]]:
    """The rows of the newest reconciliation snapshot of `month` (`YYYY-MM`), summary first."""
    entity_clause = " AND bunny_entity_id = ?" if bunny_entity_id is not None else ""
    params = [month, *([bunny_entity_id] if bunny_entity_id is not None else [])]
    return store.query(
        f"SELECT * FROM {RECONCILIATION_TABLE} WHERE month = ?{entity_clause} AND snapshot_id = "
        f"(SELECT MAX(snapshot_id) FROM {RECONCILIATION_TABLE} WHERE month = ?{entity_clause}) "
        "ORDER BY CASE row_type WHEN 'summary' THEN 0 WHEN 'totals' THEN 1 ELSE 2 END, kind, currency, "
        "external_reference",
        [*params, *params],
    )
