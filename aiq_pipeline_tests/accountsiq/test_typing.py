"""The client package type-checks under `mypy --strict`, and every `# type: ignore` in it says why."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import aiq_pipeline.accountsiq

PACKAGE = Path(aiq_pipeline.accountsiq.__file__).parent
IGNORE = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(?P<rest>.*)$")


def test_client_package_passes_mypy_strict() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(PACKAGE)],
        capture_output=True,
        text=True,
        check=False,
        cwd=PACKAGE.parent.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_type_ignore_carries_a_reason() -> None:
    unexplained: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            match = IGNORE.search(line)
            if match is None:
                continue
            reason_here = match["rest"].strip().lstrip("#").strip()
            reason_above = number > 1 and lines[number - 2].strip().startswith("#")
            if not match[1] or not (reason_here or reason_above):
                unexplained.append(f"{path.name}:{number}: {line.strip()}")
    assert not unexplained, "a `# type: ignore` needs an error code and a reason beside it:\n" + "\n".join(unexplained)


def test_every_exported_name_is_importable() -> None:
    missing = [name for name in aiq_pipeline.accountsiq.__all__ if not hasattr(aiq_pipeline.accountsiq, name)]
    assert missing == [], f"__all__ names what the package does not define: {missing}"
