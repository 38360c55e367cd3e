"""The one settings model: every variable read in one place, normalised once, and refused one way."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from pydantic import SecretStr

from aiq_pipeline import settings as settings_module
from aiq_pipeline.defs.resources import (
    AccountsIQResource,
    BunnyResource,
    StoreResource,
    SyncSettings,
    default_schedule_status,
    default_sensor_status,
    resources_from_environment,
    resources_from_settings,
    transient_retry_delay,
)
from aiq_pipeline.service.problems import describe_problems
from aiq_pipeline.settings import (
    VARIABLES,
    AiqConnection,
    Settings,
    SettingsError,
    read_settings,
)
from aiq_pipeline.sync.documents import context as planner_context

AIQ_SECRET = "aiq-secret-7d1e"
BUNNY_SECRET = "bunny-secret-42c9"
STORE_PASSWORD = "pg-password-91ab"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def full_env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    env = {
        "AIQ_REGION": " eu1 ",
        "AIQ_ENTITY_ID": "DEMO01",
        "AIQ_CLIENT_ID": "aiq-client",
        "AIQ_CLIENT_SECRET": AIQ_SECRET,
        "AIQ_DEFAULT_TAX_CODE": "v01",
        "BUNNY_BASE_URL": "https://acme.bunny.com",
        "BUNNY_CLIENT_ID": "bunny-client",
        "BUNNY_CLIENT_SECRET": BUNNY_SECRET,
        "BUNNY_ENTITY_ID": "1",
        "DAGSTER_HOME": str(tmp_path),
    }
    for name, value in env.items():
        clean_env.setenv(name, value)
    return env


def test_every_setting_is_read_and_normalised(full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIQ_PIPELINE_BATCH_SIZE", " 250 ")
    monkeypatch.setenv("AIQ_PIPELINE_SYNC_START_DATE", "2026-03-01")
    monkeypatch.setenv("AIQ_PIPELINE_CLOSED_PERIOD_POLICY", "First_Open_Day")
    monkeypatch.setenv("AIQ_PIPELINE_SENSOR_DEFAULT", "running")
    monkeypatch.setenv("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "0.5")
    monkeypatch.setenv("AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE", "30")
    monkeypatch.setenv("AIQ_PIPELINE_CLAIM_LEASE", "900")
    monkeypatch.setenv("AIQ_PIPELINE_STORE", "/data/aiq.duckdb")

    settings = Settings.from_env()

    pair = settings.pair
    assert pair.aiq is not None and pair.bunny is not None
    assert (pair.aiq.region, pair.aiq.base_url, pair.aiq.entity_id) == ("EU1", None, "DEMO01")
    assert pair.aiq.default_tax_code == "V01"  # AIQ's codes are upper case; the poster sends them so
    assert pair.aiq.client_secret.get_secret_value() == AIQ_SECRET
    assert (pair.bunny.base_url, pair.bunny.entity_id) == ("https://acme.bunny.com", "1")
    assert pair.sync_start_date == date(2026, 3, 1)
    assert pair.closed_period_policy == "first_open_day"
    assert pair.sensor_default == "RUNNING" and pair.sensors_running
    assert pair.problems == ()
    assert settings.batch_size == 250
    assert settings.transient_retry_delay_seconds == 0.5
    assert settings.unknown_outcome_deadline_seconds == 30
    assert settings.claim_lease_seconds == 900
    assert settings.store_location == "/data/aiq.duckdb"
    assert settings.dagster_home == Path(full_env["DAGSTER_HOME"])


def test_defaults(full_env: dict[str, str]) -> None:
    settings = Settings.from_env()
    assert settings.batch_size == 500
    assert settings.transient_retry_delay_seconds == 15
    assert settings.unknown_outcome_deadline_seconds == 120
    assert settings.claim_lease_seconds == 600
    assert settings.store_location == str(Path(full_env["DAGSTER_HOME"]) / "aiq_pipeline.duckdb")
    pair = settings.pair
    assert (pair.sync_start_date, pair.closed_period_policy, pair.sensor_default) == (None, "fail", "STOPPED")


def test_a_blank_variable_counts_as_unset(full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIQ_PIPELINE_BATCH_SIZE", "")
    monkeypatch.setenv("AIQ_PIPELINE_SENSOR_DEFAULT", "  ")
    settings = Settings.from_env()
    assert settings.batch_size == 500 and settings.pair.sensor_default == "STOPPED"


def test_the_base_url_may_replace_the_region(full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIQ_REGION")
    monkeypatch.setenv("AIQ_BASE_URL", "http://127.0.0.1:8701")
    aiq = Settings.from_env().pair.require_aiq()
    assert (aiq.region, aiq.base_url, aiq.address_variable) == (None, "http://127.0.0.1:8701", "AIQ_BASE_URL")


@pytest.mark.parametrize(
    ("variable", "value", "wanted"),
    [
        ("AIQ_PIPELINE_BATCH_SIZE", "abc", "a whole number from 1 to 500"),
        ("AIQ_PIPELINE_BATCH_SIZE", "0", "a whole number from 1 to 500"),
        ("AIQ_PIPELINE_BATCH_SIZE", "501", "a whole number from 1 to 500"),
        ("AIQ_PIPELINE_BATCH_SIZE", "2.5", "a whole number from 1 to 500"),
        ("AIQ_PIPELINE_SYNC_START_DATE", "01/03/2026", "a date written YYYY-MM-DD"),
        ("AIQ_PIPELINE_SYNC_START_DATE", "2026-13-01", "a date written YYYY-MM-DD"),
        ("AIQ_PIPELINE_CLOSED_PERIOD_POLICY", "next_month", "fail or first_open_day"),
        ("AIQ_PIPELINE_SENSOR_DEFAULT", "ON", "RUNNING or STOPPED"),
        ("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "-1", "a number of seconds from 0 to 3600"),
        ("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "nan", "a number of seconds from 0 to 3600"),
        ("AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE", "0", "a whole number of seconds from 1 to 3600"),
        ("AIQ_PIPELINE_UNKNOWN_OUTCOME_DEADLINE", "3601", "a whole number of seconds from 1 to 3600"),
        ("AIQ_PIPELINE_CLAIM_LEASE", "29", "a whole number of seconds from 30 to 86400"),
        ("AIQ_PIPELINE_CLAIM_LEASE", "86401", "a whole number of seconds from 30 to 86400"),
        ("DAGSTER_HOME", "relative/home", "an absolute path to an existing directory"),
        ("AIQ_REGION", "XX9", "one of US1, EU1, EU2, UK1"),
        ("AIQ_BASE_URL", "127.0.0.1:8701", "an http(s) address"),
        ("BUNNY_BASE_URL", "ftp://acme.bunny.com", "an http(s) address"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_variable_and_what_is_wanted(
    full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, variable: str, value: str, wanted: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    message = str(raised.value)
    assert raised.value.variables == (variable,)
    assert message.startswith(f"{variable} must be {wanted}") and message.endswith(f", not {value!r}"), message
    assert "\n" not in message


def test_the_message_word_for_word(full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIQ_PIPELINE_BATCH_SIZE", "abc")
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    assert str(raised.value) == "AIQ_PIPELINE_BATCH_SIZE must be a whole number from 1 to 500, not 'abc'"


def test_every_problem_is_reported_at_once(full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIQ_PIPELINE_BATCH_SIZE", "abc")
    monkeypatch.setenv("AIQ_PIPELINE_CLAIM_LEASE", "5")
    monkeypatch.delenv("AIQ_CLIENT_ID")
    monkeypatch.delenv("BUNNY_ENTITY_ID")
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    assert raised.value.variables == (
        "AIQ_CLIENT_ID",
        "BUNNY_ENTITY_ID",
        "AIQ_PIPELINE_BATCH_SIZE",
        "AIQ_PIPELINE_CLAIM_LEASE",
    )
    assert "\n" not in str(raised.value)
    assert "AIQ_CLIENT_ID is not set: set it to the AIQ Integration Application's client id" in str(raised.value)


def test_the_code_location_loads_without_connection_settings(clean_env: pytest.MonkeyPatch) -> None:
    """The UI must load before anyone typed a credential; what is missing stays on the pair."""
    settings = Settings.from_env(strict=False)
    pair = settings.pair
    assert pair.aiq is None and pair.bunny is None
    missing = {p.variable for p in pair.problems}
    assert missing == {
        "AIQ_REGION",
        "AIQ_ENTITY_ID",
        "AIQ_CLIENT_ID",
        "AIQ_CLIENT_SECRET",
        "AIQ_DEFAULT_TAX_CODE",
        "BUNNY_BASE_URL",
        "BUNNY_CLIENT_ID",
        "BUNNY_CLIENT_SECRET",
        "BUNNY_ENTITY_ID",
    }
    with pytest.raises(SettingsError) as raised:
        pair.require_aiq()
    assert "AIQ_ENTITY_ID is not set" in str(raised.value) and "BUNNY" not in str(raised.value)
    with pytest.raises(SettingsError, match="DAGSTER_HOME is not set"):
        settings.require_dagster_home()
    with pytest.raises(SettingsError) as strict:
        Settings.from_env()
    assert set(strict.value.variables) == missing | {"DAGSTER_HOME"}


def test_the_code_location_tolerates_a_wrong_connection_setting_but_not_a_wrong_switch(
    full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIQ_REGION", "XX9")
    pair = Settings.from_env(strict=False).pair
    assert pair.aiq is None and pair.bunny is not None
    assert [p.variable for p in pair.problems] == ["AIQ_REGION"]
    monkeypatch.setenv("AIQ_PIPELINE_SENSOR_DEFAULT", "maybe")
    with pytest.raises(SettingsError, match=r"^AIQ_PIPELINE_SENSOR_DEFAULT must be RUNNING or STOPPED, not 'maybe'$"):
        Settings.from_env(strict=False)


def test_secrets_never_show(full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIQ_PIPELINE_STORE", f"postgresql://aiq:{STORE_PASSWORD}@db.internal/aiq")
    settings = Settings.from_env()
    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(read_settings())]
    for text in shown:
        for secret in (AIQ_SECRET, BUNNY_SECRET, STORE_PASSWORD):
            assert secret not in text
    # Problems never repeat a secret either, even next to a wrong value.
    monkeypatch.setenv("AIQ_PIPELINE_BATCH_SIZE", "abc")
    monkeypatch.setenv("AIQ_CLIENT_SECRET", "   ")
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    for secret in (AIQ_SECRET, BUNNY_SECRET, STORE_PASSWORD):
        assert secret not in str(raised.value) and secret not in repr(raised.value.problems)
    assert "AIQ_CLIENT_SECRET is not set" in str(raised.value)


def test_a_connection_built_in_code_is_normalised_and_checked_the_same_way() -> None:
    aiq = AiqConnection(
        region="uk1", entity_id="E", client_id="c", client_secret=SecretStr("s"), default_tax_code=" v01 "
    )
    assert (aiq.region, aiq.default_tax_code) == ("UK1", "V01")
    with pytest.raises(ValueError, match="AIQ_REGION or AIQ_BASE_URL"):
        AiqConnection(entity_id="E", client_id="c", client_secret=SecretStr("s"), default_tax_code="V01")


def test_closed_period_policies_are_the_planners() -> None:
    assert settings_module.CLOSED_PERIOD_POLICIES == planner_context.CLOSED_PERIOD_POLICIES
    assert settings_module.CLOSED_PERIOD_FAIL == planner_context.CLOSED_PERIOD_FAIL


# -- what the Dagster definitions get ------------------------------------------------------------------


@pytest.mark.parametrize(("value", "running"), [(None, False), ("RUNNING", True), ("stopped", False)])
def test_sensors_and_schedule_follow_one_switch(
    full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, value: str | None, running: bool
) -> None:
    if value is not None:
        monkeypatch.setenv("AIQ_PIPELINE_SENSOR_DEFAULT", value)
    assert (default_sensor_status() == dg.DefaultSensorStatus.RUNNING) is running
    assert (default_schedule_status() == dg.DefaultScheduleStatus.RUNNING) is running


def test_both_readers_of_the_sensor_switch_refuse_a_wrong_value_alike(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AIQ_PIPELINE_SENSOR_DEFAULT", "sometimes")
    messages = set()
    for reader in (default_sensor_status, default_schedule_status):
        with pytest.raises(SettingsError) as raised:
            reader()
        messages.add(str(raised.value))
    assert messages == {"AIQ_PIPELINE_SENSOR_DEFAULT must be RUNNING or STOPPED, not 'sometimes'"}


def test_transient_retry_delay_comes_from_the_settings(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "0.2")
    assert transient_retry_delay() == 0.2
    clean_env.delenv("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY")
    assert transient_retry_delay() == 15.0


def test_resources_take_checked_values_and_secrets_by_name(
    full_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIQ_PIPELINE_STORE", f"postgresql://aiq:{STORE_PASSWORD}@db.internal/aiq")
    monkeypatch.setenv("AIQ_PIPELINE_CLAIM_LEASE", "120")
    resources = resources_from_settings(Settings.from_env())
    aiq, bunny, store, sync = (resources[k] for k in ("accountsiq", "bunny", "store", "sync_settings"))
    assert isinstance(aiq, AccountsIQResource) and isinstance(bunny, BunnyResource)
    assert isinstance(store, StoreResource) and isinstance(sync, SyncSettings)
    assert (aiq.region, aiq.entity_id, aiq.default_tax_code) == ("EU1", "DEMO01", "V01")
    for secret, name in ((aiq.client_secret, "AIQ_CLIENT_SECRET"), (bunny.client_secret, "BUNNY_CLIENT_SECRET")):
        assert isinstance(secret, dg.EnvVar) and secret.env_var_name == name
    # The store URL may hold a password: the UI gets the variable's name, and store() still finds it.
    assert isinstance(store.location, dg.EnvVar) and store.location.env_var_name == "AIQ_PIPELINE_STORE"
    assert (sync.batch_size, sync.claim_lease_seconds, sync.unknown_outcome_deadline_seconds) == (500, 120, 120)
    assert sync.transient_retry_delay_seconds == 15.0
    for resource in resources.values():
        for secret in (AIQ_SECRET, BUNNY_SECRET, STORE_PASSWORD):
            assert secret not in repr(resource)


def test_resources_load_without_any_connection_setting(clean_env: pytest.MonkeyPatch) -> None:
    resources = resources_from_environment()
    aiq, bunny = resources["accountsiq"], resources["bunny"]
    assert isinstance(aiq, AccountsIQResource) and isinstance(bunny, BunnyResource)
    assert aiq.region is None and aiq.base_url is None
    assert isinstance(aiq.entity_id, dg.EnvVar) and isinstance(bunny.base_url, dg.EnvVar)
    store = resources["store"]
    assert isinstance(store, StoreResource) and store.location.endswith("aiq_pipeline.duckdb")


def test_a_run_without_a_secret_fails_naming_it_the_way_the_cli_does(clean_env: pytest.MonkeyPatch) -> None:
    """The lenient location hands Dagster an EnvVar; its failure maps to the same line as the CLI's."""
    bunny = resources_from_environment()["bunny"]

    @dg.asset
    def needs_bunny(bunny: BunnyResource) -> None:
        raise AssertionError("must not run")

    with dg.DagsterInstance.ephemeral() as instance, pytest.raises(Exception) as raised:
        dg.materialize([needs_bunny], resources={"bunny": bunny}, instance=instance)
    lines = [p.line() for p in describe_problems(raised.value)]
    assert len(lines) == 1
    assert lines[0].startswith("FAIL settings [BUNNY_")
    assert " is not set: set it to " in lines[0]
