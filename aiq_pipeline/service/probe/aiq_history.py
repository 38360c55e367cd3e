"""Readings of AIQ settled from what the ledger already holds: the period list, the exchange-rate direction, and
whether external references repeat. Nothing is written.

Period list. The product reads `GetPeriodList` without a date as every period of every year. The dates of the
documents seen (Bunny's released invoices, AIQ's recent transactions) must fall in a listed period; for a date
that does not, `GetPeriodList(date)` says whether AIQ has a period for it after all (then the list without a date
holds the current financial year only: `current_year`) or not (a year nobody set up: the tenant's to fix).

Exchange-rate direction. A posted foreign-currency transaction's control line gives its amount and its base-currency
amount, hence the rate it was posted at, in base units per foreign unit. `GetCurrencies` gives today's rate as AIQ
states it. If the two are close, AIQ states base units per foreign unit (`multiply`: base = amount x rate, the
product's reading); if one is close to the other's inverse, the reverse (`divide`). A rate too near 1, or a
document posted far from today's rate, tells nothing.

External references. Plain creates may or may not refuse a reference AIQ already holds (`unique_external_references`
in the emulator). A read can only show that duplicates exist, never that AIQ refuses them: references seen twice
(per transaction type, compared as SQL Server compares) settle it; none seen leaves it undetermined. The product
looks a reference up before it writes, so it is safe either way, unless one of *its own* references is there twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.models import Currency, Period, TransactionSummary
from aiq_pipeline.service.probe.findings import Finding, Verdict, examples, fixed_finding
from aiq_pipeline.sync import identity

ALL_YEARS, CURRENT_YEAR = "all_years", "current_year"
MULTIPLY, DIVIDE = "multiply", "divide"
RATE_NEAR_ONE = Decimal("0.02")  # |ln rate| below this: the two directions cannot be told apart
RATE_DRIFT = Decimal("0.15")  # |ln(posted / today's)| above this: the document was posted at another rate
MAX_FOREIGN = 20  # foreign-currency transactions looked at, newest first
MAX_DATED_CALLS = 5  # GetPeriodList(date) calls for dates outside the list, one per calendar year
OUR_PREFIXES = tuple(
    f"{prefix}-"
    for prefix in (
        identity.INVOICE_PREFIX,
        identity.CREDIT_NOTE_PREFIX,
        identity.VOID_PREFIX,
        identity.VOID_CREDIT_PREFIX,
        identity.INVOICE_CREDIT_PREFIX,
        identity.PAYMENT_PREFIX,
        identity.FEE_PREFIX,
        identity.REFUND_PREFIX,
        identity.ACCOUNT_CREDIT_PREFIX,
    )
) + tuple(f"{p}_" for p in (identity.INVOICE_PREFIX, identity.CREDIT_NOTE_PREFIX, identity.PAYMENT_PREFIX))


# -- period list ------------------------------------------------------------------------------------------------


def periods_finding(client: AccountsIQClient, listed: Sequence[Period], dates: Sequence[date]) -> Finding:
    reading = "AIQ period list"
    product = ALL_YEARS
    years = sorted({p.financial_year for p in listed})
    fix = (
        "no setting covers this: the product reads GetPeriodList without a date as every year, so documents dated "
        "outside the current financial year would find no period; report it to the maintainers"
    )
    if not dates:
        evidence = f"lists {len(listed)} periods of years {_years(years)}; no document dates to check them against"
        return fixed_finding(reading, None, evidence, product, fix=fix)
    uncovered = sorted({d for d in dates if not any(p.contains(d) for p in listed)})
    evidence = f"lists {len(listed)} periods of years {_years(years)}; {len(set(dates))} document dates"
    if not uncovered:
        evidence += ", all inside a listed period"
        shown = ALL_YEARS if len(years) > 1 else None
        if shown is None:
            evidence += " (one year listed: a list of the current year only would look the same)"
        return fixed_finding(reading, shown, evidence, product, fix=fix)
    first_per_year: dict[int, date] = {}
    for day in uncovered:
        first_per_year.setdefault(day.year, day)
    samples = sorted(first_per_year.values())[:MAX_DATED_CALLS]
    found = [d for d in samples if any(p.contains(d) for p in client.get_period_list(d))]
    evidence += f"; {len(uncovered)} outside it, e.g. {examples(samples)}"
    if found:
        evidence += f"; GetPeriodList with a date finds a period for {examples(found)}"
        return fixed_finding(reading, CURRENT_YEAR, evidence, product, fix=fix)
    evidence += "; AIQ has no period for them at all (set those years up in AIQ before posting into them)"
    return fixed_finding(reading, ALL_YEARS if len(years) > 1 else None, evidence, product, fix=fix)


def _years(years: Sequence[int]) -> str:
    return ", ".join(str(y) for y in years) or "none"


# -- exchange-rate direction ------------------------------------------------------------------------------------


def _direction(posted: Decimal, stated: Decimal) -> str | None:
    """multiply when the posted rate (base per foreign) is today's stated rate, divide when it is its inverse."""
    if abs(stated.ln()) < RATE_NEAR_ONE:
        return None
    as_stated = abs((posted / stated).ln())
    inverted = abs((posted * stated).ln())
    if min(as_stated, inverted) > RATE_DRIFT:
        return None
    return MULTIPLY if as_stated < inverted else DIVIDE


def exchange_rate_finding(
    transactions: Sequence[TransactionSummary], currencies: Sequence[Currency], base: str, days: int
) -> Finding:
    reading = "AIQ exchange-rate direction"
    fix = (
        "no setting covers this: the product sends ExchangeRate as base-currency units per unit of the document's "
        "currency, and this tenant states rates the other way round, so foreign-currency documents would post at "
        "the inverse rate; post only base-currency documents and report it to the maintainers"
    )
    stated = {c.code.upper(): c.exchange_rate for c in currencies if not c.is_base_currency and c.exchange_rate > 0}
    foreign = [t for t in transactions if (t.currency_code or "").upper() in stated]  # `stated` has no base currency
    foreign.sort(key=lambda t: (t.transaction_date or date.min, t.transaction_id), reverse=True)
    votes: dict[str, list[str]] = defaultdict(list)
    example = ""
    for summary in foreign[:MAX_FOREIGN]:
        control = next((line for line in summary.lines if line.is_control_line), None)
        if control is None or not control.amount or not control.bc_amount:
            continue
        currency = (summary.currency_code or "").upper()
        posted = abs(control.bc_amount) / abs(control.amount)
        direction = _direction(posted, stated[currency])
        if direction is None:
            continue
        votes[direction].append(str(summary.transaction_id))
        example = example or (
            f"e.g. {summary.transaction_id}: {abs(control.amount)} {currency} = {abs(control.bc_amount)} {base} "
            f"({posted.quantize(Decimal('0.0001'))} {base} per {currency}), AIQ states {currency} at "
            f"{stated[currency].normalize():f}"
        )
    counts = ", ".join(f"{d} {len(ids)}" for d, ids in sorted(votes.items()))
    evidence = f"{len(foreign)} foreign-currency transactions in {days} days"
    if not votes:
        evidence += "; none posted near today's rate with a rate far enough from 1 to tell" if foreign else ""
        return fixed_finding(reading, None, evidence, MULTIPLY, fix=fix)
    evidence += f"; {counts}; {example}"
    shown = next(iter(votes)) if len(votes) == 1 else None
    return fixed_finding(reading, shown, evidence, MULTIPLY, fix=fix)


# -- external references ----------------------------------------------------------------------------------------


def references_finding(transactions: Sequence[TransactionSummary], days: int) -> Finding:
    reading = "AIQ external references"
    setting = "none: the product looks a reference up before it writes (safe either way)"
    groups: dict[tuple[str, str], list[TransactionSummary]] = defaultdict(list)
    for summary in transactions:
        reference = (summary.external_reference or "").rstrip()
        if reference:
            groups[((summary.transaction_type or "").upper(), reference.casefold())].append(summary)
    repeated = {key: rows for key, rows in groups.items() if len(rows) > 1}
    evidence = f"{len(transactions)} transactions in {days} days, {len(groups)} references"
    if not repeated:
        evidence += ", none twice for one type (AIQ may refuse duplicates, or none were ever sent)"
        return Finding(reading, "no duplicate seen", evidence, setting, Verdict.UNDETERMINED)
    shown = [
        f"{rows[0].external_reference} ({'/'.join(str(r.transaction_id) for r in rows)})" for rows in repeated.values()
    ]
    evidence += f"; {len(repeated)} repeated: {examples(shown)}"
    ours = [rows[0].external_reference or "" for rows in repeated.values()]
    ours = [r for r in ours if r.upper().startswith(OUR_PREFIXES)]
    if ours:
        fix = (
            f"AIQ holds two documents for the product's own reference {examples(ours)}: reverse the extra one in AIQ "
            "(the product stops a document whose reference look-up finds two)"
        )
        return Finding(reading, "not unique", evidence, setting, Verdict.CONTRADICTS, fix=fix)
    return Finding(reading, "not unique", evidence, setting, Verdict.AGREES)
