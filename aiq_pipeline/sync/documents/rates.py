"""Exchange rates and line tax rates.

- Exchange rate: AIQ base-currency units per 1 unit of the document currency. 1 in AIQ's base currency; else
  Bunny's own conversion (baseCurrencyTotal / amount) when Bunny's base currency is AIQ's; else the rate configured
  for the sync; last, AIQ's own rate for the day (`PostingSettings.aiq_rates`, which the posting service fills from
  GetCurrencyExchangeRate only after a plan failed with NO_EXCHANGE_RATE), passed through as AIQ states it. The
  direction of AIQ's ExchangeRate is UNVERIFIED on a real tenant (protocol-notes §4.9).
- Line TaxRate (AIQ: a fraction 0..1, informational since TaxAmount is sent explicitly): Bunny's item `taxRate`
  as a percentage (23 = 23 %) divided by 100; without it, tax / net (0 when net is 0). Rounded to 6 places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from aiq_pipeline.sync.documents.context import LedgerSnapshot, PostingSettings
from aiq_pipeline.sync.inputs import BunnyInvoice, BunnyInvoiceItem
from aiq_pipeline.sync.money import ZERO
from aiq_pipeline.sync.problems import Problem, ProblemCode

RATE_PLACES = Decimal("0.000001")
ONE = Decimal(1)
HUNDRED = Decimal(100)

RATE_BASE = "base"
RATE_BUNNY = "bunny"
RATE_CONFIGURED = "configured"
RATE_AIQ = "aiq"


def exchange_rate(
    invoice: BunnyInvoice, ledger: LedgerSnapshot, settings: PostingSettings
) -> tuple[Decimal | None, str]:
    """(rate, source): base units per 1 unit of the invoice currency, and where it came from."""
    currency = invoice.currency_code.strip().upper()
    if currency == ledger.base_currency:
        return ONE, RATE_BASE
    bunny_base = (invoice.base_currency_code or "").strip().upper()
    if bunny_base == ledger.base_currency and invoice.base_currency_total and invoice.amount:
        # Magnitudes: whether Bunny signs a negative invoice's base total is UNVERIFIED, and the rate is the same;
        # a base total of 0 is no conversion (a rate of 0 would block every retry).
        rate = (abs(invoice.base_currency_total) / abs(invoice.amount)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
        return rate, RATE_BUNNY
    return known_rate(currency, settings)


def known_rate(currency: str, settings: PostingSettings) -> tuple[Decimal | None, str]:
    """The rate configured for the sync, else AIQ's own for the day: for documents Bunny gives no conversion of."""
    configured = settings.exchange_rates.get(currency)
    if configured is not None:
        return Decimal(configured), RATE_CONFIGURED
    from_aiq = settings.aiq_rates.get(currency)
    if from_aiq is not None:
        return Decimal(from_aiq), RATE_AIQ
    return None, ""


def currency_problems(label: str, currency: str, rate: Decimal | None, ledger: LedgerSnapshot) -> list[Problem]:
    """A currency AIQ's company lacks, and a foreign currency without a usable rate (NO_EXCHANGE_RATE, after which
    the posting service plans once more with AIQ's own rate)."""
    problems: list[Problem] = []
    if ledger.currencies is not None and currency not in ledger.currencies:
        problems.append(
            Problem(
                ProblemCode.UNKNOWN_CURRENCY,
                f"{label} is in {currency}, a currency the AIQ company does not have.",
                f"Add {currency} to the currencies of the AIQ company, then retry.",
            )
        )
    if rate is None or rate <= 0:
        problems.append(
            Problem(
                ProblemCode.NO_EXCHANGE_RATE,
                f"{label} is in {currency}, not AIQ's base currency {ledger.base_currency}, and no usable exchange "
                f"rate is known ({'none given' if rate is None else f'got {rate}'}).",
                f"Set the {currency} rate in AIQ (Currencies), or configure the {currency} -> {ledger.base_currency} "
                "rate for the sync, then retry.",
            )
        )
    return problems


def line_tax_rate(item: BunnyInvoiceItem, net: Decimal, tax: Decimal) -> Decimal:
    if item.tax_rate is not None:
        rate = Decimal(item.tax_rate) / HUNDRED
    elif net == ZERO:
        rate = ZERO
    else:
        rate = tax / net
    return rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
