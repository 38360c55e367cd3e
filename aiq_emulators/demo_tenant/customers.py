"""The demo tenant's Bunny customers: a company name, contact and billing address in the style of its country,
an account code, and what decides its invoices (tax treatment, plan, seats, discount, API use).

Every draw comes from the one seeded random the whole generator shares, in a fixed order: the same seed
gives the same customers, and the invoices drawn after them stay the same too.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from aiq_emulators.bunny.models import Account, Contact
from aiq_emulators.demo_tenant.vocabulary import EUR, LOCALES, SECTORS, SPECIAL_NAMES, US_STATES, Locale


@dataclass
class Customer:
    account: Account
    locale: Locale
    tax: str  # "standard" | "hotel" | "charity" | "nocode" | "reverse" | "export" | "none"
    plan: int
    seats: int
    discount: Decimal  # subscription discount, a fraction
    uses_api: bool


@dataclass(frozen=True)
class Customers:
    main: list[Customer]  # entity 1, the synced one
    other: list[Customer]  # entity 2 (US), never synced
    mismatch: Customer  # entity 1, planted for CURRENCY_MISMATCH: AIQ already has it in GBP


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


def stamp(day: dt.date, minutes: int) -> dt.datetime:
    """`minutes` after 07:00 UTC on `day`."""
    return dt.datetime.combine(day, dt.time(7, 0), tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)


class CustomerMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = set()
        self.codes: set[str] = set()
        self.contact_seq = 0

    def customers(self, count: int) -> Customers:
        """`count` customers: about one in 25 in entity 2, one planted mismatch, the rest entity 1's; every
        seventh of the first ones (from the fourth) carries one of the names a ledger has to survive."""
        n_us2 = max(3, count // 25)
        n_main = count - n_us2 - 1
        weights = [loc.weight for loc in LOCALES]
        by_country = {loc.country: loc for loc in LOCALES}
        specials = [(by_country[c], name) for c, names in SPECIAL_NAMES.items() for name in names]
        main: list[Customer] = []
        for index in range(n_main):
            special = specials[index // 7] if index % 7 == 3 and index // 7 < len(specials) else None
            if special:
                main.append(self.customer(str(index + 1), "1", special[0], special[1]))
            else:
                main.append(self.customer(str(index + 1), "1", self.rng.choices(LOCALES, weights)[0]))
        mismatch = self.customer(str(n_main + 1), "1", by_country["IE"])
        mismatch.tax = "standard"
        us = by_country["US"]
        other = [self.customer(str(n_main + 2 + i), "2", us) for i in range(n_us2)]
        return Customers(main=main, other=other, mismatch=mismatch)

    def customer(self, account_id: str, entity_id: str, locale: Locale, name: str | None = None) -> Customer:
        rng = self.rng
        name = name or self._name(locale)
        self.names.add(name)
        city = rng.choice(locale.cities)
        contact = self._contact(locale, name)
        account = self._account(account_id, entity_id, locale, name, city, contact)
        tax = self._tax_treatment(entity_id, locale, name)
        plan = rng.choices((0, 1, 2), (60, 30, 10))[0]
        return Customer(
            account=account,
            locale=locale,
            tax=tax,
            plan=plan,
            seats=rng.randint(1, 25 if plan == 0 else 12),
            discount=rng.choice((Decimal("0"),) * 6 + (Decimal("0.10"), Decimal("0.15"))),
            uses_api=rng.random() < 0.75,
        )

    def _name(self, locale: Locale) -> str:
        rng = self.rng
        for _ in range(1000):
            stem = rng.choice(locale.stems)
            if rng.random() < 0.3:
                stem = f"{stem} {rng.choice(locale.stems)}"
            name = f"{stem} {rng.choice(SECTORS)} {rng.choice(locale.suffixes)}"
            if rng.random() < 0.12:
                name = f"{rng.choice(locale.last_names)} & {rng.choice(locale.last_names)} {rng.choice(SECTORS)}"
                name += f" {rng.choice(locale.suffixes)}"
            if name not in self.names and "  " not in name:
                return name
        raise RuntimeError("ran out of company names")  # pragma: no cover - the lists allow thousands

    def _code(self, name: str) -> str | None:
        if self.rng.random() < 0.05:
            return None  # Bunny's account code is optional
        base = "-".join(slug(word).upper() for word in name.split()[:2] if slug(word))[:20] or "ACCOUNT"
        code, n = base, 1
        while code in self.codes:
            n += 1
            code = f"{base}-{n}"
        self.codes.add(code)
        return code

    def _contact(self, locale: Locale, name: str) -> Contact:
        """The accounts contact, created between September 2025 and April 2026 (the account's creation too)."""
        rng = self.rng
        first, last = rng.choice(locale.first_names), rng.choice(locale.last_names)
        domain = slug(name)[:24] or "customer"
        created = stamp(dt.date(2025, 9, 1) + dt.timedelta(days=rng.randrange(240)), rng.randrange(600))
        self.contact_seq += 1
        return Contact(
            id=str(self.contact_seq),
            first_name=first,
            last_name=last,
            email=f"{rng.choice(('accounts', 'finance', 'ap', 'billing'))}@{domain}.example",
            phone=f"{locale.phone} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
            created_at=created,
            updated_at=created,
        )

    def _account(
        self, account_id: str, entity_id: str, locale: Locale, name: str, city: tuple[str, str], contact: Contact
    ) -> Account:
        rng = self.rng
        street = f"{rng.randrange(1, 220)} {rng.choice(locale.streets)}"
        if rng.random() < 0.2:
            street += f"\nUnit {rng.randrange(1, 40)}"
        return Account(
            id=account_id,
            code=self._code(name),
            name=name,
            entity_id=entity_id,
            currency_id=locale.currency,
            billing_street=street,
            billing_city=city[0],
            billing_state=US_STATES.get(city[0]),
            billing_zip=city[1],
            billing_country=locale.country,
            billing_contact=contact,
            tax_number=f"{locale.vat_prefix}{rng.randrange(10**7, 10**8)}" if locale.vat_prefix else None,
            net_payment_days=rng.choice((14, 30, 30, 30, 45)),
            created_at=contact.created_at,
            updated_at=contact.created_at,
        )

    def _tax_treatment(self, entity_id: str, locale: Locale, name: str) -> str:
        """Tax follows the customer (see the package docstring); entity 2 (US) models no sales tax."""
        if entity_id == "2":
            return "none"
        if locale.country == "IE":
            return "hotel" if "Hotels" in name else self.rng.choices(("standard", "charity", "nocode"), (88, 5, 7))[0]
        return "reverse" if locale.currency == EUR else "export"
