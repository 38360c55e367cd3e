"""Money on the customer's account: sales receipts and the pay-and-allocate operations.

Importing this module registers its handlers in `operations.HANDLERS` (operations.py imports it last).

Readings (README.md, "Unverified readings"; the vendor's wiki and WSDL are cited there):
- A receipt is a transaction of type `SR` (the vendor's A-Z list) posted straight to the ledger: a Control line
  crediting the customer's debtors control account (-amount) and a Bank line debiting the bank GL account
  (+amount), in the customer's currency (a receipt has no currency field, like a batch invoice); base amounts are
  amount x ExchangeRate. Its ControlAmount is -amount and its OutstandingAmount starts at -amount (signed like a
  credit note; the option `summary_amount_sign="magnitude"` reports both positive). A receipt reduces nothing by
  itself: only an allocation does.
- `CheckReference` is the receipt's external reference (the wiki: "the check reference/external reference of the
  transaction"); the reference look-ups find it under type `SR`.
- PostPayAndAllocateSalesInvoice is atomic (the wiki: "if any of the steps fails, then everything is rolled
  back"); its bulk form is atomic per query, not as a whole, with one WSResult2 per query in input order and an
  overall Failure when any query failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiq_emulators.accountsiq.operations import (
    INVOICE,
    MAX_CODE,
    MAX_DESCRIPTION,
    AiqFailure,
    Call,
    Code,
    _check_account_code,
    _operation,
    _post,
    _to_base,
    success,
)
from aiq_emulators.accountsiq.state import AllocationRecord, EntityData, LineRecord, Period, TransactionRecord

MAX_LODGMENT = 50


# ---------------------------------------------------------------- shared checks


def open_period(call: Call, when: datetime) -> Period:
    """The period `when` falls in, if its sales ledger is open; else the `closed_period_error_code` failure."""
    period = call.ledger.period_for(when)
    if period is None or period.sales_closed:
        state = "is in a closed sales period" if period else "is outside every financial period"
        raise AiqFailure(call.state.options.closed_period_error_code, f"{when.date()} {state}.")
    return period


def check_department(department: str | None) -> None:
    if department is None:
        return
    if not department:
        raise AiqFailure(Code.DEPARTMENT_EMPTY, "DepartmentID is empty; send nil for no department.")
    if len(department) > MAX_CODE:
        raise AiqFailure(Code.DEPARTMENT_TOO_LONG, f"DepartmentID is longer than {MAX_CODE} characters.")


def bank_account(entity: EntityData, code: str | None) -> str:
    """An active Bank-type GL account; anything else is BANK_ACCOUNT_DOES_NOT_EXIST (UNVERIFIED for a GL account of
    another type, which AIQ may answer with a GL code instead)."""
    account = entity.gl_accounts.get(code or "")
    if account is None or account.account_type != "Bank" or not account.is_active:
        raise AiqFailure(Code.BANK_UNKNOWN, f"Bank account {code} does not exist.")
    return account.code


def new_transaction(
    call: Call,
    *,
    type_code: Any,
    number: str,
    customer_code: str,
    reference: str,
    description: str | None,
    when: datetime,
    rate: Decimal,
    lines: list[LineRecord],
    bank_account_code: str | None,
) -> TransactionRecord:
    """Store a posted transaction whose first line is the Control line; its outstanding amount starts as the
    control amount (nothing allocated)."""
    entity = call.ledger
    customer = entity.customers[customer_code]
    period = call.ledger.period_for(when)
    assert period is not None  # open_period() ran first
    control = lines[0]
    record = TransactionRecord(
        transaction_id=entity.take_id(),
        type_code=type_code,
        internal_number=number,
        account_id=customer.AccountID,
        customer_code=customer.Code,
        customer_name=customer.name,
        external_reference=reference,
        description=description,
        transaction_date=when,
        due_date=None,
        creation_date=call.now,
        currency_code=customer.currency_code or entity.base_currency,
        exchange_rate=rate,
        period_id=period.period_id,
        year=period.year,
        period_number=period.number,
        period_name=period.name,
        period_date=datetime.combine(period.end, datetime.min.time()),
        control_amount=control.amount,
        control_bc_amount=control.bc_amount,
        outstanding_amount=control.amount,
        lines=lines,
        bank_account_code=bank_account_code,
    )
    entity.transactions[record.transaction_id] = record
    return record


def control_gl(entity: EntityData, customer_code: str) -> str:
    customer = entity.customers[customer_code]
    return (customer.model_extra or {}).get("ControlGLAccountCode") or entity.debtors_control_gl


@contextmanager
def savepoint(entity: EntityData) -> Iterator[None]:
    """Undo what the block added to `entity` (transactions, allocations, counters) when it raises AiqFailure.

    The block may only add transactions and allocations and change the outstanding amounts of transactions it
    added, which is all the pay-and-allocate operations do.
    """
    keys = set(entity.transactions)
    allocations = len(entity.allocations)
    counters = (entity.next_id, entity.next_invoice_number, entity.next_receipt_number)
    try:
        yield
    except AiqFailure:
        for key in set(entity.transactions) - keys:
            del entity.transactions[key]
        del entity.allocations[allocations:]
        entity.next_id, entity.next_invoice_number, entity.next_receipt_number = counters
        raise


# ---------------------------------------------------------------- receipts


def _check_receipt(call: Call, doc: dict[str, Any], *, duplicate_check: bool) -> None:
    """SalesReceipt's rules in order (the wiki's SalesReceipt page and the WSDL's codes); first failure wins."""
    entity = call.ledger
    if doc["ExchangeRate"] <= 0 or doc["BankExchangeRate"] <= 0:
        raise AiqFailure(Code.EXCHANGE_RATE, "ExchangeRate and BankExchangeRate must be greater than zero.")
    code = _check_account_code(doc.get("CustomerCode"))
    if code not in entity.customers:
        raise AiqFailure(Code.CUSTOMER_UNKNOWN, f"Customer {code} does not exist.")
    reference = doc.get("CheckReference")
    if reference is None:
        raise AiqFailure(Code.CHECK_REF_NULL, "CheckReference is null.")
    if not reference:
        raise AiqFailure(Code.CHECK_REF_EMPTY, "CheckReference is empty.")
    if len(reference) > MAX_CODE:
        raise AiqFailure(Code.CHECK_REF_TOO_LONG, f"CheckReference is longer than {MAX_CODE} characters.")
    amount: Decimal = doc["PaymentAmount"]
    if amount == 0:
        raise AiqFailure(Code.PAYMENT_ZERO, "PaymentAmount cannot be zero.")
    if amount < 0:
        raise AiqFailure(Code.PAYMENT_NEGATIVE, "PaymentAmount cannot be negative.")
    bank_account(entity, doc.get("BankAccountCode"))
    if len(doc.get("Description") or "") > MAX_DESCRIPTION:
        raise AiqFailure(Code.DESCRIPTION_TOO_LONG, f"Description is longer than {MAX_DESCRIPTION} characters.")
    if len(doc.get("LodgmentNumber") or "") > MAX_LODGMENT:
        raise AiqFailure(Code.LODGMENT_TOO_LONG, f"LodgmentNumber is longer than {MAX_LODGMENT} characters.")
    check_department(doc.get("DepartmentID"))
    open_period(call, doc["PaymentDate"])
    if (duplicate_check or call.state.options.unique_external_references) and any(
        t.type_code == "SR" and t.external_reference == reference for t in entity.transactions.values()
    ):
        raise AiqFailure(Code.RECEIPT_REF_EXISTS, f"A receipt with reference {reference} already exists.")


def post_receipt(call: Call, doc: dict[str, Any] | None, *, duplicate_check: bool = False) -> TransactionRecord:
    """Validate and post one SalesReceipt (the caller holds the state lock)."""
    if doc is None:
        raise AiqFailure(Code.RECEIPT_NULL, "The sales receipt is null.")
    _check_receipt(call, doc, duplicate_check=duplicate_check)
    entity = call.ledger
    amount: Decimal = doc["PaymentAmount"]
    rate: Decimal = doc["ExchangeRate"]
    base = _to_base(call, amount, rate)
    customer_code = doc["CustomerCode"]
    common = {"description": doc.get("Description"), "department_id": doc.get("DepartmentID")}
    lines = [
        LineRecord(line_id=entity.take_id(), gl_account_code=control_gl(entity, customer_code), kind="Control",
                   amount=-amount, bc_amount=-base, **common),
        LineRecord(line_id=entity.take_id(), gl_account_code=doc["BankAccountCode"], kind="Bank", amount=amount,
                   bc_amount=base, **common),
    ]  # fmt: skip
    number = f"SR{entity.next_receipt_number:06d}"
    entity.next_receipt_number += 1
    return new_transaction(
        call,
        type_code="SR",
        number=number,
        customer_code=customer_code,
        reference=doc["CheckReference"],
        description=doc.get("Description"),
        when=doc["PaymentDate"],
        rate=rate,
        lines=lines,
        bank_account_code=doc["BankAccountCode"],
    )


@_operation
def SaveSalesReceiptGetBackTransactionID(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    with call.state.writing():
        record = post_receipt(call, params.get("salesReceipt"))
    result = {"Status": "Success", "ErrorCode": Code.SUCCESS, "HasExpired": False}
    return {"SaveSalesReceiptGetBackTransactionIDResult": result, "transactionID": record.transaction_id}


@_operation
def SaveSalesReceipt(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    with call.state.writing():
        post_receipt(call, params.get("salesReceipt"))
    return {"SaveSalesReceiptResult": success(True)}


# ---------------------------------------------------------------- allocation (shared with AllocateTransactions)


def apply_allocation(
    call: Call, first: TransactionRecord, second: TransactionRecord, amount: Decimal, when: datetime, ref: str | None
) -> AllocationRecord:
    """Record an allocation already checked: each side's outstanding amount moves `amount` towards zero."""
    entity = call.ledger
    for t in (first, second):
        t.outstanding_amount -= amount if t.outstanding_amount > 0 else -amount
    record = AllocationRecord(
        allocation_number=entity.take_id(),
        transaction_ids=(first.transaction_id, second.transaction_id),
        reference=ref,
        amount=amount,
        date=when,
        creation_date=call.now,
    )
    entity.allocations.append(record)
    return record


# ---------------------------------------------------------------- pay and allocate


def _pay_and_allocate(call: Call, query: dict[str, Any] | None) -> dict[str, Any]:
    """One WSPostPayAndAllocateSalesInvoiceQuery, atomically; returns its WSPostPayAndAllocateSalesInvoiceResult.

    Rules (wiki: PostPayAndAllocateSalesInvoice): at least one of invoice and receipt; an allocation needs both, of
    one customer; the invoice's reference is checked per customer and the receipt's across the entity when the
    flags say so; allocation amount 0 means the smaller of the two (defaulted, INFERRED), date nil the receipt's
    date, reference nil the receipt's CheckReference.
    """
    query = query or {}
    invoice, receipt = query.get("BatchInvoice"), query.get("Receipt")
    allocate = bool(query.get("PerformAllocation"))
    if invoice is None and receipt is None:
        raise AiqFailure(Code.PAY_ALLOCATE_NOTHING, "The query has neither an invoice nor a receipt.")
    if allocate and (invoice is None or receipt is None):
        raise AiqFailure(Code.PAY_ALLOCATE_NEEDS_BOTH, "An allocation needs both an invoice and a receipt.")
    if not allocate and (query.get("AllocationAmount") or query.get("AllocationReference")):
        raise AiqFailure(Code.PAY_ALLOCATE_DETAILS, "Allocation details were sent but no allocation requested.")
    if invoice is not None and receipt is not None and invoice.get("CustomerCode") != receipt.get("CustomerCode"):
        raise AiqFailure(Code.ALLOCATION_CROSS_ACCOUNT, "The invoice and the receipt are for different customers.")
    entity = call.ledger
    with savepoint(entity):
        invoice_record = receipt_record = None
        if invoice is not None:
            reference, customer = invoice.get("ExternalReference"), invoice.get("CustomerCode")
            if query.get("PerformExternalReferenceDuplicateCheckOnInvoice") and any(
                t.type_code == "SI" and t.customer_code == customer and t.external_reference == reference
                for t in entity.transactions.values()
            ):
                raise AiqFailure(Code.REF_EXISTS, f"An invoice with reference {reference} already exists.")
            invoice_record = _post(call, invoice, INVOICE)
        if receipt is not None:
            duplicate_check = bool(query.get("PerformExternalReferenceDuplicateCheckOnReceipt"))
            receipt_record = post_receipt(call, receipt, duplicate_check=duplicate_check)
        if allocate and invoice_record is not None and receipt_record is not None:
            most = min(abs(invoice_record.outstanding_amount), abs(receipt_record.outstanding_amount))
            amount: Decimal = query.get("AllocationAmount") or most
            if amount < 0:
                raise AiqFailure(Code.ALLOCATION_NOT_POSITIVE, "The allocation amount must be positive.")
            if amount > most:
                raise AiqFailure(Code.ALLOCATION_TOO_MUCH, "The amount exceeds what is outstanding.")
            when = query.get("AllocationDate") or receipt_record.transaction_date
            ref = query.get("AllocationReference") or receipt_record.external_reference
            apply_allocation(call, invoice_record, receipt_record, amount, when, ref)
    return {
        "InvoiceTransactionID": invoice_record.transaction_id if invoice_record else None,
        "ReceiptTransactionID": receipt_record.transaction_id if receipt_record else None,
        "ClientUniqueReference": query.get("ClientUniqueReference"),
    }


@_operation
def PostPayAndAllocateSalesInvoice(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    with call.state.writing():
        result = _pay_and_allocate(call, params.get("query"))
    return {"PostPayAndAllocateSalesInvoiceResult": success(result)}


@_operation
def PostPayAndAllocateSalesInvoices(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Each query atomic and independent (wiki: "each request is atomic, but the whole is not"): one WSResult2 per
    query in input order, a failed one echoing its ClientUniqueReference with nil ids (INFERRED); the overall Status
    is Failure, with the first failing query's code, when any failed."""
    items: list[dict[str, Any]] = []
    first_failure: AiqFailure | None = None
    with call.state.writing():
        for query in (params.get("queries") or {}).get("WSPostPayAndAllocateSalesInvoiceQuery") or []:
            try:
                items.append(success(_pay_and_allocate(call, query)))
            except AiqFailure as failure:
                first_failure = first_failure or failure
                echo = {"InvoiceTransactionID": None, "ReceiptTransactionID": None,
                        "ClientUniqueReference": (query or {}).get("ClientUniqueReference")}  # fmt: skip
                items.append({"Status": "Failure", "ErrorCode": failure.code, "ErrorMessage": failure.message,
                              "HasExpired": False, "Result": echo})  # fmt: skip
    result = success({"WSResult2OfWSPostPayAndAllocateSalesInvoiceResult": items})
    if first_failure is not None:
        result |= {"Status": "Failure", "ErrorCode": first_failure.code, "ErrorMessage": first_failure.message}
    return {"PostPayAndAllocateSalesInvoicesResult": result}
