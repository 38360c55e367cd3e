"""Money on the customer's account: sales receipts, refunds (sales debit journals), sales credit journals (fees,
account credit), pay-and-allocate, allocations.

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
- A refund paid back to a customer is a sales debit journal (type `SD`, PostSalesDebitJournalGetBackTransactionID)
  whose line credits the bank account: the vendor's payment page lists "Using a GL Debit Journal ... to create
  refunds", and the WSDL has no operation creating the `SP` Sales Payment (Refund) type. Line amounts are positive
  (JOURNAL_ENTRY_CANNOT_HAVE_NEGATIVE_AMOUNTS); the customer is debited with their total (+), each line credited
  (-). Its outstanding amount starts at +total and an allocation to a credit note or a receipt settles it.
- A sales credit journal (type `SC`, PostSalesCreditJournalGetBackTransactionID) is the mirror: same WSLedgerJournal,
  same rules, the customer credited with the total (-) and each line debited (+); its outstanding amount starts at
  -total (a credit, like a receipt's). The product posts a payment's processor fees (lines to a bank-charges
  expense account) and account credit applied to an invoice (lines to a customer-credits account) so.
- Allocations pair a debit-side transaction (SI, SD) with a credit-side one (SN, SR, SC) of the same customer: the A-Z
  list's allocatable columns read as sides ("Sales Invoice | Sales Credit Note", "Sales Payment (Refund) | Sales
  Receipt", "Sales Debit Journal | Sales Credit Journal"), with invoice and receipt paired as the payment page does.
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


# ---------------------------------------------------------------- refunds: sales debit journals


def _check_journal_line(call: Call, line: dict[str, Any], customer_currency: str) -> None:
    entity = call.ledger
    gl_code = line.get("GLAccountCode")
    if not gl_code:
        raise AiqFailure(Code.GL_EMPTY, "A journal line has no GL account code.")
    if gl_code != gl_code.upper():
        raise AiqFailure(Code.GL_NOT_UPPER, f"GL account code {gl_code} must be upper case.")
    account = entity.gl_accounts.get(gl_code)
    if account is None:
        raise AiqFailure(Code.GL_UNKNOWN, f"GL account {gl_code} does not exist.")
    if account.account_type in ("Control", "VAT"):
        raise AiqFailure(Code.JOURNAL_CONTROL_ACCOUNT, f"A journal cannot post to control account {gl_code}.")
    if not account.is_active:
        raise AiqFailure(Code.GL_NOT_POSTING, f"GL account {gl_code} is not active.")
    if line.get("DepartmentID") is None and account.is_departmental:
        raise AiqFailure(Code.GL_DEPARTMENTAL, f"GL account {gl_code} is departmental and needs a DepartmentID.")
    check_department(line.get("DepartmentID"))
    if len(line.get("Description") or "") > MAX_DESCRIPTION:
        raise AiqFailure(Code.JOURNAL_LINE_DESCRIPTION_TOO_LONG, f"A line description exceeds {MAX_DESCRIPTION}.")
    if line["Amount"] < 0:
        raise AiqFailure(Code.JOURNAL_NEGATIVE, "Journal line amounts cannot be negative.")
    if account.account_type == "Bank":
        rate = line.get("BankExchangeRate")
        if rate is None or rate <= 0:
            raise AiqFailure(Code.EXCHANGE_RATE, "A bank line needs a BankExchangeRate greater than zero.")
        currency = account.currency_code or entity.base_currency
        foreign = currency != entity.base_currency
        refused = call.state.options.journal_foreign_bank == "refused" or currency != customer_currency
        if foreign and refused:
            raise AiqFailure(Code.JOURNAL_FOREIGN_BANK, f"A journal cannot post to foreign bank account {gl_code}.")


# How each journal operation posts: its type code, the sign of its lines (the customer's control line takes the
# other), and the counter numbering it.
JOURNAL_KINDS: dict[str, tuple[Any, int, str]] = {
    "SD": ("SD", -1, "next_journal_number"),  # lines credited, the customer debited
    "SC": ("SC", 1, "next_credit_journal_number"),  # lines debited, the customer credited
}


def post_ledger_journal(call: Call, doc: dict[str, Any] | None, type_code: str) -> TransactionRecord:
    """Validate and post one WSLedgerJournal as a sales debit journal (SD) or sales credit journal (SC); the caller
    holds the state lock. Both share the rules; only the sides (and the numbering) differ."""
    kind, line_sign, counter = JOURNAL_KINDS[type_code]
    if doc is None:
        raise AiqFailure(Code.JOURNAL_NULL, "The journal is null.")
    entity = call.ledger
    if doc["ExchangeRate"] <= 0:
        raise AiqFailure(Code.EXCHANGE_RATE, "ExchangeRate must be greater than zero.")
    code = _check_account_code(doc.get("AccountCode"))
    if code not in entity.customers:
        raise AiqFailure(Code.CUSTOMER_UNKNOWN, f"Customer {code} does not exist.")
    reference = doc.get("ExternalReference")
    if reference is None:
        raise AiqFailure(Code.JOURNAL_NO_REFERENCE, "The journal has no ExternalReference.")
    if not reference.strip():
        raise AiqFailure(Code.JOURNAL_EMPTY_REFERENCE, "The journal's ExternalReference is empty.")
    if len(reference) > MAX_CODE:
        raise AiqFailure(Code.JOURNAL_REFERENCE_TOO_LONG, f"ExternalReference is longer than {MAX_CODE} characters.")
    open_period(call, doc["TransactionDate"])
    lines = (doc.get("Lines") or {}).get("WSLedgerJournalLine") or []
    if not [line for line in lines if line is not None]:
        raise AiqFailure(Code.JOURNAL_NO_ROWS, "The journal has no lines.")
    customer_currency = entity.customers[code].currency_code or entity.base_currency
    for line in lines:
        if line is None:
            raise AiqFailure(Code.JOURNAL_NO_ROWS, "A journal line is null.")
        _check_journal_line(call, line, customer_currency)
    if call.state.options.unique_external_references and any(
        t.type_code == kind and t.external_reference == reference for t in entity.transactions.values()
    ):
        raise AiqFailure(Code.JOURNAL_REFERENCE_EXISTS, f"A journal with reference {reference} already exists.")
    rate: Decimal = doc["ExchangeRate"]
    records: list[LineRecord] = []
    for line in lines:
        account = entity.gl_accounts[line["GLAccountCode"]]
        records.append(
            LineRecord(line_id=entity.take_id(), gl_account_code=account.code, description=line.get("Description"),
                       department_id=line.get("DepartmentID"), kind="Bank" if account.account_type == "Bank" else "Net",
                       amount=line_sign * line["Amount"], bc_amount=line_sign * _to_base(call, line["Amount"], rate))
        )  # fmt: skip
    total = -sum((r.amount for r in records), Decimal(0))
    total_bc = -sum((r.bc_amount for r in records), Decimal(0))
    control = LineRecord(line_id=entity.take_id(), gl_account_code=control_gl(entity, code), kind="Control",
                         description=records[0].description, amount=total, bc_amount=total_bc)  # fmt: skip
    number = doc.get("JournalNumber") or f"{kind}{getattr(entity, counter):06d}"
    setattr(entity, counter, getattr(entity, counter) + 1)
    bank = next((r.gl_account_code for r in records if r.kind == "Bank"), None)
    return new_transaction(call, type_code=kind, number=number, customer_code=code, reference=reference,
                           description=control.description, when=doc["TransactionDate"], rate=rate,
                           lines=[control, *records], bank_account_code=bank)  # fmt: skip


def post_sales_debit_journal(call: Call, doc: dict[str, Any] | None) -> TransactionRecord:
    """Validate and post one WSLedgerJournal as a sales debit journal (SD); the caller holds the state lock."""
    return post_ledger_journal(call, doc, "SD")


@_operation
def PostSalesDebitJournalGetBackTransactionID(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    with call.state.writing():
        record = post_sales_debit_journal(call, params.get("journal"))
    result = {"Status": "Success", "ErrorCode": Code.SUCCESS, "HasExpired": False}
    return {"PostSalesDebitJournalGetBackTransactionIDResult": result, "transactionID": record.transaction_id}


# ---------------------------------------------------------------- sales credit journals (fees, account credit)


def post_sales_credit_journal(call: Call, doc: dict[str, Any] | None) -> TransactionRecord:
    """Validate and post one WSLedgerJournal as a sales credit journal (SC): the mirror of a debit journal, the
    customer credited (-total) and each line's GL account debited (+); the caller holds the state lock."""
    return post_ledger_journal(call, doc, "SC")


@_operation
def PostSalesCreditJournalGetBackTransactionID(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    with call.state.writing():
        record = post_sales_credit_journal(call, params.get("journal"))
    result = {"Status": "Success", "ErrorCode": Code.SUCCESS, "HasExpired": False}
    return {"PostSalesCreditJournalGetBackTransactionIDResult": result, "transactionID": record.transaction_id}


# ---------------------------------------------------------------- allocation


DEBIT_SIDE = frozenset({"SI", "SD"})
CREDIT_SIDE = frozenset({"SN", "SR", "SC"})
# The A-Z list's rows read literally (only the pairs the emulator can hold) plus invoice/receipt (payment page).
WIKI_TABLE_PAIRS = frozenset({frozenset({"SI", "SN"}), frozenset({"SI", "SR"}), frozenset({"SD", "SC"})})


def _pair_allowed(call: Call, first: TransactionRecord, second: TransactionRecord) -> bool:
    if call.state.options.allocation_pairs == "wiki_table":
        return frozenset({first.type_code, second.type_code}) in WIKI_TABLE_PAIRS
    sides = {first.type_code in DEBIT_SIDE, second.type_code in DEBIT_SIDE}
    return sides == {True, False} and {first.type_code, second.type_code} <= DEBIT_SIDE | CREDIT_SIDE


def check_allocation(call: Call, first: TransactionRecord, second: TransactionRecord, amount: Decimal) -> None:
    """AllocateTransactions' rules for two transactions found, in order; first failing wins."""
    if amount <= 0:
        raise AiqFailure(Code.ALLOCATION_NOT_POSITIVE, "The allocation amount must be positive.")
    if first.account_id != second.account_id:
        raise AiqFailure(Code.ALLOCATION_CROSS_ACCOUNT, "The transactions belong to different accounts.")
    if first.transaction_id == second.transaction_id or not _pair_allowed(call, first, second):
        raise AiqFailure(Code.ALLOCATION_TYPES, "These transaction types cannot be allocated together.")
    if any(t.outstanding_amount == 0 for t in (first, second)):
        raise AiqFailure(Code.ALLOCATION_FULLY_ALLOCATED, "A transaction is already fully allocated.")
    if any(abs(t.outstanding_amount) < amount for t in (first, second)):
        raise AiqFailure(call.state.options.over_allocation_error_code, "The amount exceeds what is outstanding.")


@_operation
def AllocateTransactions(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Allocate a debit (invoice, refund) and a credit (credit note, receipt, credit journal) of one customer, in
    either order."""
    amount: Decimal = params["allocationAmount"]
    with call.state.writing():
        entity = call.ledger
        first = entity.transactions.get(params["transactionID_1"])
        second = entity.transactions.get(params["transactionID_2"])
        if first is None or second is None:
            raise AiqFailure(Code.TRANSACTION_NOT_FOUND, "A transaction to allocate was not found.")
        check_allocation(call, first, second, amount)
        apply_allocation(call, first, second, amount, params["allocationDate"], params.get("allocationReference"))
    return {"AllocateTransactionsResult": {"Status": "Success", "ErrorCode": Code.SUCCESS, "HasExpired": False}}


# ---------------------------------------------------------------- allocation (shared with pay-and-allocate)


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
                raise AiqFailure(call.state.options.over_allocation_error_code, "The amount exceeds the outstanding.")
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


# ---------------------------------------------------------------- reading allocations


def _entry(call: Call, record: AllocationRecord, other: TransactionRecord, sign: int) -> dict[str, Any]:
    signed = call.state.options.allocation_amount_sign == "signed"
    return {
        "AllocatedToTransactionID": other.transaction_id,
        "AllocatedToTransactionType": other.type_code,
        "AllocatedToInternalNumber": other.internal_number,
        "AllocatedToExternalReference": other.external_reference,
        "AllocationAmount": sign * record.amount if signed else record.amount,
        "AllocationDate": record.date,
        "AllocationId": record.allocation_number,
        "AllocationUserId": "integration",
        "AllocationCreationDate": record.creation_date or record.date,
        "AllocatedToTransactionDate": other.transaction_date,
        "AllocationNumber": record.allocation_number,
    }


def _dto(t: TransactionRecord, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "TransactionID": t.transaction_id,
        "TransactionType": t.type_code,
        "InternalNumber": t.internal_number,
        "ExternalReference": t.external_reference,
        "AllocationEntries": {"WSAllocationEntryDTO": entries},
        "AccountID": t.account_id,
        "AccountCode": t.customer_code,
    }


def _side(t: TransactionRecord) -> int:
    return 1 if t.type_code in DEBIT_SIDE else -1


@_operation
def GetAllocationsByTransactionId(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """The allocations of one transaction (read by id: no look-up lag). `allocations_listing` picks the shape;
    an id that is not a number or not a transaction answers TRANSACTION_NOT_FOUND."""
    raw = (params.get("transactionId") or "").strip()
    entity = call.ledger
    t = entity.transactions.get(int(raw)) if raw.isdigit() else None
    if t is None:
        raise AiqFailure(Code.TRANSACTION_NOT_FOUND, f"Transaction {raw} was not found.")
    pairs: list[tuple[AllocationRecord, TransactionRecord]] = []
    for record in entity.allocations:
        if t.transaction_id in record.transaction_ids:
            first, second = record.transaction_ids
            pairs.append((record, entity.transactions[second if first == t.transaction_id else first]))
    if call.state.options.allocations_listing == "per_transaction":
        dtos = [_dto(t, [_entry(call, record, other, _side(t)) for record, other in pairs])]
    else:
        dtos = [_dto(other, [_entry(call, record, t, _side(other))]) for record, other in pairs]
    return {"GetAllocationsByTransactionIdResult": success({"WSAllocationTransactionDTO": dtos})}


# ---------------------------------------------------------------- customer balances


@_operation
def GetCustomerBalanceInformation(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Each customer's balance as at `edt` (transactions dated on or before it), in the customer's currency, debit
    positive: the sum of the control amounts, which allocations do not change. No codes (or an empty list): every
    customer, by code; an unknown code is left out (both UNVERIFIED). CreditLeft = CreditLimit - Balance and
    OverCreditLimitBalance = what exceeds a set limit (emulator choices)."""
    entity = call.ledger
    edt: datetime = params["edt"]
    asked = [code for code in ((params.get("customerCodes") or {}).get("string") or []) if code is not None]
    codes = [code for code in asked if code in entity.customers] if asked else sorted(entity.customers)
    balances: dict[str, Decimal] = dict.fromkeys(codes, Decimal(0))
    for t in entity.transactions.values():
        if t.customer_code in balances and t.transaction_date.date() <= edt.date():
            balances[t.customer_code] += t.control_amount
    rows = []
    for code, balance in balances.items():
        customer = entity.customers[code]
        limit = customer.CreditLimit
        rows.append(
            {
                "AccountID": customer.AccountID,
                "AccountCode": code,
                "AccountType": "Customer",
                "Balance": balance,
                "CreditLimit": limit,
                "CreditLeft": limit - balance,
                "OverCreditLimitBalance": max(balance - limit, Decimal(0)) if limit > 0 else Decimal(0),
                "CurrencyCode": customer.currency_code or entity.base_currency,
            }
        )
    return {"GetCustomerBalanceInformationResult": success({"AccountBalanceInformation": rows})}
