"""Identities the sync derives from Bunny documents alone, so any retry finds what an earlier attempt wrote.

Customer code: ``BNY-<account id>``. Built from the Bunny account *id* because it is the only immutable
handle: the name changes on a rename and the account ``code`` is a user-editable "custom unique identifier"
(and may be empty). An AIQ code, once used on transactions, cannot follow such changes, so a code derived
from them would create a second AIQ customer after every edit.

External references: ``BUNNY-INV-<invoice id>``, ``BUNNY-CN-<credit note id>``, ``BUNNY-VOID-<invoice id>``,
``BUNNY-INVCR-<invoice id>`` for the credit note of an invoice whose credit lines exceed its charges; for payments
``BUNNY-PAY-<payment id>`` (the receipt), ``BUNNY-FEE-<payment id>`` (its processor fees), ``BUNNY-RFND-<credit
note id>`` (the money a refund credit note pays back) and ``BUNNY-ACR-<invoice id>`` (account credit applied).

Partition keys (one per Bunny document, in the asset of its kind): the invoice id as it is, ``CN-<credit note id>``,
``VOID-<voided invoice id>``, ``PAY-<payment id>``, ``CREDIT-<invoice id>`` (account credit applied to it).

Both kinds obey AIQ's rules for codes (upper case, at most 50 characters, [A-Z0-9-_]) and stay
injective over ids even though AIQ compares them case-insensitively (SQL Server's default collation):

- an id that is already upper-case-safe and fits is used as is: ``BNY-12345``;
- any other id (lower case, other characters, too long) becomes ``<prefix>_`` + a readable slice of the
  id + ``_`` + 20 hex digits of its SHA-256. The ``_`` right after the prefix never appears in the first
  form, so the two forms cannot collide; within the second, distinct ids collide only if SHA-256 does
  (80 bits here).
"""

from __future__ import annotations

import hashlib
import re

MAX_CODE_LENGTH = 50  # AIQ: customer Code and ExternalReference are both <= 50 (protocol-notes §4.4, §4.5)
CUSTOMER_PREFIX = "BNY"
INVOICE_PREFIX = "BUNNY-INV"
CREDIT_NOTE_PREFIX = "BUNNY-CN"
VOID_PREFIX = "BUNNY-VOID"
VOID_CREDIT_PREFIX = "BUNNY-VOIDCR"
INVOICE_CREDIT_PREFIX = "BUNNY-INVCR"
PAYMENT_PREFIX = "BUNNY-PAY"
FEE_PREFIX = "BUNNY-FEE"
REFUND_PREFIX = "BUNNY-RFND"
ACCOUNT_CREDIT_PREFIX = "BUNNY-ACR"

_SAFE_ID = re.compile(r"[A-Z0-9-]+")
_UNSAFE_CHARS = re.compile(r"[^A-Z0-9]+")
_DIGEST_HEX = 20


def _derived(prefix: str, raw_id: str) -> str:
    if not raw_id:
        raise ValueError(f"a Bunny id is a non-empty string, got {raw_id!r}")
    direct = f"{prefix}-{raw_id}"
    if _SAFE_ID.fullmatch(raw_id) and len(direct) <= MAX_CODE_LENGTH:
        return direct
    digest = hashlib.sha256(raw_id.encode("utf-8")).hexdigest()[:_DIGEST_HEX].upper()
    room = MAX_CODE_LENGTH - len(prefix) - len(digest) - 2
    readable = _UNSAFE_CHARS.sub("-", raw_id.upper()).strip("-")[:room].strip("-")
    return f"{prefix}_{readable}_{digest}" if readable else f"{prefix}__{digest}"


def customer_code(account_id: str) -> str:
    """The AIQ customer code of the Bunny account with this id."""
    return _derived(CUSTOMER_PREFIX, account_id)


def invoice_reference(invoice_id: str) -> str:
    """AIQ ExternalReference of the sales invoice posted for this Bunny invoice."""
    return _derived(INVOICE_PREFIX, invoice_id)


def invoice_credit_reference(invoice_id: str) -> str:
    """AIQ ExternalReference of the credit note carrying what an invoice's credit lines exceed its charges by."""
    return _derived(INVOICE_CREDIT_PREFIX, invoice_id)


def void_credit_reference(invoice_id: str) -> str:
    """AIQ ExternalReference of the invoice that reverses a voided invoice's remainder credit note."""
    return _derived(VOID_CREDIT_PREFIX, invoice_id)


def credit_note_reference(credit_note_id: str) -> str:
    """AIQ ExternalReference of the sales credit note posted for this Bunny credit note."""
    return _derived(CREDIT_NOTE_PREFIX, credit_note_id)


def void_reference(invoice_id: str) -> str:
    """AIQ ExternalReference of the credit note that reverses this (voided) Bunny invoice."""
    return _derived(VOID_PREFIX, invoice_id)


def payment_reference(payment_id: str) -> str:
    """AIQ CheckReference of the sales receipt posted for this Bunny payment."""
    return _derived(PAYMENT_PREFIX, payment_id)


def fee_reference(payment_id: str) -> str:
    """AIQ ExternalReference of the credit journal carrying this payment's processor fees."""
    return _derived(FEE_PREFIX, payment_id)


def refund_reference(credit_note_id: str) -> str:
    """AIQ ExternalReference of the debit journal paying back the money of this refund credit note."""
    return _derived(REFUND_PREFIX, credit_note_id)


def account_credit_reference(invoice_id: str) -> str:
    """AIQ ExternalReference of the credit journal settling the account credit Bunny applied to this invoice."""
    return _derived(ACCOUNT_CREDIT_PREFIX, invoice_id)


KIND_INVOICE = "invoice"
KIND_CREDIT_NOTE = "credit_note"
KIND_VOID = "void"
KIND_PAYMENT = "payment"
KIND_ACCOUNT_CREDIT = "account_credit"
CREDIT_NOTE_KEY_PREFIX = "CN-"
VOID_KEY_PREFIX = "VOID-"
PAYMENT_KEY_PREFIX = "PAY-"
ACCOUNT_CREDIT_KEY_PREFIX = "CREDIT-"
_KEY_PREFIXES = (
    (CREDIT_NOTE_KEY_PREFIX, KIND_CREDIT_NOTE),
    (VOID_KEY_PREFIX, KIND_VOID),
    (PAYMENT_KEY_PREFIX, KIND_PAYMENT),
    (ACCOUNT_CREDIT_KEY_PREFIX, KIND_ACCOUNT_CREDIT),
)


def credit_note_key(credit_note_id: str) -> str:
    return f"{CREDIT_NOTE_KEY_PREFIX}{credit_note_id}"


def void_key(invoice_id: str) -> str:
    return f"{VOID_KEY_PREFIX}{invoice_id}"


def payment_key(payment_id: str) -> str:
    return f"{PAYMENT_KEY_PREFIX}{payment_id}"


def account_credit_key(invoice_id: str) -> str:
    return f"{ACCOUNT_CREDIT_KEY_PREFIX}{invoice_id}"


def parse_key(key: str) -> tuple[str, str]:
    """(kind, Bunny id) of a partition key: `CN-<id>`, `VOID-<id>`, `PAY-<id>`, `CREDIT-<id>`, or an invoice id."""
    for prefix, kind in _KEY_PREFIXES:
        if key.startswith(prefix):
            if len(key) == len(prefix):
                raise ValueError(f"partition key {key!r} names no Bunny id")
            return kind, key[len(prefix) :]
    if not key:
        raise ValueError("an empty partition key names no Bunny document")
    return KIND_INVOICE, key


def document_reference(key: str) -> str | None:
    """The AIQ reference of the main document a partition key posts (None: not a document key)."""
    try:
        kind, source_id = parse_key(key)
    except ValueError:
        return None
    by_kind = {
        KIND_INVOICE: invoice_reference,
        KIND_CREDIT_NOTE: credit_note_reference,
        KIND_VOID: void_reference,
        KIND_PAYMENT: payment_reference,
        KIND_ACCOUNT_CREDIT: account_credit_reference,
    }
    return by_kind[kind](source_id)
