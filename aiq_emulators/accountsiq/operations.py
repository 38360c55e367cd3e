"""Operation handlers: AIQ's business rules applied to decoded requests.

Each handler takes the decoded request parameters and returns the value of the `<Op>Response` element (a dict
keyed by the WSDL's element names, encoded by `soap.py`). A rule that fails raises `AiqFailure`; the first
failing rule wins and becomes an in-band `Status=Failure` answer with a real `VisorExceptionCodes` value
(`-1` in an int out-parameter such as `transactionID`).

Conventions the emulator chose where the vendor is silent (see protocol-notes.md "INFERRED"):
- Batch documents post straight to transactions: type `SI` (invoice) / `SN` (credit note),
  `IsBatchInvoiceOrNote=true`. Lines: one Net line per document line to its GL, one Vat line per document line to
  the entity's sales VAT account, one Control line to the debtors control account. Debits are positive: an
  invoice's control line is +gross and its net/VAT lines are negative; a credit note is the mirror image.
- `TaxAmount` nil -> round(NetAmount x TaxRate, 2) half-up; otherwise the amount as given.
- Base-currency amounts: amount x ExchangeRate (option `exchange_rate_direction="divide"` flips it), each line
  rounded to cents, the control line balancing the others.
- An inactive GL account is treated as not posting (`GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST`).
- Tokens: an unknown or missing token -> `OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID`, an expired one ->
  `OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED`; both with `HasExpired=true` so a client renews.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from aiq_emulators.accountsiq.contract import service_schema
from aiq_emulators.accountsiq.state import (
    CustomerRecord,
    EmulatorState,
    EntityData,
    LineRecord,
    TransactionRecord,
    digest,
)

CENT = Decimal("0.01")
MAX_CODE = 50
MAX_DESCRIPTION = 500
MAX_LOOKUP_ROWS = 2000
MAX_TRANSACTIONS_BY_ROWS = 10_000  # GetTransactionsBy's page (protocol-notes §5.3)


class Code(StrEnum):
    """Every ErrorCode the emulator emits; a test checks each exists in the WSDL's VisorExceptionCodes."""

    SUCCESS = "SUCCESS"
    NO_ENTITY = "OAUTH_INTEGRATION_APPS_NO_ENTITY_PROVIDED_IN_HEADER"
    ENTITY_NOT_FOUND = "API_LAYER_ENTITY_ID_NOT_FOUND"
    TOKEN_EXPIRED = "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED"
    TOKEN_INVALID = "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID"
    REFRESH_TOKEN_EXPIRED = "OAUTH_INTEGRATION_APPS_REFRESH_TOKEN_EXPIRED"
    TOO_MANY_CALLS = "OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS"
    CLIENT_ID_EMPTY = "OAUTH_INTEGRATION_APPS_CLIENTID_IS_NULL_OR_EMPTY"
    CLIENT_SECRET_EMPTY = "OAUTH_INTEGRATION_APPS_CLIENTSECRET_IS_NULL_OR_EMPTY"
    APP_NOT_FOUND = "OAUTH_INTEGRATION_APPS_APP_NOT_FOUND"
    ACCOUNT_CODE_NULL = "ACCOUNT_CODE_IS_NULL"
    ACCOUNT_CODE_EMPTY = "ACCOUNT_CODE_IS_EMPTY"
    ACCOUNT_CODE_TOO_LONG = "ACCOUNT_CODE_IS_TOO_LONG"
    ACCOUNT_CODE_NOT_UPPER = "ACCOUNT_CODE_MUST_BE_UPPER_CASE"
    ACCOUNT_CODE_UNKNOWN = "ACCOUNT_CODE_DOES_NOT_EXISTS"
    ACCOUNT_NAME_NULL = "ACCOUNT_NAME_IS_NULL"
    ACCOUNT_NAME_EMPTY = "ACCOUNT_NAME_IS_EMPTY"
    ACCOUNT_NAME_TOO_LONG = "ACCOUNT_NAME_IS_TOO_LONG"
    CUSTOMER_UNKNOWN = "CUSTOMER_CODE_DOES_NOT_EXIST"
    CURRENCY_UNKNOWN = "CURRENCY_CODE_DOES_NOT_EXIST"
    CURRENCY_NOT_UPPER = "CURRENCY_CODE_IS_NOT_UPPERCASE"
    CURRENCY_IN_USE = "CANNOT_MODIFY_CURRENCY_CODE_ACCOUNT_IS_IN_USE"
    CURRENCY_NULL = "CURRENCY_CODE_IS_NULL"
    CURRENCY_EMPTY = "CURRENCY_CODE_IS_EMPTY"
    CURRENCY_NO_RATE = "CURRENCYHISTORY_EXCHANGE_RATE_IS_INVALID"
    OUTDATED_RECORD = "OUTDATED_RECORD"
    GL_EMPTY = "GLACCOUNT_CODE_IS_EMPTY"
    GL_TOO_LONG = "GLACCOUNT_CODE_IS_TOO_LONG"
    GL_NOT_UPPER = "GLACCOUNT_CODE_IS_NOT_UPPERCASE"
    GL_UNKNOWN = "GLACCOUNT_CODE_DOES_NOT_EXIST"
    GL_NOT_POSTING = "GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST"
    GL_DEPARTMENTAL = "GLACCOUNT_NO_DEPARTMENT_IS_DEPARTMENTAL"
    DEPARTMENT_EMPTY = "DEPARTMENT_ID_IS_EMPTY"
    DEPARTMENT_TOO_LONG = "DEPARTMENT_ID_IS_TOO_LONG"
    TAX_NULL = "TAX_CODE_IS_NULL"
    TAX_EMPTY = "TAX_CODE_IS_EMPTY"
    TAX_TOO_LONG = "TAX_CODE_IS_TOO_LONG"
    TAX_NOT_UPPER = "TAX_CODE_IS_NOT_UPPERCASE"
    TAX_UNKNOWN = "TAX_CODE_DOES_NOT_EXIST"
    TAX_RATE_NEGATIVE = "TAX_RATE_IS_NEGATIVE"
    TAX_RATE_OVER_100 = "TAX_RATE_IS_MORE_THAN_100_PERCENT"
    INVOICE_NO_LINES = "BATCH_INVOICE_WITH_NO_INVOICE_LINES"
    CREDIT_NOTE_NO_LINES = "BATCH_CREDIT_NOTE_WITH_NO_LINES"
    LINE_NO_GL = "BATCH_INVOICE_LINE_MISSING_GL_ACCOUNT"
    LINE_NO_DESCRIPTION = "BATCH_INVOICE_LINE_MISSING_DESCRIPTION"
    LINE_DESCRIPTION_TOO_LONG = "TRANSACTION_LINE_DESCRIPTION_IS_TOO_LONG"
    INVOICE_NEGATIVE = "BATCH_INVOICE_TOTAL_GROSS_AMT_NEGATIVE"
    CREDIT_NOTE_NEGATIVE = "BATCH_CREDIT_NOTE_TOTAL_GROSS_AMT_NEGATIVE"
    EXCHANGE_RATE = "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"
    REF_NULL = "INVOICE_EXTERNAL_REFERENCE_IS_NULL"
    REF_EMPTY = "INVOICE_EXTERNAL_REFERENCE_IS_EMPTY"
    REF_TOO_LONG = "INVOICE_EXTERNAL_REFERENCE_IS_TOO_LONG"
    REF_EXISTS = "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS"
    DESCRIPTION_TOO_LONG = "TRANSACTION_LINE_DESCRIPTION_IS_TOO_LONG"
    DATE_OUT_OF_RANGE = "DATE_IS_OUT_OF_RANGE"
    QUERY_NO_REFERENCE = "INVALID_QUERY_MISSING_EXTERNAL_REFERENCE"
    TRANSACTION_NOT_FOUND = "TRANSACTION_NOT_FOUND"
    ALLOCATION_NOT_POSITIVE = "TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO"
    ALLOCATION_CROSS_ACCOUNT = "TRANSACTION_CANNOT_ALLOCATE_CROSS_ACCOUNT"
    ALLOCATION_TYPES = "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"
    ALLOCATION_TOO_MUCH = "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT"
    ALLOCATION_FULLY_ALLOCATED = "TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION"
    RECEIPT_NULL = "INVALID_STATE_ENTITY_OR_SALES_RECEIPT_IS_NULL"
    CHECK_REF_NULL = "CHECK_REFERENCE_IS_NULL"
    CHECK_REF_EMPTY = "CHECK_REFERENCE_IS_EMPTY"
    CHECK_REF_TOO_LONG = "CHECK_REFERENCE_IS_TOO_LONG"
    RECEIPT_REF_EXISTS = "RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS"
    PAYMENT_ZERO = "PAYMENT_AMOUNT_CANNOT_BE_ZERO"
    PAYMENT_NEGATIVE = "PAYMENT_AMOUNT_CANNOT_BE_NEGATIVE"
    BANK_UNKNOWN = "BANK_ACCOUNT_DOES_NOT_EXIST"
    LODGMENT_TOO_LONG = "LODGMENT_NUMBER_IS_TOO_LONG"
    PAY_ALLOCATE_NOTHING = "MISSING_QUERY_PARAMETER_INVOICE_AND_OR_RECEIPT"
    PAY_ALLOCATE_NEEDS_BOTH = "MISSING_QUERY_PARAMETER_CANNOT_ALLOCATE_WITHOUT_BOTH_INVOICE_AND_RECEIPT"
    PAY_ALLOCATE_DETAILS = "ALLOCATION_DETAILS_PRESENT_BUT_ALLOCATION_NOT_REQUESTED"
    JOURNAL_NULL = "INVALID_STATE_ENTITY_OR_JOURNAL_IS_NULL"
    JOURNAL_NO_REFERENCE = "JOURNAL_ENTRY_MUST_HAVE_A_REFERENCE"
    JOURNAL_EMPTY_REFERENCE = "JOURNAL_ENTRY_CANNOT_HAVE_AN_EMPTY_REFERENCE"
    JOURNAL_REFERENCE_TOO_LONG = "JOURNAL_ENTRY_REFERENCE_IS_TOO_LONG"
    JOURNAL_REFERENCE_EXISTS = "JOURNAL_ENTRY_REFERENCE_ALREADY_EXISTS"
    JOURNAL_NO_ROWS = "JOURNAL_ENTRY_LINES_MUST_HAVE_ROWS"
    JOURNAL_NEGATIVE = "JOURNAL_ENTRY_CANNOT_HAVE_NEGATIVE_AMOUNTS"
    JOURNAL_CONTROL_ACCOUNT = "JOURNAL_ENTRY_CANNOT_POST_TO_CONTROL_ACCOUNT"
    JOURNAL_FOREIGN_BANK = "JOURNAL_ENTRY_CANNOT_POST_TO_FOREIGN_BANK_ACCOUNT"
    JOURNAL_LINE_DESCRIPTION_TOO_LONG = "JOURNAL_ENTRY_LINE_DESCRIPTION_IS_TOO_LONG"


class AiqFailure(Exception):
    """An in-band AIQ failure: `Status`, `ErrorCode` and a human message (never holding a secret)."""

    def __init__(self, code: str, message: str, status: str = "Failure", has_expired: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = message
        self.status = status
        self.has_expired = has_expired


# Operations that change state: "commit then drop the connection" faults apply to these only.
WRITE_OPERATIONS = frozenset(
    {
        "UpdateCustomer",
        "CreateBatchSalesInvoice",
        "CreateBatchSalesInvoiceGetBackTransactionID",
        "CreateBatchSalesInvoiceBulkGetBackTransactionIDs",
        "CreateBatchSalesCreditNoteGetBackTransactionID",
        "CreateBatchSalesCreditNoteBulkGetBackTransactionIDs",
        "AllocateTransactions",
        "SaveSalesReceipt",
        "SaveSalesReceiptGetBackTransactionID",
        "PostPayAndAllocateSalesInvoice",
        "PostPayAndAllocateSalesInvoices",
        "PostSalesDebitJournalGetBackTransactionID",
        "PostSalesCreditJournalGetBackTransactionID",
    }
)
UNAUTHENTICATED_OPERATIONS = frozenset({"TokenGet", "TokenRefresh"})


@dataclass
class Call:
    state: EmulatorState
    client_id: str | None
    entity: EntityData | None
    now: datetime

    @property
    def ledger(self) -> EntityData:
        assert self.entity is not None  # authenticate() guarantees an entity for entity-bound operations
        return self.entity


Handler = Callable[[Call, dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def _operation(func: Handler) -> Handler:
    HANDLERS[func.__name__] = func
    return func


def success(value: Any = None, status: str = "Success") -> dict[str, Any]:
    return {"Status": status, "ErrorCode": Code.SUCCESS, "HasExpired": False, "Result": value}


# ---------------------------------------------------------------- failures and authentication


def failure_response(operation: str, failure: AiqFailure) -> dict[str, Any]:
    """The response value for a failed call, shaped by the operation's response type."""
    response_type: Any = service_schema().elements[f"{operation}Response"].type  # always complex
    children = list(response_type.content.iter_elements())
    result_el = children[0]
    result: dict[str, Any] = {"Status": failure.status, "ErrorCode": failure.code, "ErrorMessage": failure.message}
    if "HasExpired" in {c.local_name for c in result_el.type.content.iter_elements()}:
        result["HasExpired"] = failure.has_expired
    value: dict[str, Any] = {result_el.local_name: result}
    for out_param in children[1:]:
        if out_param.type.is_simple():
            value[out_param.local_name] = -1  # int out-params: -1 on failure, as AIQ answers
    return value


def authenticate(state: EmulatorState, operation: str, header: dict[str, Any] | None) -> Call:
    now = state.now()
    if operation in UNAUTHENTICATED_OPERATIONS:
        return Call(state, None, None, now)
    header = header or {}
    token = header.get("AccessToken") or ""
    with state.lock:
        record = state.data.access_tokens.get(digest(token)) if token else None
        if record is None:
            raise AiqFailure(Code.TOKEN_INVALID, "The access token is invalid.", has_expired=True)
        if record.expires_at <= now:
            raise AiqFailure(Code.TOKEN_EXPIRED, "The access token has expired.", has_expired=True)
        client = state.data.clients.get(record.client_id)
        if client is None:
            raise AiqFailure(Code.TOKEN_INVALID, "The access token is invalid.", has_expired=True)
        entity_id = header.get("Entity")
        if operation == "GetEntitiesByToken":
            return Call(state, client.client_id, None, now)
        if not entity_id:
            raise AiqFailure(Code.NO_ENTITY, "No entity was provided in the AiqSoapHeader.")
        if entity_id not in client.entities or entity_id not in state.data.entities:
            raise AiqFailure(Code.ENTITY_NOT_FOUND, f"Entity {entity_id} was not found for this application.")
        return Call(state, client.client_id, state.data.entities[entity_id], now)


# ---------------------------------------------------------------- auth operations


def _token_result(access: str, refresh: str) -> dict[str, Any]:
    return {
        "Result": {"AccessToken": access, "RefreshToken": refresh},
        "Status": "Success",
        "ErrorCode": Code.SUCCESS,
    }


def _check_client(call: Call, params: dict[str, Any]) -> str:
    client_id, secret = params.get("clientId") or "", params.get("clientSecret") or ""
    if not client_id:
        raise AiqFailure(Code.CLIENT_ID_EMPTY, "clientId is null or empty.")
    if not secret:
        raise AiqFailure(Code.CLIENT_SECRET_EMPTY, "clientSecret is null or empty.")
    client = call.state.data.clients.get(client_id)
    if client is None or client.secret_sha256 != digest(secret):
        raise AiqFailure(Code.APP_NOT_FOUND, "No integration application matches these credentials.")
    return client_id


@_operation
def TokenGet(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    client_id = _check_client(call, params)
    return {"TokenGetResult": _token_result(*call.state.issue_tokens(client_id))}


@_operation
def TokenRefresh(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    client_id = _check_client(call, params)
    key = digest(params.get("refreshToken") or "")
    with call.state.writing() as data:
        record = data.refresh_tokens.get(key)
        if record is None or record.client_id != client_id:
            raise AiqFailure(Code.TOKEN_INVALID, "The refresh token is invalid.")
        del data.refresh_tokens[key]  # rotation: a refresh token works once
        if record.expires_at <= call.now:
            raise AiqFailure(Code.REFRESH_TOKEN_EXPIRED, "The refresh token has expired.")
        tokens = call.state.issue_tokens(client_id)
    return {"TokenRefreshResult": _token_result(*tokens)}


@_operation
def GetEntitiesByToken(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    client = call.state.data.clients[call.client_id or ""]
    entities = [call.state.data.entities[e] for e in client.entities if e in call.state.data.entities]
    items = [{"EntityID": e.entity_id, "EntityName": e.name, "BaseCurrency": e.base_currency} for e in entities]
    return {"GetEntitiesByTokenResult": success({"WSEntity": items})}


# ---------------------------------------------------------------- reference data


@_operation
def GetCompanyInformation(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    e = call.ledger
    info = {
        "CompanyName": e.name,
        "LocaleName": "en-IE",
        "BaseCurrencyCode": e.base_currency,
        "AutoNumberingSettings": {},
        "PrecisionSettings": {"PricePrecisionDecimals": 2, "QuantityPrecisionDecimals": 2},
        "IsConsolidationCompany": False,
    }
    return {"GetCompanyInformationResult": success(info)}


def _spelled(account_type: str, spelling: str) -> str:
    """AccountType as the `account_type_spelling` option spells it (UNVERIFIED: AIQ's own strings are unknown)."""
    if spelling == "upper":
        return account_type.upper()
    if spelling == "letter":
        return account_type[0]
    return account_type


def bank_codes(entity: EntityData) -> list[str]:
    """The entity's Bank-type GL accounts, by code (a bank's BankID is its place in this list, from 1)."""
    return sorted(code for code, gl in entity.gl_accounts.items() if gl.account_type == "Bank")


def bank_id(entity: EntityData, code: str) -> int:
    codes = bank_codes(entity)
    return codes.index(code) + 1 if code in codes else 0


@_operation
def GetChartOfAccounts(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    lines = [
        {
            "Code": gl.code,
            "Description": gl.description,
            "AccountType": _spelled(gl.account_type, call.state.options.account_type_spelling),
            "IsDepartmental": gl.is_departmental,
            "IsActive": gl.is_active,
            "CurrencyCode": (gl.currency_code if call.state.options.chart_bank_currency == "bank" else None)
            or call.ledger.base_currency,
        }
        for gl in call.ledger.gl_accounts.values()
    ]
    return {"GetChartOfAccountsResult": success({"WSChartOfAccountLine": lines})}


@_operation
def GetTaxCodeList(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    taxes = [
        {
            "ID": tax.code,
            "Code": tax.code,
            "Description": tax.description,
            "Rate": tax.rate if call.state.options.tax_rate_unit == "percent" else tax.rate / 100,
            "IsDefault": tax.is_default,
            "IsStandardRate": tax.is_default,
            "GrossThreshold": None,
            "NetThreshold": None,
            "TaxTypeId": None,
            "CreditGlAccno": call.ledger.sales_vat_gl,
        }
        for tax in call.ledger.tax_codes.values()
    ]
    return {"GetTaxCodeListResult": success({"Tax": taxes})}


RATE_PLACES = Decimal("0.000001")
# GetCurrencies' Symbol and Description for the currencies the fixtures use (others: the code itself).
CURRENCY_NAMES = {"EUR": ("€", "Euro"), "GBP": ("£", "Pound sterling"), "USD": ("$", "US dollar")}


def _current_rate(call: Call, code: str) -> Decimal | None:
    """The rate GetCurrencyExchangeRate answers for `code` (None: the currency has no rate)."""
    entity = call.ledger
    if code == entity.base_currency:
        return Decimal(1)
    rate = entity.exchange_rates.get(code)
    if rate is None or rate <= 0:
        return None
    if call.state.options.exchange_rate_direction == "divide":
        rate = (Decimal(1) / rate).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    return rate


@_operation
def GetCurrencyList(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """The entity's currency codes, base currency first."""
    entity = call.ledger
    codes = [entity.base_currency, *(c for c in entity.currencies if c != entity.base_currency)]
    return {"GetCurrencyListResult": success({"string": codes})}


@_operation
def GetCurrencies(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """WSCurrency per currency: ExchangeRate as GetCurrencyExchangeRate answers it, 0 for a currency without a rate
    (an emulator choice); LastModifiedDate the emulator's clock."""
    entity = call.ledger
    codes = [entity.base_currency, *(c for c in entity.currencies if c != entity.base_currency)]
    items = []
    for number, code in enumerate(codes, start=1):
        symbol, description = CURRENCY_NAMES.get(code, (code, code))
        items.append(
            {
                "CurrencyID": number,
                "CurrencyCode": code,
                "IsBaseCurrency": code == entity.base_currency,
                "ExchangeRate": _current_rate(call, code) or Decimal(0),
                "Symbol": symbol,
                "Units": "1",
                "LastModifiedDate": call.now,
                "Description": description,
            }
        )
    return {"GetCurrenciesResult": success({"WSCurrency": items})}


@_operation
def GetBankList(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """A Bank per Bank-type GL account: BankID its place in code order, Code and BankAccountCode both the GL code
    (UNVERIFIED which of the two a receipt's BankAccountCode means), CurrencyCode the bank's own currency."""
    entity = call.ledger
    banks = [
        {
            "GroupOnlinePaymentDuringReconciliation": False,
            "BankID": bank_id(entity, code),
            "Code": code,
            "BankAccountCode": code,
            "Name": entity.gl_accounts[code].description,
            "CurrencyCode": entity.gl_accounts[code].currency_code or entity.base_currency,
            "OverdraftLimit": Decimal(0),
            "OnlineBankType": "None",
        }
        for code in bank_codes(entity)
    ]
    return {"GetBankListResult": success({"Bank": banks})}


@_operation
def GetCurrencyExchangeRate(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """The entity's current rate for a currency, in the same sense as the documents' ExchangeRate.

    With the default `multiply` direction that is base units per 1 unit of the currency (as stored in the
    fixture); with `divide` it is the inverse, so a document sent with AIQ's own rate converts the same either way.
    The base currency answers 1.
    """
    code = params.get("currencyCode")
    if code is None:
        raise AiqFailure(Code.CURRENCY_NULL, "The currency code is null.")
    if not code.strip():
        raise AiqFailure(Code.CURRENCY_EMPTY, "The currency code is empty.")
    if code != code.upper():
        raise AiqFailure(Code.CURRENCY_NOT_UPPER, f"Currency code {code} must be upper case.")
    if code not in call.ledger.currencies:
        raise AiqFailure(Code.CURRENCY_UNKNOWN, f"Currency {code} does not exist in this entity.")
    rate = _current_rate(call, code)
    if rate is None:
        raise AiqFailure(Code.CURRENCY_NO_RATE, f"No exchange rate is set for currency {code}.")
    return {"GetCurrencyExchangeRateResult": success(rate)}


@_operation
def GetPeriodList(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """With `pointInTime` the periods of the financial year containing it; without, every period (option
    `period_list_without_date="all_years"`) or the current financial year's (`"current_year"`)."""
    periods = call.ledger.periods
    point = params.get("pointInTime")
    if point is None and call.state.options.period_list_without_date == "current_year":
        point = call.now
    if point is not None:
        current = call.ledger.period_for(point)
        periods = [p for p in periods if current is not None and p.year == current.year]
    items = []
    for p in periods:
        fields = {
            "PeriodID": p.period_id,
            "PeriodNumber": p.number,
            "PeriodName": p.name,
            "FinancialYear": p.year,
            "StartDate": datetime.combine(p.start, datetime.min.time()),
            "EndDate": datetime.combine(p.end, datetime.min.time()),
            "SalesLedgerClosed": p.sales_closed,
            "PurchasesLedgerClosed": p.sales_closed,
            "GeneralLedgerClosed": False,
            "FinancialYearClosed": False,
        }
        items.append(fields | {f"_{k}": v for k, v in fields.items()})
    return {"GetPeriodListResult": success({"WSFinancialPeriodDTO": items})}


# ---------------------------------------------------------------- customers


def _check_account_code(code: str | None) -> str:
    if code is None:
        raise AiqFailure(Code.ACCOUNT_CODE_NULL, "The account code is null.")
    if not code:
        raise AiqFailure(Code.ACCOUNT_CODE_EMPTY, "The account code is empty.")
    if len(code) > MAX_CODE:
        raise AiqFailure(Code.ACCOUNT_CODE_TOO_LONG, f"The account code is longer than {MAX_CODE} characters.")
    if code != code.upper():
        raise AiqFailure(Code.ACCOUNT_CODE_NOT_UPPER, f"The account code {code} must be upper case.")
    return code


@_operation
def GetCustomer(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    code = params.get("customerCode") or ""
    customer = call.ledger.customers.get(code)
    if customer is None:
        raise AiqFailure(Code.CUSTOMER_UNKNOWN, f"Customer {code} does not exist.")
    return {"GetCustomerResult": success(customer.wire())}


@_operation
def GetCustomerList(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    customers = [c.wire() for _, c in sorted(call.ledger.customers.items())]
    return {"GetCustomerListResult": success({"Customer": customers})}


@_operation
def GetActiveCustomerList(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """GetCustomerList without the customers whose IsActive is false."""
    customers = [c.wire() for _, c in sorted(call.ledger.customers.items()) if c.IsActive]
    return {"GetActiveCustomerListResult": success({"Customer": customers})}


def _defaults(entity: EntityData) -> dict[str, Any]:
    default_tax = next((t.code for t in entity.tax_codes.values() if t.is_default), None)
    return {
        "AccountID": 0,
        "LedgerType": "Sales",
        "CurrencyCode": entity.base_currency,
        "DefaultTaxCode": default_tax,
        "ControlGLAccountCode": entity.debtors_control_gl,
        "IsActive": True,
    }


@_operation
def GetNewCustomerFromDefaults(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"GetNewCustomerFromDefaultsResult": success(_defaults(call.ledger))}


@_operation
def UpdateCustomer(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """create=true: insert or update; create=false: update only. Updates must echo the RowVersionNumber."""
    sent: dict[str, Any] = params.get("customer") or {}
    create = bool(params.get("create"))
    code = _check_account_code(sent.get("Code"))
    name = sent.get("Name")
    if name is None:
        raise AiqFailure(Code.ACCOUNT_NAME_NULL, "The account name is null.")
    if not name.strip():
        raise AiqFailure(Code.ACCOUNT_NAME_EMPTY, "The account name is empty.")
    if len(name) > 100:
        raise AiqFailure(Code.ACCOUNT_NAME_TOO_LONG, "The account name is longer than 100 characters.")
    with call.state.writing():
        entity = call.ledger
        currency = sent.get("CurrencyCode") or entity.base_currency
        if currency != currency.upper():
            raise AiqFailure(Code.CURRENCY_NOT_UPPER, f"Currency code {currency} must be upper case.")
        if currency not in entity.currencies:
            raise AiqFailure(Code.CURRENCY_UNKNOWN, f"Currency {currency} does not exist in this entity.")
        existing = entity.customers.get(code)
        if existing is None and not create:
            return {
                "UpdateCustomerResult": {
                    "Status": "NotCreated",
                    "ErrorCode": Code.ACCOUNT_CODE_UNKNOWN,
                    "ErrorMessage": f"Customer {code} does not exist and create is false.",
                    "HasExpired": False,
                    "Result": False,
                }
            }
        if existing is not None:
            if sent.get("RowVersionNumber") != existing.RowVersionNumber:
                return {
                    "UpdateCustomerResult": {
                        "Status": "Conflicted",
                        "ErrorCode": Code.OUTDATED_RECORD,
                        "ErrorMessage": f"Customer {code} was changed since it was read.",
                        "HasExpired": False,
                        "Result": False,
                    }
                }
            if currency != existing.currency_code and entity.customer_has_transactions(code):
                raise AiqFailure(Code.CURRENCY_IN_USE, f"Customer {code} has transactions; its currency is fixed.")
        server_owned = {"AccountID", "CreationDate", "RowVersionNumber"}
        fields = {k: v for k, v in (_defaults(entity) | sent).items() if k not in server_owned}
        record = CustomerRecord(
            **fields,
            AccountID=existing.AccountID if existing else entity.take_id(),
            CreationDate=existing.CreationDate if existing else call.now,
            RowVersionNumber=entity.take_row_version(),
        )
        record.__pydantic_extra__["CurrencyCode"] = currency  # type: ignore[index]
        entity.customers[code] = record
    return {"UpdateCustomerResult": success(True, status="Success" if existing else "Created")}


# ---------------------------------------------------------------- batch documents


@dataclass(frozen=True)
class _Kind:
    type_code: str
    transaction_type: str
    no_lines: Code
    negative: Code
    date_field: str
    line_element: str
    sign: int  # +1: the control (debtors) line is a debit


INVOICE = _Kind("SI", "SalesBatchInvoice", Code.INVOICE_NO_LINES, Code.INVOICE_NEGATIVE, "InvoiceDate",
                "BatchSalesInvoiceLine", +1)  # fmt: skip
CREDIT_NOTE = _Kind("SN", "SalesBatchCreditNote", Code.CREDIT_NOTE_NO_LINES, Code.CREDIT_NOTE_NEGATIVE,
                    "CreditNoteDate", "BatchSalesCreditNoteLine", -1)  # fmt: skip


def _check_line(entity: EntityData, line: dict[str, Any], kind: _Kind) -> None:
    gl_code = line.get("GLAccountCode")
    if not gl_code:
        raise AiqFailure(Code.LINE_NO_GL, "A line has no GL account code.")
    description = line.get("Description")
    if not description:
        raise AiqFailure(Code.LINE_NO_DESCRIPTION, "A line has no description.")
    if len(description) > MAX_DESCRIPTION:
        raise AiqFailure(Code.LINE_DESCRIPTION_TOO_LONG, f"A line description exceeds {MAX_DESCRIPTION} characters.")
    if len(gl_code) > MAX_CODE:
        raise AiqFailure(Code.GL_TOO_LONG, f"GL account code is longer than {MAX_CODE} characters.")
    if gl_code != gl_code.upper():
        raise AiqFailure(Code.GL_NOT_UPPER, f"GL account code {gl_code} must be upper case.")
    account = entity.gl_accounts.get(gl_code)
    if account is None:
        raise AiqFailure(Code.GL_UNKNOWN, f"GL account {gl_code} does not exist.")
    if account.account_type != "Posting" or not account.is_active:
        raise AiqFailure(Code.GL_NOT_POSTING, f"GL account {gl_code} is not an active posting account.")
    department = line.get("DepartmentID")
    if department is not None:
        if not department:
            raise AiqFailure(Code.DEPARTMENT_EMPTY, "DepartmentID is empty; send nil for no department.")
        if len(department) > MAX_CODE:
            raise AiqFailure(Code.DEPARTMENT_TOO_LONG, f"DepartmentID is longer than {MAX_CODE} characters.")
    elif account.is_departmental:
        raise AiqFailure(Code.GL_DEPARTMENTAL, f"GL account {gl_code} is departmental and needs a DepartmentID.")
    tax_code = line.get("TaxCode")
    if tax_code is None:
        raise AiqFailure(Code.TAX_NULL, "A line has no tax code.")
    if not tax_code:
        raise AiqFailure(Code.TAX_EMPTY, "A line's tax code is empty.")
    if len(tax_code) > MAX_CODE:
        raise AiqFailure(Code.TAX_TOO_LONG, f"Tax code is longer than {MAX_CODE} characters.")
    if tax_code != tax_code.upper():
        raise AiqFailure(Code.TAX_NOT_UPPER, f"Tax code {tax_code} must be upper case.")
    if tax_code not in entity.tax_codes:
        raise AiqFailure(Code.TAX_UNKNOWN, f"Tax code {tax_code} does not exist.")
    rate: Decimal = line["TaxRate"]
    if rate < 0:
        raise AiqFailure(Code.TAX_RATE_NEGATIVE, "TaxRate is negative.")
    if rate > 1:
        raise AiqFailure(Code.TAX_RATE_OVER_100, "TaxRate is a fraction between 0 and 1.")
    if line["NetAmount"] < 0:
        raise AiqFailure(kind.negative, "A line has a negative net amount; use a credit note.")


def _tax_amount(line: dict[str, Any]) -> Decimal:
    if line.get("TaxAmount") is None:
        return (line["NetAmount"] * line["TaxRate"]).quantize(CENT, rounding=ROUND_HALF_UP)
    return line["TaxAmount"]


def _check_document(call: Call, doc: dict[str, Any], kind: _Kind) -> None:
    entity = call.ledger
    if doc["ExchangeRate"] <= 0:
        raise AiqFailure(Code.EXCHANGE_RATE, "ExchangeRate must be greater than zero.")
    code = _check_account_code(doc.get("CustomerCode"))
    if code not in entity.customers:
        raise AiqFailure(Code.CUSTOMER_UNKNOWN, f"Customer {code} does not exist.")
    reference = doc.get("ExternalReference")
    if reference is None:
        raise AiqFailure(Code.REF_NULL, "ExternalReference is null.")
    if not reference:
        raise AiqFailure(Code.REF_EMPTY, "ExternalReference is empty.")
    if len(reference) > MAX_CODE:
        raise AiqFailure(Code.REF_TOO_LONG, f"ExternalReference is longer than {MAX_CODE} characters.")
    if len(doc.get("Description") or "") > MAX_DESCRIPTION:
        raise AiqFailure(Code.DESCRIPTION_TOO_LONG, f"Description is longer than {MAX_DESCRIPTION} characters.")
    when: datetime = doc[kind.date_field]
    period = entity.period_for(when)
    if period is None or period.sales_closed:
        state = "is in a closed sales period" if period else "is outside every financial period"
        raise AiqFailure(call.state.options.closed_period_error_code, f"{when.date()} {state}.")
    lines = (doc.get("Lines") or {}).get(kind.line_element) or []
    if not lines:
        raise AiqFailure(kind.no_lines, "The document has no lines.")
    for line in lines:
        _check_line(entity, line, kind)
    if sum(line["NetAmount"] + _tax_amount(line) for line in lines) < 0:
        raise AiqFailure(kind.negative, "The document's gross total is negative.")
    if call.state.options.unique_external_references and any(
        t.external_reference == reference and t.type_code == kind.type_code for t in entity.transactions.values()
    ):
        # The WSDL has no credit-note code for this: credit notes answer the invoice one (UNVERIFIED).
        raise AiqFailure(Code.REF_EXISTS, f"External reference {reference} already exists.")


def _to_base(call: Call, amount: Decimal, rate: Decimal) -> Decimal:
    value = amount * rate if call.state.options.exchange_rate_direction == "multiply" else amount / rate
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _post(call: Call, doc: dict[str, Any], kind: _Kind) -> TransactionRecord:
    """Validate and post one batch document; the caller holds the state lock."""
    _check_document(call, doc, kind)
    entity = call.ledger
    customer = entity.customers[doc["CustomerCode"]]
    rate: Decimal = doc["ExchangeRate"]
    when: datetime = doc[kind.date_field]
    period = entity.period_for(when)
    assert period is not None
    lines: list[LineRecord] = []
    for line in (doc.get("Lines") or {})[kind.line_element]:
        net, tax = line["NetAmount"], _tax_amount(line)
        common = {"description": line["Description"], "department_id": line.get("DepartmentID")}
        lines.append(
            LineRecord(line_id=entity.take_id(), gl_account_code=line["GLAccountCode"], kind="Net",
                       amount=-kind.sign * net, bc_amount=-kind.sign * _to_base(call, net, rate),
                       tax_code=line["TaxCode"], **common)
        )  # fmt: skip
        lines.append(
            LineRecord(line_id=entity.take_id(), gl_account_code=entity.sales_vat_gl, kind="Vat",
                       amount=-kind.sign * tax, bc_amount=-kind.sign * _to_base(call, tax, rate),
                       tax_code=line["TaxCode"], **common)
        )  # fmt: skip
    control = -sum((ln.amount for ln in lines), Decimal(0))
    control_bc = -sum((ln.bc_amount for ln in lines), Decimal(0))  # balances the rounded base amounts
    lines.insert(
        0,
        LineRecord(line_id=entity.take_id(), gl_account_code=(customer.model_extra or {}).get("ControlGLAccountCode")
                   or entity.debtors_control_gl, kind="Control", amount=control, bc_amount=control_bc,
                   description=doc.get("Description")),
    )  # fmt: skip
    if kind is INVOICE:
        number, entity.next_invoice_number = f"SI{entity.next_invoice_number:06d}", entity.next_invoice_number + 1
    else:
        number = f"SN{entity.next_credit_note_number:06d}"
        entity.next_credit_note_number += 1
    record = TransactionRecord(
        transaction_id=entity.take_id(),
        type_code=kind.type_code,  # type: ignore[arg-type]
        internal_number=number,
        account_id=customer.AccountID,
        customer_code=customer.Code,
        customer_name=customer.name,
        external_reference=doc["ExternalReference"],
        description=doc.get("Description"),
        transaction_date=when,
        due_date=doc.get("DueDate"),
        creation_date=call.now,
        currency_code=customer.currency_code or entity.base_currency,
        exchange_rate=rate,
        period_id=period.period_id,
        year=period.year,
        period_number=period.number,
        period_name=period.name,
        period_date=datetime.combine(period.end, datetime.min.time()),
        control_amount=control,
        control_bc_amount=control_bc,
        outstanding_amount=control,
        lines=lines,
    )
    entity.transactions[record.transaction_id] = record
    return record


def _create_one(call: Call, doc: dict[str, Any] | None, kind: _Kind) -> TransactionRecord:
    if doc is None:
        raise AiqFailure(Code.REF_NULL, "The document is null.")
    with call.state.writing():
        return _post(call, doc, kind)


@_operation
def CreateBatchSalesInvoiceGetBackTransactionID(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    record = _create_one(call, params.get("inv"), INVOICE)
    return {
        "CreateBatchSalesInvoiceGetBackTransactionIDResult": success(record.internal_number),
        "transactionID": record.transaction_id,
    }


@_operation
def CreateBatchSalesInvoice(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    record = _create_one(call, params.get("inv"), INVOICE)
    return {"CreateBatchSalesInvoiceResult": success(record.internal_number)}


@_operation
def CreateBatchSalesCreditNoteGetBackTransactionID(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    record = _create_one(call, params.get("creditNote"), CREDIT_NOTE)
    return {
        "CreateBatchSalesCreditNoteGetBackTransactionIDResult": success(record.internal_number),
        "transactionID": record.transaction_id,
    }


def _bulk(call: Call, docs: list[dict[str, Any] | None], kind: _Kind) -> tuple[dict[str, Any], dict[str, Any]]:
    """Post each document on its own (INFERRED reading, protocol notes §3 and §5.2: items are independent).

    Returns the result (one WSResultStatus per item in input order; overall Failure with the first failing
    item's code if any failed) and the `transactionIDs` out-parameter (aligned by position, -1 for a failed item).
    """
    statuses: list[dict[str, Any]] = []
    ids: list[int] = []
    first_failure: AiqFailure | None = None
    with call.state.writing():
        for doc in docs:
            try:
                if doc is None:
                    raise AiqFailure(Code.REF_NULL, "The document is null.")
                record = _post(call, doc, kind)
            except AiqFailure as failure:
                first_failure = first_failure or failure
                statuses.append({"Status": "Failure", "ErrorCode": failure.code, "ErrorMessage": failure.message,
                                 "HasExpired": False})  # fmt: skip
                ids.append(-1)
            else:
                statuses.append({"Status": "Success", "ErrorCode": Code.SUCCESS, "HasExpired": False})
                ids.append(record.transaction_id)
    result = success({"WSResultStatus": statuses})
    if first_failure is not None:
        result |= {"Status": "Failure", "ErrorCode": first_failure.code, "ErrorMessage": first_failure.message}
    return result, {"int": ids}


@_operation
def CreateBatchSalesInvoiceBulkGetBackTransactionIDs(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Items are independent: each posts or fails on its own; overall Failure if any failed."""
    result, ids = _bulk(call, (params.get("invoices") or {}).get("BatchSalesInvoice") or [], INVOICE)
    return {"CreateBatchSalesInvoiceBulkGetBackTransactionIDsResult": result, "transactionIDs": ids}


@_operation
def CreateBatchSalesCreditNoteBulkGetBackTransactionIDs(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """As the invoice bulk: items independent, -1 for a failed item, overall Failure if any failed."""
    result, ids = _bulk(call, (params.get("creditNotes") or {}).get("BatchSalesCreditNote") or [], CREDIT_NOTE)
    return {"CreateBatchSalesCreditNoteBulkGetBackTransactionIDsResult": result, "transactionIDs": ids}


# ---------------------------------------------------------------- read-back


# GetTransaction's TransactionType (the WSDL's `Type` enum) for each two-letter code the emulator stores.
TRANSACTION_TYPES = {"SI": "SalesBatchInvoice", "SN": "SalesBatchCreditNote", "SR": "SalesReceipt",
                     "SD": "SalesDebitJournal", "SC": "SalesCreditJournal"}  # fmt: skip


def _summary(call: Call, t: TransactionRecord) -> dict[str, Any]:
    """A WSTransactionSummary; its header amounts signed or not as the `summary_amount_sign` option says."""
    signed = call.state.options.summary_amount_sign == "signed"

    def amount(value: Decimal) -> Decimal:
        return value if signed else abs(value)

    details = [
        {
            "GLAccountCode": ln.gl_account_code,
            "IsControlLine": ln.kind == "Control",
            "IsTaxLine": ln.kind == "Vat",
            "IsStockLine": False,
            "Amount": ln.amount,
            "BCAmount": ln.bc_amount,
            "TaxID": ln.tax_code,
            "DepartmentID": ln.department_id,
            "CurrencyCode": t.currency_code,
            "IsReconciled": False,
            "Description": ln.description,
            "TransactionDate": t.transaction_date,
            "PeriodDate": t.period_date,
            "DueDate": t.due_date,
            "ExchangeRate": t.exchange_rate,
        }
        for ln in t.lines
    ]
    return {
        "AccountID": t.account_id,
        "AccountCode": t.customer_code,
        "Ledger": "Sales",
        "TransactionType": t.type_code,
        "TransactionID": t.transaction_id,
        "IsBatchInvoiceOrNote": t.type_code in ("SI", "SN"),
        "InvoiceID": 0,
        "InternalNumber": t.internal_number,
        "ExternalReference": t.external_reference,
        "ControlAmount": amount(t.control_amount),
        "OutstandingAmount": amount(t.outstanding_amount),
        "ControlBCAmount": amount(t.control_bc_amount),
        "TransactionDate": t.transaction_date,
        "FinancialYear": t.year,
        "PeriodNumber": t.period_number,
        "PeriodName": t.period_name,
        "CreationDate": t.creation_date,
        "LineDetails": {"WSTransactionDetail": details},
        "CurrencyCode": t.currency_code,
        "PeriodDate": t.period_date,
        "CreatedBy": "integration",
        "AccountName": t.customer_name,
        "TransactionBankGLAccountNumber": t.bank_account_code,
        "IsReversed": False,
        "IsInDispute": False,
        "NumberOfAttachments": 0,
        "DueDate": t.due_date,
    }


@_operation
def GetTransactionsByExternalReference(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Every transaction whose reference matches (option `reference_match`; duplicates included) dated within
    FromDate..ToDate and visible yet (option `lookup_lag_seconds`), at most MAX_LOOKUP_ROWS."""
    query = params.get("query") or {}
    reference = query.get("ExternalReference")
    if not reference:
        raise AiqFailure(Code.QUERY_NO_REFERENCE, "The query has no ExternalReference.")
    types = set((query.get("TypesFilter") or {}).get("string") or [])
    accounts = set((query.get("AccountIDsFilter") or {}).get("int") or [])
    ids = set((query.get("TransactionIDsFilter") or {}).get("int") or [])
    departments = set((query.get("DepartmentIDsFilter") or {}).get("string") or [])
    with call.state.lock:
        found = [
            _summary(call, t)
            for t in call.ledger.transactions.values()
            if _reference_matches(call, t.external_reference, reference)
            and _visible(call, t)
            and query["FromDate"].date() <= t.transaction_date.date() <= query["ToDate"].date()
            and (not types or t.type_code in types)
            and (not accounts or t.account_id in accounts)
            and (not ids or t.transaction_id in ids)
            and (not departments or any(ln.department_id in departments for ln in t.lines))
        ][:MAX_LOOKUP_ROWS]
    if not found and call.state.options.empty_lookup_answer == "transaction_not_found":
        raise AiqFailure(Code.TRANSACTION_NOT_FOUND, f"No transaction has the external reference {reference}.")
    return {"GetTransactionsByExternalReferenceResult": success({"WSTransactionSummary": found})}


def _reference_matches(call: Call, stored: str, asked: str) -> bool:
    """How AIQ compares references in a look-up is UNVERIFIED; the `reference_match` option picks a reading."""
    match = call.state.options.reference_match
    if match == "exact":
        return stored == asked
    if match == "ignore_case":
        return stored.rstrip().casefold() == asked.rstrip().casefold()
    return stored.casefold().startswith(asked.casefold())


def _visible(call: Call, t: TransactionRecord) -> bool:
    """Whether the listings show `t` yet: only `lookup_lag_seconds` after its creation (GetTransaction at once)."""
    lag = call.state.options.lookup_lag_seconds
    return lag <= 0 or call.now >= t.creation_date + timedelta(seconds=lag)


def _within(value: datetime | None, low: datetime | None, high: datetime | None) -> bool:
    """`low`..`high` by calendar day, inclusive; a nil bound does not filter."""
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or low.date() <= value.date()) and (high is None or value.date() <= high.date())


@_operation
def GetTransactionsBy(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Transactions dated FromDate..ToDate and created FromCreationDate..ToCreationDate (plus the optional period-
    and due-date ranges and the type/account/id/department filters), in transaction-id order, at most
    MAX_TRANSACTIONS_BY_ROWS from `Skip` on (the caller pages)."""
    query = params.get("query") or {}
    types = set((query.get("TypesFilter") or {}).get("string") or [])
    accounts = set((query.get("AccountIDsFilter") or {}).get("int") or [])
    ids = set((query.get("TransactionIDsFilter") or {}).get("int") or [])
    departments = set((query.get("DepartmentIDsFilter") or {}).get("string") or [])
    skip = max(int(query.get("Skip") or 0), 0)
    with call.state.lock:
        matching = [
            t
            for t in sorted(call.ledger.transactions.values(), key=lambda t: t.transaction_id)
            if _visible(call, t)
            and _within(t.transaction_date, query.get("FromDate"), query.get("ToDate"))
            and _within(t.creation_date, query.get("FromCreationDate"), query.get("ToCreationDate"))
            and _within(t.period_date, query.get("FromPeriodDate"), query.get("ToPeriodDate"))
            and _within(t.due_date, query.get("FromDueDate"), query.get("ToDueDate"))
            and (not types or t.type_code in types)
            and (not accounts or t.account_id in accounts)
            and (not ids or t.transaction_id in ids)
            and (not departments or any(ln.department_id in departments for ln in t.lines))
        ]
        found = [_summary(call, t) for t in matching[skip : skip + MAX_TRANSACTIONS_BY_ROWS]]
    return {"GetTransactionsByResult": success({"WSTransactionSummary": found})}


@_operation
def GetTransaction(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    entity = call.ledger
    t = entity.transactions.get(params["transactionID"])
    if t is None:
        raise AiqFailure(Code.TRANSACTION_NOT_FOUND, f"Transaction {params['transactionID']} was not found.")
    allocated = t.control_amount - t.outstanding_amount
    lines = [
        {
            "TransactionLineID": ln.line_id,
            "TransactionID": t.transaction_id,
            "AccountID": t.account_id if ln.kind == "Control" else None,
            "BankID": bank_id(entity, ln.gl_account_code) if ln.kind == "Bank" else None,
            "CurrencyCode": t.currency_code,
            "TaxCode": ln.tax_code,
            "TransactionGroupNumber": 0,
            "GLAccountCode": ln.gl_account_code,
            "TransactionLineType": ln.kind,
            "Description": ln.description,
            "GlAccountName": entity.gl_accounts[ln.gl_account_code].description
            if ln.gl_account_code in entity.gl_accounts
            else None,
            "InternalNumber": t.internal_number,
            "ExternalReference": t.external_reference,
            "IsInDispute": False,
            "CreationDate": t.creation_date,
            "TransactionDate": t.transaction_date,
            "DueDate": t.due_date,
            "PeriodDate": t.period_date,
            "Amount": ln.amount,
            "AllocatedAmount": allocated if ln.kind == "Control" else Decimal(0),
            "BCAmount": ln.bc_amount,
            "ExchangeRate": t.exchange_rate,
            "Reconciled": False,
            "BankstatementID": None,
            "PeriodID": t.period_id,
            "InvoiceID": None,
            "AllocationNumber": None,
            "DepartmentID": ln.department_id,
            "BroadType": "None" if ln.kind == "Bank" else ln.kind,
            "IsReversed": False,
            "ReasonID": None,
            "SupplierBatchPaymentID": None,
            "VatReturnID": None,
            "IsBankLine": ln.kind == "Bank",
            "IsAccountControlLine": ln.kind == "Control",
        }
        for ln in t.lines
    ]
    value = {"Lines": {"TransactionLine": lines}, "TransactionType": TRANSACTION_TYPES[t.type_code],
             "DueDate": t.due_date}  # fmt: skip
    return {"GetTransactionResult": success(value)}


def handle(state: EmulatorState, operation: str, header: dict[str, Any] | None, params: dict[str, Any]) -> dict:
    """Run one operation; returns the response value (success or in-band failure)."""
    try:
        call = authenticate(state, operation, header)
        with state.lock:
            return HANDLERS[operation](call, params)
    except AiqFailure as failure:
        return failure_response(operation, failure)
