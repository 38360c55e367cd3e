"""The AIQ customer a Bunny account should be, and how to write it onto AIQ's own template.

Creation follows AIQ's recommended pattern: `GetNewCustomerFromDefaults` gives a template with the entity's
defaults (control account, terms, tax code...), `apply_customer` sets only the fields Bunny knows, and the
client sends the result with `UpdateCustomer(create=true)`. `customer_changes` is the same comparison as a
field -> value dict, for deciding whether an existing customer needs an update at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiq_pipeline.sync.identity import customer_code
from aiq_pipeline.sync.inputs import AiqCustomer, BunnyAccount
from aiq_pipeline.sync.problems import Problem, ProblemCode

# AIQ length limits. protocol-notes §4.4 (from AIQ's Customer wiki page): Code <= 50; "Address lines, City,
# Contact etc. <= 50". The WSDL only names the errors (ACCOUNT_NAME/EMAIL/PHONE/VAT_REGISTRATION_NUMBER
# _IS_TOO_LONG) without numbers, so those fields get the same conservative 50.
TEXT_LIMIT = 50
LIMITS: dict[str, int] = {
    "name": TEXT_LIMIT,
    "address1": TEXT_LIMIT,
    "address2": TEXT_LIMIT,
    "city": TEXT_LIMIT,
    "county_state": TEXT_LIMIT,
    "post_code": TEXT_LIMIT,
    "country": TEXT_LIMIT,
    "country_code": 2,
    "contact": TEXT_LIMIT,
    "email": TEXT_LIMIT,
    "phone": TEXT_LIMIT,
    "vat_registration_number": TEXT_LIMIT,
}
# A truncated e-mail address is a wrong address (invoices would go astray): too long -> left empty instead.
_DROP_WHEN_TOO_LONG = frozenset({"email"})

C = TypeVar("C", bound=AiqCustomer)


@dataclass(frozen=True)
class DesiredCustomer:
    """AIQ customer fields derived from a Bunny account; names are those of AIQ's `Customer` dataclass."""

    code: str
    name: str
    currency_code: str
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    county_state: str | None = None
    post_code: str | None = None
    country: str | None = None
    country_code: str | None = None  # ISO 3166-1 alpha-2, when Bunny's billing country is one
    contact: str | None = None
    email: str | None = None
    phone: str | None = None
    vat_registration_number: str | None = None

    def fields(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _clean(field_name: str, value: str | None) -> str | None:
    text = " ".join(value.split()) if value else ""  # collapse newlines/tabs: AIQ fields are single-line
    if not text:
        return None
    limit = LIMITS.get(field_name)
    if limit is not None and len(text) > limit:
        return None if field_name in _DROP_WHEN_TOO_LONG else text[:limit].rstrip()
    return text


def _split_street(street: str | None) -> tuple[str | None, str | None]:
    """Bunny's billingStreet is one multi-line text: first line -> Address1, the rest joined -> Address2."""
    lines = [line.strip() for line in (street or "").splitlines() if line.strip()]
    if not lines:
        return None, None
    return lines[0], ", ".join(lines[1:]) or None


def _iso_country(country: str | None) -> str | None:
    code = (country or "").strip().upper()
    return code if len(code) == 2 and code.isalpha() else None


def customer_problems(account: BunnyAccount | None, *, document: str) -> list[Problem]:
    """What stops a customer being created in AIQ for the account of `document` ("Bunny invoice 7")."""
    if account is None:
        return [
            Problem(
                ProblemCode.MISSING_CUSTOMER_DATA,
                f"{document} came without its account, so its AIQ customer cannot be created.",
                "Retry; if it persists, check the account in Bunny.",
            )
        ]
    if not (account.name or "").strip():
        return [
            Problem(
                ProblemCode.MISSING_CUSTOMER_DATA,
                f"Bunny account {account.id} has no name; AIQ requires a customer name.",
                f"Give account {account.id} a name in Bunny, then retry.",
            )
        ]
    return []


def desired_customer(account: BunnyAccount, *, currency_code: str, code: str | None = None) -> DesiredCustomer:
    """The AIQ customer for `account`. `currency_code` is the invoice's: an AIQ document takes its customer's
    currency, so the customer must carry the currency it is invoiced in (not the account's default). `code`: an
    existing AIQ customer's code the account was matched to (else the code derived from the account id)."""
    name = _clean("name", account.name)
    if name is None:
        raise ValueError(f"Bunny account {account.id} has no name (check customer_problems first)")
    address1, address2 = _split_street(account.billing_street)
    contact = account.billing_contact
    raw = {
        "address1": address1,
        "address2": address2,
        "city": account.billing_city,
        "county_state": account.billing_state,
        "post_code": account.billing_zip,
        "country": account.billing_country,
        "country_code": _iso_country(account.billing_country),
        "contact": contact.full_name if contact else None,
        "email": contact.email if contact else None,
        "phone": contact.phone if contact else None,
        "vat_registration_number": account.tax_number,
    }
    return DesiredCustomer(
        code=code or customer_code(account.id),
        name=name,
        currency_code=currency_code.strip().upper(),
        **{key: _clean(key, value) for key, value in raw.items()},
    )


def customer_changes(current: AiqCustomer, desired: DesiredCustomer) -> dict[str, str | None]:
    """Fields of `current` that differ from `desired` (field -> desired value).

    A Bunny field that is empty does not blank what AIQ holds: finance may have completed the customer in AIQ.
    The currency is left out once `current` has one: AIQ forbids changing it (see `currency_problem`).
    """
    changes: dict[str, str | None] = {}
    for name, value in desired.fields().items():
        if value is None:
            continue
        if name == "currency_code" and current.currency_code:
            continue
        if getattr(current, name) != value:
            changes[name] = value
    return changes


def apply_customer(template: C, desired: DesiredCustomer) -> C:
    """A copy of `template` (an AIQ `Customer` dataclass, e.g. from GetNewCustomerFromDefaults or GetCustomer)
    with the desired fields set; every other field (row version, defaults, `other`) is kept as AIQ gave it."""
    return dataclasses.replace(template, **customer_changes(template, desired))  # type: ignore[type-var]


def new_customer(template: C, desired: DesiredCustomer) -> C:
    """The customer to create from AIQ's defaults template: as `apply_customer`, and in the invoice's currency.

    The template already carries the entity's base currency, but a customer that does not exist yet has no
    currency in use, so the desired one must replace it (otherwise a GBP invoice would be booked as EUR).
    """
    return dataclasses.replace(apply_customer(template, desired), currency_code=desired.currency_code)  # type: ignore[type-var]


def currency_problem(existing: AiqCustomer, *, currency: str, document: str) -> Problem | None:
    """An existing AIQ customer in another currency cannot take `document` ("Bunny invoice 7"): AIQ documents carry
    no currency of their own, and AIQ refuses to change a customer's currency once it is used."""
    if not existing.currency_code or existing.currency_code.strip().upper() == currency.strip().upper():
        return None
    return Problem(
        ProblemCode.CURRENCY_MISMATCH,
        f"{document} is in {currency.upper()}, but AIQ customer {existing.code} is in "
        f"{existing.currency_code}. AIQ documents take the customer's currency and it cannot be changed once used.",
        f"Bill this Bunny account in {existing.currency_code}, or post this document manually in AIQ "
        "against a customer in its currency.",
    )


# -- matching existing AIQ customers --------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerMatch:
    """Which AIQ customer a Bunny account posts to, and how it was found."""

    code: str
    how: str  # existing (the derived BNY- code) | code | vat | email | new


@dataclass(frozen=True)
class AmbiguousCustomer:
    rule: str
    codes: tuple[str, ...]


def _vat(value: str | None) -> str | None:
    text = "".join(ch for ch in (value or "").upper() if ch.isalnum())
    return text or None


def _code(customer: AiqCustomer) -> str | None:
    return (customer.code or "").strip().upper() or None


def _email(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    return text or None


def match_customer(
    account: BunnyAccount, customers: Sequence[AiqCustomer], rules: Sequence[str]
) -> CustomerMatch | AmbiguousCustomer:
    """The AIQ customer of `account`: its derived code when AIQ has it, else the first rule (in order) that finds
    exactly one: `code` (the Bunny account's code is an AIQ customer code), `vat` (same VAT number), `email`
    (the billing contact's e-mail); else a new customer under the derived code."""
    derived = customer_code(account.id)
    by_code = {(c.code or "").strip().upper(): c for c in customers if c.code}
    if derived in by_code:
        return CustomerMatch(derived, "existing")
    keys: dict[str, tuple[Callable[[AiqCustomer], str | None], str | None]] = {
        "code": (_code, (account.code or "").strip().upper() or None),
        "vat": (lambda c: _vat(c.vat_registration_number), _vat(account.tax_number)),
        "email": (
            lambda c: _email(c.email),
            _email(account.billing_contact.email if account.billing_contact else None),
        ),
    }
    for rule in rules:
        key, wanted = keys[rule]
        if wanted is None:
            continue
        found = sorted({(c.code or "") for c in customers if c.code and key(c) == wanted})
        if len(found) == 1:
            return CustomerMatch(found[0].strip().upper(), rule)
        if len(found) > 1:
            return AmbiguousCustomer(rule, tuple(found))
    return CustomerMatch(derived, "new")


def ambiguous_problem(account: BunnyAccount, ambiguous: AmbiguousCustomer) -> Problem:
    what = {"code": "account code", "vat": "VAT number", "email": "e-mail"}[ambiguous.rule]
    return Problem(
        ProblemCode.AMBIGUOUS_CUSTOMER,
        f"Bunny account {account.id} ({account.name}) matches {len(ambiguous.codes)} AIQ customers by {what}: "
        f"{', '.join(ambiguous.codes)}.",
        f"Give account {account.id} the AIQ customer code in its Bunny account code, or make the {what} unique in "
        "AIQ (or drop the rule from AIQ_PIPELINE_CUSTOMER_MATCH); then retry.",
    )
