"""The GraphQL documents the client sends, loaded from `queries/*.graphql`.

Every value travels in `variables`; no document is ever built by string interpolation. Fragments live
in their own files and are appended to the operations that spread them, so each `Document.text` is a
complete, self-contained GraphQL document (the tests validate each one against Bunny's SDL).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


def _read(name: str) -> str:
    return resources.files(__package__).joinpath("queries", f"{name}.graphql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Document:
    operation: str  # operationName sent with the request
    root: str  # the root field whose value the client reads
    text: str
    mutation: bool = False
    more_roots: tuple[str, ...] = ()  # the other root fields of an operation that reads several lists at once

    @property
    def roots(self) -> tuple[str, ...]:
        return (self.root, *self.more_roots)


def _document(
    file: str,
    operation: str,
    root: str,
    *,
    fragments: tuple[str, ...] = (),
    mutation: bool = False,
    more_roots: tuple[str, ...] = (),
) -> Document:
    text = "\n".join([_read(file), *(_read(fragment) for fragment in fragments)])
    return Document(operation=operation, root=root, text=text, mutation=mutation, more_roots=more_roots)


CURRENT_USER = _document("current_user", "CurrentUser", "currentUser")
ENTITY = _document("entity", "Entity", "entity")
CURRENCIES = _document("currencies", "Currencies", "currencies", fragments=("currency_fields",))
INVOICE_REFS = _document("invoice_refs", "InvoiceRefs", "invoices")
INVOICE_NUMBERS = _document("invoice_numbers", "InvoiceNumbers", "invoices")
CREDIT_NOTE_NUMBERS = _document("credit_note_numbers", "CreditNoteNumbers", "creditNotes")
INVOICE = _document(
    "invoice", "Invoice", "invoice", fragments=("invoice_fields", "account_fields", "payment_application_fields")
)
INVOICES = _document(
    "invoices", "Invoices", "invoices", fragments=("invoice_fields", "account_fields", "payment_application_fields")
)
CREDIT_NOTES = _document("credit_notes", "CreditNotes", "creditNotes", fragments=("credit_note_fields",))
CREDIT_NOTE = _document("credit_note", "CreditNote", "creditNote", fragments=("credit_note_fields",))
FINANCIAL_ACCOUNTS = _document(
    "financial_accounts", "FinancialAccounts", "financialAccounts", fragments=("financial_account_fields",)
)
FINANCIAL_ACCOUNT_CREATE = _document(
    "financial_account_create",
    "FinancialAccountCreate",
    "financialAccountCreate",
    fragments=("financial_account_fields",),
    mutation=True,
)
FINANCIAL_ACCOUNT_UPDATE = _document(
    "financial_account_update",
    "FinancialAccountUpdate",
    "financialAccountUpdate",
    fragments=("financial_account_fields",),
    mutation=True,
)
PRICE_LIST_CHARGES = _document(
    "price_list_charges", "PriceListCharges", "priceListCharges", fragments=("price_list_charge_fields",)
)
# The first page of all three in one request (a posting run's reference data); see `BunnyClient.reference_lists`.
REFERENCE_LISTS = _document(
    "reference_lists",
    "ReferenceLists",
    CURRENCIES.root,
    fragments=("currency_fields", "financial_account_fields", "price_list_charge_fields"),
    more_roots=(FINANCIAL_ACCOUNTS.root, PRICE_LIST_CHARGES.root),
)
PAYMENTS = _document("payments", "Payments", "payments", fragments=("payment_fields", "account_fields"))
PAYMENT = _document("payment", "Payment", "payment", fragments=("payment_fields", "account_fields"))
PAYMENT_APPLICATIONS = _document(
    "payment_applications", "PaymentApplications", "paymentApplications", fragments=("payment_application_fields",)
)

ALL_DOCUMENTS: tuple[Document, ...] = (
    CURRENT_USER,
    ENTITY,
    CURRENCIES,
    INVOICE_REFS,
    INVOICE_NUMBERS,
    CREDIT_NOTE_NUMBERS,
    INVOICE,
    INVOICES,
    CREDIT_NOTES,
    CREDIT_NOTE,
    FINANCIAL_ACCOUNTS,
    FINANCIAL_ACCOUNT_CREATE,
    FINANCIAL_ACCOUNT_UPDATE,
    PRICE_LIST_CHARGES,
    REFERENCE_LISTS,
    PAYMENTS,
    PAYMENT,
    PAYMENT_APPLICATIONS,
)
