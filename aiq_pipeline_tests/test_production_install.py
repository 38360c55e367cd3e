"""A production install brings only what production needs, and the product works with it.

The slow test installs the project without extras, from uv.lock and as a built wheel (not editable, so the
package data must be in it), into a fresh environment, and checks there that the code location loads, that
every module of the product imports, that no extra came along, and that the emulators are absent: importing
them fails with the install hint, and `aiq-pipeline emulate` and `aiq-pipeline demo` print that hint in one
line and exit non-zero. The quick tests check the same hint in this process.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import aiq_emulators
from aiq_pipeline.cli import main

PROJECT_DIR = Path(__file__).resolve().parent.parent
HINT = "pip install 'aiq-pipeline[emulators]'"
# What a wheel is built from (pyproject.toml names README.md as the long description).
SOURCES = ("pyproject.toml", "uv.lock", "README.md", "aiq_pipeline", "aiq_emulators")

# Run in the production environment: load the code location, import every module of the product, and say
# which extra-only libraries are present and how importing the emulators fails.
PROBE = """
import importlib, importlib.util, json, pkgutil
import dagster as dg
import aiq_pipeline, aiq_pipeline.definitions as location
assert isinstance(location.defs, dg.Definitions), type(location.defs)
modules = [m.name for m in pkgutil.walk_packages(aiq_pipeline.__path__, "aiq_pipeline.")]
for name in modules:
    importlib.import_module(name)
extras_only = ["xmlschema", "python_multipart", "pytest", "psycopg2", "dagster_postgres", "zeep", "mypy"]
try:
    import aiq_emulators
    emulators = None
except ModuleNotFoundError as error:
    emulators = {"name": error.name, "message": str(error)}
print(json.dumps({
    "modules": len(modules),
    "assets": len(list(location.defs.assets or [])),
    "present": [m for m in extras_only if importlib.util.find_spec(m) is not None],
    "emulators": emulators,
}))
"""

# Settings a deployment would have: loading the location reads them and connects to nothing.
PLACEHOLDERS = {
    "AIQ_BASE_URL": "http://127.0.0.1:9/accountsiq",
    "AIQ_ENTITY_ID": "PLACEHOLDER",
    "AIQ_CLIENT_ID": "placeholder-client",
    "AIQ_CLIENT_SECRET": "placeholder-secret",
    "AIQ_DEFAULT_TAX_CODE": "V01",
    "BUNNY_BASE_URL": "http://127.0.0.1:9/bunny",
    "BUNNY_CLIENT_ID": "placeholder-client",
    "BUNNY_CLIENT_SECRET": "placeholder-secret",
    "BUNNY_ENTITY_ID": "1",
}


def _uv() -> str:
    """The uv that `make setup` put into .tools/ (or one on PATH)."""
    uv = PROJECT_DIR / ".tools" / "bin" / "uv"
    found = str(uv) if uv.exists() else shutil.which("uv")
    if found is None:
        pytest.fail(f"no uv at {uv} or on PATH: run `make setup`, which installs it")
    return found


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _clean_environment(tmp_path: Path) -> dict[str, str]:
    """This process's environment without anything that would point Python or the product elsewhere."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.startswith(("AIQ_", "BUNNY_", "DAGSTER_", "PYTEST_"))
    }
    home = tmp_path / "dagster_home"
    home.mkdir()
    return {
        **env,
        **PLACEHOLDERS,
        "AIQ_PIPELINE_STORE": str(tmp_path / "store.duckdb"),
        "DAGSTER_HOME": str(home),
        "UV_PYTHON_DOWNLOADS": "never",
    }


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """(bin folder of the production environment, its environment variables, a folder outside the sources)."""
    tmp_path = tmp_path_factory.mktemp("production")
    source = tmp_path / "source"  # a copy: building the wheel writes build/ and egg-info beside the sources
    source.mkdir()
    for name in SOURCES:
        path = PROJECT_DIR / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    env = _clean_environment(tmp_path)
    venv = tmp_path / "venv"
    # --locked: the lock must match pyproject.toml; no --extra and no groups: exactly the production set.
    command = [_uv(), "sync", "--project", str(source), "--locked", "--no-editable", "--no-default-groups"]
    command += ["--python", sys.executable]
    synced = _run(command, cwd=tmp_path, env={**env, "UV_PROJECT_ENVIRONMENT": str(venv)})
    assert synced.returncode == 0, synced.stdout + synced.stderr
    work = tmp_path / "work"  # not the source folder: Python must import the installed wheel
    work.mkdir()
    return venv / "bin", env, work


@pytest.mark.slow
def test_production_install_loads_the_code_location_and_has_no_extras(production):
    bin_dir, env, work = production
    probed = _run([str(bin_dir / "python"), "-c", PROBE], cwd=work, env=env)
    assert probed.returncode == 0, probed.stderr
    found = json.loads(probed.stdout.strip().splitlines()[-1])
    assert found["modules"] > 10 and found["assets"] > 0
    assert found["present"] == []  # nothing of the emulators, postgres or dev extras came along
    assert found["emulators"] is not None, "aiq_emulators imported without the emulators extra"
    assert found["emulators"]["name"] == "aiq_emulators" and HINT in found["emulators"]["message"]
    assert "xmlschema" in found["emulators"]["message"]  # it names what is missing

    validate = [str(bin_dir / "dagster"), "definitions", "validate", "-m", "aiq_pipeline.definitions"]
    validated = _run(validate, cwd=work, env=env)
    assert validated.returncode == 0, validated.stdout + validated.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", [["emulate", "--accountsiq-port", "1"], ["demo"]])
def test_production_install_says_how_to_get_the_emulators(production, command):
    bin_dir, env, work = production
    result = _run([str(bin_dir / "aiq-pipeline"), *command], cwd=work, env=env, timeout=120)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [f"Error: {_hint_line(command)}"], result.stderr  # one line: no traceback, no warnings
    assert not (work / ".demo").exists()


def _without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next `import aiq_emulators` run its check against an extra whose library is not installed."""
    for name in [m for m in sys.modules if m == "aiq_emulators" or m.startswith("aiq_emulators.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(importlib.metadata, "requires", lambda _: ['no-such-library>=1; extra == "emulators"'])


@pytest.mark.parametrize("command", [["emulate", "--bunny-port", "1"], ["demo"]])
def test_without_the_extra_the_commands_print_the_install_hint(monkeypatch, command):
    _without_the_extra(monkeypatch)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.strip().splitlines() == [f"Error: {_hint_line(command)}"]


def _hint_line(command: list[str]) -> str:
    what = "the emulators need" if command[0] == "emulate" else "the demo needs"
    return f"{what} the `emulators` extra: {HINT}"


def test_the_emulators_check_reads_their_extra_from_the_installed_metadata(monkeypatch):
    requirements = [
        "httpx<0.29,>=0.28",
        'xmlschema<5,>=3.4; extra == "emulators"',
        "uvicorn>=0.30; extra == 'emulators'",
        'pytest<10,>=8.3; extra == "dev"',
    ]
    installed = {"httpx", "uvicorn", "pytest"}

    def distribution(name: str):
        if name not in installed:
            raise aiq_emulators.metadata.PackageNotFoundError(name)
        return name

    monkeypatch.setattr(aiq_emulators.metadata, "requires", lambda _: requirements)
    monkeypatch.setattr(aiq_emulators.metadata, "distribution", distribution)
    assert aiq_emulators.missing_requirements() == ["xmlschema"]
    installed.add("xmlschema")
    assert aiq_emulators.missing_requirements() == []
