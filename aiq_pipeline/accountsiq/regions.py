"""Where an AccountsIQ entity lives: its region's host, or an explicit base URL (the emulator).

Every region serves the same WSDL at the same path; only the host differs. The vendor's WSDL hard-codes
eu1, so the endpoint is always built here from the configured region rather than taken from the WSDL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiq_pipeline.accountsiq.errors import AiqConfigurationError

REGIONS: tuple[str, ...] = ("US1", "EU1", "EU2", "UK1")
SERVICE_PATH = "/system/dashboard/integration/integration_2_0.asmx"


def normalise_region(region: str) -> str:
    """`eu1`, ` EU1 ` -> `EU1`; anything else is a configuration error naming the four regions."""
    code = region.strip().upper()
    if code not in REGIONS:
        raise AiqConfigurationError(
            f"unknown AccountsIQ region {region.strip()!r}: use one of {', '.join(REGIONS)} "
            "(the first part of your AIQ login address, e.g. eu1.accountsiq.com -> EU1); check AIQ_REGION"
        )
    return code


def endpoint_url(*, region: str | None = None, base_url: str | None = None) -> str:
    """The Integration 2.0 endpoint. `base_url` (scheme + host[:port]) wins over `region` when both are set."""
    if base_url:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AiqConfigurationError(
                f"AccountsIQ base URL {base_url!r} is not an http(s) address such as http://127.0.0.1:8080; "
                "check AIQ_BASE_URL"
            )
        # Accept the full endpoint too, so a copied .asmx address does not get the path twice.
        path = parts.path.rstrip("/").removesuffix(SERVICE_PATH)
        return f"{parts.scheme}://{parts.netloc}{path}{SERVICE_PATH}"
    if region:
        return f"https://{normalise_region(region).lower()}.accountsiq.com{SERVICE_PATH}"
    raise AiqConfigurationError(
        f"no AccountsIQ region configured: set AIQ_REGION to one of {', '.join(REGIONS)} (or AIQ_BASE_URL)"
    )
