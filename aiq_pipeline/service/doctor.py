"""`aiq-pipeline doctor`: check the settings against the live services, the way Bunny's "Save" does.

Each check says what it verified or, when it fails, which setting is wrong and what to do. The checks
stop at the first failure that makes the later ones meaningless (no token, no entity).
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


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    setting: str | None = None  # the setting to fix when not ok


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str, setting: str | None = None) -> bool:
        self.checks.append(Check(name, ok, detail, setting))
        return ok


@dataclass(frozen=True)
class AiqSettings:
    entity_id: str
    client_id: str
    client_secret: str
    default_tax_code: str
    region: str | None = None
    base_url: str | None = None

    def __repr__(self) -> str:
        return f"AiqSettings(entity_id={self.entity_id!r}, region={self.region!r}, base_url={self.base_url!r})"


@dataclass(frozen=True)
class BunnySettings:
    base_url: str
    client_id: str
    client_secret: str
    entity_id: str

    def __repr__(self) -> str:
        return f"BunnySettings(base_url={self.base_url!r}, entity_id={self.entity_id!r})"


_TOKEN_OPERATIONS = frozenset({"TokenGet", "TokenRefresh"})
# A settings check should answer in seconds: one retry absorbs a blip without minutes of backoff.
CHECK_ATTEMPTS = 2


def _address_setting(settings: AiqSettings) -> str:
    # The client prefers the base URL when both are set, so that is the setting to blame.
    return "AIQ_BASE_URL" if settings.base_url else "AIQ_REGION"


def check_accountsiq(
    settings: AiqSettings, report: Report, client_factory: Callable[..., AccountsIQClient] = AccountsIQClient
) -> None:
    where = settings.base_url or settings.region
    address = _address_setting(settings)
    try:
        client = client_factory(
            entity_id=settings.entity_id,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            region=settings.region,
            base_url=settings.base_url,
            max_attempts=CHECK_ATTEMPTS,
        )
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
            if exc.code in ENTITY_CODES and exc.operation not in _TOKEN_OPERATIONS:
                report.add("AIQ credentials", True, "token issued")
                report.add(
                    "AIQ entity",
                    False,
                    f"AIQ refused entity {settings.entity_id!r} ({exc.code}): it does not exist or is not granted "
                    "to this integration application; set the right entity id, or grant it under the "
                    "application's Entities Assigned tab.",
                    "AIQ_ENTITY_ID",
                )
                return
            report.add(
                "AIQ credentials",
                False,
                f"AIQ rejected the client id/secret ({exc.code or exc.message}): copy both again from the "
                "AIQ developer portal (Integration Applications > View > Show Credentials), and check the "
                "application is not revoked.",
                "AIQ_CLIENT_ID / AIQ_CLIENT_SECRET",
            )
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

        codes = {t.code for t in tax_codes}
        if settings.default_tax_code in codes:
            report.add("AIQ default tax code", True, f"{settings.default_tax_code} exists in {entity.entity_id}")
        else:
            upper = settings.default_tax_code.upper()
            hint = f" (AIQ tax codes are upper case: use {upper!r})" if upper in codes else ""
            report.add(
                "AIQ default tax code",
                False,
                f"tax code {settings.default_tax_code!r} does not exist in entity {entity.entity_id}{hint}; "
                f"available: {', '.join(sorted(codes)) or 'none'}. Pick one under Setup > Codes Maintenance > Taxes.",
                "AIQ_DEFAULT_TAX_CODE",
            )


def check_bunny(
    settings: BunnySettings, report: Report, client_factory: Callable[..., BunnyClient] = BunnyClient
) -> None:
    with client_factory(
        base_url=settings.base_url, client_id=settings.client_id, client_secret=settings.client_secret
    ) as client:
        try:
            scopes = client.current_scopes()
        except BunnyConfigurationError as exc:
            report.add("Bunny credentials", False, exc.message, "BUNNY_CLIENT_ID / BUNNY_CLIENT_SECRET")
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
            report.add(
                "Bunny entity",
                False,
                f"entity {settings.entity_id!r} does not exist in Bunny (or this API client cannot see it); set "
                "BUNNY_ENTITY_ID to the id of the Bunny entity whose invoices go to AccountsIQ.",
                "BUNNY_ENTITY_ID",
            )
        else:
            report.add("Bunny entity", True, f"{entity.id} {entity.name}")
