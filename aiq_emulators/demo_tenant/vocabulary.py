"""The demo tenant's fixed vocabulary: dates, currencies, prices, exchange rates, the planted failures' reasons,
and the countries its customers come from (names, addresses, phone and VAT formats).

Data only; the generator (customers.py, invoices.py, assembly.py) draws from it with a seeded random.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

AS_OF = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
FIRST_ISSUE_DAY = dt.date(2026, 6, 1)
LAST_ISSUE_DAY = AS_OF.date()
CLOSED_PERIOD_DAYS = (dt.date(2026, 5, 15), dt.date(2026, 5, 28))  # AIQ's sales ledger is closed before June
# The demo tenant is history: the sync starts at its first month (the closed-period invoices included), not on the
# day the demo is first switched on (AIQ_PIPELINE_SYNC_START_DATE; without it the first-start rule skips it all).
SYNC_START_DATE = dt.date(2026, 5, 1)

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
    NEGATIVE_LINE: "a goodwill credit line of net -20.00 whose tax was keyed as +4.60: no AIQ line carries a net and "
    "a tax of opposite signs (a credit line of the right sign is netted against the charges and posts)",
}

# Payments (issue 12). Processors per currency, with the payment type Bunny shows and a weight; "paypal" is the
# processor left unmapped on purpose (its payments fail as UNMAPPED_BANK_ACCOUNT until it is mapped).
STRIPE, GOCARDLESS, MANUAL, PAYPAL = "stripe", "gocardless", "manual", "paypal"
UNMAPPED_PROCESSOR = PAYPAL
PAYMENT_TYPES = {STRIPE: "card", GOCARDLESS: "direct_debit", MANUAL: "wire_transfer", PAYPAL: "paypal"}
PROCESSORS = {
    EUR: ((STRIPE, 60), (GOCARDLESS, 25), (MANUAL, 15)),
    GBP: ((STRIPE, 60), (GOCARDLESS, 25), (MANUAL, 15)),
    USD: ((STRIPE, 75), (MANUAL, 25)),
}
# The demo's AIQ_PIPELINE_BANK_ACCOUNTS: every processor and currency above, paypal left out on purpose. AIQ's banks
# (aiq_emulators.accountsiq.fixtures.payments_demo_fixture): 1200 EUR current account, 1210 GBP, 1220 USD, 1230 the
# card processor's EUR clearing account.
BANK_ACCOUNTS = {
    "stripe:EUR": "1230",
    "stripe:GBP": "1210",
    "stripe:USD": "1220",
    "gocardless:EUR": "1200",
    "gocardless:GBP": "1210",
    "manual:EUR": "1200",
    "manual:GBP": "1210",
    "manual:USD": "1220",
}
BANK_ACCOUNTS_SETTING = ",".join(f"{key}={account}" for key, account in BANK_ACCOUNTS.items())
FEES_ACCOUNT = "6900"  # Bank charges: the processors' fees
ACCOUNT_CREDIT_ACCOUNT = "2150"  # Customer credits: account credit applied to invoices
# The card processor's fee on the payments that carry one: a share of the amount plus a fixed part.
CARD_FEES = {EUR: ("0.015", "0.25"), GBP: ("0.015", "0.20"), USD: ("0.029", "0.30")}
# Reason codes of the payment exceptions the demo plants, with what a finance person would be told.
UNMAPPED_BANK_ACCOUNT = "UNMAPPED_BANK_ACCOUNT"
INVOICE_NOT_POSTED = "INVOICE_NOT_POSTED"
PAYMENT_EXCEPTIONS = {
    UNMAPPED_BANK_ACCOUNT: f"paid through {PAYPAL}, a processor AIQ_PIPELINE_BANK_ACCOUNTS leaves unmapped on purpose",
    INVOICE_NOT_POSTED: "paid an invoice planted to fail (NOT_POSTING_ACCOUNT): the payment waits for it",
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
