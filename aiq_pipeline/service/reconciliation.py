"""Reconciling one month of Bunny against AIQ: read both sides (clients already open), then compare (pure, in
`sync.period_reconciliation`); the result as table rows (totals, differences, and the snapshot the store keeps in
`period_reconciliation`), and the newest snapshot of a month read back.

Bunny has no filter on issue date, so the month's documents are read from the entity's invoices and credit notes
(one paged listing each); AIQ is asked only for the month's SI and SN documents (and SR and SD when the money is
reconciled too: `service.money_reconciliation`, whose results are written to `bank_reconciliation` and
`customer_balance_reconciliation`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.models import Period, TransactionSummary
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.models import CreditNote, Invoice
from aiq_pipeline.service.money_reconciliation import (
    MONEY_TYPES,
    NOT_SYNCED,
    MoneySettings,
    balance_rows,
    bank_day_rows,
    money_difference_rows,
    reconcile_bank_month,
    reconcile_customer_balances,
)
from aiq_pipeline.store import Store
from aiq_pipeline.sync.documents.context import BunnyReadings
from aiq_pipeline.sync.identity import (
    KIND_CREDIT_NOTE,
    credit_note_reference,
    document_reference,
    invoice_reference,
    parse_key,
)
from aiq_pipeline.sync.period_reconciliation import (
    CREDIT_NOTE_TYPE,
    INVOICE_TYPE,
    PeriodReconciliation,
    month_bounds,
    reconcile_period,
)

LOOKUP_TO = date(2100, 1, 1)
RECONCILIATION_TABLE = "period_reconciliation"
BANK_TABLE = "bank_reconciliation"
BALANCES_TABLE = "customer_balance_reconciliation"


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
    money: MoneySettings | None = None,
    today: date | None = None,
    dismissed: Collection[str] = (),
    readings: BunnyReadings | None = None,
) -> PeriodReconciliation:
    """Read the month from both systems (clients already open) and reconcile it.

    With `money` (and a bank account mapped in it) the money is reconciled too: receipts and refunds per day and
    bank account, and, when the month is the one in progress (`today` in it), every customer's balance as at the
    month's last day. Without it, documents only. `dismissed`: partition keys of documents a person dismissed as
    handled outside the product; AIQ lacking them is named, not a difference. `readings`: how this tenant's Bunny
    totals read (the planner's), so a document is compared at the value it was posted at.
    """
    first, last = month_bounds(month)
    with_money = money is not None and money.payments_synced
    types = [INVOICE_TYPE, CREDIT_NOTE_TYPE, *(MONEY_TYPES if with_money else ())]
    transactions = list(aiq.get_transactions_by(first, last, types=types))
    # Issued up to the month's end: one issued earlier may have been moved into this month out of a closed period.
    all_invoices = list(bunny.iter_invoices(bunny_entity_id))
    all_notes = list(bunny.iter_credit_notes(bunny_entity_id))
    invoices = [i for i in all_invoices if i.issued_at and i.issued_at <= last]
    notes = [n for n in all_notes if n.issued_at and n.issued_at <= last]
    periods = aiq.get_periods()
    documents = [t for t in transactions if (t.transaction_type or "").upper() in (INVOICE_TYPE, CREDIT_NOTE_TYPE)]
    transactions += _moved_out_of_closed_periods(aiq, periods, invoices, notes, documents, first, last)
    period_starts = [p.start_date for p in periods if p.start_date is not None]
    result = reconcile_period(
        entity_id=bunny_entity_id,
        month=first,
        invoices=invoices,
        credit_notes=notes,
        aiq_transactions=transactions,
        sync_start=sync_start,
        period_starts=period_starts,
        handled_outside=[r for key in dismissed if (r := document_reference(key)) is not None],
        readings=readings,
    )
    if money is None:
        return result
    if not money.payments_synced:
        return replace(result, money_note=NOT_SYNCED)
    payments = list(bunny.iter_payments(bunny_entity_id))
    bank = reconcile_bank_month(
        aiq,
        first=first,
        last=last,
        payments=payments,
        credit_notes=notes,
        month_transactions=[t for t in transactions if (t.transaction_type or "").upper() in MONEY_TYPES],
        closed=_closed(periods),
        period_starts=period_starts,
        settings=money,
        sync_start=sync_start,
    )
    if today is None or not first <= today <= last:
        note = "customer balances not compared: only in the month in progress (Bunny's amounts due are as of now)"
        return replace(result, bank=bank, money_note=note if today is not None else None)
    balances = reconcile_customer_balances(
        aiq, invoices=all_invoices, payments=payments, as_of=last, settings=money, sync_start=sync_start
    )
    return replace(result, bank=bank, balances=balances)


def _closed(periods: Sequence[Period]) -> list[tuple[date, date]]:
    return [
        (p.start_date, p.end_date)
        for p in periods
        if p.start_date and p.end_date and (p.sales_ledger_closed or p.financial_year_closed)
    ]


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
    closed = _closed(periods)
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


def bank_store_rows(result: PeriodReconciliation) -> list[dict[str, Any]]:
    """The snapshot written to `bank_reconciliation`: bank-day rows, then difference rows (none when not compared)."""
    common = {"month": result.month, "bunny_entity_id": result.entity_id}
    rows = [
        common | {"row_type": "bank_day", "passed": row["matches"]} | {k: v for k, v in row.items() if k != "matches"}
        for row in bank_day_rows(result.bank)
    ]
    rows += [common | {"row_type": "difference", "passed": False} | row for row in money_difference_rows(result.bank)]
    return rows


def balance_store_rows(result: PeriodReconciliation) -> list[dict[str, Any]]:
    """The snapshot written to `customer_balance_reconciliation`: one row per customer compared."""
    if result.balances is None:
        return []
    common = {"month": result.month, "bunny_entity_id": result.entity_id, "as_of": result.balances.as_of}
    return [
        common | {"passed": row["matches"]} | {k: v for k, v in row.items() if k != "matches"}
        for row in balance_rows(result.balances)
    ]


def write_reconciliation(store: Store, aiq_entity_id: str, result: PeriodReconciliation) -> tuple[str, int]:
    """Append the run's snapshots (documents always; bank days and balances when compared); returns the documents'
    snapshot id and how many rows were written in all."""
    rows = store_rows(result)
    snapshot_id, _ = store.write_snapshot(RECONCILIATION_TABLE, aiq_entity_id, rows)
    written = len(rows)
    for table, more in ((BANK_TABLE, bank_store_rows(result)), (BALANCES_TABLE, balance_store_rows(result))):
        if more:
            store.write_snapshot(table, aiq_entity_id, more)
            written += len(more)
    return snapshot_id, written


def _latest(store: Store, table: str, month: str, bunny_entity_id: str | None, order: str) -> list[dict[str, Any]]:
    entity_clause = " AND bunny_entity_id = ?" if bunny_entity_id is not None else ""
    params = [month, *([bunny_entity_id] if bunny_entity_id is not None else [])]
    return store.query(
        f"SELECT * FROM {table} WHERE month = ?{entity_clause} AND snapshot_id = "
        f"(SELECT MAX(snapshot_id) FROM {table} WHERE month = ?{entity_clause}) ORDER BY {order}",
        [*params, *params],
    )


def latest_bank_reconciliation(store: Store, month: str, bunny_entity_id: str | None = None) -> list[dict[str, Any]]:
    """The rows of the newest bank snapshot of `month` (`YYYY-MM`): bank days by day, bank and kind, then
    differences by reference."""
    order = "CASE row_type WHEN 'bank_day' THEN 0 ELSE 1 END, day, bank_account, kind, currency, external_reference"
    return _latest(store, BANK_TABLE, month, bunny_entity_id, order)


def latest_customer_balances(store: Store, month: str, bunny_entity_id: str | None = None) -> list[dict[str, Any]]:
    """The rows of the newest customer-balance snapshot of `month` (`YYYY-MM`), by customer code."""
    return _latest(store, BALANCES_TABLE, month, bunny_entity_id, "customer_code, currency")


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
