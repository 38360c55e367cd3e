"""Planned documents as the AIQ client's requests, and what the journal records of each."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.models import (
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    CreatedTransaction,
    JournalLine,
    SalesCreditJournal,
    SalesDebitJournal,
    SalesReceipt,
)
from aiq_pipeline.store.journal import PlannedWrite
from aiq_pipeline.sync.documents.context import PostedLines
from aiq_pipeline.sync.documents.plan import AiqTarget, PlannedDocument, PlannedLine


def _lines(lines: tuple[PlannedLine, ...]) -> tuple[BatchLine, ...]:
    return tuple(
        BatchLine(
            gl_account_code=line.gl_account_code,
            tax_code=line.tax_code,
            description=line.description,
            net_amount=line.net_amount,
            tax_rate=line.tax_rate,
            tax_amount=line.tax_amount,
        )
        for line in lines
    )


def batch_invoice(doc: PlannedDocument) -> BatchSalesInvoice:
    return BatchSalesInvoice(
        customer_code=doc.customer_code,
        invoice_date=doc.date,
        external_reference=doc.reference,
        description=doc.description,
        lines=_lines(doc.lines),
        exchange_rate=doc.exchange_rate,
        due_date=doc.due_date,
    )


def batch_credit_note(doc: PlannedDocument) -> BatchSalesCreditNote:
    return BatchSalesCreditNote(
        customer_code=doc.customer_code,
        credit_note_date=doc.date,
        external_reference=doc.reference,
        description=doc.description,
        lines=_lines(doc.lines),
        exchange_rate=doc.exchange_rate,
        due_date=doc.due_date,
    )


def sales_receipt(doc: PlannedDocument) -> SalesReceipt:
    (line,) = doc.lines
    return SalesReceipt(
        customer_code=doc.customer_code,
        bank_account_code=line.gl_account_code,
        payment_date=doc.date,
        amount=line.net_amount,
        external_reference=doc.reference,
        description=doc.description,
        exchange_rate=doc.exchange_rate,
        bank_exchange_rate=doc.bank_exchange_rate or doc.exchange_rate,
    )


def _journal_lines(doc: PlannedDocument) -> tuple[JournalLine, ...]:
    return tuple(
        JournalLine(
            gl_account_code=line.gl_account_code,
            description=line.description,
            amount=line.net_amount,
            bank_exchange_rate=doc.bank_exchange_rate if line.gl_source == "bank" else None,
        )
        for line in doc.lines
    )


def sales_debit_journal(doc: PlannedDocument) -> SalesDebitJournal:
    return SalesDebitJournal(
        customer_code=doc.customer_code,
        transaction_date=doc.date,
        external_reference=doc.reference,
        lines=_journal_lines(doc),
        exchange_rate=doc.exchange_rate,
    )


def sales_credit_journal(doc: PlannedDocument) -> SalesCreditJournal:
    return SalesCreditJournal(
        customer_code=doc.customer_code,
        transaction_date=doc.date,
        external_reference=doc.reference,
        lines=_journal_lines(doc),
        exchange_rate=doc.exchange_rate,
    )


def create(aiq: AccountsIQClient, doc: PlannedDocument) -> CreatedTransaction:
    """Send `doc` to AIQ (one request; the caller owns exactly-once)."""
    match doc.target:
        case AiqTarget.SALES_INVOICE:
            return aiq.create_batch_sales_invoice_get_back_transaction_id(batch_invoice(doc))
        case AiqTarget.SALES_CREDIT_NOTE:
            return aiq.create_batch_sales_credit_note_get_back_transaction_id(batch_credit_note(doc))
        case AiqTarget.SALES_RECEIPT:
            # With AIQ's own duplicate check on the reference: a second receipt is refused, not stored.
            return aiq.post_sales_receipt(sales_receipt(doc))
        case AiqTarget.SALES_DEBIT_JOURNAL:
            return aiq.post_sales_debit_journal_get_back_transaction_id(sales_debit_journal(doc))
        case AiqTarget.SALES_CREDIT_JOURNAL:
            return aiq.post_sales_credit_journal_get_back_transaction_id(sales_credit_journal(doc))


_TARGET_NAMES = {
    AiqTarget.SALES_INVOICE: "sales invoice",
    AiqTarget.SALES_CREDIT_NOTE: "sales credit note",
    AiqTarget.SALES_RECEIPT: "sales receipt",
    AiqTarget.SALES_DEBIT_JOURNAL: "sales debit journal (refund)",
    AiqTarget.SALES_CREDIT_JOURNAL: "sales credit journal",
}


def target_name(target: AiqTarget | str) -> str:
    names = {str(t): name for t, name in _TARGET_NAMES.items()}
    return names.get(str(target), str(target))


def planned_write(doc: PlannedDocument, *, claim_key: str, kind: str) -> PlannedWrite:
    summary = (
        f"{target_name(doc.target)} {doc.reference} dated {doc.date.isoformat()} for customer {doc.customer_code}: "
        f"net {doc.net}, tax {doc.tax}, gross {doc.gross} {doc.currency_code}"
    )
    return PlannedWrite(
        reference=doc.reference,
        claim_key=claim_key,
        kind=kind,
        target=str(doc.target),
        currency=doc.currency_code,
        net=doc.net,
        tax=doc.tax,
        gross=doc.gross,
        summary=summary,
        document=json.dumps(_jsonable(asdict(doc)), sort_keys=True),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)  # Decimal, date, enums: their exact text


def posted_lines(document: str | None) -> PostedLines | None:
    """How a document was posted, from the JSON `planned_write` recorded in the journal; None when unknown."""
    if not document:
        return None
    data = json.loads(document)
    lines = tuple(
        PlannedLine(
            gl_account_code=line["gl_account_code"],
            tax_code=line["tax_code"],
            description=line["description"],
            net_amount=Decimal(line["net_amount"]),
            tax_rate=Decimal(line["tax_rate"]),
            tax_amount=Decimal(line["tax_amount"]),
            item_id=line["item_id"],
            gl_source=line["gl_source"],
            source_items=tuple(line.get("source_items") or ()),
        )
        for line in data["lines"]
    )
    return PostedLines(customer_code=data["customer_code"], exchange_rate=Decimal(data["exchange_rate"]), lines=lines)
