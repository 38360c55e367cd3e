"""The AccountsIQ and Bunny emulators, their fixtures and demo tenants, and the `make demo` stack.

Development tools beside the product, not part of it: they ship in the same distribution, but their
libraries come with the `emulators` extra only (`pip install 'aiq-pipeline[emulators]'`; `make setup`
installs it). Without the extra, importing this package fails at once with that hint, as a
`ModuleNotFoundError` named `aiq_emulators`, instead of half-way through an emulator or, worse, at its first
request (the Bunny emulator needs python-multipart only when a token request arrives).
"""

from __future__ import annotations

import re
from importlib import metadata

INSTALL_HINT = "pip install 'aiq-pipeline[emulators]'"

_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']emulators["']""")
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def missing_requirements() -> list[str]:
    """The `emulators` extra's distributions that are not installed, read from the installed project's own
    metadata (so the list cannot drift from pyproject.toml); none when running from an uninstalled tree."""
    try:
        requirements = metadata.requires("aiq-pipeline") or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        found = _NAME.match(spec)
        if found is None or not _EXTRA_MARKER.search(marker):
            continue
        try:
            metadata.distribution(found.group(1))
        except metadata.PackageNotFoundError:
            missing.append(found.group(1))
    return missing


_missing = missing_requirements()
if _missing:
    raise ModuleNotFoundError(
        f"the emulators need {', '.join(_missing)}, which come with the `emulators` extra: {INSTALL_HINT}",
        name=__name__,
    )
