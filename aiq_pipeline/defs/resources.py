"""Dagster resources, built from the one settings model (`aiq_pipeline.settings`).

The code location reads the settings leniently (`Settings.from_env(strict=False)`): it loads while the AIQ
or Bunny settings are still missing, and a run then fails at start naming the variable. Secrets reach Dagster
as `dg.EnvVar` references (the UI shows the variable's name, never its value), and so does every connection
setting the model could not vouch for; the values it checked are passed as the values. Secret fields are
excluded from reprs.

Every reference is the pair's own (`PairSettings.env_name`): without a pairs file the setting's variable
(`AIQ_CLIENT_SECRET`), with one the variable its `{ env = ... }` names (`UK_AIQ_CLIENT_SECRET`). A pair from
a pairs file is never given another variable: a value the file writes literally is passed as the value, and
a connection setting the file leaves missing or wrong is carried on the resource (`problems`), so that
opening it fails naming the file, the pair and the key.

Definitions that need a setting when they are built (the sensors' and schedule's default status, the retry
policy's delay) call `default_sensor_status()`, `default_schedule_status()` and `transient_retry_delay()`
here instead of reading the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import dagster as dg
from pydantic import Field

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.bunny import BunnyClient, TokenCache
from aiq_pipeline.settings import (
    AIQ_VARIABLES,
    BUNNY_VARIABLES,
    CLOSED_PERIOD_FAIL,
    CLOSED_PERIOD_POLICIES,
    CUSTOMER_MATCH_RULES,
    DEFAULT_BATCH_SIZE,
    DEFAULT_CLAIM_LEASE_SECONDS,
    DEFAULT_CONCURRENCY,
    DEFAULT_ROUNDING_TOLERANCE,
    DEFAULT_TRANSIENT_RETRY_DELAY_SECONDS,
    DEFAULT_UNKNOWN_OUTCOME_DEADLINE_SECONDS,
    MAX_BATCH_SIZE,
    PairSettings,
    PostingRules,
    SettingProblem,
    Settings,
    SettingsError,
    default_store_path,
    missing_problem,
)
from aiq_pipeline.store import Store
from aiq_pipeline.sync.documents.context import BadDebt, BunnyReadings, PaymentAccounts
from aiq_pipeline.sync.tax import TaxMapping, parse_tax_mapping

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_INVOICES_PER_TICK",
    "AccountsIQResource",
    "BunnyResource",
    "PostingRulesResource",
    "Resource",
    "StoreResource",
    "SyncSettings",
    "default_schedule_status",
    "default_sensor_status",
    "default_store_location",
    "resources_from_environment",
    "resources_from_settings",
    "transient_retry_delay",
]

DEFAULT_MAX_INVOICES_PER_TICK = 2000

if TYPE_CHECKING:
    # The base of every resource here. Dagster's ConfigurableResource is generic in the value it hands to the assets,
    # and a resource that hands over itself cannot name its own class there (Generic[Self] is not valid:
    # dagster-io/dagster#32027), so the type checker sees Any for that value, said once, here. At run time the base
    # stays the plain class: a subscripted one would put a parametrised pydantic class into every resource's MRO.
    Resource: TypeAlias = dg.ConfigurableResource[Any]
else:
    Resource = dg.ConfigurableResource


class AccountsIQResource(Resource):
    """AIQ_REGION or AIQ_BASE_URL, AIQ_ENTITY_ID, AIQ_CLIENT_ID, AIQ_CLIENT_SECRET, AIQ_DEFAULT_TAX_CODE."""

    region: str | None = Field(default=None, description="US1, EU1, EU2 or UK1")
    base_url: str | None = Field(default=None, description="Overrides the region's host (the emulator)")
    entity_id: str = Field(description="The AIQ entity (company) invoices are posted to")
    client_id: str = Field(description="Integration application client id")
    client_secret: str = Field(repr=False, description="Integration application client secret")
    default_tax_code: str = Field(description="AIQ tax code for lines that carry none")
    backoff_seconds: float = Field(default=0.5, ge=0, description="First pause before a retry; doubles each time")
    problems: dict[str, str] = Field(
        default_factory=dict, description="Setting -> what the pairs file leaves missing or wrong (opening fails)"
    )

    @contextmanager
    def open(self) -> Iterator[AccountsIQClient]:
        _refuse(self.problems)
        with AccountsIQClient(
            entity_id=self.entity_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            region=self.region or None,
            base_url=self.base_url or None,
            backoff_base=self.backoff_seconds,
        ) as client:
            yield client


# Bunny tokens shared by every client this process opens: a code server's sensor ticks and a command's steps ask
# for one token per tenant and API client until it nears expiry, not one per tick or step.
PROCESS_TOKENS = TokenCache()
# The lists Bunny showed it does not sort newest first (an unverified reading), learnt once per process.
PROCESS_UNSORTED_LISTS: set[tuple[str, str]] = set()
# ... and those it showed it does sort (asked oldest first once), learnt once per process.
PROCESS_SORTED_LISTS: set[tuple[str, str]] = set()
# The Bunny URLs that refused reading several lists in one request (an unverified reading), learnt once per process.
PROCESS_COMBINED_REFUSED: set[str] = set()


class BunnyResource(Resource):
    """BUNNY_BASE_URL, BUNNY_CLIENT_ID, BUNNY_CLIENT_SECRET, BUNNY_ENTITY_ID."""

    base_url: str = Field(description="https://<tenant>.bunny.com (or the emulator)")
    client_id: str = Field(description="API client id")
    client_secret: str = Field(repr=False, description="API client secret")
    entity_id: str = Field(description="The Bunny entity whose invoices are synced")
    backoff_seconds: float = Field(default=0.5, ge=0, description="First pause before a retry; doubles each time")
    problems: dict[str, str] = Field(
        default_factory=dict, description="Setting -> what the pairs file leaves missing or wrong (opening fails)"
    )

    @contextmanager
    def open(self) -> Iterator[BunnyClient]:
        _refuse(self.problems)
        with BunnyClient(
            base_url=self.base_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            backoff_base=self.backoff_seconds,
            token_cache=PROCESS_TOKENS,
            unsorted_lists=PROCESS_UNSORTED_LISTS,
            sorted_lists=PROCESS_SORTED_LISTS,
            combined_refused=PROCESS_COMBINED_REFUSED,
        ) as client:
            yield client


def _refuse(problems: dict[str, str]) -> None:
    if problems:
        raise SettingsError([SettingProblem(variable, message) for variable, message in problems.items()])


class StoreResource(Resource):
    """AIQ_PIPELINE_STORE: a DuckDB file path (default) or a postgresql:// URL."""

    location: str = Field(repr=False, description="DuckDB file path or postgresql:// URL")

    def store(self) -> Store:
        location = self.location
        if isinstance(location, dg.EnvVar):  # used outside a run, where Dagster has not resolved it
            location = location.get_value() or ""
            if not location.strip():
                raise SettingsError([missing_problem("AIQ_PIPELINE_STORE")])
        return Store(location)


class SyncSettings(Resource):
    """How the invoice sync batches, where it starts, and how it dates documents in closed AIQ periods."""

    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=MAX_BATCH_SIZE, description="Invoices per run")
    max_invoices_per_tick: int = Field(default=DEFAULT_MAX_INVOICES_PER_TICK, ge=1)
    overlap_minutes: int = Field(default=10, ge=0, description="How late a Bunny updatedAt may become visible")
    sweep_minutes: int = Field(default=5, ge=0, description="How often a sensor reads behind its cursor again")
    sync_start_date: str | None = Field(
        default=None, description="YYYY-MM-DD: invoices issued before this date are never picked up"
    )

    closed_period_policy: str = Field(
        default=CLOSED_PERIOD_FAIL,
        pattern="^(" + "|".join(CLOSED_PERIOD_POLICIES) + ")$",
        description="fail (default): a document dated in a closed AIQ sales period is an exception; "
        "first_open_day: it posts on the first day of the next open period, Bunny's date kept in its description",
    )

    transient_retry_delay_seconds: float = Field(
        default=DEFAULT_TRANSIENT_RETRY_DELAY_SECONDS,
        ge=0,
        le=3600,
        description="Pause before a batch with transient failures is tried again",
    )
    unknown_outcome_deadline_seconds: int = Field(
        default=DEFAULT_UNKNOWN_OUTCOME_DEADLINE_SECONDS,
        ge=1,
        le=3600,
        description="How long to keep looking for a document whose write outcome is unknown",
    )
    claim_lease_seconds: int = Field(
        default=DEFAULT_CLAIM_LEASE_SECONDS,
        ge=30,
        le=86400,
        description="How long a claim on a document holds before another runner may take it over",
    )
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=16, description="AIQ calls a run makes at once")

    def start_date(self) -> date | None:
        return date.fromisoformat(self.sync_start_date) if self.sync_start_date else None


class PostingRulesResource(Resource):
    """How documents post: the tax mapping, this tenant's Bunny money readings, rounding, bad debt, customers and
    payments (AIQ_PIPELINE_TAX_MAPPING ... AIQ_PIPELINE_FEES_ACCOUNT; README, Configuration)."""

    tax_mapping_file: str | None = Field(default=None, description="CSV of Bunny tax -> AIQ tax code rules")
    aiq_tax_rate_units: str = Field(default="percent", pattern="^(percent|fraction)$")
    bunny_tax_rate_units: str = Field(default="percent", pattern="^(percent|fraction)$")
    bunny_subtotal: str = Field(default="after_discount", pattern="^(after_discount|before_discount)$")
    bunny_amount: str = Field(default="full", pattern="^(full|less_credits)$")
    bunny_payment_amount: str = Field(default="gross", pattern="^(gross|net_of_fees)$")
    rounding_tolerance: str = Field(default=str(DEFAULT_ROUNDING_TOLERANCE), description="per document, e.g. 0.02")
    rounding_account: str | None = None
    bad_debt_account: str | None = None
    bad_debt_tax: str = Field(default="relief", pattern="^(relief|none)$")
    bad_debt_tax_code: str | None = None
    post_zero_value: bool = False
    customer_match: list[str] = Field(default_factory=lambda: [str(rule) for rule in CUSTOMER_MATCH_RULES])
    bank_accounts: dict[str, str] = Field(default_factory=dict, description="processor:CURRENCY -> AIQ bank account")
    fees_account: str | None = None
    account_credit_account: str | None = None

    def tax_mapping(self) -> TaxMapping:
        """The mapping file's rules (none without one); TaxMappingError names the file's line at fault."""
        if not self.tax_mapping_file:
            return TaxMapping()
        path = Path(self.tax_mapping_file)
        return parse_tax_mapping(path.read_text(encoding="utf-8"), source=f"AIQ_PIPELINE_TAX_MAPPING ({path.name})")

    def readings(self) -> BunnyReadings:
        return BunnyReadings(
            tax_rate_units=self.bunny_tax_rate_units,
            subtotal=self.bunny_subtotal,
            amount=self.bunny_amount,
            payment_amount=self.bunny_payment_amount,
        )

    def payments(self) -> PaymentAccounts:
        banks: dict[tuple[str, str], str] = {}
        for key, account in self.bank_accounts.items():
            processor, _, currency = key.rpartition(":")
            banks[(processor, currency)] = account
        return PaymentAccounts(
            banks=banks, fees_account=self.fees_account, account_credit_account=self.account_credit_account
        )

    def bad_debt(self) -> BadDebt:
        return BadDebt(account=self.bad_debt_account, tax=self.bad_debt_tax, tax_code=self.bad_debt_tax_code)


def _rules_resource(rules: PostingRules) -> PostingRulesResource:
    return PostingRulesResource(
        tax_mapping_file=str(rules.tax_mapping_file) if rules.tax_mapping_file else None,
        aiq_tax_rate_units=rules.aiq_tax_rate_units,
        bunny_tax_rate_units=rules.bunny_tax_rate_units,
        bunny_subtotal=rules.bunny_subtotal,
        bunny_amount=rules.bunny_amount,
        bunny_payment_amount=rules.bunny_payment_amount,
        rounding_tolerance=str(rules.rounding_tolerance),
        rounding_account=rules.rounding_account,
        bad_debt_account=rules.bad_debt_account,
        bad_debt_tax=rules.bad_debt_tax,
        bad_debt_tax_code=rules.bad_debt_tax_code,
        post_zero_value=rules.post_zero_value,
        customer_match=list(rules.customer_match),
        bank_accounts={
            f"{processor}:{currency}": account for (processor, currency), account in rules.bank_accounts.items()
        },
        fees_account=rules.fees_account,
        account_credit_account=rules.account_credit_account,
    )


# -- from the settings model ---------------------------------------------------------------------------


def _code_location_settings() -> Settings:
    return Settings.from_env(strict=False)


def default_sensor_status(pair: PairSettings | None = None) -> dg.DefaultSensorStatus:
    """AIQ_PIPELINE_SENSOR_DEFAULT as Dagster's status: STOPPED unless RUNNING (a wrong value is a SettingsError)."""
    pair = pair or _code_location_settings().pair
    return dg.DefaultSensorStatus.RUNNING if pair.sensors_running else dg.DefaultSensorStatus.STOPPED


def default_schedule_status(pair: PairSettings | None = None) -> dg.DefaultScheduleStatus:
    """The same switch for the schedules that follow the sensors (the daily reconciliation)."""
    pair = pair or _code_location_settings().pair
    return dg.DefaultScheduleStatus.RUNNING if pair.sensors_running else dg.DefaultScheduleStatus.STOPPED


def transient_retry_delay(settings: Settings | None = None) -> float:
    """AIQ_PIPELINE_TRANSIENT_RETRY_DELAY in seconds, for a `dg.RetryPolicy(delay=...)`."""
    return (settings or _code_location_settings()).transient_retry_delay_seconds


def default_store_location() -> str:
    """`$DAGSTER_HOME/aiq_pipeline.duckdb` (or under `./.dagster_home`): where AIQ_PIPELINE_STORE defaults to;
    `aiq_pipeline_<pair>.duckdb` for a pair of a pairs file not named "default"."""
    settings = _code_location_settings()
    return str(default_store_path(settings.dagster_home, settings.pair.name))


def resources_from_environment() -> dict[str, Resource]:
    """The production wiring: the settings model read from the environment, leniently (see the module doc)."""
    return resources_from_settings(_code_location_settings())


def resources_from_settings(settings: Settings) -> dict[str, Resource]:
    """The resources for the settings' one pair."""
    pair = settings.pair
    store_variable = pair.env_name("AIQ_PIPELINE_STORE")
    return {
        "accountsiq": _accountsiq_resource(pair),
        "bunny": _bunny_resource(pair),
        # The location may be a PostgreSQL URL with a password: the UI shows the variable, never the URL.
        "store": StoreResource(location=dg.EnvVar(store_variable) if store_variable else settings.store_location),
        "sync_settings": SyncSettings(
            batch_size=settings.batch_size,
            sync_start_date=pair.sync_start_date.isoformat() if pair.sync_start_date else None,
            closed_period_policy=pair.closed_period_policy,
            transient_retry_delay_seconds=settings.transient_retry_delay_seconds,
            unknown_outcome_deadline_seconds=settings.unknown_outcome_deadline_seconds,
            claim_lease_seconds=settings.claim_lease_seconds,
            concurrency=settings.concurrency,
        ),
        "posting_rules": _rules_resource(pair.rules),
    }


def _secret(pair: PairSettings, variable: str) -> Any:
    """A secret by name: the pair's own variable (a pairs file only ever names its secrets, never holds them)."""
    return dg.EnvVar(pair.env_name(variable) or variable)


def _unchecked(pair: PairSettings, variable: str, *, required: bool = True) -> Any:
    """A connection setting the model could not vouch for, resolved when a run starts: the variable that holds
    the pair's value; a pairs file's literal as it is (the problem rides on the resource); else, without a pairs
    file, the variable itself, which Dagster names when it is unset."""
    name = pair.env_name(variable)
    if name:
        return dg.EnvVar(name)
    if pair.pairs_file is not None:
        return pair.literals.get(variable, "" if required else None)
    return dg.EnvVar(variable) if required else None


def _file_problems(pair: PairSettings, variables: tuple[str, ...]) -> dict[str, str]:
    """A pairs file's missing or wrong connection settings that no variable resolves at run time."""
    if pair.pairs_file is None:
        return {}
    found: dict[str, str] = {}
    for problem in pair.problems:
        if problem.variable in variables and pair.env_name(problem.variable) is None:
            found.setdefault(problem.variable, problem.message)
    return found


def _accountsiq_resource(pair: PairSettings) -> AccountsIQResource:
    aiq = pair.aiq
    if aiq is None:  # missing or wrong: resolved at run start, where the unset or wrong variable is named
        return AccountsIQResource(
            region=_unchecked(pair, "AIQ_REGION", required=False),
            base_url=_unchecked(pair, "AIQ_BASE_URL", required=False),
            entity_id=_unchecked(pair, "AIQ_ENTITY_ID"),
            client_id=_unchecked(pair, "AIQ_CLIENT_ID"),
            client_secret=_secret(pair, "AIQ_CLIENT_SECRET"),
            default_tax_code=_unchecked(pair, "AIQ_DEFAULT_TAX_CODE"),
            problems=_file_problems(pair, AIQ_VARIABLES),
        )
    return AccountsIQResource(
        region=aiq.region,
        base_url=aiq.base_url,
        entity_id=aiq.entity_id,
        client_id=aiq.client_id,
        client_secret=_secret(pair, "AIQ_CLIENT_SECRET"),
        default_tax_code=aiq.default_tax_code,
    )


def _bunny_resource(pair: PairSettings) -> BunnyResource:
    bunny = pair.bunny
    if bunny is None:
        return BunnyResource(
            base_url=_unchecked(pair, "BUNNY_BASE_URL"),
            client_id=_unchecked(pair, "BUNNY_CLIENT_ID"),
            client_secret=_secret(pair, "BUNNY_CLIENT_SECRET"),
            entity_id=_unchecked(pair, "BUNNY_ENTITY_ID"),
            problems=_file_problems(pair, BUNNY_VARIABLES),
        )
    return BunnyResource(
        base_url=bunny.base_url,
        client_id=bunny.client_id,
        client_secret=_secret(pair, "BUNNY_CLIENT_SECRET"),
        entity_id=bunny.entity_id,
    )
