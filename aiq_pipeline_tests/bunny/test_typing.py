"""The Bunny client package type-checks under `mypy --strict`, and every `# type: ignore` in it says why."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import aiq_pipeline.bunny

PACKAGE = Path(aiq_pipeline.bunny.__file__).parent
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


def unexplained_ignores(root: Path) -> list[str]:
    """`# type: ignore` comments without an error code, or without a reason on the line or the line above."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            match = IGNORE.search(line)
            if match is None:
                continue
            reason_here = match["rest"].strip().lstrip("#").strip()
            reason_above = number > 1 and lines[number - 2].strip().startswith("#")
            if not match[1] or not (reason_here or reason_above):
                found.append(f"{path.name}:{number}: {line.strip()}")
    return found


def test_every_type_ignore_carries_a_reason() -> None:
    unexplained = unexplained_ignores(PACKAGE)
    assert not unexplained, "a `# type: ignore` needs an error code and a reason beside it:\n" + "\n".join(unexplained)


def test_the_ignore_check_catches_a_bare_ignore(tmp_path: Path) -> None:
    (tmp_path / "sample.py").write_text(
        "a = 1  # type: ignore\nb = 2  # type: ignore[attr-defined]  # the stub lacks it\n", encoding="utf-8"
    )
    assert unexplained_ignores(tmp_path) == ["sample.py:1: a = 1  # type: ignore"]
