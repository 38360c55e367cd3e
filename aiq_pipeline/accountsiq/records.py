"""WSDL records <-> typed models: batch documents and queries out, reference data and transactions in.

Builders append elements in the WSDL's sequence order; readers take the element the client found
(`<Result>` or one array item) and return `models` instances with Decimal amounts and business dates.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from aiq_pipeline.accountsiq.envelope import (
    add,
    add_group,
    child,
    children,
    text,
    to_bool,
    to_date,
    to_datetime,
    to_int,
)
from aiq_pipeline.accountsiq.envelope import to_decimal as dec
from aiq_pipeline.accountsiq.models import (
    Allocation,
    BankAccount,
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    CompanyInformation,
    Currency,
    CustomerBalance,
    Entity,
    GLAccount,
    PayAndAllocate,
    PayAndAllocateResult,
    Period,
    SalesCreditJournal,
    SalesDebitJournal,
    SalesReceipt,
    TaxCode,
    Transaction,
    TransactionDetail,
    TransactionSummary,
)

# GetTransactionsByExternalReference needs both bounds (minOccurs=1); these cover any ledger.
WIDE_FROM_DATE = date(1900, 1, 1)
WIDE_TO_DATE = date(2999, 12, 31)

# --- outgoing -------------------------------------------------------------------------------------------


def _add_lines(parent: ET.Element, wrapper: str, item: str, lines: tuple[BatchLine, ...]) -> None:
    array = add_group(parent, wrapper)
    for line in lines:
        element = add_group(array, item)
        add(element, "GLAccountCode", line.gl_account_code)
        add(element, "TaxCode", line.tax_code)
        add(element, "Description", line.description)
        add(element, "DepartmentID", line.department_id)
        add(element, "NetAmount", line.net_amount)
        # xs:double on the wire; a Decimal's plain form is a valid double lexical and keeps 0.23 exact.
        add(element, "TaxRate", line.tax_rate)
        # nil asks AIQ to compute the tax; a value is posted as given (the source system's own rounding).
        add(element, "TaxAmount", line.tax_amount, nillable=True)


def add_batch_invoice(parent: ET.Element, name: str, invoice: BatchSalesInvoice) -> None:
    record = add_group(parent, name)
    add(record, "CustomerCode", invoice.customer_code)
    add(record, "InvoiceDate", invoice.invoice_date)
    add(record, "ExternalReference", invoice.external_reference)
    add(record, "Description", invoice.description)
    _add_lines(record, "Lines", "BatchSalesInvoiceLine", invoice.lines)
    add(record, "ExchangeRate", invoice.exchange_rate)
    add(record, "DueDate", invoice.due_date)


def add_batch_credit_note(parent: ET.Element, name: str, note: BatchSalesCreditNote) -> None:
    record = add_group(parent, name)
    add(record, "ExchangeRate", note.exchange_rate)  # first in this type's sequence (WSDL order)
    add(record, "CustomerCode", note.customer_code)
    add(record, "CreditNoteDate", note.credit_note_date)
    add(record, "ExternalReference", note.external_reference)
    add(record, "Description", note.description)
    _add_lines(record, "Lines", "BatchSalesCreditNoteLine", note.lines)
    add(record, "DueDate", note.due_date)


def add_sales_receipt(parent: ET.Element, name: str, receipt: SalesReceipt) -> None:
    """SalesReceipt in WSDL order; the external reference travels as CheckReference."""
    record = add_group(parent, name)
    add(record, "CustomerCode", receipt.customer_code)
    add(record, "CheckReference", receipt.external_reference)
    add(record, "PaymentAmount", receipt.amount)
    add(record, "BankAccountCode", receipt.bank_account_code)
    add(record, "LodgmentNumber", receipt.lodgment_number)
    add(record, "PaymentDate", receipt.payment_date)
    add(record, "ExchangeRate", receipt.exchange_rate)
    add(record, "BankExchangeRate", receipt.bank_exchange_rate)
    add(record, "Description", receipt.description)
    add(record, "DepartmentID", receipt.department_id)


def add_pay_and_allocate(parent: ET.Element, name: str, query: PayAndAllocate) -> None:
    """WSPostPayAndAllocateSalesInvoiceQuery in WSDL order."""
    record = add_group(parent, name)
    add(record, "PerformExternalReferenceDuplicateCheckOnInvoice", query.check_invoice_reference)
    add(record, "PerformExternalReferenceDuplicateCheckOnReceipt", query.check_receipt_reference)
    if query.invoice is not None:
        add_batch_invoice(record, "BatchInvoice", query.invoice)
    if query.receipt is not None:
        add_sales_receipt(record, "Receipt", query.receipt)
    add(record, "PerformAllocation", query.allocate)
    add(record, "AllocationDate", query.allocation_date, nillable=True)
    add(record, "AllocationAmount", query.allocation_amount if query.allocation_amount is not None else Decimal(0))
    add(record, "AllocationReference", query.allocation_reference)
    add(record, "ClientUniqueReference", query.client_unique_reference)
    add(record, "EnforceCreditLimit", query.enforce_credit_limit)


def add_ledger_journal(parent: ET.Element, name: str, journal: SalesDebitJournal | SalesCreditJournal) -> None:
    """WSLedgerJournal in WSDL order (debit and credit journals share it); BankExchangeRate is nil on a line that is
    not a bank line."""
    record = add_group(parent, name)
    add(record, "AccountCode", journal.customer_code)
    add(record, "ExchangeRate", journal.exchange_rate)
    add(record, "ExternalReference", journal.external_reference)
    add(record, "JournalNumber", journal.journal_number)
    add(record, "TransactionDate", journal.transaction_date)
    lines = add_group(record, "Lines")
    for line in journal.lines:
        element = add_group(lines, "WSLedgerJournalLine")
        add(element, "GLAccountCode", line.gl_account_code)
        add(element, "Description", line.description)
        add(element, "Amount", line.amount)
        add(element, "DepartmentID", line.department_id)
        add(element, "BankExchangeRate", line.bank_exchange_rate, nillable=True)


def pay_and_allocate_result_from_xml(result: ET.Element | None) -> PayAndAllocateResult:
    """WSPostPayAndAllocateSalesInvoiceResult; a nil or absent id (nothing created of that kind) is None."""

    def transaction_id(name: str) -> int | None:
        value = to_int(text(result, name), -1)
        return value if value > 0 else None

    return PayAndAllocateResult(
        invoice_transaction_id=transaction_id("InvoiceTransactionID"),
        receipt_transaction_id=transaction_id("ReceiptTransactionID"),
        client_unique_reference=text(result, "ClientUniqueReference"),
    )


def add_transactions_query(
    parent: ET.Element, *, reference: str, from_date: date | None, to_date: date | None, types: Sequence[str]
) -> None:
    """WSGetTransactionsByExternalReferenceQuery: the reference, the date bounds (required), the type filter."""
    query = add_group(parent, "query")
    add(query, "ExternalReference", reference)
    add(query, "FromDate", from_date or WIDE_FROM_DATE)
    add(query, "ToDate", to_date or WIDE_TO_DATE)
    _add_types(query, types)


def _add_types(query: ET.Element, types: Sequence[str] | None) -> None:
    if types:
        array = add_group(query, "TypesFilter")
        for code in types:
            add(array, "string", code)


def same_reference(found: str | None, wanted: str) -> bool:
    """Whether an ExternalReference AIQ returned is `wanted`, compared as SQL Server's default collation compares
    (case-insensitive, trailing spaces ignored): a row matched only as a prefix or pattern is not."""
    return found is not None and found.rstrip().casefold() == wanted.rstrip().casefold()


def add_transactions_by_query(
    parent: ET.Element,
    from_date: date,
    to_date: date,
    *,
    skip: int,
    types: Sequence[str] | None,
    account_ids: Sequence[int] | None = None,
) -> None:
    """WSGetTransactionsByQuery: transaction dates `from_date`..`to_date`, any creation date, any period."""
    query = add_group(parent, "query")
    add(query, "FromDate", from_date)
    add(query, "ToDate", to_date)
    # Required by the WSDL; wide bounds mean "any creation date".
    add(query, "FromCreationDate", WIDE_FROM_DATE)
    add(query, "ToCreationDate", WIDE_TO_DATE)
    add(query, "Skip", skip)
    _add_types(query, types)
    if account_ids:
        accounts = add_group(query, "AccountIDsFilter")
        for account_id in account_ids:
            add(accounts, "int", account_id)
    # nil: no filter on the period date (the transaction date already bounds the listing).
    add(query, "FromPeriodDate", None, nillable=True)
    add(query, "ToPeriodDate", None, nillable=True)
    add(query, "ExcludeReconciliationInformation", True)


# --- incoming -------------------------------------------------------------------------------------------


def entity_from_xml(item: ET.Element) -> Entity:
    return Entity(
        entity_id=text(item, "EntityID") or "",
        name=text(item, "EntityName") or "",
        base_currency=text(item, "BaseCurrency") or "",
    )


def company_from_xml(result: ET.Element) -> CompanyInformation:
    return CompanyInformation(
        company_name=text(result, "CompanyName") or "",
        base_currency_code=text(result, "BaseCurrencyCode") or "",
        locale_name=text(result, "LocaleName"),
        tax_registration_number=text(result, "TaxRegistrationNumber"),
    )


def gl_account_from_xml(item: ET.Element) -> GLAccount:
    return GLAccount(
        code=text(item, "Code") or "",
        description=text(item, "Description") or "",
        account_type=text(item, "AccountType"),
        is_active=to_bool(text(item, "IsActive")),
        is_departmental=to_bool(text(item, "IsDepartmental")),
        currency_code=text(item, "CurrencyCode"),
        gl_category=text(item, "GLCategory"),
        gl_sub_category=text(item, "GLSubCategory"),
        gl_category_type_description=text(item, "GLCategoryTypeDescription"),
        balance_sheet_type=text(item, "BalanceSheetType"),
        default_tax_id=text(item, "DefaultTaxID"),
        gl_group=text(item, "GLGroup"),
    )


def bank_account_from_xml(item: ET.Element) -> BankAccount:
    return BankAccount(
        bank_id=to_int(text(item, "BankID")),
        code=text(item, "Code") or "",
        bank_account_code=text(item, "BankAccountCode") or None,
        name=text(item, "Name"),
        currency_code=text(item, "CurrencyCode") or None,
        overdraft_limit=dec(text(item, "OverdraftLimit")),
    )


def currency_from_xml(item: ET.Element) -> Currency:
    return Currency(
        currency_id=to_int(text(item, "CurrencyID")),
        code=text(item, "CurrencyCode") or "",
        is_base_currency=to_bool(text(item, "IsBaseCurrency")),
        exchange_rate=dec(text(item, "ExchangeRate")),
        symbol=text(item, "Symbol"),
        description=text(item, "Description"),
        last_modified=to_datetime(text(item, "LastModifiedDate")),
    )


def tax_code_from_xml(item: ET.Element) -> TaxCode:
    return TaxCode(
        id=text(item, "ID") or "",
        code=text(item, "Code") or "",
        description=text(item, "Description"),
        rate=dec(text(item, "Rate")),
        is_default=to_bool(text(item, "IsDefault")),
    )


def period_from_xml(item: ET.Element) -> Period:
    def pick(name: str) -> str | None:
        # Each DTO carries the data twice (`_X` and `X`); prefer the plain field, fall back to the other.
        value = text(item, name)
        return value if value not in (None, "") else text(item, f"_{name}")

    return Period(
        period_id=to_int(pick("PeriodID")),
        period_number=to_int(pick("PeriodNumber")),
        period_name=pick("PeriodName"),
        financial_year=to_int(pick("FinancialYear")),
        start_date=to_date(pick("StartDate")),
        end_date=to_date(pick("EndDate")),
        sales_ledger_closed=to_bool(pick("SalesLedgerClosed")),
        general_ledger_closed=to_bool(pick("GeneralLedgerClosed")),
        financial_year_closed=to_bool(pick("FinancialYearClosed")),
    )


def _detail_from_xml(item: ET.Element) -> TransactionDetail:
    return TransactionDetail(
        gl_account_code=text(item, "GLAccountCode"),
        is_control_line=to_bool(text(item, "IsControlLine")),
        is_tax_line=to_bool(text(item, "IsTaxLine")),
        amount=dec(text(item, "Amount")),
        bc_amount=dec(text(item, "BCAmount")),
        description=text(item, "Description"),
    )


def summary_from_xml(item: ET.Element) -> TransactionSummary:
    return TransactionSummary(
        transaction_id=to_int(text(item, "TransactionID")),
        account_code=text(item, "AccountCode"),
        transaction_type=text(item, "TransactionType"),
        external_reference=text(item, "ExternalReference"),
        control_amount=dec(text(item, "ControlAmount")),
        currency_code=text(item, "CurrencyCode"),
        transaction_date=to_date(text(item, "TransactionDate")),
        is_batch_invoice_or_note=to_bool(text(item, "IsBatchInvoiceOrNote")),
        internal_number=text(item, "InternalNumber"),
        is_reversed=to_bool(text(item, "IsReversed")),
        outstanding_amount=dec(text(item, "OutstandingAmount")) if text(item, "OutstandingAmount") else None,
        lines=tuple(_detail_from_xml(line) for line in children(child(item, "LineDetails"), "WSTransactionDetail")),
        creation_date=to_datetime(text(item, "CreationDate")),
        bank_account_code=text(item, "TransactionBankGLAccountNumber") or None,
    )


def allocations_from_xml(transaction_id: int, result: ET.Element | None) -> list[Allocation]:
    """GetAllocationsByTransactionId's ArrayOfWSAllocationTransactionDTO as allocations of `transaction_id`.

    AIQ's shape is unverified: a DTO for the transaction asked about with an entry per allocation, or a DTO per
    counterpart whose entry points back. Either way, the other transaction is whichever of the DTO's TransactionID
    and the entry's AllocatedToTransactionID is not `transaction_id`; entries about neither are skipped, and an
    allocation listed twice (same id and counterpart) is kept once.
    """
    found: dict[tuple[int | None, int, int], Allocation] = {}
    for dto in children(result, "WSAllocationTransactionDTO"):
        owner = to_int(text(dto, "TransactionID"))
        for entry in children(child(dto, "AllocationEntries"), "WSAllocationEntryDTO"):
            target = to_int(text(entry, "AllocatedToTransactionID"))
            if owner == transaction_id:
                other, kind, number, reference = (
                    target,
                    text(entry, "AllocatedToTransactionType"),
                    text(entry, "AllocatedToInternalNumber"),
                    text(entry, "AllocatedToExternalReference"),
                )
            elif target == transaction_id:
                other, kind, number, reference = (
                    owner,
                    text(dto, "TransactionType"),
                    text(dto, "InternalNumber"),
                    text(dto, "ExternalReference"),
                )
            else:
                continue
            allocation_id = to_int(text(entry, "AllocationId")) or None
            allocation = Allocation(
                transaction_id=transaction_id,
                other_transaction_id=other,
                amount=abs(dec(text(entry, "AllocationAmount"))),
                allocation_date=to_date(text(entry, "AllocationDate")),
                other_transaction_type=kind,
                other_internal_number=number,
                other_external_reference=reference,
                allocation_id=allocation_id,
                allocation_number=to_int(text(entry, "AllocationNumber")) or None,
                created_at=to_datetime(text(entry, "AllocationCreationDate")),
            )
            found.setdefault((allocation_id, other, len(found) if allocation_id is None else 0), allocation)
    return list(found.values())


def customer_balance_from_xml(item: ET.Element) -> CustomerBalance:
    return CustomerBalance(
        account_id=to_int(text(item, "AccountID")),
        account_code=text(item, "AccountCode") or "",
        balance=dec(text(item, "Balance")),
        currency_code=text(item, "CurrencyCode"),
        credit_limit=dec(text(item, "CreditLimit")),
        credit_left=dec(text(item, "CreditLeft")),
        over_credit_limit=dec(text(item, "OverCreditLimitBalance")),
        account_type=text(item, "AccountType"),
    )


# TransactionLine carries no tax flag; these TransactionLineType values mark the VAT posting.
TAX_LINE_TYPES = frozenset({"TAX", "VAT", "T"})


def transaction_from_xml(transaction_id: int, result: ET.Element) -> Transaction:
    """GetTransaction's Transaction{Lines, TransactionType, DueDate}: header facts come from its lines.

    Gross is the customer control line (IsAccountControlLine); tax is the sum of lines whose
    TransactionLineType says tax; net is what remains. All three are reported positive (sales credit
    notes post with the opposite sign).
    """
    lines = children(child(result, "Lines"), "TransactionLine")
    details: list[TransactionDetail] = []
    gross = tax = other = Decimal(0)
    for line in lines:
        amount = dec(text(line, "Amount"))
        is_control = to_bool(text(line, "IsAccountControlLine"))
        is_tax = (text(line, "TransactionLineType") or "").strip().upper() in TAX_LINE_TYPES
        details.append(
            TransactionDetail(
                gl_account_code=text(line, "GLAccountCode"),
                is_control_line=is_control,
                is_tax_line=is_tax,
                amount=amount,
                bc_amount=dec(text(line, "BCAmount")),
                description=text(line, "Description"),
            )
        )
        if is_control:
            gross += amount
        elif is_tax:
            tax += amount
        else:
            other += amount
    first = lines[0] if lines else None
    control = next((line for line in lines if to_bool(text(line, "IsAccountControlLine"))), first)
    return Transaction(
        transaction_id=transaction_id,
        transaction_type=text(result, "TransactionType"),
        account_code=None,  # TransactionLine names the account by AccountID only
        external_reference=text(control, "ExternalReference") if control is not None else None,
        transaction_date=to_date(text(control, "TransactionDate")) if control is not None else None,
        currency_code=text(control, "CurrencyCode") if control is not None else None,
        net_amount=abs(other),
        tax_amount=abs(tax),
        gross_amount=abs(gross),
        lines=tuple(details),
        account_id=to_int(text(control, "AccountID")) if control is not None and text(control, "AccountID") else None,
        due_date=to_date(text(result, "DueDate")),
        internal_number=text(control, "InternalNumber") if control is not None else None,
    )
