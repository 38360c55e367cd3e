"""`aiq-pipeline doctor` through the real CLI (CliRunner) against both emulators over loopback HTTP.

Every failing case must exit 4 (a settings or connection problem), name the environment variable to fix
with a hint of what to do, and never print a secret (the configured ones or the wrong one under test).
Doctor reads the one settings model strictly, so it refuses exactly what `sync` would refuse, with the
same line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr

from aiq_emulators.accountsiq.app import EmulatorHandle, start_emulator
from aiq_emulators.bunny.app import start_emulator as start_bunny_emulator
from aiq_emulators.serving import free_port
from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.cli import main
from aiq_pipeline.defs.resources import resources_from_environment
from aiq_pipeline.service.doctor import CHECK_ATTEMPTS, Report, check_accountsiq
from aiq_pipeline.settings import VARIABLES, AiqConnection
from aiq_pipeline_tests.accountsiq.scripted_aiq import CLIENT_ID, CLIENT_SECRET, ScriptedAiq, failure, token_result

AIQ_SECRET = "demo-aiq-secret"
BUNNY_SECRET = "demo-bunny-secret"
WRONG_SECRET = "not-the-right-secret-9f3c"
SETTINGS = tuple(VARIABLES)  # every variable the product reads
PROBLEM_EXIT = 4


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[str, EmulatorHandle, str]]:
    with start_emulator() as (aiq_url, handle), start_bunny_emulator() as (bunny_url, _):
        yield aiq_url, handle, bunny_url


@pytest.fixture
def good_env(
    emulators: tuple[str, EmulatorHandle, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, str]:
    aiq_url, handle, bunny_url = emulators
    handle.reset()
    env = {
        "AIQ_BASE_URL": aiq_url,
        "AIQ_ENTITY_ID": "DEMO01",
        "AIQ_CLIENT_ID": "demo-aiq-client",
        "AIQ_CLIENT_SECRET": AIQ_SECRET,
        "AIQ_DEFAULT_TAX_CODE": "V01",
        "BUNNY_BASE_URL": bunny_url,
        "BUNNY_CLIENT_ID": "demo-bunny-client",
        "BUNNY_CLIENT_SECRET": BUNNY_SECRET,
        "BUNNY_ENTITY_ID": "1",
        "DAGSTER_HOME": str(tmp_path),
    }
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def run_doctor(monkeypatch: pytest.MonkeyPatch, **overrides: str | None) -> Result:
    """Invoke `aiq-pipeline doctor` with the good settings changed as given (None unsets)."""
    for name, value in overrides.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return CliRunner().invoke(main, ["doctor"], catch_exceptions=False)


def assert_no_secret(output: str) -> None:
    for secret in (AIQ_SECRET, BUNNY_SECRET, WRONG_SECRET):
        assert secret not in output


def test_good_settings_pass_without_retrying(
    good_env: dict[str, str], emulators: tuple[str, EmulatorHandle, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_doctor(monkeypatch)
    calls = emulators[1].stats.snapshot()["calls"]
    print(f"doctor's AIQ calls with good settings: {calls}")
    assert result.exit_code == 0, result.output
    assert "All settings check out." in result.output
    lines = result.output.strip().splitlines()
    checks = [ln for ln in lines if not ln.startswith("All settings")]
    assert checks and all(ln.startswith("ok ") for ln in checks)
    for name in (
        "settings",
        "AIQ region",
        "AIQ credentials",
        "AIQ entity",
        "AIQ default tax code",
        "Bunny credentials",
    ):
        assert any(f" {name}:" in ln for ln in checks), name
    assert "DEMO01 Demo Trading Ltd (base currency EUR)" in result.output
    assert "1 Demo Trading Ltd" in result.output
    assert_no_secret(result.output)
    # Good settings answer first time: no AIQ call is repeated (a retry or a timeout would show here).
    assert calls and max(calls.values()) == 1, calls


@pytest.mark.parametrize(
    ("overrides", "setting", "advice"),
    [
        ({"AIQ_CLIENT_SECRET": WRONG_SECRET}, "AIQ_CLIENT_ID / AIQ_CLIENT_SECRET", "copy both again"),
        ({"AIQ_CLIENT_ID": "no-such-client"}, "AIQ_CLIENT_ID / AIQ_CLIENT_SECRET", "copy both again"),
        ({"AIQ_ENTITY_ID": "DEMO02"}, "AIQ_ENTITY_ID", "Entities Assigned"),
        ({"AIQ_ENTITY_ID": "NOPE99"}, "AIQ_ENTITY_ID", "set the right entity id"),
        ({"AIQ_BASE_URL": None, "AIQ_REGION": "XX9"}, "AIQ_REGION", "must be one of US1, EU1, EU2, UK1"),
        ({"AIQ_DEFAULT_TAX_CODE": "V77"}, "AIQ_DEFAULT_TAX_CODE", "available: EX, V00, V01, V02"),
        ({"AIQ_CLIENT_SECRET": None}, "AIQ_CLIENT_SECRET", "AIQ_CLIENT_SECRET is not set"),
        ({"BUNNY_CLIENT_SECRET": None}, "BUNNY_CLIENT_SECRET", "BUNNY_CLIENT_SECRET is not set"),
        ({"AIQ_PIPELINE_BATCH_SIZE": "abc"}, "AIQ_PIPELINE_BATCH_SIZE", "a whole number from 1 to 500, not 'abc'"),
        ({"DAGSTER_HOME": None}, "DAGSTER_HOME", "DAGSTER_HOME is not set"),
        ({"BUNNY_CLIENT_SECRET": WRONG_SECRET}, "BUNNY_CLIENT_ID / BUNNY_CLIENT_SECRET", "check BUNNY_CLIENT_ID"),
        ({"BUNNY_ENTITY_ID": "999"}, "BUNNY_ENTITY_ID", "set BUNNY_ENTITY_ID to the id"),
    ],
    ids=[
        "wrong-aiq-secret",
        "wrong-aiq-client-id",
        "entity-not-granted",
        "entity-does-not-exist",
        "unknown-region",
        "unknown-tax-code",
        "aiq-secret-unset",
        "bunny-secret-unset",
        "wrong-batch-size",
        "dagster-home-unset",
        "wrong-bunny-secret",
        "unknown-bunny-entity",
    ],
)
def test_each_bad_setting_is_named_with_advice(
    good_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    overrides: dict[str, str | None],
    setting: str,
    advice: str,
) -> None:
    result = run_doctor(monkeypatch, **overrides)
    assert result.exit_code == PROBLEM_EXIT, result.output
    failed = [ln for ln in result.output.splitlines() if ln.startswith("FAIL")]
    # Exactly the one bad setting is blamed, and the line says what to do.
    assert len(failed) == 1, result.output
    assert f"[{setting}]" in failed[0] and advice in failed[0], failed[0]
    assert "All settings check out." not in result.output
    assert_no_secret(result.output)


def test_the_other_service_is_still_checked_when_one_fails(
    good_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_doctor(monkeypatch, AIQ_DEFAULT_TAX_CODE="V77", BUNNY_ENTITY_ID="999")
    assert result.exit_code == PROBLEM_EXIT
    assert "ok   AIQ entity: DEMO01" in result.output and "ok   Bunny credentials" in result.output
    assert "[AIQ_DEFAULT_TAX_CODE]" in result.output and "[BUNNY_ENTITY_ID]" in result.output


def test_a_wrong_setting_does_not_stop_the_service_checks(
    good_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_doctor(monkeypatch, AIQ_PIPELINE_BATCH_SIZE="abc")
    assert result.exit_code == PROBLEM_EXIT
    assert "ok   AIQ default tax code: V01" in result.output and "ok   Bunny entity: 1" in result.output


def test_doctor_and_sync_refuse_a_setting_with_the_same_line(
    good_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doctor = run_doctor(monkeypatch, AIQ_PIPELINE_CLAIM_LEASE="10", BUNNY_ENTITY_ID=None)
    sync = CliRunner().invoke(main, ["sync"], catch_exceptions=False)
    assert doctor.exit_code == sync.exit_code == PROBLEM_EXIT
    refused = [ln for ln in doctor.output.splitlines() if ln.startswith("FAIL settings")]
    assert refused == [
        "FAIL settings [BUNNY_ENTITY_ID]: BUNNY_ENTITY_ID is not set: set it to the id of the Bunny entity whose "
        "invoices are synced, e.g. 1",
        "FAIL settings [AIQ_PIPELINE_CLAIM_LEASE]: AIQ_PIPELINE_CLAIM_LEASE must be a whole number of seconds "
        "from 30 to 86400, not '10'",
    ]
    assert sync.output.splitlines() == refused  # nothing else: no traceback, nothing started


def test_doctor_and_sync_report_refused_credentials_with_the_same_line(
    good_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doctor = run_doctor(monkeypatch, AIQ_CLIENT_SECRET=WRONG_SECRET)
    [refused] = [ln for ln in doctor.output.splitlines() if ln.startswith("FAIL")]
    sync = CliRunner().invoke(main, ["sync"])
    assert doctor.exit_code == sync.exit_code == PROBLEM_EXIT, sync.output
    assert refused in sync.output.splitlines()
    assert "Traceback" not in sync.output
    assert_no_secret(sync.output)


def test_bunny_settings_are_required_as_sync_requires_them(
    good_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides: dict[str, str | None] = {name: None for name in SETTINGS if name.startswith("BUNNY_")}
    result = run_doctor(monkeypatch, **overrides)
    assert result.exit_code == PROBLEM_EXIT
    blamed = [ln.split("]")[0] for ln in result.output.splitlines() if ln.startswith("FAIL")]
    assert blamed == [f"FAIL settings [{name}" for name in overrides]
    assert "ok   AIQ default tax code" in result.output  # AIQ is still checked


# --- one rule for tax codes: AIQ's are upper case, and the poster sends every code upper case ------------


@pytest.mark.parametrize("written", ["v01", " V01 ", "V01"])
def test_a_default_tax_code_in_any_case_is_the_code_sync_posts_with(
    good_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    result = run_doctor(monkeypatch, AIQ_DEFAULT_TAX_CODE=written)
    assert result.exit_code == 0, result.output
    assert "ok   AIQ default tax code: V01 exists in DEMO01" in result.output
    # ...and sync's resources carry the very code doctor checked.
    assert resources_from_environment()["accountsiq"].default_tax_code == "V01"


class _Ledger:
    """A stand-in client listing one entity and the given tax codes, as the planner's ledger snapshot reads them."""

    def __init__(self, *codes: str) -> None:
        self.codes = codes

    def __enter__(self) -> _Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get_entities_by_token(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(entity_id="DEMO01", name="Demo", base_currency="EUR")]

    def get_tax_codes(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(code=code) for code in self.codes]


@pytest.mark.parametrize(
    ("configured", "aiq_codes", "ok"),
    [("v01", ("V01", "EX"), True), ("V01", (" v01 ", "EX"), True), ("v02", ("V01",), False)],
)
def test_check_accountsiq_compares_codes_upper_case(configured: str, aiq_codes: tuple[str, ...], ok: bool) -> None:
    settings = AiqConnection(
        entity_id="DEMO01", client_id="c", client_secret=SecretStr("s"), default_tax_code=configured, region="EU1"
    )
    report = Report()
    check_accountsiq(settings, report, client_factory=lambda **_: _Ledger(*aiq_codes))  # type: ignore[arg-type,return-value]  # duck-typed client
    [check] = [c for c in report.checks if c.name == "AIQ default tax code"]
    assert check.ok is ok, check
    if not ok:
        assert check.setting == "AIQ_DEFAULT_TAX_CODE" and "'V02' does not exist" in check.detail


def test_unreachable_base_url_names_aiq_base_url(good_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    attempts: list[str] = []
    send = httpx.HTTPTransport.handle_request

    def counted(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(unreachable):
            attempts.append(str(request.url))
        return send(transport, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", counted)
    result = run_doctor(monkeypatch, AIQ_BASE_URL=unreachable)
    assert result.exit_code == PROBLEM_EXIT
    [failed] = [ln for ln in result.output.splitlines() if ln.startswith("FAIL")]
    assert "[AIQ_BASE_URL]" in failed and "did not answer" in failed and "check the base URL" in failed
    assert len(attempts) == CHECK_ATTEMPTS  # doctor's own bounded attempts, then it says so


def test_throttled_aiq_is_not_blamed_on_a_setting(
    good_env: dict[str, str], emulators: tuple[str, EmulatorHandle, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, handle, _ = emulators
    handle.faults.add({"kind": "throttle", "operations": ["GetEntitiesByToken"]})
    result = run_doctor(monkeypatch)
    assert result.exit_code == PROBLEM_EXIT
    [failed] = [ln for ln in result.output.splitlines() if ln.startswith("FAIL")]
    assert failed.startswith("FAIL AIQ availability:") and "run doctor again later" in failed
    assert "[" not in failed.split(":")[0]  # no setting named: nothing to fix in the settings
    assert handle.stats.snapshot()["calls"]["GetEntitiesByToken"] == 2  # CHECK_ATTEMPTS, then give up


# --- GetEntitiesByToken refusing the header's entity (the emulator lists instead; real AIQ may refuse) ------


def _scripted_check(aiq: ScriptedAiq) -> Report:
    def factory(**settings: Any) -> AccountsIQClient:
        return AccountsIQClient(**settings, backoff_base=0, transport=aiq.transport())

    report = Report()
    settings = AiqConnection(
        entity_id="ACME02",
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        default_tax_code="V01",
        base_url="http://127.0.0.1:9",
    )
    check_accountsiq(settings, report, client_factory=factory)
    return report


def test_entity_refused_on_get_entities_by_token_names_the_entity_not_the_credentials() -> None:
    aiq = ScriptedAiq()
    aiq.script("GetEntitiesByToken", failure("GetEntitiesByToken", "API_LAYER_ENTITY_ID_NOT_FOUND"))
    report = _scripted_check(aiq)
    assert aiq.ops() == ["TokenGet", "GetEntitiesByToken"]
    outcome = {c.name: (c.ok, c.setting) for c in report.checks}
    assert outcome == {
        "AIQ region": (True, None),
        "AIQ credentials": (True, None),
        "AIQ entity": (False, "AIQ_ENTITY_ID"),
    }
    assert "ACME02" in report.checks[-1].detail and "API_LAYER_ENTITY_ID_NOT_FOUND" in report.checks[-1].detail


def test_refused_token_request_names_the_credentials() -> None:
    aiq = ScriptedAiq()
    aiq.script("TokenGet", token_result("TokenGet", None, None, status="Failure", code="INVALID_CLIENT"))
    report = _scripted_check(aiq)
    assert aiq.ops() == ["TokenGet"]
    failed = [c for c in report.checks if not c.ok]
    assert [(c.name, c.setting) for c in failed] == [("AIQ credentials", "AIQ_CLIENT_ID / AIQ_CLIENT_SECRET")]
    assert all(CLIENT_SECRET not in c.detail for c in report.checks)
