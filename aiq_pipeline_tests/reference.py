"""Where the vendors' contract files are: `shared/reference/` beside the project checkout (as in CI).

Conformance tests read the originals there, never our vendored copies, so an emulator is checked against
the vendor's contract and not against our own assumptions.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = PROJECT_ROOT.parent / "shared" / "reference"


def reference_file(relative: str) -> Path:
    path = REFERENCE_DIR / relative
    if not path.exists():
        raise FileNotFoundError(f"vendor contract file missing: {path} (shared/ must sit beside the checkout)")
    return path
