"""Typed results and requests of the AccountsIQ Integration 2.0 operations the product uses.

Amounts are `Decimal`; business dates are `datetime.date` (AIQ sends xs:dateTime at midnight).
Field names follow the WSDL, in snake_case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from aiq_pipeline.accountsiq.errors import AiqError

# Two-letter transaction types of the sales ledger (the vendor's A-Z list), as GetTransactionsBy* filter and report
# them. A debit raises what the customer owes, a credit lowers it; allocations pair a debit with a credit.
SALES_INVOICE_TYPE: Final = "SI"
SALES_CREDIT_NOTE_TYPE: Final = "SN"
SALES_RECEIPT_TYPE: Final = "SR"
SALES_DEBIT_JOURNAL_TYPE: Final = "SD"  # how the product records a refund paid out (see SalesRefund)
SALES_CREDIT_JOURNAL_TYPE: Final = "SC"  # processor fees and account credit (see SalesCreditJournal)
SALES_DEBIT_TYPES: Final = frozenset({SALES_INVOICE_TYPE, SALES_DEBIT_JOURNAL_TYPE, "SP"})  # SP: sales payment
SALES_CREDIT_TYPES: Final = frozenset({SALES_CREDIT_NOTE_TYPE, SALES_RECEIPT_TYPE, SALES_CREDIT_JOURNAL_TYPE})


def ledger_sign(transaction_type: str | None) -> int | None:
    """+1 for a sales debit type (SI, SD, SP), -1 for a sales credit type (SN, SR, SC), None for any other."""
    code = (transaction_type or "").strip().upper()
    if code in SALES_DEBIT_TYPES:
        return 1
    if code in SALES_CREDIT_TYPES:
        return -1
    return None


@dataclass(frozen=True)
class Entity:
    entity_id: str
    name: str
    base_currency: str


@dataclass(frozen=True)
class CompanyInformation:
    company_name: str
    base_currency_code: str
    locale_name: str | None = None
    tax_registration_number: str | None = None


@dataclass(frozen=True)
class GLAccount:
    """One line of GetChartOfAccounts (WSChartOfAccountLine)."""

    code: str
    description: str
    account_type: str | None  # e.g. Posting, Control, Bank, VAT (AIQ's own strings)
    is_active: bool
    is_departmental: bool
    currency_code: str | None = None
    gl_category: str | None = None
    gl_sub_category: str | None = None
    gl_category_type_description: str | None = None
    balance_sheet_type: str | None = None
    default_tax_id: str | None = None
    gl_group: str | None = None

    @property
    def is_posting(self) -> bool:
        return _account_type_is(self.account_type, "posting")

    @property
    def is_bank(self) -> bool:
        """A Bank account: where receipts go and refunds come from. Its own currency is on `get_bank_list`'s
        BankAccount (the chart may give every GL account the base currency)."""
        return _account_type_is(self.account_type, "bank")


def _account_type_is(account_type: str | None, word: str) -> bool:
    """AccountType read in any of the unverified spellings: `Posting`, `POSTING` or the one letter `P`."""
    spelled = (account_type or "").strip().lower()
    return spelled in (word, word[0])


@dataclass(frozen=True)
class BankAccount:
    """One Bank of GetBankList: a bank account of the entity with its own currency.

    `code` and `bank_account_code` are AIQ's Code and BankAccountCode; which of the two a receipt's BankAccountCode
    means is unverified (the emulator gives both the bank's GL account code): `gl_account_code` is the one to send.
    """

    bank_id: int
    code: str
    bank_account_code: str | None
    name: str | None
    currency_code: str | None
    overdraft_limit: Decimal = Decimal(0)

    @property
    def gl_account_code(self) -> str:
        return self.bank_account_code or self.code


@dataclass(frozen=True)
class Currency:
    """One WSCurrency of GetCurrencies. `exchange_rate` is as GetCurrencyExchangeRate states it (0: none set)."""

    currency_id: int
    code: str
    is_base_currency: bool
    exchange_rate: Decimal
    symbol: str | None = None
    description: str | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class TaxCode:
    """One Tax of GetTaxCodeList. `rate` is as AIQ stores it (a percentage, e.g. 23 for 23%).

    `id` is the WSDL's InfoBase.ID, an xs:string.
    """

    id: str
    code: str
    description: str | None
    rate: Decimal
    is_default: bool = False


@dataclass(frozen=True)
class Period:
    period_id: int
    period_number: int
    period_name: str | None
    financial_year: int
    start_date: date | None
    end_date: date | None
    sales_ledger_closed: bool
    general_ledger_closed: bool = False
    financial_year_closed: bool = False

    def contains(self, day: date) -> bool:
        return bool(self.start_date and self.end_date and self.start_date <= day <= self.end_date)


@dataclass
class Customer:
    """An AIQ customer account (the WSDL's Account type).

    The named fields are the ones the product reads or writes; `other` keeps every remaining
    element of the record (WSDL name -> text, None for nil) so an update sends back what AIQ gave.
    """

    code: str | None
    name: str | None
    account_id: int = 0
    currency_code: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    county_state: str | None = None
    country: str | None = None
    country_code: str | None = None
    post_code: str | None = None
    contact: str | None = None
    email: str | None = None
    phone: str | None = None
    vat_registration_number: str | None = None
    default_tax_code: str | None = None
    is_active: bool = True
    row_version_number: str | None = None
    other: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchLine:
    """A BatchSalesInvoiceLine / BatchSalesCreditNoteLine. `tax_rate` is a fraction (0.23)."""

    gl_account_code: str
    tax_code: str
    description: str
    net_amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal | None
    department_id: str | None = None


@dataclass(frozen=True)
class BatchSalesInvoice:
    customer_code: str
    invoice_date: date
    external_reference: str
    description: str
    lines: tuple[BatchLine, ...]
    exchange_rate: Decimal = Decimal(1)
    due_date: date | None = None


@dataclass(frozen=True)
class BatchSalesCreditNote:
    customer_code: str
    credit_note_date: date
    external_reference: str
    description: str
    lines: tuple[BatchLine, ...]
    exchange_rate: Decimal = Decimal(1)
    due_date: date | None = None


@dataclass(frozen=True)
class CreatedTransaction:
    """What a ...GetBackTransactionID create returns: AIQ's transaction id and its internal number."""

    transaction_id: int
    reference: str | None


@dataclass(frozen=True)
class BulkItemOutcome:
    """One document of a bulk create, in input order: `created` when AIQ posted it, else `error` (AiqError).

    `error` is that item's own refusal (AiqValidationError, AiqDuplicateReference for a taken reference) or
    AiqWriteOutcomeUnknown when AIQ said Success without a transaction id (look it up before sending it again).
    """

    index: int
    external_reference: str
    created: CreatedTransaction | None = None
    error: AiqError | None = None

    @property
    def ok(self) -> bool:
        return self.created is not None


@dataclass(frozen=True)
class TransactionDetail:
    gl_account_code: str | None
    is_control_line: bool
    is_tax_line: bool
    amount: Decimal
    bc_amount: Decimal
    description: str | None = None


@dataclass(frozen=True)
class TransactionSummary:
    """One WSTransactionSummary of GetTransactionsByExternalReference."""

    transaction_id: int
    account_code: str | None
    transaction_type: str | None  # e.g. SI (sales invoice), SN (sales credit note)
    external_reference: str | None
    control_amount: Decimal
    currency_code: str | None
    transaction_date: date | None
    is_batch_invoice_or_note: bool = False
    internal_number: str | None = None
    is_reversed: bool = False
    lines: tuple[TransactionDetail, ...] = ()
    creation_date: datetime | None = None
    # What is still unallocated, as AIQ reports it (the emulator's default: signed like `control_amount`); None when
    # AIQ did not say. Whether AIQ signs these header amounts is UNVERIFIED: read them through the `signed_*`
    # properties, which take the side from the type.
    outstanding_amount: Decimal | None = None
    # TransactionBankGLAccountNumber: the bank GL account of a receipt or refund (None for documents).
    bank_account_code: str | None = None

    @property
    def signed_control_amount(self) -> Decimal:
        """ControlAmount signed by the type's side (debit +, credit -), whatever sign AIQ gave it; as given for a
        type outside the sales ledger's six."""
        sign = ledger_sign(self.transaction_type)
        return self.control_amount if sign is None else sign * abs(self.control_amount)

    @property
    def signed_outstanding_amount(self) -> Decimal | None:
        """OutstandingAmount signed as `signed_control_amount` is: the summands of the customer's balance."""
        if self.outstanding_amount is None:
            return None
        sign = ledger_sign(self.transaction_type)
        return self.outstanding_amount if sign is None else sign * abs(self.outstanding_amount)


@dataclass(frozen=True)
class Transaction:
    """GetTransaction: a posted transaction with its GL lines."""

    transaction_id: int
    transaction_type: str | None
    account_code: str | None
    external_reference: str | None
    transaction_date: date | None
    currency_code: str | None
    net_amount: Decimal
    tax_amount: Decimal
    gross_amount: Decimal
    lines: tuple[TransactionDetail, ...] = ()
    account_id: int | None = None  # TransactionLine.AccountID of the control line (AIQ gives no code here)
    due_date: date | None = None
    internal_number: str | None = None  # AIQ's document number (e.g. SI000001), from the control line


@dataclass(frozen=True)
class SalesReceipt:
    """Money received from a customer into a bank account (the WSDL's SalesReceipt): a transaction of type SR.

    `amount` is PaymentAmount (> 0) in the customer's currency (a receipt has no currency field, like a batch
    invoice). `external_reference` travels as CheckReference, which the vendor's wiki calls "the check
    reference/external reference of the transaction"; the look-ups find it under type SR. `exchange_rate` is the
    customer's currency to base, `bank_exchange_rate` the bank account's currency to base (both > 0, 1 for base).
    """

    customer_code: str
    bank_account_code: str
    payment_date: date
    amount: Decimal
    external_reference: str
    description: str
    exchange_rate: Decimal = Decimal(1)
    bank_exchange_rate: Decimal = Decimal(1)
    lodgment_number: str | None = None
    department_id: str | None = None


@dataclass(frozen=True)
class PayAndAllocate:
    """One WSPostPayAndAllocateSalesInvoiceQuery: a batch invoice and/or a receipt posted atomically, optionally
    allocated to each other (`allocate` needs both, for one customer).

    `check_invoice_reference` / `check_receipt_reference` ask AIQ to refuse the query when the customer already has
    an invoice with that reference (INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS) or a receipt with that CheckReference
    exists (RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS). `allocation_amount` None sends 0 (AIQ defaults it, the
    emulator to the smaller of the two); `allocation_date` None sends nil. `client_unique_reference` is echoed.
    """

    receipt: SalesReceipt | None = None
    invoice: BatchSalesInvoice | None = None
    allocate: bool = False
    allocation_amount: Decimal | None = None
    allocation_date: date | None = None
    allocation_reference: str | None = None
    check_invoice_reference: bool = True
    check_receipt_reference: bool = True
    client_unique_reference: str | None = None
    enforce_credit_limit: bool = False


@dataclass(frozen=True)
class PayAndAllocateResult:
    """WSPostPayAndAllocateSalesInvoiceResult: the ids of what was created (None when not asked for)."""

    invoice_transaction_id: int | None
    receipt_transaction_id: int | None
    client_unique_reference: str | None = None


@dataclass(frozen=True)
class PayAndAllocateOutcome:
    """One query of PostPayAndAllocateSalesInvoices, in input order: `result` when AIQ applied it, else `error`
    (its own refusal: AiqValidationError, AiqDuplicateReference for a taken reference)."""

    index: int
    client_unique_reference: str | None
    result: PayAndAllocateResult | None = None
    error: AiqError | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class JournalLine:
    """A WSLedgerJournalLine: a GL account credited (sales debit journal) or debited (sales credit journal) with a
    positive `amount`.

    `bank_exchange_rate` (the bank account's currency to base) is needed on a line to a Bank account and left
    None (nil) on any other line.
    """

    gl_account_code: str
    description: str
    amount: Decimal
    department_id: str | None = None
    bank_exchange_rate: Decimal | None = None


@dataclass(frozen=True)
class SalesDebitJournal:
    """A WSLedgerJournal posted with PostSalesDebitJournalGetBackTransactionID (type SD): the customer is debited
    with the lines' total, each line's GL account credited. `exchange_rate` is the customer's currency to base;
    `journal_number` None lets AIQ number it."""

    customer_code: str
    transaction_date: date
    external_reference: str
    lines: tuple[JournalLine, ...]
    exchange_rate: Decimal = Decimal(1)
    journal_number: str | None = None


@dataclass(frozen=True)
class SalesCreditJournal:
    """A WSLedgerJournal posted with PostSalesCreditJournalGetBackTransactionID (type SC), the mirror of
    SalesDebitJournal: the customer is credited with the lines' total, each line's GL account debited (e.g. a
    payment's processor fees against a bank-charges account, or account credit applied to an invoice against a
    customer-credits account). `exchange_rate` is the customer's currency to base; `journal_number` None lets AIQ
    number it. Its outstanding amount is the customer's credit until allocated (to an invoice, say)."""

    customer_code: str
    transaction_date: date
    external_reference: str
    lines: tuple[JournalLine, ...]
    exchange_rate: Decimal = Decimal(1)
    journal_number: str | None = None


@dataclass(frozen=True)
class SalesRefund:
    """Money paid back to a customer out of a bank account: a sales debit journal (SD) with one line crediting the
    bank account, which raises the customer's balance by `amount` (> 0, customer's currency) and is allocated to
    the refund credit note (or to the receipt) to settle both.

    The route is a reading: the vendor's payment page lists "Using a GL Debit Journal" for refunds, and the WSDL has
    no operation creating the SP Sales Payment (Refund) type (see the emulator's README).
    """

    customer_code: str
    bank_account_code: str
    refund_date: date
    amount: Decimal
    external_reference: str
    description: str
    exchange_rate: Decimal = Decimal(1)
    bank_exchange_rate: Decimal = Decimal(1)
    department_id: str | None = None

    def as_journal(self) -> SalesDebitJournal:
        line = JournalLine(
            gl_account_code=self.bank_account_code,
            description=self.description,
            amount=self.amount,
            department_id=self.department_id,
            bank_exchange_rate=self.bank_exchange_rate,
        )
        return SalesDebitJournal(
            customer_code=self.customer_code,
            transaction_date=self.refund_date,
            external_reference=self.external_reference,
            lines=(line,),
            exchange_rate=self.exchange_rate,
        )


@dataclass(frozen=True)
class Allocation:
    """One allocation of GetAllocationsByTransactionId, seen from `transaction_id` (the transaction asked about).

    `amount` is what moved between the two, always positive. `other_external_reference` is the other transaction's
    external reference: AIQ lists no allocation reference, so the `reference` sent to AllocateTransactions cannot be
    read back; an allocation is recognised by its pair of transactions (and amount).
    """

    transaction_id: int
    other_transaction_id: int
    amount: Decimal
    allocation_date: date | None
    other_transaction_type: str | None = None
    other_internal_number: str | None = None
    other_external_reference: str | None = None
    allocation_id: int | None = None
    allocation_number: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class CustomerBalance:
    """One AccountBalanceInformation of GetCustomerBalanceInformation: what the customer owes as at a date, in the
    customer's currency, positive when the customer owes (the WSDL's CreditLeft, the limit less the balance, only
    makes sense so; UNVERIFIED on a tenant)."""

    account_id: int
    account_code: str
    balance: Decimal
    currency_code: str | None
    credit_limit: Decimal = Decimal(0)
    credit_left: Decimal = Decimal(0)
    over_credit_limit: Decimal = Decimal(0)
    account_type: str | None = None


def outstanding_by_account(rows: Iterable[TransactionSummary]) -> dict[str, Decimal]:
    """Per account code, the sum of the side-signed outstanding amounts of `rows` (debits +, credits -): a
    customer's balance from the transactions themselves, the cross-check of GetCustomerBalanceInformation. A row
    whose outstanding amount AIQ did not give raises ValueError (summing it as 0 would hide money)."""
    totals: dict[str, Decimal] = {}
    for row in rows:
        amount = row.signed_outstanding_amount
        if amount is None:
            raise ValueError(f"transaction {row.transaction_id} has no OutstandingAmount")
        key = row.account_code or ""
        totals[key] = totals.get(key, Decimal(0)) + amount
    return totals
