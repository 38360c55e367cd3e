"""`doctor --probe`: every check against the live tenant, read-only on both sides, in one report.

Bunny first (its invoices' dates are also what AIQ's period list must cover), then AIQ. A check whose read fails
becomes an undetermined finding that says so, and the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import AiqError
from aiq_pipeline.accountsiq.models import TransactionSummary
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.errors import BunnyError
from aiq_pipeline.bunny.models import Invoice
from aiq_pipeline.service.doctor import CHECK_ATTEMPTS
from aiq_pipeline.service.probe.aiq_chart import ACCOUNT_TYPES_READING, account_types_finding, tax_units_finding
from aiq_pipeline.service.probe.aiq_history import exchange_rate_finding, periods_finding, references_finding
from aiq_pipeline.service.probe.bunny_filters import filter_finding
from aiq_pipeline.service.probe.bunny_invoices import DEFAULT_INVOICES, last_released_invoices
from aiq_pipeline.service.probe.bunny_money import money_findings
from aiq_pipeline.service.probe.bunny_reads import READING as COMBINED_READING
from aiq_pipeline.service.probe.bunny_reads import SETTING as COMBINED_SETTING
from aiq_pipeline.service.probe.bunny_reads import combined_reads_finding
from aiq_pipeline.service.probe.findings import Finding, Verdict, failed_finding
from aiq_pipeline.service.probe.report import ProbeReport
from aiq_pipeline.settings import AiqConnection, BunnyConnection, PostingRules, Settings

RECENT_DAYS = 90  # AIQ's transactions read for the exchange rate, the references and the period list
BUNNY_READINGS = (
    ("Bunny line amount", "none: the product reads after_discount"),
    ("Bunny credit lines", "none: the product reads in_subtotal"),
    ("Bunny subtotal", "AIQ_PIPELINE_BUNNY_SUBTOTAL"),
    ("Bunny amount", "AIQ_PIPELINE_BUNNY_AMOUNT"),
    ("Bunny taxRate units", "AIQ_PIPELINE_BUNNY_TAX_RATE_UNITS"),
    ("Bunny document tax", "AIQ_PIPELINE_ROUNDING_TOLERANCE"),
    ("Bunny filter grammar", "none: the client falls back to simpler filters"),
)
AIQ_READINGS = (
    (ACCOUNT_TYPES_READING, "none"),
    ("AIQ tax rate units", "AIQ_PIPELINE_AIQ_TAX_RATE_UNITS"),
    ("AIQ period list", "none: the product reads all_years"),
    ("AIQ exchange-rate direction", "none: the product reads multiply"),
    ("AIQ external references", "none"),
)


def run_probe(
    settings: Settings,
    *,
    invoices: int = DEFAULT_INVOICES,
    now: datetime | None = None,
    aiq_factory: Callable[..., AccountsIQClient] = AccountsIQClient,
    bunny_factory: Callable[..., BunnyClient] = BunnyClient,
) -> ProbeReport:
    """Probe the pair's tenants. The settings must be complete (doctor's checks passed)."""
    pair = settings.pair
    moment = now or datetime.now(UTC)
    read, bunny_findings = _bunny(pair.require_bunny(), pair.rules, invoices, moment, bunny_factory)
    dates = [i.issued_at for i in read if i.issued_at is not None]
    aiq_findings = _aiq(pair.require_aiq(), pair.rules, dates, moment.date(), aiq_factory)
    return ProbeReport((*aiq_findings, *bunny_findings))


def _bunny(
    connection: BunnyConnection,
    rules: PostingRules,
    count: int,
    now: datetime,
    factory: Callable[..., BunnyClient],
) -> tuple[list[Invoice], list[Finding]]:
    with factory(**connection.client_arguments(), max_attempts=CHECK_ATTEMPTS) as client:
        read, findings = _invoice_readings(client, connection, rules, count, now)
        try:
            findings.append(combined_reads_finding(client, connection.entity_id))
        except BunnyError as exc:
            findings.append(failed_finding(COMBINED_READING, COMBINED_SETTING, exc))
        return read, findings


def _invoice_readings(
    client: BunnyClient, connection: BunnyConnection, rules: PostingRules, count: int, now: datetime
) -> tuple[list[Invoice], list[Finding]]:
    """The readings the tenant's released invoices show."""
    try:
        read = last_released_invoices(client, connection.entity_id, count, now=now)
    except BunnyError as exc:
        return [], [failed_finding(name, setting, exc) for name, setting in BUNNY_READINGS]
    if not read:
        evidence = f"no released invoice in Bunny entity {connection.entity_id}"
        return [], [Finding(n, "cannot tell", evidence, s, Verdict.UNDETERMINED) for n, s in BUNNY_READINGS]
    findings = money_findings(read, rules)
    try:
        findings.append(filter_finding(client, connection.entity_id, read))
    except BunnyError as exc:
        findings.append(failed_finding(*BUNNY_READINGS[-1], exc))
    return read, findings


def _aiq(
    connection: AiqConnection,
    rules: PostingRules,
    bunny_dates: Sequence[date],
    today: date,
    factory: Callable[..., AccountsIQClient],
) -> list[Finding]:
    names = dict(AIQ_READINGS)
    with factory(**connection.client_arguments(), max_attempts=CHECK_ATTEMPTS) as client:
        findings: list[Finding] = []

        def attempt(reading: str, check: Callable[[], Finding]) -> None:
            try:
                findings.append(check())
            except AiqError as exc:
                findings.append(failed_finding(reading, names[reading], exc))

        attempt(ACCOUNT_TYPES_READING, lambda: account_types_finding(client.get_chart_of_accounts()))
        attempt("AIQ tax rate units", lambda: tax_units_finding(client.get_tax_code_list(), rules))
        try:
            transactions: list[TransactionSummary] | AiqError = client.get_transactions_by(
                today - timedelta(days=RECENT_DAYS), today
            )
        except AiqError as exc:
            transactions = exc
        rows = transactions if isinstance(transactions, list) else []
        aiq_dates = [t.transaction_date for t in rows if t.transaction_date is not None]
        attempt(
            "AIQ period list",
            lambda: periods_finding(client, client.get_period_list(), [*bunny_dates, *aiq_dates]),
        )
        if isinstance(transactions, AiqError):
            for reading in ("AIQ exchange-rate direction", "AIQ external references"):
                findings.append(failed_finding(reading, names[reading], transactions))
        else:
            attempt("AIQ exchange-rate direction", lambda: _exchange(client, rows))
            attempt("AIQ external references", lambda: references_finding(rows, RECENT_DAYS))
        return findings


def _exchange(client: AccountsIQClient, transactions: Sequence[TransactionSummary]) -> Finding:
    currencies = client.get_currencies()
    base = next((c.code.upper() for c in currencies if c.is_base_currency), "")
    if not base:
        base = client.get_company_information().base_currency_code.upper()
    return exchange_rate_finding(transactions, currencies, base, RECENT_DAYS)
