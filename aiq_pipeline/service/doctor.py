"""`aiq-pipeline doctor`: check the settings against the live services, the way Bunny's "Save" does.

Each check says what it verified or, when it fails, which setting is wrong and what to do. The checks
stop at the first failure that makes the later ones meaningless (no token, no entity).

The settings are the product's one settings model (`aiq_pipeline.settings`), read strictly: doctor reports
every setting a command would refuse, as the same line the command prints (`service.problems`), and then
checks each service whose settings are complete. Doctor and the poster read codes one way: AIQ's codes are
upper case, and `AIQ_DEFAULT_TAX_CODE` is used upper case whatever case it is written in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import (
    AiqAuthenticationError,
    AiqConfigurationError,
    AiqError,
    AiqThrottledError,
    AiqTransportError,
)
from aiq_pipeline.accountsiq.outcomes import ENTITY_CODES
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.errors import BunnyConfigurationError, BunnyError
from aiq_pipeline.service.doctor_accounts import check_rule_accounts
from aiq_pipeline.service.problems import (
    TOKEN_OPERATIONS,
    Problem,
    aiq_credentials_problem,
    aiq_entity_refused_problem,
    bunny_configuration_problem,
    bunny_entity_unknown_problem,
    check_line,
    setting_problem,
)
from aiq_pipeline.settings import AiqConnection, BunnyConnection, PostingRules, SettingsReading


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    setting: str | None = None  # the setting to fix when not ok

    def line(self) -> str:
        return check_line(self.ok, self.name, self.detail, self.setting)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str, setting: str | None = None) -> bool:
        self.checks.append(Check(name, ok, detail, setting))
        return ok

    def fail(self, problem: Problem) -> bool:
        return self.add(problem.name, False, problem.detail, problem.setting)

    def lines(self) -> list[str]:
        return [check.line() for check in self.checks]


# A settings check should answer in seconds: one retry absorbs a blip without minutes of backoff.
CHECK_ATTEMPTS = 2


def check_accountsiq(
    settings: AiqConnection,
    report: Report,
    client_factory: Callable[..., AccountsIQClient] = AccountsIQClient,
    rules: PostingRules | None = None,
) -> None:
    where = settings.base_url or settings.region
    address = settings.address_variable  # the client prefers the base URL when both are set
    try:
        client = client_factory(**settings.client_arguments(), max_attempts=CHECK_ATTEMPTS)
    except AiqConfigurationError as exc:
        report.add("AIQ region", False, str(exc), address)
        return
    with client:
        # The first call gets a token (TokenGet) and then lists the granted entities. Which step failed,
        # and with which code, tells credentials apart from an entity the header names but AIQ refuses.
        try:
            entities = client.get_entities_by_token()
        except AiqAuthenticationError as exc:
            report.add("AIQ region", True, f"{where} answers")
            if exc.code in ENTITY_CODES and exc.operation not in TOKEN_OPERATIONS:
                report.add("AIQ credentials", True, "token issued")
                report.fail(aiq_entity_refused_problem(exc.code, settings.entity_id))
                return
            report.fail(aiq_credentials_problem(exc.code or exc.message))
            return
        except AiqThrottledError as exc:
            report.add("AIQ region", True, f"{where} answers")
            report.add("AIQ availability", False, f"AIQ asked us to slow down ({exc.code}); run doctor again later.")
            return
        except AiqTransportError as exc:
            hint = "check the base URL and that the service runs" if settings.base_url else "check the region code"
            report.add("AIQ region", False, f"{where} did not answer ({exc.message}); {hint}.", address)
            return
        except AiqError as exc:
            report.add("AIQ credentials", False, str(exc), "AIQ_CLIENT_ID / AIQ_CLIENT_SECRET")
            return
        report.add("AIQ region", True, f"{where} answers")
        report.add("AIQ credentials", True, f"token issued; {len(entities)} entities granted")

        granted = {e.entity_id.upper(): e for e in entities}
        entity = granted.get(settings.entity_id.upper())
        if entity is None:
            names = ", ".join(sorted(granted)) or "none"
            report.add(
                "AIQ entity",
                False,
                f"entity {settings.entity_id!r} does not exist or is not granted to this integration application "
                f"(granted: {names}); "
                "set the right entity id, or grant it under the application's Entities Assigned tab.",
                "AIQ_ENTITY_ID",
            )
            return
        try:
            tax_codes = client.get_tax_codes()
        except AiqError as exc:
            report.add("AIQ entity", False, f"entity {settings.entity_id!r} cannot be read: {exc}", "AIQ_ENTITY_ID")
            return
        report.add("AIQ entity", True, f"{entity.entity_id} {entity.name} (base currency {entity.base_currency})")

        # One rule with the poster (sync/documents/lines.py): codes compare and are sent upper case.
        codes = {t.code.strip().upper() for t in tax_codes}
        wanted = settings.default_tax_code.strip().upper()
        if wanted in codes:
            report.add("AIQ default tax code", True, f"{wanted} exists in {entity.entity_id}")
        else:
            report.add(
                "AIQ default tax code",
                False,
                f"tax code {wanted!r} does not exist in entity {entity.entity_id}; "
                f"available: {', '.join(sorted(codes)) or 'none'}. Pick one under Setup > Codes Maintenance > Taxes.",
                "AIQ_DEFAULT_TAX_CODE",
            )
        if rules is not None:
            check_rule_accounts(client, rules, entity.base_currency, report.add)


def check_bunny(
    settings: BunnyConnection, report: Report, client_factory: Callable[..., BunnyClient] = BunnyClient
) -> None:
    with client_factory(**settings.client_arguments()) as client:
        try:
            scopes = client.current_scopes()
        except BunnyConfigurationError as exc:
            report.fail(bunny_configuration_problem(exc.message))
            return
        except BunnyError as exc:
            report.add("Bunny endpoint", False, f"{settings.base_url} did not answer properly: {exc}", "BUNNY_BASE_URL")
            return
        report.add("Bunny credentials", True, f"token issued with scopes: {' '.join(sorted(scopes))}")
        try:
            entity = client.get_entity(settings.entity_id)
        except BunnyError as exc:
            report.add("Bunny entity", False, str(exc), "BUNNY_ENTITY_ID")
            return
        if entity is None:
            report.fail(bunny_entity_unknown_problem(settings.entity_id))
        else:
            report.add("Bunny entity", True, f"{entity.id} {entity.name}")


def diagnose(
    reading: SettingsReading,
    *,
    aiq_factory: Callable[..., AccountsIQClient] = AccountsIQClient,
    bunny_factory: Callable[..., BunnyClient] = BunnyClient,
) -> Report:
    """The whole doctor: every setting a command would refuse, then each service whose settings are complete."""
    report = Report()
    for problem in reading.problems:
        report.fail(setting_problem(problem))
    if reading.settings is not None and not reading.problems:
        settings, pair = reading.settings, reading.settings.pair
        start = pair.sync_start_date.isoformat() if pair.sync_start_date else "none"
        report.add(
            "settings",
            True,
            f"batch size {settings.batch_size}, sync start date {start}, closed periods: "
            f"{pair.closed_period_policy}, sensors {pair.sensor_default} on a fresh instance",
        )
    if reading.aiq is not None:
        rules = reading.settings.pair.rules if reading.settings is not None else None
        check_accountsiq(reading.aiq, report, aiq_factory, rules)
    if reading.bunny is not None:
        check_bunny(reading.bunny, report, bunny_factory)
    return report
