"""The AccountsIQ Integration 2.0 SOAP client.

Retry and token rules (the product rule: AIQ has no idempotency key, so look before you write, and after
a write whose outcome is unknown, look again before writing again):

- Reads retry throttling and transport failures (connection, timeout, HTTP 5xx, SOAP fault, unreadable
  response) with bounded exponential backoff: at most `max_attempts` HTTP tries per call.
- Writes are never re-sent once the request may have reached AIQ. A timeout, dropped connection, HTTP 5xx,
  SOAP fault or unreadable answer after sending raises `AiqWriteOutcomeUnknown`; the caller looks the
  document up by its external reference before writing again. A connection that could not even be opened
  (nothing was sent) is retried like a read.
- A write *is* re-sent in two cases, because AIQ answered and said it did nothing: a throttle code
  (OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS / RATE_LIMIT_REACHED; retried with backoff), and a token
  rejection (HasExpired=true or a token ErrorCode, with Status neither Success nor Created): AIQ's OAuth
  gateway refuses the call before the operation runs, so the token is renewed once and the call repeated
  once. A second token rejection with a fresh token raises `AiqAuthenticationError` (no loop).
- Renewal: TokenRefresh(clientId, clientSecret, refreshToken) rotates both tokens; if AIQ refuses the
  refresh token, TokenGet starts over. TokenGet refused means the credentials are wrong.

Reading AIQ's answers (issue 10):

- A look-up answers "nothing there" only with Success and no rows. Any Failure of a look-up raises
  `AiqLookupError`, a `*_DOES_NOT_EXIST`/`NOT_FOUND` code included, and an answer as long as AIQ's row cap raises
  `AiqLookupTruncated`: in both cases whether the document exists is unknown, so the caller must not write.
- Look-ups by reference are narrowed by type (the caller names them) and keep only rows carrying that reference.
- A create refused with `*_EXTERNAL_REFERENCE_ALREADY_EXISTS` raises `AiqDuplicateReference` (with the reference):
  the document exists, resolve it by looking it up.
- A record read by its key is absent only on that operation's own code: GetCustomer's
  CUSTOMER_CODE_DOES_NOT_EXIST (None), GetTransaction's TRANSACTION_NOT_FOUND (`AiqNotFoundError`).

Secrets: the client secret and tokens live in private attributes, are left out of `repr`, and every message
built from AIQ's text passes through `_redact` before it reaches an exception or a log line.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Sequence
from datetime import date
from decimal import Decimal
from types import TracebackType
from typing import Self, TypeVar

import httpx
import tenacity

from aiq_pipeline.accountsiq import envelope as soap
from aiq_pipeline.accountsiq.customer_record import add_customer, customer_from_xml, unknown_other_keys
from aiq_pipeline.accountsiq.errors import (
    AiqAuthenticationError,
    AiqConfigurationError,
    AiqDuplicateReference,
    AiqError,
    AiqLookupError,
    AiqLookupTruncated,
    AiqNotFoundError,
    AiqOutdatedRecord,
    AiqOverAllocation,
    AiqThrottledError,
    AiqTransportError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
)
from aiq_pipeline.accountsiq.models import (
    Allocation,
    BankAccount,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    BulkItemOutcome,
    CompanyInformation,
    CreatedTransaction,
    Currency,
    Customer,
    CustomerBalance,
    Entity,
    GLAccount,
    PayAndAllocate,
    PayAndAllocateOutcome,
    PayAndAllocateResult,
    Period,
    SalesCreditJournal,
    SalesDebitJournal,
    SalesReceipt,
    SalesRefund,
    TaxCode,
    Transaction,
    TransactionSummary,
)
from aiq_pipeline.accountsiq.outcomes import (
    CHECK_CREDENTIALS,
    CUSTOMER_ABSENT_CODES,
    DUPLICATE_REFERENCE_CODES,
    OVER_ALLOCATION_CODES,
    THROTTLE_CODES,
    TRANSACTION_ABSENT_CODES,
    error_for,
    is_token_failure,
)
from aiq_pipeline.accountsiq.pacing import Pacer
from aiq_pipeline.accountsiq.records import (
    add_batch_credit_note,
    add_batch_invoice,
    add_ledger_journal,
    add_pay_and_allocate,
    add_sales_receipt,
    add_transactions_by_query,
    add_transactions_query,
    allocations_from_xml,
    bank_account_from_xml,
    company_from_xml,
    currency_from_xml,
    customer_balance_from_xml,
    entity_from_xml,
    gl_account_from_xml,
    pay_and_allocate_result_from_xml,
    period_from_xml,
    same_reference,
    summary_from_xml,
    tax_code_from_xml,
    transaction_from_xml,
)
from aiq_pipeline.accountsiq.regions import endpoint_url

log = logging.getLogger(__name__)

T = TypeVar("T")
Builder = Callable[[ET.Element], None]
# Failures raised before any byte of the request left this machine: safe to retry even for a write.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class _TokenRejected(Exception):
    """AIQ refused the access token (internal: triggers one renewal)."""


def _no_params(_: ET.Element) -> None:
    return None


def _types(types: Collection[str]) -> tuple[str, ...]:
    """The TypesFilter to send: upper-case codes, each once, in the caller's order; at least one."""
    if isinstance(types, str):
        raise TypeError("types is a collection of transaction type codes, e.g. ('SI',), not one string")
    wanted = tuple(dict.fromkeys(code.strip().upper() for code in types if code.strip()))
    if not wanted:
        raise ValueError(
            "name the transaction types to look for (e.g. 'SI', 'SN'): an unnarrowed look-up can hit the cap"
        )
    return wanted


def _taken_reference(query: PayAndAllocate, code: str | None) -> str:
    """The reference a pay-and-allocate duplicate code names: the receipt's for the receipt code, else the invoice's."""
    receipt = query.receipt.external_reference if query.receipt is not None else None
    invoice = query.invoice.external_reference if query.invoice is not None else None
    if code == "RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS":
        return receipt or invoice or ""
    return invoice or receipt or ""


def _missing_id(query: PayAndAllocate, result: PayAndAllocateResult) -> bool:
    """Success, but a document the query asked for has no id: it may exist without our knowing its id."""
    return (query.receipt is not None and result.receipt_transaction_id is None) or (
        query.invoice is not None and result.invoice_transaction_id is None
    )


def _match_answers(
    queries: Sequence[PayAndAllocate], answers: Sequence[ET.Element]
) -> list[tuple[int, tuple[PayAndAllocate, ET.Element]]]:
    """(index, (query, answer)) in input order: by echoed ClientUniqueReference when that pairs every query with
    exactly one answer, else by position."""
    keys = [query.client_unique_reference for query in queries]
    echoed = [soap.text(soap.child(answer, "Result"), "ClientUniqueReference") for answer in answers]
    if all(keys) and len(set(keys)) == len(keys) and sorted(map(str, echoed)) == sorted(map(str, keys)):
        by_key = dict(zip(echoed, answers, strict=True))
        return [(index, (query, by_key[query.client_unique_reference])) for index, query in enumerate(queries)]
    return list(enumerate(zip(queries, answers, strict=True)))


class AccountsIQClient:
    """Typed access to the Integration 2.0 operations the product uses.

    Exactly one of `region` (US1, EU1, EU2, UK1; any case) or `base_url` is expected; when both are given,
    `base_url` wins (it is how tests and the emulator point a production config elsewhere).
    """

    def __init__(
        self,
        *,
        entity_id: str,
        client_id: str,
        client_secret: str,
        region: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        for setting, value in (
            ("AIQ_ENTITY_ID", entity_id),
            ("AIQ_CLIENT_ID", client_id),
            ("AIQ_CLIENT_SECRET", client_secret),
        ):
            if not value or not value.strip():
                raise AiqConfigurationError(f"{setting} is empty; set it to the value from the AIQ developer portal")
        if max_attempts < 1:
            raise AiqConfigurationError("max_attempts must be at least 1")
        self.endpoint = endpoint_url(region=region, base_url=base_url)
        self.entity_id = entity_id.strip()
        self.client_id = client_id.strip()
        self._client_secret = client_secret
        self._access_token: str | None = None
        self._refresh_token: str | None = None
        self._secrets: set[str] = {client_secret}
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.request_count = 0
        self._sleep: Callable[[float], None] = time.sleep
        self.pacer = Pacer(first=backoff_base, ceiling=backoff_max)
        self._token_lock = threading.Lock()  # bulk calls run on several threads: one token exchange at a time
        # Large unpaged lists (chart of accounts, customers) arrive in one body: no size cap, a long read.
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )

    # --- lifecycle ------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        # Never the client secret or a token.
        return (
            f"AccountsIQClient(endpoint={self.endpoint!r}, entity_id={self.entity_id!r}, client_id={self.client_id!r})"
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- reference data -------------------------------------------------------------------------------

    def get_entities_by_token(self) -> list[Entity]:
        result = self._result(self._call("GetEntitiesByToken", _no_params, write=False), "GetEntitiesByToken")
        return [entity_from_xml(item) for item in soap.children(soap.child(result, "Result"), "WSEntity")]

    def get_company_information(self) -> CompanyInformation:
        return company_from_xml(self._single("GetCompanyInformation", "company information"))

    def get_chart_of_accounts(self) -> list[GLAccount]:
        result = self._result(self._call("GetChartOfAccounts", _no_params, write=False), "GetChartOfAccounts")
        return [gl_account_from_xml(i) for i in soap.children(soap.child(result, "Result"), "WSChartOfAccountLine")]

    def get_bank_list(self) -> list[BankAccount]:
        """GetBankList: the entity's bank accounts with their own currencies, for checking the bank account mapped
        per processor and currency (pair it with `get_chart_of_accounts`: the account must be an active Bank one)."""
        result = self._result(self._call("GetBankList", _no_params, write=False), "GetBankList")
        return [bank_account_from_xml(item) for item in soap.children(soap.child(result, "Result"), "Bank")]

    def get_currency_list(self) -> list[str]:
        """GetCurrencyList: the codes of the currencies the entity has."""
        result = self._result(self._call("GetCurrencyList", _no_params, write=False), "GetCurrencyList")
        return [soap.text_or_nil(item) or "" for item in soap.children(soap.child(result, "Result"), "string")]

    def get_currencies(self) -> list[Currency]:
        """GetCurrencies: the entity's currencies with the base one marked and AIQ's current rate of each."""
        result = self._result(self._call("GetCurrencies", _no_params, write=False), "GetCurrencies")
        return [currency_from_xml(item) for item in soap.children(soap.child(result, "Result"), "WSCurrency")]

    def get_tax_code_list(self) -> list[TaxCode]:
        result = self._result(self._call("GetTaxCodeList", _no_params, write=False), "GetTaxCodeList")
        return [tax_code_from_xml(item) for item in soap.children(soap.child(result, "Result"), "Tax")]

    get_tax_codes = get_tax_code_list

    def get_period_list(self, point_in_time: date | None = None) -> list[Period]:
        def build(op: ET.Element) -> None:
            soap.add(op, "pointInTime", point_in_time, nillable=True)  # nil: every period

        result = self._result(self._call("GetPeriodList", build, write=False), "GetPeriodList")
        return [period_from_xml(i) for i in soap.children(soap.child(result, "Result"), "WSFinancialPeriodDTO")]

    get_periods = get_period_list

    # --- customers ------------------------------------------------------------------------------------

    def get_currency_exchange_rate(self, currency_code: str) -> Decimal:
        """AIQ's current rate for `currency_code`, as AIQ states it (the meaning of its documents' ExchangeRate).

        The WSDL marks the operation "Write Permission Required", but it changes nothing, so it retries like a
        read. An unknown currency raises AiqValidationError (CURRENCY_CODE_DOES_NOT_EXIST).
        """

        def build(op: ET.Element) -> None:
            soap.add(op, "currencyCode", currency_code.strip().upper())

        response = self._call("GetCurrencyExchangeRate", build, write=False)
        value = soap.text(self._result(response, "GetCurrencyExchangeRate"), "Result")
        if value is None or not value.strip():
            raise AiqTransportError(
                f"AIQ returned no exchange rate for {currency_code}", operation="GetCurrencyExchangeRate"
            )
        return soap.to_decimal(value)

    def get_customer(self, customer_code: str) -> Customer | None:
        """The customer, or None when AIQ says this code does not exist.

        "Does not exist" is Failure with CUSTOMER_CODE_DOES_NOT_EXIST (the code the notes expect; UNVERIFIED) or
        Success with no Result. Any other Failure raises AiqLookupError: a failed look-up is not an absence.
        """

        def build(op: ET.Element) -> None:
            soap.add(op, "customerCode", customer_code)

        try:
            response = self._call("GetCustomer", build, write=False, failure=AiqLookupError)
        except AiqLookupError as exc:
            if exc.code in CUSTOMER_ABSENT_CODES:
                return None
            raise
        found = soap.child(self._result(response, "GetCustomer"), "Result")
        return None if found is None or found.get(soap.NIL_ATTR) == "true" else customer_from_xml(found)

    def get_customer_list(self) -> list[Customer]:
        """Every customer of the entity in one call (GetCustomerList; AIQ does not page master data): the list a
        batch matches Bunny accounts against (code, name, e-mail, VAT number, country, currency)."""
        result = self._result(self._call("GetCustomerList", _no_params, write=False), "GetCustomerList")
        return [customer_from_xml(item) for item in soap.children(soap.child(result, "Result"), "Customer")]

    def get_active_customer_list(self) -> list[Customer]:
        """GetActiveCustomerList: the customers whose IsActive is true, in one call."""
        operation = "GetActiveCustomerList"
        result = self._result(self._call(operation, _no_params, write=False), operation)
        return [customer_from_xml(item) for item in soap.children(soap.child(result, "Result"), "Customer")]

    def get_new_customer_from_defaults(self) -> Customer:
        return customer_from_xml(self._single("GetNewCustomerFromDefaults", "customer template"))

    def _single(self, operation: str, what: str) -> ET.Element:
        """The one `Result` record of a read without parameters; AIQ answering without it is a transport error."""
        found = soap.child(self._result(self._call(operation, _no_params, write=False), operation), "Result")
        if found is None:
            raise AiqTransportError(f"AIQ returned no {what}", operation=operation)
        return found

    def update_customer(self, customer: Customer, *, create: bool) -> bool:
        """Insert (create=True) or update a customer; returns AIQ's boolean Result.

        An update sends back the record as read (`get_customer`, or an item of `get_customer_list`) with the
        changed fields: its RowVersionNumber must be the current one. Raises AiqNotFoundError when create=False
        and the code does not exist (Status NotCreated), and AiqOutdatedRecord (an AiqValidationError, code
        OUTDATED_RECORD) when RowVersionNumber is stale (Status Conflicted): read it again and reapply.
        """
        stray = unknown_other_keys(customer)
        if stray:
            raise ValueError(f"Customer.other has elements the WSDL's Customer lacks: {sorted(stray)}")

        def build(op: ET.Element) -> None:
            add_customer(op, "customer", customer)
            soap.add(op, "create", create)

        try:
            response = self._call("UpdateCustomer", build, write=True)
        except AiqValidationError as exc:
            if exc.code in ("OUTDATED_RECORD", "CONFLICTED"):
                raise self._error(AiqOutdatedRecord, exc.message, "UpdateCustomer", code=exc.code) from None
            raise
        return soap.to_bool(soap.text(self._result(response, "UpdateCustomer"), "Result"))

    # --- batch documents ------------------------------------------------------------------------------

    def create_batch_sales_invoice_get_back_transaction_id(self, invoice: BatchSalesInvoice) -> CreatedTransaction:
        """Post one batch invoice. Raises AiqDuplicateReference when AIQ already holds its external reference,
        AiqValidationError for any other refusal, AiqWriteOutcomeUnknown when the answer was lost."""
        return self._create(
            "CreateBatchSalesInvoiceGetBackTransactionID",
            functools.partial(add_batch_invoice, name="inv", invoice=invoice),
            invoice.external_reference,
        )

    def create_batch_sales_credit_note_get_back_transaction_id(
        self, credit_note: BatchSalesCreditNote
    ) -> CreatedTransaction:
        """Post one batch credit note; errors as for `create_batch_sales_invoice_get_back_transaction_id`."""
        return self._create(
            "CreateBatchSalesCreditNoteGetBackTransactionID",
            functools.partial(add_batch_credit_note, name="creditNote", note=credit_note),
            credit_note.external_reference,
        )

    def create_batch_sales_invoice_bulk_get_back_transaction_ids(
        self, invoices: Sequence[BatchSalesInvoice]
    ) -> list[BulkItemOutcome]:
        """Post many batch invoices in one call; one outcome per invoice, in input order (see `_bulk`)."""
        return self._bulk(
            "CreateBatchSalesInvoiceBulkGetBackTransactionIDs",
            "invoices",
            [
                (invoice.external_reference, functools.partial(add_batch_invoice, invoice=invoice))
                for invoice in invoices
            ],
            "BatchSalesInvoice",
        )

    def create_batch_sales_credit_note_bulk_get_back_transaction_ids(
        self, credit_notes: Sequence[BatchSalesCreditNote]
    ) -> list[BulkItemOutcome]:
        """Post many batch credit notes in one call; one outcome per credit note, in input order (see `_bulk`)."""
        return self._bulk(
            "CreateBatchSalesCreditNoteBulkGetBackTransactionIDs",
            "creditNotes",
            [(note.external_reference, functools.partial(add_batch_credit_note, note=note)) for note in credit_notes],
            "BatchSalesCreditNote",
        )

    # --- receipts -------------------------------------------------------------------------------------

    def save_sales_receipt_get_back_transaction_id(self, receipt: SalesReceipt) -> CreatedTransaction:
        """Post one sales receipt (type SR) with SaveSalesReceiptGetBackTransactionID; returns its transaction id
        (`reference` None: this operation answers no number).

        Errors as for the batch creates: AiqDuplicateReference when AIQ refuses the reference
        (RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS; the plain save is not documented to check it, so look before
        writing), AiqValidationError for any other refusal, AiqWriteOutcomeUnknown when the answer was lost.
        """
        return self._create(
            "SaveSalesReceiptGetBackTransactionID",
            functools.partial(add_sales_receipt, name="salesReceipt", receipt=receipt),
            receipt.external_reference,
        )

    def post_sales_receipt(self, receipt: SalesReceipt) -> CreatedTransaction:
        """Post one sales receipt with AIQ's own duplicate check: PostPayAndAllocateSalesInvoice holding only the
        receipt, with PerformExternalReferenceDuplicateCheckOnReceipt. A receipt whose reference AIQ already holds
        raises AiqDuplicateReference (nothing written), also when it is this receipt sent again after an unknown
        outcome. Otherwise errors as `save_sales_receipt_get_back_transaction_id`.
        """
        only_receipt = PayAndAllocate(receipt=receipt, check_invoice_reference=False)
        created = self.post_pay_and_allocate_sales_invoice(only_receipt).receipt_transaction_id
        if created is None:  # post_pay_and_allocate_sales_invoice already refuses this; keeps the type narrow
            raise self._error(
                AiqWriteOutcomeUnknown,
                "AIQ reported success without a transaction id",
                "PostPayAndAllocateSalesInvoice",
            )
        return CreatedTransaction(transaction_id=created, reference=None)

    def post_pay_and_allocate_sales_invoice(self, query: PayAndAllocate) -> PayAndAllocateResult:
        """PostPayAndAllocateSalesInvoice: AIQ posts the query's invoice and/or receipt and allocates them, all or
        nothing. A taken reference (when the query asks AIQ to check it) raises AiqDuplicateReference naming the
        receipt's or the invoice's reference; any other refusal AiqValidationError; a lost answer, or a Success
        without an id for a document asked for, AiqWriteOutcomeUnknown.
        """
        operation = "PostPayAndAllocateSalesInvoice"
        build = functools.partial(add_pay_and_allocate, name="query", query=query)
        try:
            response = self._call(operation, build, write=True)
        except AiqValidationError as exc:
            if exc.code in DUPLICATE_REFERENCE_CODES:
                raise self._duplicate(exc.message, operation, exc.code, _taken_reference(query, exc.code)) from None
            raise
        result = pay_and_allocate_result_from_xml(soap.child(self._result(response, operation), "Result"))
        if _missing_id(query, result):
            raise self._error(AiqWriteOutcomeUnknown, "AIQ reported success without a transaction id", operation)
        return result

    def post_pay_and_allocate_sales_invoices(self, queries: Sequence[PayAndAllocate]) -> list[PayAndAllocateOutcome]:
        """PostPayAndAllocateSalesInvoices: many queries in one call, each atomic on its own; one outcome per query
        in input order.

        AIQ answers one WSResult2 per query and may shuffle them (the wiki), so answers are matched to queries by
        the echoed ClientUniqueReference when every query carries a distinct one and every answer echoes one of
        them, else by position. A call-level failure raises as for any write (throttling and token rejections are
        re-sent; a lost answer, or a count of answers other than the queries sent, raises AiqWriteOutcomeUnknown:
        look every item up before sending any again).
        """
        if not queries:
            return []
        operation = "PostPayAndAllocateSalesInvoices"
        item_name = "WSResult2OfWSPostPayAndAllocateSalesInvoiceResult"

        def build(op: ET.Element) -> None:
            array = soap.add_group(op, "queries")
            for query in queries:
                add_pay_and_allocate(array, "WSPostPayAndAllocateSalesInvoiceQuery", query)

        def has_items(result: ET.Element | None) -> bool:
            return bool(soap.children(soap.child(result, "Result"), item_name))

        response = self._call(operation, build, write=True, accept_failure=has_items)
        answers = soap.children(soap.child(self._result(response, operation), "Result"), item_name)
        if len(answers) != len(queries):
            raise self._error(
                AiqWriteOutcomeUnknown,
                f"AIQ answered {len(answers)} results for {len(queries)} queries; look each up before sending again",
                operation,
            )
        ordered = _match_answers(queries, answers)
        return [self._pay_and_allocate_outcome(index, query, answer, operation) for index, (query, answer) in ordered]

    def post_sales_receipts(self, receipts: Sequence[SalesReceipt]) -> list[BulkItemOutcome]:
        """Post many sales receipts in one call, each with AIQ's duplicate check on its reference: receipt-only
        queries of PostPayAndAllocateSalesInvoices. One outcome per receipt in input order, as the bulk creates
        give (a taken reference is that item's AiqDuplicateReference; its neighbours still post).
        """
        queries = [
            PayAndAllocate(receipt=receipt, check_invoice_reference=False, client_unique_reference=str(index))
            for index, receipt in enumerate(receipts)
        ]
        outcomes = self.post_pay_and_allocate_sales_invoices(queries)
        return [
            BulkItemOutcome(
                outcome.index,
                receipt.external_reference,
                created=CreatedTransaction(outcome.result.receipt_transaction_id, None)
                if outcome.result is not None and outcome.result.receipt_transaction_id is not None
                else None,
                error=outcome.error,
            )
            for receipt, outcome in zip(receipts, outcomes, strict=True)
        ]

    def _pay_and_allocate_outcome(
        self, index: int, query: PayAndAllocate, answer: ET.Element, operation: str
    ) -> PayAndAllocateOutcome:
        status = soap.read_status(answer)
        if not status.ok:
            error = error_for(status, operation)
            if error.code in DUPLICATE_REFERENCE_CODES:
                taken = _taken_reference(query, error.code)
                error = self._duplicate(error.message, operation, error.code, taken)
            else:
                error = self._error(type(error), error.message, operation, code=error.code)
            return PayAndAllocateOutcome(index, query.client_unique_reference, error=error)
        result = pay_and_allocate_result_from_xml(soap.child(answer, "Result"))
        if _missing_id(query, result):
            unknown = self._error(AiqWriteOutcomeUnknown, "AIQ reported success without a transaction id", operation)
            return PayAndAllocateOutcome(index, query.client_unique_reference, error=unknown)
        return PayAndAllocateOutcome(index, query.client_unique_reference, result=result)

    # --- refunds (money out) ---------------------------------------------------------------------------

    def post_sales_debit_journal_get_back_transaction_id(self, journal: SalesDebitJournal) -> CreatedTransaction:
        """Post one sales debit journal (type SD); returns its transaction id (`reference` None).

        Errors as for the batch creates: AiqDuplicateReference for JOURNAL_ENTRY_REFERENCE_ALREADY_EXISTS (when AIQ
        enforces unique references; look before writing), AiqValidationError for any other refusal,
        AiqWriteOutcomeUnknown when the answer was lost.
        """
        return self._create(
            "PostSalesDebitJournalGetBackTransactionID",
            functools.partial(add_ledger_journal, name="journal", journal=journal),
            journal.external_reference,
        )

    def post_sales_refund(self, refund: SalesRefund) -> CreatedTransaction:
        """Record money paid back to a customer out of `refund.bank_account_code`: a sales debit journal (SD) whose
        one line credits the bank account. Allocate it to the refund credit note (or the receipt) afterwards.
        Errors as `post_sales_debit_journal_get_back_transaction_id`; look it up with types ("SD",)."""
        return self.post_sales_debit_journal_get_back_transaction_id(refund.as_journal())

    # --- sales credit journals (processor fees, account credit) --------------------------------------------

    def post_sales_credit_journal_get_back_transaction_id(self, journal: SalesCreditJournal) -> CreatedTransaction:
        """Post one sales credit journal (type SC): the customer credited with the lines' total, each line's GL
        account debited; returns its transaction id (`reference` None). Look it up with types ("SC",).

        Errors as `post_sales_debit_journal_get_back_transaction_id`: AiqDuplicateReference for
        JOURNAL_ENTRY_REFERENCE_ALREADY_EXISTS (when AIQ enforces unique references; look before writing),
        AiqValidationError for any other refusal, AiqWriteOutcomeUnknown when the answer was lost.
        """
        return self._create(
            "PostSalesCreditJournalGetBackTransactionID",
            functools.partial(add_ledger_journal, name="journal", journal=journal),
            journal.external_reference,
        )

    # --- allocations ----------------------------------------------------------------------------------

    def allocate_transactions(
        self,
        transaction_id_1: int,
        transaction_id_2: int,
        *,
        amount: Decimal,
        allocation_date: date,
        reference: str | None = None,
    ) -> None:
        """Allocate `amount` between two transactions of one customer: a debit (invoice SI, refund SD) and a credit
        (credit note SN, receipt SR, credit journal SC), in either order.

        A write like any other: never re-sent once it may have reached AIQ (`AiqWriteOutcomeUnknown`); throttling
        and token rejections are re-sent. AIQ has no key for allocations: after an unknown outcome, read
        `get_allocations_by_transaction_id` (or `allocated_between`) or the outstanding amounts before allocating
        again. More than a side's outstanding amount raises AiqOverAllocation (its code says which reading AIQ
        gave); other refusals AiqValidationError (e.g. TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES,
        TRANSACTION_CANNOT_ALLOCATE_CROSS_ACCOUNT, TRANSACTION_NOT_FOUND).
        """
        operation = "AllocateTransactions"

        def build(op: ET.Element) -> None:
            soap.add(op, "transactionID_1", transaction_id_1)
            soap.add(op, "transactionID_2", transaction_id_2)
            soap.add(op, "allocationReference", reference)
            soap.add(op, "allocationAmount", amount)
            soap.add(op, "allocationDate", allocation_date)

        try:
            self._call(operation, build, write=True)
        except AiqValidationError as exc:
            if exc.code in OVER_ALLOCATION_CODES:
                raise self._error(AiqOverAllocation, exc.message, operation, code=exc.code) from None
            raise

    def get_allocations_by_transaction_id(self, transaction_id: int) -> list[Allocation]:
        """Every allocation of `transaction_id`, each naming the other transaction and the amount (positive).

        Read by id, so it is the check after an allocation's unknown outcome. Raises AiqNotFoundError
        (TRANSACTION_NOT_FOUND) for an unknown id and AiqLookupError for any other Failure.
        """
        operation = "GetAllocationsByTransactionId"

        def build(op: ET.Element) -> None:
            soap.add(op, "transactionId", str(transaction_id))  # an xs:string in the WSDL

        try:
            response = self._call(operation, build, write=False, failure=AiqLookupError)
        except AiqLookupError as exc:
            if exc.code in TRANSACTION_ABSENT_CODES:
                raise self._error(AiqNotFoundError, exc.message, operation, code=exc.code) from None
            raise
        return allocations_from_xml(transaction_id, soap.child(self._result(response, operation), "Result"))

    def allocated_between(self, transaction_id_1: int, transaction_id_2: int) -> Decimal:
        """The total allocated between two transactions (0 when none): what an unknown-outcome AllocateTransactions
        left behind. Errors as `get_allocations_by_transaction_id`."""
        allocations = self.get_allocations_by_transaction_id(transaction_id_1)
        return sum((a.amount for a in allocations if a.other_transaction_id == transaction_id_2), Decimal(0))

    # --- balances -------------------------------------------------------------------------------------

    def get_customer_balances(
        self, as_of: date, customer_codes: Collection[str] | None = None
    ) -> dict[str, CustomerBalance]:
        """GetCustomerBalanceInformation: each customer's balance as at `as_of` (transactions dated on or before
        it), in the customer's currency, positive when the customer owes; keyed by customer code.

        None (or no codes) asks for every customer. A code AIQ does not answer for is absent from the result
        (unknown customer): never read a missing key as a zero balance. A Failure raises AiqLookupError. The
        same figure can be cross-checked from the transactions: `outstanding_by_account(get_transactions_by(...,
        account_ids=[...]))`.
        """
        if isinstance(customer_codes, str):
            raise TypeError("customer_codes is a collection of customer codes, not one string")
        operation = "GetCustomerBalanceInformation"

        def build(op: ET.Element) -> None:
            soap.add(op, "edt", as_of)
            codes = soap.add_group(op, "customerCodes")
            for code in dict.fromkeys(customer_codes or ()):
                soap.add(codes, "string", code)

        response = self._call(operation, build, write=False, failure=AiqLookupError)
        result = soap.child(self._result(response, operation), "Result")
        rows = [customer_balance_from_xml(item) for item in soap.children(result, "AccountBalanceInformation")]
        return {row.account_code: row for row in rows}

    # --- read-back ------------------------------------------------------------------------------------

    # AIQ answers GetTransactionsByExternalReference with at most this many rows (protocol notes §5.3).
    lookup_row_cap = 2000

    def get_transactions_by_external_reference(
        self,
        external_reference: str,
        *,
        types: Collection[str],
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> list[TransactionSummary]:
        """The transactions of these `types` (e.g. "SI", "SN") whose external reference is this one.

        The idempotency look-up, so its answers read strictly:
        - AIQ's Success with no rows (an empty or absent `Result`, the notes' reading of "nothing matches") is the
          only "nothing there": an empty list.
        - Any Failure raises AiqLookupError, whatever the code, `*_DOES_NOT_EXIST` and `NOT_FOUND` included.
        - AIQ narrows by `TypesFilter` (the WSDL's) and by FromDate..ToDate on the transaction date (required by
          the WSDL; without them 1900..2999 is sent). AIQ may match the reference as a prefix or pattern, so only
          rows whose ExternalReference equals it are kept, compared as SQL Server compares (case and trailing
          spaces ignored). Rows are not dropped by type: AIQ's spelling of TransactionType in answers is unverified.
        - An answer of `lookup_row_cap` (2000) rows or more raises AiqLookupTruncated: the document asked for may
          be among the rows AIQ left out.
        Throttling and transport failures raise as for any read (after the client's own retries).
        """
        operation = "GetTransactionsByExternalReference"
        wanted = _types(types)
        build = functools.partial(
            add_transactions_query, reference=external_reference, from_date=from_date, to_date=to_date, types=wanted
        )
        rows = self._summaries(self._call(operation, build, write=False, failure=AiqLookupError), operation)
        if len(rows) >= self.lookup_row_cap:
            raise AiqLookupTruncated(
                f"AIQ returned {len(rows)} rows for {external_reference!r} (its cap is {self.lookup_row_cap}); "
                "the answer may be cut off, so absence cannot be told: narrow the types or dates",
                rows=len(rows),
                cap=self.lookup_row_cap,
                operation=operation,
            )
        return [row for row in rows if same_reference(row.external_reference, external_reference)]

    # GetTransactionsBy answers at most this many rows per call; page on with Skip.
    transactions_by_page_size = 10_000

    def get_transactions_by(
        self,
        from_date: date,
        to_date: date,
        types: Collection[str] | None = None,
        *,
        account_ids: Collection[int] | None = None,
    ) -> list[TransactionSummary]:
        """Every transaction dated `from_date`..`to_date` (inclusive), optionally only these types (SI, SN, SR,
        SD...) and only these accounts (AccountIDsFilter: customers' `account_id`s).

        Pages with Skip until AIQ answers a short page. A transaction seen twice (rows shifting between pages
        while AIQ is written to) is kept once. A Failure on any page raises AiqLookupError (never a short list).
        """
        operation = "GetTransactionsBy"
        wanted = _types(types) if types is not None else None
        found: dict[int, TransactionSummary] = {}
        skip = 0
        while True:
            build = functools.partial(
                add_transactions_by_query,
                from_date=from_date,
                to_date=to_date,
                skip=skip,
                types=wanted,
                account_ids=sorted(set(account_ids)) if account_ids else None,
            )
            page = self._summaries(self._call(operation, build, write=False, failure=AiqLookupError), operation)
            for summary in page:
                found.setdefault(summary.transaction_id, summary)
            if len(page) < self.transactions_by_page_size:
                break
            skip += len(page)
        return list(found.values())

    def get_transactions_by_external_references(
        self, references: Collection[str], *, types: Collection[str], from_date: date, to_date: date
    ) -> dict[str, list[TransactionSummary]]:
        """A batch's existing documents in one listing: for each reference, the transactions of these `types`
        dated `from_date`..`to_date` that carry it (an empty list: none).

        One GetTransactionsBy listing (paged by 10,000) instead of one GetTransactionsByExternalReference per
        document. The dates are the transaction dates the documents carry *in AIQ* (a document moved to the first
        open day is dated that day), so pass a range that covers them. A failed page raises AiqLookupError; there
        is no row cap to hit because the listing pages until a short page. References compare as
        `same_reference` does.
        """
        wanted = _types(types)
        by_key: dict[str, list[TransactionSummary]] = {reference.rstrip().casefold(): [] for reference in references}
        if not by_key:
            return {}
        for summary in self.get_transactions_by(from_date, to_date, types=wanted):
            bucket = by_key.get((summary.external_reference or "").rstrip().casefold())
            if bucket is not None:
                bucket.append(summary)
        return {reference: by_key[reference.rstrip().casefold()] for reference in references}

    def get_transaction(self, transaction_id: int) -> Transaction:
        """The posted transaction `transaction_id` with its GL lines: the read-back of a document whose id is known.

        Raises AiqNotFoundError (code TRANSACTION_NOT_FOUND) when AIQ has no such id, and AiqLookupError for any
        other Failure.
        """

        def build(op: ET.Element) -> None:
            soap.add(op, "transactionID", transaction_id)

        operation = "GetTransaction"
        try:
            response = self._call(operation, build, write=False, failure=AiqLookupError)
        except AiqLookupError as exc:
            if exc.code in TRANSACTION_ABSENT_CODES:
                raise self._error(AiqNotFoundError, exc.message, operation, code=exc.code) from None
            raise
        found = soap.child(self._result(response, operation), "Result")
        if found is None or found.get(soap.NIL_ATTR) == "true":
            raise self._error(AiqNotFoundError, f"no transaction {transaction_id}", operation)
        return transaction_from_xml(transaction_id, found)

    # --- machinery ------------------------------------------------------------------------------------

    @staticmethod
    def _result(response: ET.Element, operation: str) -> ET.Element | None:
        return soap.child(response, f"{operation}Result")

    @staticmethod
    def _summaries(response: ET.Element, operation: str) -> list[TransactionSummary]:
        result = soap.child(AccountsIQClient._result(response, operation), "Result")
        return [summary_from_xml(item) for item in soap.children(result, "WSTransactionSummary")]

    def _create(self, operation: str, build: Builder, reference: str) -> CreatedTransaction:
        """One create: `_created`'s result, or AiqDuplicateReference when AIQ already holds `reference`."""
        try:
            response = self._call(operation, build, write=True)
        except AiqValidationError as exc:
            if exc.code in DUPLICATE_REFERENCE_CODES:
                raise self._duplicate(exc.message, operation, exc.code, reference) from None
            raise
        return self._created(response, operation)

    def _duplicate(self, message: str, operation: str, code: str | None, reference: str) -> AiqDuplicateReference:
        return AiqDuplicateReference(self._redact(message), reference=reference, code=code, operation=operation)

    def _item_error(self, status: soap.ResultStatus, operation: str, reference: str) -> AiqError:
        """The error of one failed item of a bulk create."""
        error = error_for(status, operation)
        if error.code in DUPLICATE_REFERENCE_CODES:
            return self._duplicate(error.message, operation, error.code, reference)
        return self._error(type(error), error.message, operation, code=error.code)

    def _bulk(
        self, operation: str, wrapper: str, items: list[tuple[str, Callable[[ET.Element, str], None]]], item_name: str
    ) -> list[BulkItemOutcome]:
        """One bulk create: `items` are (external reference, builder of one record given parent and name).

        AIQ answers one WSResultStatus per item in input order and `transactionIDs` aligned with it, -1 for a failed
        item, with an overall Failure when any item failed (INFERRED from the notes §3 and §5.2; UNVERIFIED). Items
        are independent: each outcome holds the created transaction or that item's error (AiqDuplicateReference
        for a taken reference). A call-level failure raises as for any write: throttling and token rejections
        (nothing applied) are re-sent; a lost answer, or an answer whose item count differs from what was sent,
        raises AiqWriteOutcomeUnknown, and every item must then be looked up before anything is sent again.
        """
        if not items:
            return []

        def build(op: ET.Element) -> None:
            array = soap.add_group(op, wrapper)
            for _, add_item in items:
                add_item(array, item_name)

        def has_items(result: ET.Element | None) -> bool:
            return bool(soap.children(soap.child(result, "Result"), "WSResultStatus"))

        response = self._call(operation, build, write=True, accept_failure=has_items)
        statuses = soap.child(self._result(response, operation), "Result")
        answers = [] if statuses is None else statuses.findall(soap.q("WSResultStatus"))
        ids_element = soap.child(response, "transactionIDs")
        ids = [soap.to_int(i.text, -1) for i in ([] if ids_element is None else ids_element.findall(soap.q("int")))]
        if len(answers) != len(items):
            raise self._error(
                AiqWriteOutcomeUnknown,
                f"AIQ answered {len(answers)} results for {len(items)} documents; look each up before sending again",
                operation,
            )
        return [
            self._bulk_item(
                index, reference, soap.read_status(answer), ids[index] if index < len(ids) else -1, operation
            )
            for index, ((reference, _), answer) in enumerate(zip(items, answers, strict=True))
        ]

    def _bulk_item(
        self, index: int, reference: str, status: soap.ResultStatus, transaction_id: int, operation: str
    ) -> BulkItemOutcome:
        if not status.ok:
            return BulkItemOutcome(index, reference, error=self._item_error(status, operation, reference))
        if transaction_id <= 0:
            unknown = self._error(AiqWriteOutcomeUnknown, "AIQ reported success without a transaction id", operation)
            return BulkItemOutcome(index, reference, error=unknown)
        return BulkItemOutcome(
            index, reference, created=CreatedTransaction(transaction_id=transaction_id, reference=None)
        )

    def _created(self, response: ET.Element, operation: str) -> CreatedTransaction:
        transaction_id = soap.to_int(soap.text(response, "transactionID"), -1)
        if transaction_id <= 0:
            # AIQ said Success but named no transaction: the document may exist. Look before writing again.
            raise self._error(AiqWriteOutcomeUnknown, "AIQ reported success without a transaction id", operation)
        reference = soap.text(self._result(response, operation), "Result")
        return CreatedTransaction(transaction_id=transaction_id, reference=reference or None)

    def _redact(self, message: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret:
                message = message.replace(secret, "***")
        return message

    def _error(self, cls: type[AiqError], message: str, operation: str | None, *, code: str | None = None) -> AiqError:
        return cls(self._redact(message), code=code, operation=operation)

    def _call(
        self,
        operation: str,
        build: Builder,
        *,
        write: bool,
        failure: type[AiqError] = AiqValidationError,
        accept_failure: Callable[[ET.Element | None], bool] | None = None,
    ) -> ET.Element:
        """Run one operation with token renewal and the retry policy above; returns `<Op>Response`.

        `failure` is the class of an in-band business Failure (see `outcomes.error_for`).
        """

        def attempt() -> ET.Element:
            with self._token_lock:
                if self._access_token is None:
                    self._token_get()
            try:
                return self._checked(operation, build, write=write, failure=failure, accept_failure=accept_failure)
            except _TokenRejected:
                log.info("AIQ %s: access token rejected; renewing it and repeating the call once", operation)
                with self._token_lock:
                    self._renew_token()
            try:
                return self._checked(operation, build, write=write, failure=failure, accept_failure=accept_failure)
            except _TokenRejected:
                self._access_token = None
                raise self._error(
                    AiqAuthenticationError,
                    f"AIQ rejected a freshly issued access token; {CHECK_CREDENTIALS}",
                    operation,
                ) from None

        return self._retrying(write)(attempt)

    def _retrying(self, write: bool) -> Callable[[Callable[[], T]], T]:
        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, AiqThrottledError):
                return True
            if not isinstance(exc, AiqTransportError) or isinstance(exc, AiqWriteOutcomeUnknown):
                return False
            # A write is retried only when it provably never left this machine.
            return exc.retryable and (not write or not exc.request_sent)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("AIQ call failed (%s); attempt %d of %d", exc, state.attempt_number, self.max_attempts)

        def run(fn: Callable[[], T]) -> T:
            return tenacity.Retrying(
                stop=tenacity.stop_after_attempt(self.max_attempts),
                wait=tenacity.wait_exponential(multiplier=self.backoff_base, max=self.backoff_max),
                retry=tenacity.retry_if_exception(retryable),
                reraise=True,
                sleep=self._sleep,
                before_sleep=before_sleep,
            )(fn)

        return run

    def _checked(
        self,
        operation: str,
        build: Builder,
        *,
        write: bool,
        failure: type[AiqError],
        accept_failure: Callable[[ET.Element | None], bool] | None,
    ) -> ET.Element:
        """One authenticated exchange; raises the mapped error unless the result is Success/Created."""
        self.pacer.wait()
        response = self._exchange(operation, build, header=True, write=write)
        result = soap.child(response, f"{operation}Result")
        status = soap.read_status(result)
        if status.code not in THROTTLE_CODES:
            self.pacer.answered()
        if status.ok:
            if status.has_expired:
                self._access_token = None  # answered, but renew before the next call
            return response
        if is_token_failure(status):
            raise _TokenRejected
        error = error_for(status, operation, failure=failure)
        if isinstance(error, AiqThrottledError):
            self.pacer.throttled()
        # Bulk calls report per-item failures under an overall Failure: hand those back to the caller.
        call_level = isinstance(error, (AiqThrottledError, AiqAuthenticationError))
        if accept_failure is not None and not call_level and accept_failure(result):
            return response
        raise self._error(type(error), error.message, operation, code=error.code)

    def _exchange(self, operation: str, build: Builder, *, header: bool, write: bool) -> ET.Element:
        """POST one envelope and return the `<Op>Response` element (transport failures mapped)."""
        access = self._access_token or ""
        envelope, op = soap.build_request(operation, header=(self.entity_id, access) if header else None)
        build(op)
        body = soap.serialize(envelope)
        self.request_count += 1
        try:
            response = self._http.post(
                self.endpoint, content=body, headers={"SOAPAction": f"{soap.SOAP_ACTION_PREFIX}{operation}"}
            )
        except _NOT_SENT as exc:
            raise AiqTransportError(
                self._redact(f"could not connect to {self.endpoint}: {exc}"), operation=operation, request_sent=False
            ) from None
        except httpx.HTTPError as exc:
            what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if write:
                raise self._unknown(operation, what) from None
            raise self._error(AiqTransportError, f"no answer from AIQ ({what})", operation) from None
        log.debug("AIQ %s -> HTTP %d (%d bytes)", operation, response.status_code, len(response.content))
        if response.status_code != 200:
            detail = f"HTTP {response.status_code}"
            fault = self._fault_of(response.content, operation)
            if fault:
                detail = f"{detail}, {fault}"
            if write and response.status_code >= 500:
                raise self._unknown(operation, detail)
            error = self._error(AiqTransportError, f"AIQ answered {detail}", operation)
            error.retryable = response.status_code >= 500 or response.status_code in (408, 429)
            raise error
        try:
            return soap.parse_response(response.content, operation)
        except AiqTransportError as exc:
            if write:
                raise self._unknown(operation, exc.message) from None
            raise self._error(AiqTransportError, exc.message, operation) from None

    def _fault_of(self, content: bytes, operation: str) -> str | None:
        try:
            soap.parse_response(content, operation)
        except AiqTransportError as exc:
            return exc.message if exc.message.startswith("SOAP fault") else None
        return None

    def _unknown(self, operation: str, what: str) -> AiqError:
        return self._error(
            AiqWriteOutcomeUnknown,
            f"the write may or may not have been applied ({what}); look it up by external reference before "
            "writing again",
            operation,
        )

    # --- tokens ---------------------------------------------------------------------------------------

    def _token_exchange(self, operation: str, params: dict[str, str]) -> tuple[soap.ResultStatus, ET.Element | None]:
        def build(op: ET.Element) -> None:
            for name, value in params.items():
                soap.add(op, name, value)

        response = self._exchange(operation, build, header=False, write=False)
        result = soap.child(response, f"{operation}Result")
        raw = soap.read_status(result)
        # WSResult3: Status/ErrorCode are free strings, and there is no HasExpired.
        status = soap.ResultStatus(
            status=raw.status.capitalize(), code=raw.code, message=raw.message, has_expired=False
        )
        return status, soap.child(result, "Result")

    def _store_tokens(self, tokens: ET.Element | None, operation: str) -> bool:
        access = soap.text(tokens, "AccessToken")
        if not access:
            return False
        self._access_token = access
        self._refresh_token = soap.text(tokens, "RefreshToken") or None
        self._secrets.update(t for t in (self._access_token, self._refresh_token) if t)
        log.info("AIQ %s: new access token issued", operation)
        return True

    def _token_get(self) -> None:
        status, tokens = self._token_exchange(
            "TokenGet", {"clientId": self.client_id, "clientSecret": self._client_secret}
        )
        if status.ok and self._store_tokens(tokens, "TokenGet"):
            return
        if status.code in THROTTLE_CODES:
            raise self._error(AiqThrottledError, status.message or "too many calls", "TokenGet", code=status.code)
        raise self._error(
            AiqAuthenticationError,
            f"AIQ refused the client credentials ({status.message or status.status}); {CHECK_CREDENTIALS}",
            "TokenGet",
            code=status.code,
        )

    def _renew_token(self) -> None:
        self._access_token = None
        if self._refresh_token:
            status, tokens = self._token_exchange(
                "TokenRefresh",
                {"clientId": self.client_id, "clientSecret": self._client_secret, "refreshToken": self._refresh_token},
            )
            if status.ok and self._store_tokens(tokens, "TokenRefresh"):
                return
            if status.code in THROTTLE_CODES:
                raise self._error(
                    AiqThrottledError, status.message or "too many calls", "TokenRefresh", code=status.code
                )
            log.info("AIQ TokenRefresh refused (%s); requesting a new token pair", status.code or status.status)
            self._refresh_token = None
        self._token_get()
