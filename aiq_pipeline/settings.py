"""Every setting of the product, read from the environment in one place and checked one way.

The environment is read here and nowhere else (pydantic-settings reads it; `Settings.from_env()` and
`read_settings()` are the two ways in). Each variable is checked on its own, so every problem is found at
once, and each problem is one line that names the variable and says what is wanted:

    AIQ_PIPELINE_BATCH_SIZE must be a whole number from 1 to 500, not 'abc'
    AIQ_CLIENT_SECRET is not set: set it to the AIQ Integration Application's client secret (...)

Secrets (`AIQ_CLIENT_SECRET`, `BUNNY_CLIENT_SECRET`, `AIQ_PIPELINE_STORE`, which may be a PostgreSQL URL
with a password, and `AIQ_PIPELINE_ALERT_URLS`, whose URLs carry passwords and tokens) are `SecretStr`: never
in a repr, a log, an error or metadata. A problem message never repeats a secret's value.

Shape. A deployment (`Settings`: the store, batch size, retry delay, unknown-outcome deadline, claim lease,
the Dagster instance) holds one or more pairs (`PairSettings`: one Bunny entity posting to one AIQ entity,
with its connections, default tax code, start date, closed-period policy and sensor switch). The
environment variables describe exactly one pair; a configuration file of several pairs can add more later
without changing the shape.

Strict or lenient: who may start with settings missing.

- `Settings.from_env()` is strict: anything missing or wrong is a `SettingsError` naming every variable at
  fault. The command line uses it (`sync`, `retry`, `backfill`), and `doctor` reports the same problems
  (through `read_settings()`, which also hands it the connections that are complete).
- `Settings.from_env(strict=False)` is for the Dagster code location: the UI must load before anyone has
  typed a credential. A pair's *connection* settings (every `AIQ_*` and `BUNNY_*` variable) may then be
  missing or wrong: the pair keeps its `problems`, its `aiq` / `bunny` is None, and the resources pass those
  variables to Dagster as `EnvVar` references, so a run fails at start naming the variable (Dagster's own
  "environment variable ... is not set", or the client's configuration error, which names it too).
  Everything else shapes the definitions themselves (the sensors' default status, the retry policy, the
  batch size, the store) and must be valid even then: a wrong value there stops the location loading,
  with the same one line.

Values are normalised once, here: AIQ regions and tax codes upper case (AIQ's codes are upper case, and
the poster sends every code upper case), the closed-period policy lower case, the sensor switch upper case.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiq_pipeline.pairs_file import (
    POSTGRES_SCHEMES,
    EnvReference,
    FileProblem,
    PairsFile,
    PairsFileError,
    load_pairs_file,
    pair_table,
)

REGIONS: tuple[str, ...] = ("US1", "EU1", "EU2", "UK1")  # as aiq_pipeline.accountsiq.regions.REGIONS
CLOSED_PERIOD_FAIL = "fail"
CLOSED_PERIOD_FIRST_OPEN_DAY = "first_open_day"
CLOSED_PERIOD_POLICIES: tuple[str, ...] = (CLOSED_PERIOD_FAIL, CLOSED_PERIOD_FIRST_OPEN_DAY)
SENSOR_RUNNING = "RUNNING"
SENSOR_STOPPED = "STOPPED"

# Measured (bench/invoice_burst.py, 1000 invoices, bench/README.md): 500 per run is 1.2x faster than 200 and 1.6x
# than 100; a run's fixed cost (process, code, reference reads, the look-up listing) is paid fewer times.
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 500
DEFAULT_TRANSIENT_RETRY_DELAY_SECONDS = 15.0
DEFAULT_UNKNOWN_OUTCOME_DEADLINE_SECONDS = 120
DEFAULT_CONCURRENCY = 4
DEFAULT_CLAIM_LEASE_SECONDS = 600
STORE_FILE_NAME = "aiq_pipeline.duckdb"
DEFAULT_PAIR_NAME = "default"
DEFAULT_ROUNDING_TOLERANCE = Decimal("0.02")
MatchRule = Literal["code", "vat", "email"]
CUSTOMER_MATCH_RULES: tuple[MatchRule, ...] = ("code", "vat", "email")

# -- the types every setting is checked against (the models below use the same ones) ----------------


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _http_address(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) address")
    return value


def _iso_date(value: object) -> object:
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError("not YYYY-MM-DD")
        return date.fromisoformat(value.strip())
    return value


def _readable_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError("not an existing file")
    return value


def _account_code(value: object) -> object:
    if isinstance(value, str):
        code = value.strip().upper()
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9_.-]{0,49}", code):
            raise ValueError("not an AIQ account code")
        return code
    return value


def _match_rules(value: object) -> object:
    if isinstance(value, str):
        if value.strip().lower() == "none":
            return ()
        rules = tuple(r.strip().lower() for r in value.split(",") if r.strip())
        if len(set(rules)) != len(rules) or any(r not in CUSTOMER_MATCH_RULES for r in rules):
            raise ValueError("not a list of match rules")
        return rules
    return value


def _bank_accounts(value: object) -> object:
    """`processor:CURRENCY=ACCOUNT,...`; `*` for any processor or currency."""
    if not isinstance(value, str):
        return value
    mapping: dict[tuple[str, str], str] = {}
    for item in (i.strip() for i in value.split(",") if i.strip()):
        match = re.fullmatch(r"([^:=\s]+):([A-Za-z]{3}|\*)=([A-Za-z0-9][A-Za-z0-9_.-]{0,49})", item)
        if not match:
            raise ValueError(f"{item!r} is not processor:CURRENCY=ACCOUNT")
        mapping[(match.group(1).lower(), match.group(2).upper())] = match.group(3).upper()
    return mapping


def _money_tolerance(value: object) -> object:
    if isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not an amount") from None
        if not amount.is_finite() or not Decimal(0) <= amount <= Decimal(1):
            raise ValueError("out of range")
        return amount
    return value


def _absolute_directory(value: Path) -> Path:
    if not value.is_absolute() or not value.is_dir():
        raise ValueError("not an absolute path to an existing directory")
    return value


def _not_blank_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("blank")
    return value


Text = Annotated[str, Field(min_length=1), BeforeValidator(_strip)]
Region = Annotated[Literal["US1", "EU1", "EU2", "UK1"], BeforeValidator(_upper)]
HttpAddress = Annotated[Text, AfterValidator(_http_address)]
TaxCode = Annotated[str, Field(min_length=1), BeforeValidator(_upper)]
Secret = Annotated[SecretStr, AfterValidator(_not_blank_secret)]
BatchSize = Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE, strict=False)]
StartDate = Annotated[date, BeforeValidator(_iso_date)]
ClosedPeriodPolicy = Annotated[Literal["fail", "first_open_day"], BeforeValidator(_lower)]
SensorDefault = Annotated[Literal["RUNNING", "STOPPED"], BeforeValidator(_upper)]
RetryDelaySeconds = Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)]
UnknownOutcomeDeadlineSeconds = Annotated[int, Field(ge=1, le=3600)]
ClaimLeaseSeconds = Annotated[int, Field(ge=30, le=86400)]
Concurrency = Annotated[int, Field(ge=1, le=16)]
DagsterHome = Annotated[Path, AfterValidator(_absolute_directory)]
ReadableFile = Annotated[Path, AfterValidator(_readable_file)]
AccountCode = Annotated[str, BeforeValidator(_account_code)]
RateUnits = Annotated[Literal["percent", "fraction"], BeforeValidator(_lower)]
SubtotalReading = Annotated[Literal["after_discount", "before_discount"], BeforeValidator(_lower)]
AmountReading = Annotated[Literal["full", "less_credits"], BeforeValidator(_lower)]
PaymentAmountReading = Annotated[Literal["gross", "net_of_fees"], BeforeValidator(_lower)]
BadDebtTax = Annotated[Literal["relief", "none"], BeforeValidator(_lower)]
Flag = Annotated[bool, BeforeValidator(_lower)]
MatchRules = Annotated[tuple[Literal["code", "vat", "email"], ...], BeforeValidator(_match_rules)]
BankAccounts = Annotated[dict[tuple[str, str], str], BeforeValidator(_bank_accounts)]
Tolerance = Annotated[Decimal, BeforeValidator(_money_tolerance)]


# -- problems ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingProblem:
    """One variable that is missing or wrong; `message` is one line naming it and what is wanted.

    From a pairs file, `where` names the place (`pairs.toml [pairs.uk]`) and the message starts with it.
    `blocking`: a rule of the pairs file is broken (a secret written in it, a variable leaking in from the
    environment, two pairs on one AIQ entity or store, no pair chosen): no reading accepts it, lenient included.
    """

    variable: str
    message: str
    missing: bool = False
    where: str | None = None
    blocking: bool = False


class SettingsError(ValueError):
    """One or more settings are missing or wrong. `str()` is one line; `problems` has one entry per variable."""

    def __init__(self, problems: tuple[SettingProblem, ...] | list[SettingProblem]) -> None:
        self.problems: tuple[SettingProblem, ...] = tuple(problems)
        super().__init__("; ".join(p.message for p in self.problems))

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(p.variable for p in self.problems)


@dataclass(frozen=True)
class Variable:
    """An environment variable: what it must hold (`wanted` reads after "must be" and after "set it to")."""

    name: str
    wanted: str
    secret: bool = False

    def missing(self, extra: str = "", where: str | None = None) -> SettingProblem:
        if where is not None:
            message = f"{where} {self.name}: missing; set it to {self.wanted}{extra}"
            return SettingProblem(self.name, message, missing=True, where=where)
        return SettingProblem(self.name, f"{self.name} is not set: set it to {self.wanted}{extra}", missing=True)

    def wrong(self, raw: str, where: str | None = None) -> SettingProblem:
        shown = "" if self.secret else f", not {_shorten(raw)!r}"
        if where is not None:
            return SettingProblem(self.name, f"{where} {self.name}: must be {self.wanted}{shown}", where=where)
        return SettingProblem(self.name, f"{self.name} must be {self.wanted}{shown}")


def _shorten(raw: str, limit: int = 80) -> str:
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"


_AIQ_PORTAL = "AIQ developer portal > Integration Applications > View > Show Credentials"
VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable(
            "AIQ_REGION",
            f"one of {', '.join(REGIONS)} (the first part of your AIQ login address, e.g. eu1.accountsiq.com -> EU1)",
        ),
        Variable("AIQ_BASE_URL", "an http(s) address such as http://127.0.0.1:8701 (it overrides AIQ_REGION)"),
        Variable("AIQ_ENTITY_ID", "the id of the AIQ entity (company) documents are posted to, e.g. DEMO01"),
        Variable("AIQ_CLIENT_ID", f"the AIQ Integration Application's client id ({_AIQ_PORTAL})"),
        Variable("AIQ_CLIENT_SECRET", f"the AIQ Integration Application's client secret ({_AIQ_PORTAL})", True),
        Variable("AIQ_DEFAULT_TAX_CODE", "an AIQ tax code of the entity, such as V01, for lines that carry none"),
        Variable("BUNNY_BASE_URL", "an http(s) address such as https://acme.bunny.com (your Bunny tenant)"),
        Variable("BUNNY_CLIENT_ID", "the client id of a Bunny API client with client credentials enabled"),
        Variable("BUNNY_CLIENT_SECRET", "the client secret of that Bunny API client", True),
        Variable("BUNNY_ENTITY_ID", "the id of the Bunny entity whose invoices are synced, e.g. 1"),
        Variable("AIQ_PIPELINE_STORE", "a DuckDB file path or a postgresql:// URL", True),
        Variable("AIQ_PIPELINE_BATCH_SIZE", f"a whole number from 1 to {MAX_BATCH_SIZE}"),
        Variable("AIQ_PIPELINE_SYNC_START_DATE", "a date written YYYY-MM-DD"),
        Variable("AIQ_PIPELINE_CLOSED_PERIOD_POLICY", " or ".join(CLOSED_PERIOD_POLICIES)),
        Variable("AIQ_PIPELINE_SENSOR_DEFAULT", f"{SENSOR_RUNNING} or {SENSOR_STOPPED}"),
        Variable("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "a number of seconds from 0 to 3600"),
        Variable("AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE", "a whole number of seconds from 1 to 3600"),
        Variable("AIQ_PIPELINE_CONCURRENCY", "a whole number from 1 to 16 (AIQ calls a run makes at once)"),
        Variable("AIQ_PIPELINE_CLAIM_LEASE", "a whole number of seconds from 30 to 86400"),
        Variable(
            "AIQ_PIPELINE_TAX_MAPPING",
            "the path of an existing CSV file with the columns bunny_tax_code,bunny_vat_code,rate,country,aiq_tax_code",
        ),
        Variable("AIQ_PIPELINE_AIQ_TAX_RATE_UNITS", "percent (AIQ lists 23 for 23 %) or fraction (0.23)"),
        Variable("AIQ_PIPELINE_BUNNY_TAX_RATE_UNITS", "percent (Bunny sends 23 for 23 %) or fraction (0.23)"),
        Variable("AIQ_PIPELINE_BUNNY_SUBTOTAL", "after_discount or before_discount (what Bunny's subtotal is)"),
        Variable("AIQ_PIPELINE_BUNNY_AMOUNT", "full or less_credits (whether Bunny's amount is after applied credits)"),
        Variable(
            "AIQ_PIPELINE_BUNNY_PAYMENT_AMOUNT",
            "gross or net_of_fees (whether a Bunny payment's amount includes the processor's fees)",
        ),
        Variable("AIQ_PIPELINE_ROUNDING_TOLERANCE", "an amount from 0 to 1, such as 0.02"),
        Variable("AIQ_PIPELINE_ROUNDING_ACCOUNT", "an AIQ account code, such as 4990"),
        Variable("AIQ_PIPELINE_BAD_DEBT_ACCOUNT", "an AIQ account code (an expense account), such as 6900"),
        Variable("AIQ_PIPELINE_BAD_DEBT_TAX", "relief (reclaim the output tax) or none (the gross is the loss)"),
        Variable(
            "AIQ_PIPELINE_BAD_DEBT_TAX_CODE", "an AIQ tax code at 0 %, such as V00, for write-offs without relief"
        ),
        Variable("AIQ_PIPELINE_POST_ZERO_VALUE", "true or false"),
        Variable("AIQ_PIPELINE_CUSTOMER_MATCH", "a comma list of code, vat and email, or none"),
        Variable(
            "AIQ_PIPELINE_BANK_ACCOUNTS",
            "a comma list of processor:CURRENCY=ACCOUNT, such as stripe:EUR=1200,stripe:GBP=1210 (* matches any)",
        ),
        Variable("AIQ_PIPELINE_FEES_ACCOUNT", "an AIQ account code for processor fees (bank charges), such as 6100"),
        Variable(
            "AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT",
            "an AIQ account code that account credit applied to invoices comes from (customer credits), such as 2150",
        ),
        Variable(
            "AIQ_PIPELINE_ALERT_URLS",
            "one or more apprise URLs, separated by spaces or commas, where alerts on new exceptions go (such as "
            "mailtos://user:password@smtp.example.com?to=finance@example.com, slack://..., msteams://..., json://...)",
            True,
        ),
        Variable("AIQ_PIPELINE_UI_URL", "an http(s) address such as https://dagster.example.com (the Dagster UI)"),
        Variable(
            "DAGSTER_HOME", "an absolute path to an existing directory (the Dagster instance the UI and daemon use)"
        ),
        Variable(
            "AIQ_PIPELINE_PAIRS_FILE",
            "the path of a TOML file of several pairs ([defaults] and one [pairs.NAME] table per pair, keyed by "
            "these variables' names); when it is set, the pairs' settings come from it and not from the environment",
        ),
        Variable(
            "AIQ_PIPELINE_PAIR",
            "the name of the pair a process works on (a [pairs.NAME] of the pairs file; the command line sets it "
            "from --pair); needed when the pairs file configures more than one pair",
        ),
    )
}
AIQ_VARIABLES = tuple(n for n in VARIABLES if n.startswith("AIQ_") and not n.startswith("AIQ_PIPELINE_"))
BUNNY_VARIABLES = tuple(n for n in VARIABLES if n.startswith("BUNNY_"))
CONNECTION_VARIABLES = AIQ_VARIABLES + BUNNY_VARIABLES

_TYPES: dict[str, Any] = {
    "AIQ_REGION": Region,
    "AIQ_BASE_URL": HttpAddress,
    "AIQ_ENTITY_ID": Text,
    "AIQ_CLIENT_ID": Text,
    "AIQ_CLIENT_SECRET": Secret,
    "AIQ_DEFAULT_TAX_CODE": TaxCode,
    "BUNNY_BASE_URL": HttpAddress,
    "BUNNY_CLIENT_ID": Text,
    "BUNNY_CLIENT_SECRET": Secret,
    "BUNNY_ENTITY_ID": Text,
    "AIQ_PIPELINE_STORE": Secret,
    "AIQ_PIPELINE_BATCH_SIZE": BatchSize,
    "AIQ_PIPELINE_SYNC_START_DATE": StartDate,
    "AIQ_PIPELINE_CLOSED_PERIOD_POLICY": ClosedPeriodPolicy,
    "AIQ_PIPELINE_SENSOR_DEFAULT": SensorDefault,
    "AIQ_PIPELINE_TRANSIENT_RETRY_DELAY": RetryDelaySeconds,
    "AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE": UnknownOutcomeDeadlineSeconds,
    "AIQ_PIPELINE_CONCURRENCY": Concurrency,
    "AIQ_PIPELINE_CLAIM_LEASE": ClaimLeaseSeconds,
    "AIQ_PIPELINE_TAX_MAPPING": ReadableFile,
    "AIQ_PIPELINE_AIQ_TAX_RATE_UNITS": RateUnits,
    "AIQ_PIPELINE_BUNNY_TAX_RATE_UNITS": RateUnits,
    "AIQ_PIPELINE_BUNNY_SUBTOTAL": SubtotalReading,
    "AIQ_PIPELINE_BUNNY_AMOUNT": AmountReading,
    "AIQ_PIPELINE_BUNNY_PAYMENT_AMOUNT": PaymentAmountReading,
    "AIQ_PIPELINE_ROUNDING_TOLERANCE": Tolerance,
    "AIQ_PIPELINE_ROUNDING_ACCOUNT": AccountCode,
    "AIQ_PIPELINE_BAD_DEBT_ACCOUNT": AccountCode,
    "AIQ_PIPELINE_BAD_DEBT_TAX": BadDebtTax,
    "AIQ_PIPELINE_BAD_DEBT_TAX_CODE": TaxCode,
    "AIQ_PIPELINE_POST_ZERO_VALUE": Flag,
    "AIQ_PIPELINE_CUSTOMER_MATCH": MatchRules,
    "AIQ_PIPELINE_BANK_ACCOUNTS": BankAccounts,
    "AIQ_PIPELINE_FEES_ACCOUNT": AccountCode,
    "AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT": AccountCode,
    "AIQ_PIPELINE_ALERT_URLS": Secret,
    "AIQ_PIPELINE_UI_URL": HttpAddress,
    "DAGSTER_HOME": DagsterHome,
    "AIQ_PIPELINE_PAIRS_FILE": Text,
    "AIQ_PIPELINE_PAIR": Text,
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {name: TypeAdapter(kind) for name, kind in _TYPES.items()}


def missing_problem(variable: str) -> SettingProblem:
    """The one line for a variable that is not set (also for Dagster's "environment variable not set")."""
    if variable in VARIABLES:
        return VARIABLES[variable].missing()
    return SettingProblem(variable, f"{variable} is not set", missing=True)


# -- the models -------------------------------------------------------------------------------------


class AiqConnection(BaseModel):
    """Where and as whom to reach one AIQ entity, and the tax code for lines without one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: Region | None = Field(default=None, description="AIQ_REGION: US1, EU1, EU2 or UK1")
    base_url: HttpAddress | None = Field(default=None, description="AIQ_BASE_URL: overrides the region's host")
    entity_id: Text = Field(description="AIQ_ENTITY_ID")
    client_id: Text = Field(description="AIQ_CLIENT_ID")
    client_secret: Secret = Field(description="AIQ_CLIENT_SECRET")
    default_tax_code: TaxCode = Field(description="AIQ_DEFAULT_TAX_CODE, upper case")

    @model_validator(mode="after")
    def _has_an_address(self) -> AiqConnection:
        if self.region is None and self.base_url is None:
            raise ValueError("AIQ_REGION or AIQ_BASE_URL is required")
        return self

    @property
    def address_variable(self) -> str:
        """The variable that decides the address: the base URL wins when both are set (as in the client)."""
        return "AIQ_BASE_URL" if self.base_url else "AIQ_REGION"

    def client_arguments(self) -> dict[str, Any]:
        """The AIQ client's connection arguments. The secret is revealed here: pass them straight to the client."""
        return {
            "entity_id": self.entity_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            "region": self.region,
            "base_url": self.base_url,
        }


class BunnyConnection(BaseModel):
    """Where and as whom to reach one Bunny tenant, and which of its entities is synced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: HttpAddress = Field(description="BUNNY_BASE_URL")
    client_id: Text = Field(description="BUNNY_CLIENT_ID")
    client_secret: Secret = Field(description="BUNNY_CLIENT_SECRET")
    entity_id: Text = Field(description="BUNNY_ENTITY_ID")

    def client_arguments(self) -> dict[str, Any]:
        """The Bunny client's connection arguments (the entity is the caller's). The secret is revealed here: pass
        them straight to the client."""
        return {
            "base_url": self.base_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
        }


class PostingRules(BaseModel):
    """How a pair's documents post: tax, Bunny's money readings, rounding, bad debt, customers, payments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tax_mapping_file: ReadableFile | None = Field(default=None, description="AIQ_PIPELINE_TAX_MAPPING")
    aiq_tax_rate_units: RateUnits = Field(default="percent", description="AIQ_PIPELINE_AIQ_TAX_RATE_UNITS")
    bunny_tax_rate_units: RateUnits = Field(default="percent", description="AIQ_PIPELINE_BUNNY_TAX_RATE_UNITS")
    bunny_subtotal: SubtotalReading = Field(default="after_discount", description="AIQ_PIPELINE_BUNNY_SUBTOTAL")
    bunny_amount: AmountReading = Field(default="full", description="AIQ_PIPELINE_BUNNY_AMOUNT")
    bunny_payment_amount: PaymentAmountReading = Field(default="gross", description="AIQ_PIPELINE_BUNNY_PAYMENT_AMOUNT")
    rounding_tolerance: Tolerance = Field(
        default=DEFAULT_ROUNDING_TOLERANCE, description="AIQ_PIPELINE_ROUNDING_TOLERANCE"
    )
    rounding_account: AccountCode | None = Field(default=None, description="AIQ_PIPELINE_ROUNDING_ACCOUNT")
    bad_debt_account: AccountCode | None = Field(default=None, description="AIQ_PIPELINE_BAD_DEBT_ACCOUNT")
    bad_debt_tax: BadDebtTax = Field(default="relief", description="AIQ_PIPELINE_BAD_DEBT_TAX")
    bad_debt_tax_code: TaxCode | None = Field(default=None, description="AIQ_PIPELINE_BAD_DEBT_TAX_CODE")
    post_zero_value: Flag = Field(default=False, description="AIQ_PIPELINE_POST_ZERO_VALUE")
    customer_match: MatchRules = Field(default=CUSTOMER_MATCH_RULES, description="AIQ_PIPELINE_CUSTOMER_MATCH")
    bank_accounts: BankAccounts = Field(default_factory=dict, description="AIQ_PIPELINE_BANK_ACCOUNTS")
    fees_account: AccountCode | None = Field(default=None, description="AIQ_PIPELINE_FEES_ACCOUNT")
    account_credit_account: AccountCode | None = Field(default=None, description="AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT")


RULE_VARIABLES: dict[str, str] = {
    field.description: name
    for name, field in PostingRules.model_fields.items()
    if field.description and field.description.startswith("AIQ_PIPELINE_")
}


class PairSettings(BaseModel):
    """One Bunny entity posting to one AIQ entity. `aiq` / `bunny` are None only when loaded leniently."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default=DEFAULT_PAIR_NAME, min_length=1)
    aiq: AiqConnection | None = None
    bunny: BunnyConnection | None = None
    sync_start_date: StartDate | None = Field(default=None, description="AIQ_PIPELINE_SYNC_START_DATE")
    closed_period_policy: ClosedPeriodPolicy = Field(default="fail", description="AIQ_PIPELINE_CLOSED_PERIOD_POLICY")
    sensor_default: SensorDefault = Field(default="STOPPED", description="AIQ_PIPELINE_SENSOR_DEFAULT")
    alert_urls: Secret | None = Field(default=None, description="AIQ_PIPELINE_ALERT_URLS: apprise URLs, secret")
    rules: PostingRules = Field(default_factory=PostingRules)
    problems: tuple[SettingProblem, ...] = Field(default=(), description="What keeps aiq/bunny None")
    pairs_file: Path | None = Field(default=None, description="AIQ_PIPELINE_PAIRS_FILE the pair comes from")
    origins: dict[str, str | None] = Field(
        default_factory=dict,
        repr=False,
        description="Each variable the pair's configuration sets -> the environment variable holding its value "
        "(None: the pairs file gives it literally)",
    )
    literals: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="The pairs file's literal text of the pair's connection variables (never a secret: the file "
        "cannot hold one), for the code location when a connection is incomplete",
    )

    @property
    def sensors_running(self) -> bool:
        return self.sensor_default == SENSOR_RUNNING

    def env_name(self, variable: str) -> str | None:
        """The environment variable holding this pair's value of `variable`: the variable itself without a pairs
        file, the `{ env = "NAME" }` of the file; None when the file gives the value literally or nothing sets it."""
        return self.origins.get(variable)

    def require_aiq(self) -> AiqConnection:
        if self.aiq is None:
            raise SettingsError(self._problems_of(AIQ_VARIABLES, "AIQ_ENTITY_ID"))
        return self.aiq

    def require_bunny(self) -> BunnyConnection:
        if self.bunny is None:
            raise SettingsError(self._problems_of(BUNNY_VARIABLES, "BUNNY_BASE_URL"))
        return self.bunny

    def _problems_of(self, variables: tuple[str, ...], fallback: str) -> list[SettingProblem]:
        return [p for p in self.problems if p.variable in variables] or [missing_problem(fallback)]


class Settings(BaseModel):
    """The deployment: its pairs (one from the environment) and what every pair shares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pairs: tuple[PairSettings, ...] = Field(min_length=1)
    store: Secret = Field(description="AIQ_PIPELINE_STORE: DuckDB file path or postgresql:// URL")
    batch_size: BatchSize = Field(default=DEFAULT_BATCH_SIZE, description="AIQ_PIPELINE_BATCH_SIZE")
    transient_retry_delay_seconds: RetryDelaySeconds = Field(
        default=DEFAULT_TRANSIENT_RETRY_DELAY_SECONDS, description="AIQ_PIPELINE_TRANSIENT_RETRY_DELAY"
    )
    unknown_outcome_deadline_seconds: UnknownOutcomeDeadlineSeconds = Field(
        default=DEFAULT_UNKNOWN_OUTCOME_DEADLINE_SECONDS, description="AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE"
    )
    claim_lease_seconds: ClaimLeaseSeconds = Field(
        default=DEFAULT_CLAIM_LEASE_SECONDS, description="AIQ_PIPELINE_CLAIM_LEASE"
    )
    concurrency: Concurrency = Field(default=DEFAULT_CONCURRENCY, description="AIQ_PIPELINE_CONCURRENCY")
    dagster_home: DagsterHome | None = Field(default=None, description="DAGSTER_HOME")
    ui_url: HttpAddress | None = Field(default=None, description="AIQ_PIPELINE_UI_URL: where alerts link to")

    @property
    def pair(self) -> PairSettings:
        """The one pair (a reading is of exactly one pair: the environment's, or one of the pairs file's)."""
        if len(self.pairs) != 1:
            raise ValueError(f"{len(self.pairs)} pairs are configured; pick one by name")
        return self.pairs[0]

    @property
    def store_location(self) -> str:
        """The store's location in clear (it may hold a password): pass it on, never print it."""
        return self.store.get_secret_value()

    def require_dagster_home(self) -> Path:
        if self.dagster_home is None:
            raise SettingsError([missing_problem("DAGSTER_HOME")])
        return self.dagster_home

    @classmethod
    def from_env(cls, *, strict: bool = True, pair: str | None = None) -> Settings:
        """One pair's settings (`read_settings(pair)`). Strict: anything missing or wrong raises `SettingsError`.

        Lenient (`strict=False`, for the code location): the pair's AIQ/Bunny connection settings may be
        missing or wrong (they stay on `pair.problems`); everything else must still be valid.
        """
        reading = read_settings(pair)
        problems = reading.problems if strict else tuple(p for p in reading.problems if not _lenient_allows(p))
        if problems or reading.settings is None:
            raise SettingsError(problems or reading.problems)
        return reading.settings


def _lenient_allows(problem: SettingProblem) -> bool:
    """A code location loads with the connections missing or wrong, and without an instance directory."""
    if problem.blocking:
        return False
    return problem.variable in CONNECTION_VARIABLES or (problem.variable == "DAGSTER_HOME" and problem.missing)


# -- reading the environment --------------------------------------------------------------------------


class _Environment(BaseSettings):
    """The raw environment: exactly the variables above, empty ones treated as unset, nothing else read."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore")

    AIQ_REGION: str | None = None
    AIQ_BASE_URL: str | None = None
    AIQ_ENTITY_ID: str | None = None
    AIQ_CLIENT_ID: str | None = None
    AIQ_CLIENT_SECRET: SecretStr | None = None
    AIQ_DEFAULT_TAX_CODE: str | None = None
    BUNNY_BASE_URL: str | None = None
    BUNNY_CLIENT_ID: str | None = None
    BUNNY_CLIENT_SECRET: SecretStr | None = None
    BUNNY_ENTITY_ID: str | None = None
    AIQ_PIPELINE_STORE: SecretStr | None = None
    AIQ_PIPELINE_BATCH_SIZE: str | None = None
    AIQ_PIPELINE_SYNC_START_DATE: str | None = None
    AIQ_PIPELINE_CLOSED_PERIOD_POLICY: str | None = None
    AIQ_PIPELINE_SENSOR_DEFAULT: str | None = None
    AIQ_PIPELINE_TRANSIENT_RETRY_DELAY: str | None = None
    AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE: str | None = None
    AIQ_PIPELINE_CONCURRENCY: str | None = None
    AIQ_PIPELINE_CLAIM_LEASE: str | None = None
    AIQ_PIPELINE_TAX_MAPPING: str | None = None
    AIQ_PIPELINE_AIQ_TAX_RATE_UNITS: str | None = None
    AIQ_PIPELINE_BUNNY_TAX_RATE_UNITS: str | None = None
    AIQ_PIPELINE_BUNNY_SUBTOTAL: str | None = None
    AIQ_PIPELINE_BUNNY_AMOUNT: str | None = None
    AIQ_PIPELINE_BUNNY_PAYMENT_AMOUNT: str | None = None
    AIQ_PIPELINE_ROUNDING_TOLERANCE: str | None = None
    AIQ_PIPELINE_ROUNDING_ACCOUNT: str | None = None
    AIQ_PIPELINE_BAD_DEBT_ACCOUNT: str | None = None
    AIQ_PIPELINE_BAD_DEBT_TAX: str | None = None
    AIQ_PIPELINE_BAD_DEBT_TAX_CODE: str | None = None
    AIQ_PIPELINE_POST_ZERO_VALUE: str | None = None
    AIQ_PIPELINE_CUSTOMER_MATCH: str | None = None
    AIQ_PIPELINE_BANK_ACCOUNTS: str | None = None
    AIQ_PIPELINE_FEES_ACCOUNT: str | None = None
    AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT: str | None = None
    AIQ_PIPELINE_ALERT_URLS: SecretStr | None = None
    AIQ_PIPELINE_UI_URL: str | None = None
    DAGSTER_HOME: str | None = None
    AIQ_PIPELINE_PAIRS_FILE: str | None = None
    AIQ_PIPELINE_PAIR: str | None = None


@dataclass(frozen=True)
class SettingsReading:
    """Everything the configuration says of one pair, problems included; for `doctor`, which reports rather than
    raises.

    `settings` is None when a setting outside the connections is wrong (then nothing can run); `aiq` and
    `bunny` are the connections that are complete and valid, whatever else is wrong. `pair` is the pair read
    (None when none could be chosen).
    """

    settings: Settings | None
    problems: tuple[SettingProblem, ...]
    aiq: AiqConnection | None
    bunny: BunnyConnection | None
    pair: str | None = None


PAIRS_FILE_VARIABLE = "AIQ_PIPELINE_PAIRS_FILE"
PAIR_VARIABLE = "AIQ_PIPELINE_PAIR"
# With a pairs file, the process environment sets only these (and the variables the file names with { env = }).
ENVIRONMENT_ONLY: tuple[str, ...] = ("DAGSTER_HOME", PAIRS_FILE_VARIABLE, PAIR_VARIABLE)
FILE_KEYS: tuple[str, ...] = tuple(name for name in VARIABLES if name not in ENVIRONMENT_ONLY)
# Written in a pairs file only as { env = "NAME" }. The store may be literal unless it carries a password.
FILE_SECRETS: tuple[str, ...] = tuple(v.name for v in VARIABLES.values() if v.secret and v.name != "AIQ_PIPELINE_STORE")


def uses_pairs_file() -> bool:
    """Whether AIQ_PIPELINE_PAIRS_FILE is set: the pairs' settings then come from that file."""
    return _pairs_file_path(_raw_environment()) is not None


def configured_pairs() -> tuple[str, ...]:
    """The pairs' names: the pairs file's in file order, or (DEFAULT_PAIR_NAME,) without one.

    A pairs file that cannot be read or parsed, configures no pair or names one wrongly is a `SettingsError`
    (problems within a pair's table are reported when that pair is read)."""
    path = _pairs_file_path(_raw_environment())
    if path is None:
        return (DEFAULT_PAIR_NAME,)
    return _load_pairs_file(path).names


def read_settings(pair: str | None = None) -> SettingsReading:
    """Read and check every setting of one pair; never raises. The strict problems are `reading.problems`.

    `pair`: the pair's name; None is AIQ_PIPELINE_PAIR's, or else the only pair configured.
    """
    environment = _raw_environment()
    chosen = pair or _text(environment.get(PAIR_VARIABLE))
    path = _pairs_file_path(environment)
    if path is None:
        if chosen is not None and chosen != DEFAULT_PAIR_NAME:
            return _refused(
                f"pair {chosen!r} is not configured: without {PAIRS_FILE_VARIABLE} the only pair is "
                f"{DEFAULT_PAIR_NAME} (set {PAIRS_FILE_VARIABLE} to configure several)"
            )
        raw = {name: value for name, value in environment.items() if name not in (PAIRS_FILE_VARIABLE, PAIR_VARIABLE)}
        return _reading(raw, DEFAULT_PAIR_NAME, problems=[], where_of=lambda _: None, origins={n: n for n in raw})
    try:
        pairs_file = _load_pairs_file(path)
    except SettingsError as exc:
        return SettingsReading(None, exc.problems, None, None)
    names = pairs_file.names
    if chosen is None:
        if len(names) != 1:
            return _refused(
                f"{len(names)} pairs are configured ({', '.join(names)}): choose one with --pair or {PAIR_VARIABLE}"
            )
        chosen = names[0]
    elif chosen not in pairs_file.pairs:
        return _refused(f"pair {chosen!r} is not in {path.name}: the configured pairs are {', '.join(names)}")
    return _pair_reading(pairs_file, chosen, environment)


def _refused(message: str) -> SettingsReading:
    return SettingsReading(None, (SettingProblem(PAIR_VARIABLE, message, blocking=True),), None, None)


def _pairs_file_path(environment: Mapping[str, str | SecretStr]) -> Path | None:
    text = _text(environment.get(PAIRS_FILE_VARIABLE))
    return Path(text).expanduser() if text else None


def _text(value: str | SecretStr | None) -> str | None:
    if value is None:
        return None
    text = (value.get_secret_value() if isinstance(value, SecretStr) else value).strip()
    return text or None


def _load_pairs_file(path: Path) -> PairsFile:
    try:
        return load_pairs_file(path, keys=FILE_KEYS, secrets=FILE_SECRETS, environment_only=ENVIRONMENT_ONLY)
    except PairsFileError as exc:
        raise SettingsError([SettingProblem(PAIRS_FILE_VARIABLE, str(exc), blocking=True)]) from None


def _pair_reading(pairs_file: PairsFile, pair: str, environment: Mapping[str, str | SecretStr]) -> SettingsReading:
    problems = [_file_problem(pairs_file, p) for p in pairs_file.problems_of(pair)]
    problems += _leaks(pairs_file, environment)
    problems += _conflicts(pairs_file, pair, environment)
    raw: dict[str, str | SecretStr] = {}
    origins: dict[str, str | None] = {}
    tables: dict[str, str] = {}
    literals: dict[str, str] = {}
    for key, (value, table) in pairs_file.values_of(pair).items():
        tables[key] = table
        where = pairs_file.where(table)
        if isinstance(value, EnvReference):
            origins[key] = value.name
            text = _text(environment_value(value.name))
            if text is None:
                message = f"{where} {key}: environment variable {value.name} is not set"
                # A connection may be missing where the code location loads; anything else must be there.
                problems.append(SettingProblem(key, message, missing=key in CONNECTION_VARIABLES, where=where))
                continue
        else:
            origins[key] = None
            text = value
            if key in CONNECTION_VARIABLES:
                literals[key] = value
        raw[key] = SecretStr(text) if VARIABLES[key].secret else text
    if "DAGSTER_HOME" in environment:
        raw["DAGSTER_HOME"] = environment["DAGSTER_HOME"]
        origins["DAGSTER_HOME"] = "DAGSTER_HOME"
    pair_where = pairs_file.where(pair_table(pair))

    def where_of(name: str) -> str | None:
        if name in ENVIRONMENT_ONLY:
            return None
        return pairs_file.where(tables[name]) if name in tables else pair_where

    return _reading(
        raw,
        pair,
        problems=problems,
        where_of=where_of,
        origins=origins,
        pairs_file=pairs_file.path,
        literals=literals,
    )


def environment_value(name: str) -> str | None:
    """The process environment's value of `name` (a variable a pairs file names with { env = })."""
    return os.environ.get(name)


def _file_problem(pairs_file: PairsFile, problem: FileProblem) -> SettingProblem:
    variable = problem.key if problem.key in VARIABLES else PAIRS_FILE_VARIABLE
    return SettingProblem(variable, problem.message, where=pairs_file.where(problem.table), blocking=True)


def _leaks(pairs_file: PairsFile, environment: Mapping[str, object]) -> list[SettingProblem]:
    """A setting variable in the environment beside a pairs file would be ignored, or read for the wrong pair."""
    allowed = set(ENVIRONMENT_ONLY) | pairs_file.env_names()
    return [
        SettingProblem(
            name,
            f"{name} is set in the environment, but {PAIRS_FILE_VARIABLE} is set too ({pairs_file.path.name}): "
            "set it in the pairs file, under [defaults] or a pair, and unset it in the environment",
            blocking=True,
        )
        for name in environment
        if name not in allowed
    ]


def _conflicts(pairs_file: PairsFile, pair: str, environment: Mapping[str, str | SecretStr]) -> list[SettingProblem]:
    """Two pairs posting to one AIQ entity, or sharing one DuckDB file (PostgreSQL stores may be shared)."""
    home_text = _text(environment.get("DAGSTER_HOME"))
    home = Path(home_text) if home_text else None
    problems: list[SettingProblem] = []
    entity, store = _aiq_target(pairs_file, pair), _duckdb_store(pairs_file, pair, home)
    for other in pairs_file.names:
        if other == pair:
            continue
        first, second = sorted((pair, other), key=pairs_file.names.index)
        if entity is not None and entity == _aiq_target(pairs_file, other):
            problems.append(
                SettingProblem(
                    "AIQ_ENTITY_ID",
                    f"{pairs_file.path.name}: pairs {first} and {second} both post to AIQ entity {entity[0]} at "
                    f"{entity[1]}: each pair posts to an AIQ entity of its own",
                    where=pairs_file.where(),
                    blocking=True,
                )
            )
        if store is not None and store == _duckdb_store(pairs_file, other, home):
            problems.append(
                SettingProblem(
                    "AIQ_PIPELINE_STORE",
                    f"{pairs_file.path.name}: pairs {first} and {second} share the DuckDB store {store}: give each "
                    "pair its own AIQ_PIPELINE_STORE (a PostgreSQL store may be shared)",
                    where=pairs_file.where(),
                    blocking=True,
                )
            )
    return problems


def _file_value(pairs_file: PairsFile, pair: str, key: str) -> str | None:
    found = pairs_file.values_of(pair).get(key)
    if found is None:
        return None
    value = found[0]
    return _text(environment_value(value.name)) if isinstance(value, EnvReference) else _text(value)


def _aiq_target(pairs_file: PairsFile, pair: str) -> tuple[str, str] | None:
    entity = _file_value(pairs_file, pair, "AIQ_ENTITY_ID")
    base_url = _file_value(pairs_file, pair, "AIQ_BASE_URL")
    region = _file_value(pairs_file, pair, "AIQ_REGION")
    address = base_url.rstrip("/").lower() if base_url else region.upper() if region else None
    return (entity.upper(), address) if entity and address else None


def _duckdb_store(pairs_file: PairsFile, pair: str, home: Path | None) -> str | None:
    location = _file_value(pairs_file, pair, "AIQ_PIPELINE_STORE") or str(default_store_path(home, pair))
    if location.startswith(POSTGRES_SCHEMES):
        return None
    return str(Path(location).expanduser().resolve())


def _reading(
    raw: Mapping[str, str | SecretStr],
    name: str,
    *,
    problems: list[SettingProblem],
    where_of: Callable[[str], str | None],
    origins: dict[str, str | None],
    pairs_file: Path | None = None,
    literals: dict[str, str] | None = None,
) -> SettingsReading:
    values: dict[str, Any] = {}
    for variable, text in raw.items():
        try:
            values[variable] = _ADAPTERS[variable].validate_python(text)
        except ValidationError:
            problems.append(VARIABLES[variable].wrong(_plain(text), where_of(variable)))

    def missing(variable: str, extra: str = "") -> SettingProblem:
        return VARIABLES[variable].missing(extra, where_of(variable))

    aiq, aiq_problems = _aiq_connection(values, raw, missing)
    bunny, bunny_problems = _bunny_connection(values, raw, missing)
    placed = {p.variable for p in problems if p.where is not None}  # the file's own word on it comes first
    connection_problems = [p for p in aiq_problems + bunny_problems if p.variable not in placed]
    if "DAGSTER_HOME" not in raw:
        connection_problems.append(missing_problem("DAGSTER_HOME"))  # strict only: a CLI command needs it
    problems += connection_problems
    wrong = {p.variable for p in problems if not p.missing}
    if wrong - set(CONNECTION_VARIABLES):
        return SettingsReading(None, _in_table_order(problems), aiq, bunny, name)

    pair = PairSettings(
        name=name,
        aiq=aiq,
        bunny=bunny,
        sync_start_date=values.get("AIQ_PIPELINE_SYNC_START_DATE"),
        closed_period_policy=values.get("AIQ_PIPELINE_CLOSED_PERIOD_POLICY", CLOSED_PERIOD_FAIL),
        sensor_default=values.get("AIQ_PIPELINE_SENSOR_DEFAULT", SENSOR_STOPPED),
        alert_urls=values.get("AIQ_PIPELINE_ALERT_URLS"),
        rules=PostingRules(**{field: values[name] for name, field in RULE_VARIABLES.items() if name in values}),
        problems=tuple(p for p in _in_table_order(problems) if p.variable in CONNECTION_VARIABLES),
        pairs_file=pairs_file,
        origins=origins,
        literals=literals or {},
    )
    home: Path | None = values.get("DAGSTER_HOME")
    store = values.get("AIQ_PIPELINE_STORE") or SecretStr(str(default_store_path(home, name)))
    settings = Settings(
        pairs=(pair,),
        store=store,
        batch_size=values.get("AIQ_PIPELINE_BATCH_SIZE", DEFAULT_BATCH_SIZE),
        transient_retry_delay_seconds=values.get(
            "AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", DEFAULT_TRANSIENT_RETRY_DELAY_SECONDS
        ),
        unknown_outcome_deadline_seconds=values.get(
            "AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE", DEFAULT_UNKNOWN_OUTCOME_DEADLINE_SECONDS
        ),
        claim_lease_seconds=values.get("AIQ_PIPELINE_CLAIM_LEASE", DEFAULT_CLAIM_LEASE_SECONDS),
        concurrency=values.get("AIQ_PIPELINE_CONCURRENCY", DEFAULT_CONCURRENCY),
        dagster_home=home,
        ui_url=values.get("AIQ_PIPELINE_UI_URL"),
    )
    return SettingsReading(settings, _in_table_order(problems), aiq, bunny, name)


def default_store_path(dagster_home: Path | None, pair: str = DEFAULT_PAIR_NAME) -> Path:
    """`$DAGSTER_HOME/aiq_pipeline.duckdb` (`aiq_pipeline_<pair>.duckdb` for a pair not named "default"), or the
    same under `./.dagster_home` without an instance."""
    file_name = STORE_FILE_NAME if pair == DEFAULT_PAIR_NAME else f"aiq_pipeline_{pair}.duckdb"
    return (dagster_home or Path.cwd() / ".dagster_home") / file_name


def variables_set() -> frozenset[str]:
    """The names of the variables above that the environment sets (to something not blank)."""
    return frozenset(_raw_environment())


def _raw_environment() -> dict[str, str | SecretStr]:
    environment = _Environment()
    raw: dict[str, str | SecretStr] = {}
    for name in VARIABLES:
        value = getattr(environment, name)
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is not None and text.strip():  # a blank value is an unset one
            raw[name] = value
    return raw


def _plain(value: str | SecretStr) -> str:
    return "" if isinstance(value, SecretStr) else value  # a secret's value is never shown


Missing = Callable[..., SettingProblem]  # (variable, extra="") -> the problem, placed where it belongs


def _aiq_connection(
    values: Mapping[str, Any], raw: Mapping[str, object], missing: Missing
) -> tuple[AiqConnection | None, list[SettingProblem]]:
    problems: list[SettingProblem] = []
    if "AIQ_REGION" not in raw and "AIQ_BASE_URL" not in raw:
        problems.append(missing("AIQ_REGION", " (or set AIQ_BASE_URL)"))
    required = ("AIQ_ENTITY_ID", "AIQ_CLIENT_ID", "AIQ_CLIENT_SECRET", "AIQ_DEFAULT_TAX_CODE")
    problems += [missing(name) for name in required if name not in raw]
    if problems or any(name in raw and name not in values for name in AIQ_VARIABLES):
        return None, problems
    connection = AiqConnection(
        region=values.get("AIQ_REGION"),
        base_url=values.get("AIQ_BASE_URL"),
        entity_id=values["AIQ_ENTITY_ID"],
        client_id=values["AIQ_CLIENT_ID"],
        client_secret=values["AIQ_CLIENT_SECRET"],
        default_tax_code=values["AIQ_DEFAULT_TAX_CODE"],
    )
    return connection, problems


def _bunny_connection(
    values: Mapping[str, Any], raw: Mapping[str, object], missing: Missing
) -> tuple[BunnyConnection | None, list[SettingProblem]]:
    problems = [missing(name) for name in BUNNY_VARIABLES if name not in raw]
    if problems or any(name in raw and name not in values for name in BUNNY_VARIABLES):
        return None, problems
    connection = BunnyConnection(
        base_url=values["BUNNY_BASE_URL"],
        client_id=values["BUNNY_CLIENT_ID"],
        client_secret=values["BUNNY_CLIENT_SECRET"],
        entity_id=values["BUNNY_ENTITY_ID"],
    )
    return connection, problems


def _in_table_order(problems: list[SettingProblem]) -> tuple[SettingProblem, ...]:
    order = {name: i for i, name in enumerate(VARIABLES)}
    return tuple(sorted(problems, key=lambda p: order.get(p.variable, len(order))))
