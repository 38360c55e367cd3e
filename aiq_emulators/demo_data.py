"""A realistic demo tenant for `make demo`: a seeded pair of fixture files, one per emulator, that agree.

The emulators' built-in tenant (docs/demo-tenant.md) stays small because tests depend on it. This module
generates a bigger one in the same vocabulary (entities, credentials, chart of accounts, tax codes, periods,
financial accounts, charges) with a few hundred Bunny customers and a few thousand invoices issued between
June and November 2026, and a handful of invoices planted to fail for different, explained reasons.

    fixtures = write_demo_fixtures(Path(".demo/fixtures"), customers=300, invoices=3000, seed=7)
    running_emulators(accountsiq_fixture=fixtures.accountsiq, bunny_fixture=fixtures.bunny)

Choices worth knowing:

- Every timestamp is at or before `AS_OF` (2026-11-20 18:00 UTC), so an invoice released in the emulator
  "now" is newer than anything in the fixture and the sensor's watermark picks it up.
- DRAFT invoices carry their planned issue date (late November 2026): releasing one keeps that date, so it
  posts into an open AIQ period whatever the machine's clock says.
- An account is invoiced only in its own currency: AIQ documents take their customer's currency, so a second
  currency on one account would fail as CURRENCY_MISMATCH (that failure is planted once, on purpose).
- Tax follows the customer: Irish customers 23 % (V01; hotels 13.5 % V02 on services; charities EX; a few
  lines without a code fall back to the sync's default V01), other EU customers reverse charge (V00), UK and
  US customers zero-rated exports (V00). Item tax is written out, equal to net x rate rounded half-up.
- The same seed gives byte-identical files; nothing depends on the clock or on hash order.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import random
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiq_emulators.accountsiq.fixtures import CustomerFixture, EmulatorFixture, demo_fixture
from aiq_emulators.bunny.models import Account, Contact, Invoice, InvoiceItem, Tenant, cents
from aiq_emulators.bunny.sample_tenant import API_USAGE, LEGACY_ADDON, PRO_SERVICES, SUB_MONTHLY
from aiq_emulators.bunny.sample_tenant import sample_tenant as demo_tenant
from aiq_pipeline.sync.identity import customer_code

AIQ_FILE = "accountsiq-demo.json"
BUNNY_FILE = "bunny-demo.json"
SUMMARY_FILE = "demo-summary.json"

AS_OF = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
FIRST_ISSUE_DAY = dt.date(2026, 6, 1)
LAST_ISSUE_DAY = AS_OF.date()
CLOSED_PERIOD_DAYS = (dt.date(2026, 5, 15), dt.date(2026, 5, 28))  # AIQ's sales ledger is closed before June

MIN_CUSTOMERS = 20
MIN_INVOICES = 60

EUR, GBP, USD = "1", "2", "3"  # Bunny currency ids (not ISO codes)
ISO = {EUR: "EUR", GBP: "GBP", USD: "USD"}

# Reason codes of aiq_pipeline.sync.problems.ProblemCode, with what a finance person would be told.
NOT_POSTING_ACCOUNT = "NOT_POSTING_ACCOUNT"
UNKNOWN_TAX_CODE = "UNKNOWN_TAX_CODE"
CLOSED_PERIOD = "CLOSED_PERIOD"
CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
NEGATIVE_LINE = "NEGATIVE_LINE"
FAILURE_REASONS = {
    NOT_POSTING_ACCOUNT: "a line on LEGACY-ADDON, which Bunny maps to 4900 Revenue control, a Control account in "
    "AIQ (not a Posting account)",
    UNKNOWN_TAX_CODE: "a line carries tax code V99, which AIQ does not know",
    CLOSED_PERIOD: "issued in May 2026, a period whose AIQ sales ledger is closed",
    CURRENCY_MISMATCH: "the account's AIQ customer BNY-<id> already exists in GBP, the invoice is in EUR",
    NEGATIVE_LINE: "a goodwill credit line with a negative amount; AIQ batch invoice lines must not be negative",
}

# Prices per currency: plan price per seat, services day rate, price per API call.
PLANS = {
    EUR: (("Starter", "49.00"), ("Growth", "99.00"), ("Scale", "249.00")),
    GBP: (("Starter", "42.00"), ("Growth", "85.00"), ("Scale", "215.00")),
    USD: (("Starter", "55.00"), ("Growth", "109.00"), ("Scale", "275.00")),
}
DAY_RATE = {EUR: "150.00", GBP: "130.00", USD: "165.00"}
CALL_PRICE = {EUR: "0.05", GBP: "0.04", USD: "0.06"}
# Invoice currency -> EUR (Bunny entity 1's base) per month of issue; realistic 2026-ish levels.
FX_TO_EUR = {
    GBP: {6: "1.1712", 7: "1.1689", 8: "1.1745", 9: "1.1770", 10: "1.1731", 11: "1.1698", 5: "1.1725"},
    USD: {6: "0.9214", 7: "0.9187", 8: "0.9242", 9: "0.9301", 10: "0.9268", 11: "0.9233", 5: "0.9190"},
}


@dataclass(frozen=True)
class Locale:
    country: str
    currency: str
    weight: int
    cities: tuple[tuple[str, str], ...]  # (city, postcode)
    streets: tuple[str, ...]
    stems: tuple[str, ...]
    suffixes: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    phone: str
    vat_prefix: str | None


LOCALES = (
    Locale(
        "IE", EUR, 40,
        (("Dublin", "D02 X285"), ("Cork", "T12 W8CX"), ("Galway", "H91 E2K3"), ("Limerick", "V94 T9PX"),
         ("Waterford", "X91 K0EK"), ("Kilkenny", "R95 A39T")),
        ("Harcourt Street", "Baggot Street Lower", "Oliver Plunkett Street", "Shop Street", "O'Connell Street",
         "Parnell Square", "Dame Street", "Patrick Street"),
        ("Liffey", "Shannon", "Corrib", "Burren", "Wicklow", "Kinsale", "Connemara", "Clontarf", "Howth", "Doyle",
         "Gallagher", "Brennan", "Kavanagh", "Moher", "Slaney", "Boyne", "Ferriter", "Tara"),
        ("Ltd", "Ltd", "DAC", "Teoranta"),
        ("Aoife", "Ciarán", "Niamh", "Seán", "Siobhán", "Darragh", "Orla", "Pádraig", "Gráinne", "Eoin"),
        ("Byrne", "Murphy", "Kelly", "O'Sullivan", "Walsh", "Ní Bhriain", "Ryan", "Doyle", "McCarthy", "Lynch"),
        "+353 1", "IE",
    ),
    Locale(
        "DE", EUR, 10,
        (("Berlin", "10117"), ("München", "80331"), ("Hamburg", "20095"), ("Köln", "50667"), ("Leipzig", "04109")),
        ("Friedrichstraße", "Schillerstraße", "Hauptstraße", "Königsallee", "Mühlenweg"),
        ("Kessler", "Brandt", "Nordlicht", "Weiß", "Rheinwerk", "Alpen", "Hansen", "Schäfer", "Elbe", "Falk"),
        ("GmbH", "GmbH", "AG", "KG"),
        ("Jürgen", "Anna", "Lukas", "Sophie", "Matthias", "Lena", "Tobias", "Katrin"),
        ("Müller", "Schmidt", "Weber", "Fischer", "Becker", "Hoffmann", "Schröder", "Krüger"),
        "+49 30", "DE",
    ),
    Locale(
        "FR", EUR, 6,
        (("Paris", "75002"), ("Lyon", "69002"), ("Nantes", "44000"), ("Toulouse", "31000"), ("Lille", "59000")),
        ("Rue de Rivoli", "Boulevard Haussmann", "Rue de la République", "Avenue Jean Jaurès", "Quai Saint-Michel"),
        ("Lumière", "Garonne", "Bellevue", "Étoile", "Mistral", "Loire", "Beaumont", "Château", "Provence"),
        ("SAS", "SARL", "SA"),
        ("Élodie", "François", "Camille", "Thomas", "Chloé", "Hélène", "Julien", "Benoît"),
        ("Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau", "Fournier", "Lemaître", "Bérenger"),
        "+33 1", "FR",
    ),
    Locale(
        "NL", EUR, 5,
        (("Amsterdam", "1012 AB"), ("Rotterdam", "3011 AD"), ("Utrecht", "3511 LX"), ("Eindhoven", "5611 AZ")),
        ("Keizersgracht", "Herengracht", "Coolsingel", "Stationsplein", "Oudegracht"),
        ("Dijkstra", "Polder", "Van Dam", "Tulp", "Zeeland", "Grachten", "Molen", "Vries"),
        ("B.V.", "B.V.", "N.V."),
        ("Daan", "Sanne", "Bram", "Femke", "Joost", "Lotte"),
        ("de Vries", "van den Berg", "Jansen", "Bakker", "Visser", "de Jong"),
        "+31 20", "NL",
    ),
    Locale(
        "ES", EUR, 4,
        (("Madrid", "28013"), ("Barcelona", "08002"), ("Valencia", "46002"), ("Sevilla", "41001")),
        ("Calle de Alcalá", "Gran Vía", "Passeig de Gràcia", "Calle Mayor", "Avenida de la Constitución"),
        ("Iberia", "Sol", "Montaña", "Núñez", "Castilla", "Mediterráneo", "Peña", "Giralda"),
        ("S.L.", "S.L.", "S.A."),
        ("José", "María", "Íñigo", "Lucía", "Álvaro", "Sofía", "Andrés"),
        ("García", "Martínez", "López", "Sánchez", "Pérez", "Muñoz", "Jiménez"),
        "+34 91", "ES",
    ),
    Locale(
        "SE", EUR, 3,
        (("Stockholm", "111 52"), ("Göteborg", "411 06"), ("Malmö", "211 20"), ("Uppsala", "753 20")),
        ("Drottninggatan", "Kungsgatan", "Storgatan", "Sveavägen"),
        ("Norrsken", "Fjäll", "Skärgård", "Ljung", "Åkerlund", "Vinter", "Björk"),
        ("AB",),
        ("Lars", "Åsa", "Björn", "Ingrid", "Sören", "Elin"),
        ("Berg", "Lindqvist", "Johansson", "Öberg", "Nyström", "Sjöberg"),
        "+46 8", "SE",
    ),
    Locale(
        "GB", GBP, 18,
        (("London", "EC1A 1BB"), ("Manchester", "M1 1AE"), ("Leeds", "LS1 4DY"), ("Bristol", "BS1 4DJ"),
         ("Edinburgh", "EH1 1YZ"), ("Birmingham", "B2 4QA")),
        ("Baker Street", "Deansgate", "Briggate", "Park Street", "Princes Street", "Colmore Row", "Fleet Street"),
        ("Thames", "Pennine", "Cotswold", "Albion", "Kingsway", "Hawthorn", "Whitfield", "Ashby", "Mersey", "Tyne"),
        ("Ltd", "Ltd", "plc", "LLP"),
        ("Emma", "Oliver", "Charlotte", "Harry", "Amelia", "George", "Isla", "James"),
        ("Hughes", "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Roberts", "Clarke"),
        "+44 20", "GB",
    ),
    Locale(
        "US", USD, 8,
        (("New York", "10018"), ("Austin", "78701"), ("Boston", "02110"), ("Chicago", "60601"),
         ("Seattle", "98101")),
        ("5th Avenue", "Congress Avenue", "Boylston Street", "Michigan Avenue", "Pike Street"),
        ("Liberty", "Summit", "Redwood", "Lakeshore", "Keystone", "Frontier", "Granite", "Cascade", "Hudson"),
        ("Inc", "Inc", "LLC", "Corp"),
        ("Mary", "James", "Jennifer", "Michael", "Ashley", "David", "Emily", "Robert"),
        ("Jones", "Smith", "Johnson", "Miller", "Garcia", "Anderson", "Martinez", "Clark"),
        "+1 212", None,
    ),
)  # fmt: skip
SECTORS = (
    "Analytics", "Software", "Logistics", "Consulting", "Media", "Engineering", "Health", "Robotics", "Foods",
    "Design", "Energy", "Systems", "Labs", "Partners", "Hotels", "Travel", "Marine", "Data", "Retail", "Studios",
)  # fmt: skip
US_STATES = {"New York": "NY", "Austin": "TX", "Boston": "MA", "Chicago": "IL", "Seattle": "WA"}
# Names a ledger has to survive: ampersands, angle brackets, accents, apostrophes, one too long for AIQ (50).
SPECIAL_NAMES = {
    "IE": ("Byrne & Daughters Ltd", "Ó Súilleabháin Teoranta",
           "The International Federation of Independent Software Consultants Ltd"),
    "GB": ("<Angle> Bracket Studios Ltd", "Marks & Sparks <Lighting> plc"),
    "DE": ("Müller & Söhne Präzisionstechnik GmbH",),
    "FR": ("Café Zoë Éditions SAS",),
    "ES": ("Núñez & Peña Logística S.L.",),
    "SE": ("Åkerlund & Öberg Design AB",),
    "US": ("R&D <Labs> Inc",),
}  # fmt: skip


@dataclass(frozen=True)
class DemoTenant:
    accountsiq: EmulatorFixture
    bunny: Tenant
    summary: dict[str, Any]


@dataclass(frozen=True)
class DemoFixtures:
    accountsiq: Path
    bunny: Path
    summary: dict[str, Any]


@dataclass
class _Customer:
    account: Account
    locale: Locale
    tax: str  # "standard" | "hotel" | "charity" | "nocode" | "reverse" | "export" | "none"
    plan: int
    seats: int
    discount: Decimal  # subscription discount, a fraction
    uses_api: bool


@dataclass
class _Draft:
    """An invoice before ids and numbers are assigned (they follow creation and issue order)."""

    customer: _Customer
    state: str
    issued: dt.date
    created: dt.datetime
    updated: dt.datetime
    items: list[InvoiceItem]
    due: dt.date | None = None
    paid_at: dt.datetime | None = None
    failure: str | None = None
    notes: list[str] = field(default_factory=list)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


def _money(value: str | Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _stamp(day: dt.date, minutes: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(7, 0), tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)


class _Generator:
    def __init__(self, customers: int, invoices: int, seed: int) -> None:
        if customers < MIN_CUSTOMERS or invoices < MIN_INVOICES:
            raise ValueError(f"need at least {MIN_CUSTOMERS} customers and {MIN_INVOICES} invoices")
        self.rng = random.Random(seed)
        self.seed = seed
        self.n_customers = customers
        self.n_invoices = invoices
        self.base = demo_tenant()  # entities, API client, currencies, financial accounts, charges
        self.names: set[str] = set()
        self.codes: set[str] = set()
        self.contact_seq = 0

    # -- customers ----------------------------------------------------------------------------------------
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
        base = "-".join(_slug(word).upper() for word in name.split()[:2] if _slug(word))[:20] or "ACCOUNT"
        code, n = base, 1
        while code in self.codes:
            n += 1
            code = f"{base}-{n}"
        self.codes.add(code)
        return code

    def _customer(self, account_id: str, entity_id: str, locale: Locale, name: str | None = None) -> _Customer:
        rng = self.rng
        name = name or self._name(locale)
        self.names.add(name)
        city, postcode = rng.choice(locale.cities)
        first, last = rng.choice(locale.first_names), rng.choice(locale.last_names)
        domain = _slug(name)[:24] or "customer"
        created = _stamp(dt.date(2025, 9, 1) + dt.timedelta(days=rng.randrange(240)), rng.randrange(600))
        self.contact_seq += 1
        contact = Contact(
            id=str(self.contact_seq),
            first_name=first,
            last_name=last,
            email=f"{rng.choice(('accounts', 'finance', 'ap', 'billing'))}@{domain}.example",
            phone=f"{locale.phone} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
            created_at=created,
            updated_at=created,
        )
        street = f"{rng.randrange(1, 220)} {rng.choice(locale.streets)}"
        if rng.random() < 0.2:
            street += f"\nUnit {rng.randrange(1, 40)}"
        account = Account(
            id=account_id,
            code=self._code(name),
            name=name,
            entity_id=entity_id,
            currency_id=locale.currency,
            billing_street=street,
            billing_city=city,
            billing_state=US_STATES.get(city),
            billing_zip=postcode,
            billing_country=locale.country,
            billing_contact=contact,
            tax_number=f"{locale.vat_prefix}{rng.randrange(10**7, 10**8)}" if locale.vat_prefix else None,
            net_payment_days=rng.choice((14, 30, 30, 30, 45)),
            created_at=created,
            updated_at=created,
        )
        if entity_id == "2":
            tax = "none"
        elif locale.country == "IE":
            tax = "hotel" if "Hotels" in name else rng.choices(("standard", "charity", "nocode"), (88, 5, 7))[0]
        elif locale.currency == EUR:
            tax = "reverse"
        else:
            tax = "export"
        plan = rng.choices((0, 1, 2), (60, 30, 10))[0]
        return _Customer(
            account=account,
            locale=locale,
            tax=tax,
            plan=plan,
            seats=rng.randint(1, 25 if plan == 0 else 12),
            discount=rng.choice((Decimal("0"),) * 6 + (Decimal("0.10"), Decimal("0.15"))),
            uses_api=rng.random() < 0.75,
        )

    def customers(self) -> tuple[list[_Customer], list[_Customer], _Customer]:
        """(entity 1 customers, entity 2 customers, the customer planted for CURRENCY_MISMATCH)."""
        n_us2 = max(3, self.n_customers // 25)
        n_main = self.n_customers - n_us2 - 1
        weights = [loc.weight for loc in LOCALES]
        by_country = {loc.country: loc for loc in LOCALES}
        specials = [(by_country[c], name) for c, names in SPECIAL_NAMES.items() for name in names]
        main: list[_Customer] = []
        for index in range(n_main):
            special = specials[index // 7] if index % 7 == 3 and index // 7 < len(specials) else None
            if special:
                main.append(self._customer(str(index + 1), "1", special[0], special[1]))
            else:
                main.append(self._customer(str(index + 1), "1", self.rng.choices(LOCALES, weights)[0]))
        mismatch = self._customer(str(n_main + 1), "1", by_country["IE"])
        mismatch.tax = "standard"
        us = by_country["US"]
        other = [self._customer(str(n_main + 2 + i), "2", us) for i in range(n_us2)]
        return main, other, mismatch

    # -- invoice lines ---------------------------------------------------------------------------------
    def _tax(self, customer: _Customer, charge: str) -> tuple[str | None, Decimal]:
        kind = customer.tax
        if kind == "standard":
            return "V01", Decimal("23")
        if kind == "hotel":
            return ("V02", Decimal("13.5")) if charge == PRO_SERVICES else ("V01", Decimal("23"))
        if kind == "charity":
            return "EX", Decimal("0")
        if kind == "nocode":
            return None, Decimal("23")  # no code on the line: the sync uses its default (V01, 23 %)
        if kind == "none":
            return None, Decimal("0")  # entity 2 (US): no sales tax modelled
        return "V00", Decimal("0")  # reverse charge (EU B2B) or zero-rated export

    def _item(
        self,
        customer: _Customer,
        charge: str,
        quantity: int,
        price: Decimal,
        text: str,
        *,
        discount: Decimal = Decimal("0"),
        kind: str = "subscription",
        period: tuple[dt.date, dt.date] | None = None,
        tax: tuple[str | None, Decimal] | None = None,
    ) -> InvoiceItem:
        code, rate = tax or self._tax(customer, charge)
        net = cents(price * quantity) - discount
        return InvoiceItem(
            id="0",  # numbered later
            price_list_charge_id=charge,
            charge_kind=kind,  # type: ignore[arg-type]
            line_text=text,
            quantity=quantity,
            price=price,
            discount=discount,
            tax_code=code,
            tax_rate=rate,
            tax_amount=cents(net * rate / 100),
            start_date=period[0] if period else None,
            end_date=period[1] if period else None,
        )

    def _subscription(self, customer: _Customer, day: dt.date) -> InvoiceItem:
        name, price = PLANS[customer.account.currency_id][customer.plan]
        last = calendar.monthrange(day.year, day.month)[1]
        period = (day.replace(day=1), day.replace(day=last))
        price_d = _money(price)
        discount = cents(price_d * customer.seats * customer.discount)
        text = f"{name} plan, {customer.seats} seat{'s' if customer.seats > 1 else ''} ({day:%B %Y})"
        return self._item(customer, SUB_MONTHLY, customer.seats, price_d, text, discount=discount, period=period)

    def _usage(self, customer: _Customer, day: dt.date) -> InvoiceItem:
        calls = self.rng.randrange(1, 400) * 250
        last = calendar.monthrange(day.year, day.month)[1]
        price = _money(CALL_PRICE[customer.account.currency_id])
        text = f"API calls ({calls:,})"
        return self._item(customer, API_USAGE, calls, price, text, period=(day.replace(day=1), day.replace(day=last)))

    def _services(self, customer: _Customer) -> InvoiceItem:
        days = self.rng.randint(1, 6)
        price = _money(DAY_RATE[customer.account.currency_id])
        discount = cents(price * days * Decimal("0.10")) if days >= 5 else Decimal("0")
        what = self.rng.choice(("Onboarding", "Data migration", "Integration workshop", "Custom reporting"))
        text = f"{what} ({days} day{'s' if days > 1 else ''})"
        return self._item(customer, PRO_SERVICES, days, price, text, discount=discount, kind="quote")

    def _lines(self, customer: _Customer, day: dt.date) -> list[InvoiceItem]:
        rng = self.rng
        items: list[InvoiceItem] = []
        if rng.random() < 0.9:
            items.append(self._subscription(customer, day))
        if customer.uses_api and rng.random() < 0.9:
            items.append(self._usage(customer, day))
        if rng.random() < 0.18 or not items:
            items.append(self._services(customer))
        return items

    # -- invoices --------------------------------------------------------------------------------------
    def _day(self, start: dt.date = FIRST_ISSUE_DAY, end: dt.date = LAST_ISSUE_DAY) -> dt.date:
        return start + dt.timedelta(days=self.rng.randrange((end - start).days + 1))

    def _released(
        self, customer: _Customer, day: dt.date, items: list[InvoiceItem], failure: str | None = None
    ) -> _Draft:
        """A released invoice whose state follows its due date and payment as of AS_OF."""
        rng = self.rng
        created = _stamp(day, rng.randrange(0, 180))
        due = day + dt.timedelta(days=customer.account.net_payment_days)
        as_of = AS_OF.date()
        paid_at = None
        if due > as_of:
            state = "PAID" if rng.random() < 0.25 else "NOT_DUE"
        else:
            state = "PAID" if rng.random() < 0.86 else "DUE"
        if state == "PAID":
            paid_day = min(day + dt.timedelta(days=rng.randint(2, customer.account.net_payment_days + 10)), as_of)
            paid_at = min(_stamp(paid_day, rng.randrange(60, 600)), AS_OF)
            paid_at = max(paid_at, created + dt.timedelta(minutes=5))
        updated = paid_at or created + dt.timedelta(minutes=rng.randrange(1, 30))
        return _Draft(customer, state, day, created, updated, items, due=due, paid_at=paid_at, failure=failure)

    def invoices(self, main: list[_Customer], other: list[_Customer], mismatch: _Customer) -> list[_Draft]:
        rng = self.rng
        weights = [min(rng.paretovariate(1.5), 12.0) for _ in main]  # a few big customers
        eur_main = [c for c in main if c.account.currency_id == EUR and c.tax == "standard"]
        pick = lambda: rng.choices(main, weights)[0]  # noqa: E731
        drafts: list[_Draft] = []

        # The planted failures: one problem each, so the reason code is predictable.
        def planted(reason: str, items_for, day: dt.date | None = None, customer: _Customer | None = None) -> None:
            customer = customer or rng.choice(eur_main)
            day = day or self._day(dt.date(2026, 9, 1))
            drafts.append(self._released(customer, day, items_for(customer, day), failure=reason))

        def legacy(extra: bool):
            def build(customer: _Customer, day: dt.date) -> list[InvoiceItem]:
                addon = self._item(customer, LEGACY_ADDON, 1, _money("10.00"), "Legacy add-on (reporting pack)")
                return ([self._subscription(customer, day)] if extra else []) + [addon]

            return build

        def v99(customer: _Customer, day: dt.date) -> list[InvoiceItem]:
            usage = self._usage(customer, day)
            usage.tax_code = "V99"  # a code someone typed in Bunny; AIQ has no such tax code
            return [self._subscription(customer, day), usage]

        def credit(customer: _Customer, day: dt.date) -> list[InvoiceItem]:
            goodwill = self._item(customer, SUB_MONTHLY, 1, _money("-20.00"), "Goodwill credit (service outage)")
            return [self._subscription(customer, day), goodwill]

        planted(NOT_POSTING_ACCOUNT, legacy(True))
        planted(NOT_POSTING_ACCOUNT, legacy(False))
        planted(UNKNOWN_TAX_CODE, v99)
        planted(UNKNOWN_TAX_CODE, v99)
        for day in CLOSED_PERIOD_DAYS:
            planted(CLOSED_PERIOD, lambda c, d: [self._subscription(c, d)], day=day)
        planted(CURRENCY_MISMATCH, lambda c, d: [self._subscription(c, d)], customer=mismatch)
        planted(NEGATIVE_LINE, credit)

        remaining = self.n_invoices - len(drafts)
        n_other = max(2, remaining // 25)
        n_draft = max(2, remaining * 3 // 100)
        n_void = max(1, remaining * 3 // 200)
        n_regular = remaining - n_other - n_draft - n_void

        for _ in range(n_regular):
            customer, day = pick(), self._day()
            drafts.append(self._released(customer, day, self._lines(customer, day)))
        for _ in range(n_void):
            customer, day = pick(), self._day()
            draft = self._released(customer, day, self._lines(customer, day))
            draft.state, draft.paid_at = "VOIDED", None
            draft.updated = draft.created + dt.timedelta(days=rng.randint(1, 3), minutes=rng.randrange(600))
            draft.updated = min(draft.updated, AS_OF)
            drafts.append(draft)
        for _ in range(n_draft):
            customer = pick()
            day = self._day(AS_OF.date() - dt.timedelta(days=3))
            created = min(_stamp(day, rng.randrange(0, 600)), AS_OF)
            drafts.append(_Draft(customer, "DRAFT", day, created, created, self._lines(customer, day)))
        for _ in range(n_other):
            customer, day = rng.choice(other), self._day()
            drafts.append(self._released(customer, day, self._lines(customer, day)))
        return drafts


def _assemble(gen: _Generator) -> DemoTenant:
    rng = gen.rng
    main, other, mismatch = gen.customers()
    drafts = gen.invoices(main, other, mismatch)
    # Ids follow creation order; numbers follow issue order per entity, as Bunny numbers at release.
    drafts.sort(key=lambda d: (d.created, d.customer.account.id))
    numbering = sorted(
        (d for d in drafts if d.state != "DRAFT"), key=lambda d: (d.customer.account.entity_id, d.issued, d.created)
    )
    entities = {e.id: e.model_copy(deep=True) for e in gen.base.entities}
    numbers: dict[int, str] = {}
    for entity_id, start in (("1", 1001), ("2", 2001)):
        seq = start
        for draft in numbering:
            if draft.customer.account.entity_id == entity_id:
                numbers[id(draft)] = f"{entities[entity_id].invoice_number_prefix}{seq}"
                seq += 1
        entities[entity_id].invoice_number_seq = seq

    invoices: list[Invoice] = []
    item_id = 0
    for index, draft in enumerate(drafts, start=1):
        account = draft.customer.account
        for position, item in enumerate(draft.items, start=1):
            item_id += 1
            item.id, item.position = str(item_id), position
        currency = account.currency_id
        fx = (
            Decimal("1")
            if currency == EUR or account.entity_id == "2"
            else Decimal(FX_TO_EUR[currency][draft.issued.month])
        )
        released = draft.state != "DRAFT"
        invoices.append(
            Invoice(
                id=str(index),
                uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                number=numbers.get(id(draft)),
                state=draft.state,  # type: ignore[arg-type]
                entity_id=account.entity_id,
                account_id=account.id,
                currency_id=currency,
                fx_rate=fx,
                issued_at=draft.issued,
                due_at=draft.due if released else None,
                paid_at=draft.paid_at,
                net_payment_days=account.net_payment_days,
                description=f"{account.name}, {draft.issued:%B %Y}",
                po_number=f"PO-{rng.randrange(10000, 99999)}" if rng.random() < 0.2 else None,
                created_at=draft.created,
                updated_at=draft.updated,
                items=draft.items,
            )
        )

    accounts = [c.account for c in (*main, mismatch, *other)]
    tenant = gen.base.model_copy(deep=True)
    tenant.entities = [entities["1"], entities["2"]]
    tenant.accounts = accounts
    tenant.invoices = invoices
    tenant.credit_notes = []
    tenant.tokens = []

    # AccountsIQ: the demo ledger, its existing customers plus a few more, and the customers an earlier
    # (manual) import already created for Bunny accounts; one of those in the wrong currency.
    aiq = demo_fixture()
    demo01 = aiq.entities[0]
    extra = [
        CustomerFixture(code="EXISTING-004", name="Liffey Print Works Ltd", email="accounts@liffeyprint.example"),
        CustomerFixture(code="EXISTING-005", name="Thames & Kennet Freight Ltd", currency_code="GBP"),
        CustomerFixture(code="EXISTING-006", name="Société Générale d'Études SARL"),
    ]
    synced = [c for c in main if c.account.currency_id == EUR and c.tax == "standard"][-2:]
    prior = [
        CustomerFixture(code=customer_code(c.account.id), name=c.account.name[:100], currency_code="EUR")
        for c in synced
    ]
    wrong = CustomerFixture(code=customer_code(mismatch.account.id), name=mismatch.account.name, currency_code="GBP")
    demo01 = demo01.model_copy(update={"customers": [*demo01.customers, *extra, *prior, wrong]})
    accountsiq = aiq.model_copy(update={"entities": [demo01, *aiq.entities[1:]]})

    summary = _summary(gen, tenant, invoices, drafts, accountsiq)
    return DemoTenant(accountsiq=accountsiq, bunny=tenant, summary=summary)


def _summary(
    gen: _Generator, tenant: Tenant, invoices: list[Invoice], drafts: list[_Draft], aiq: EmulatorFixture
) -> dict[str, Any]:
    failures = [
        {
            "invoice_id": invoice.id,
            "number": invoice.number,
            "reason_code": draft.failure,
            "why": FAILURE_REASONS[draft.failure],
        }
        for invoice, draft in zip(invoices, drafts, strict=True)
        if draft.failure
    ]
    failed_ids = {f["invoice_id"] for f in failures}
    synced = [i for i in invoices if i.entity_id == "1" and i.state in ("NOT_DUE", "DUE", "PAID")]
    posted = [i for i in synced if i.id not in failed_ids]
    gross: Counter[str] = Counter()
    for invoice in posted:
        gross[ISO[invoice.currency_id]] += invoice.amount
    return {
        "seed": gen.seed,
        "as_of": AS_OF.isoformat(),
        "customers": {
            "bunny": len(tenant.accounts),
            "bunny_by_entity": dict(sorted(Counter(a.entity_id for a in tenant.accounts).items())),
            "bunny_by_currency": dict(sorted(Counter(ISO[a.currency_id] for a in tenant.accounts).items())),
            "aiq_existing": len(aiq.entities[0].customers),
        },
        "invoices": {
            "total": len(invoices),
            "lines": sum(len(i.items) for i in invoices),
            "by_state": dict(sorted(Counter(i.state for i in invoices).items())),
            "by_currency": dict(sorted(Counter(ISO[i.currency_id] for i in invoices).items())),
            "by_entity": dict(sorted(Counter(i.entity_id for i in invoices).items())),
            "first_issued": min(i.issued_at for i in invoices if i.issued_at).isoformat(),
            "last_issued": max(i.issued_at for i in invoices if i.issued_at).isoformat(),
        },
        "expected_sync": {
            "picked_up": len(synced),
            "posted": len(posted),
            "failed": len(failures),
            "posted_gross_by_currency": {k: str(v) for k, v in sorted(gross.items())},
            "not_picked_up": {
                "draft": sum(1 for i in invoices if i.entity_id == "1" and i.state == "DRAFT"),
                "voided": sum(1 for i in invoices if i.entity_id == "1" and i.state == "VOIDED"),
                "other_entity": sum(1 for i in invoices if i.entity_id != "1"),
            },
        },
        "failures_by_reason": dict(sorted(Counter(f["reason_code"] for f in failures).items())),
        "expected_failures": failures,
    }


def build_demo_tenant(*, customers: int = 300, invoices: int = 3000, seed: int = 7) -> DemoTenant:
    """Both halves of the demo tenant in memory (validated models) plus the summary."""
    return _assemble(_Generator(customers, invoices, seed))


def _aiq_json(fixture: EmulatorFixture) -> dict[str, Any]:
    data = fixture.model_dump(mode="json", exclude_defaults=True)
    # SecretStr dumps masked; the fixture must carry the (emulator-only) secret itself.
    for raw, client in zip(data["clients"], fixture.clients, strict=True):
        raw["client_secret"] = client.client_secret.get_secret_value()
    return data


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_demo_fixtures(directory: Path, *, customers: int = 300, invoices: int = 3000, seed: int = 7) -> DemoFixtures:
    """Write the AccountsIQ and Bunny fixtures (and `demo-summary.json`) into `directory`; same seed, same bytes."""
    tenant = build_demo_tenant(customers=customers, invoices=invoices, seed=seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    aiq_path, bunny_path = directory / AIQ_FILE, directory / BUNNY_FILE
    _write(aiq_path, _aiq_json(tenant.accountsiq))
    _write(bunny_path, tenant.bunny.model_dump(mode="json", exclude_defaults=True))
    _write(directory / SUMMARY_FILE, tenant.summary)
    return DemoFixtures(accountsiq=aiq_path, bunny=bunny_path, summary=tenant.summary)
