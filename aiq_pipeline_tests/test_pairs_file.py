"""The pairs file (AIQ_PIPELINE_PAIRS_FILE): several pairs in one TOML file, one pair read at a time, the file's
rules (secrets only by reference, nothing leaking in from the environment, no two pairs on one AIQ entity or
DuckDB file) each one problem naming the file, the pair and the key; and without a file, nothing changes."""

from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from aiq_pipeline.cli import main
from aiq_pipeline.defs.resources import (
    AccountsIQResource,
    BunnyResource,
    StoreResource,
    default_store_location,
    resources_from_settings,
)
from aiq_pipeline.service.problems import describe_problems
from aiq_pipeline.settings import (
    DEFAULT_PAIR_NAME,
    VARIABLES,
    Settings,
    SettingsError,
    configured_pairs,
    read_settings,
    uses_pairs_file,
)

UK_AIQ_SECRET = "uk-aiq-secret-5b1f"
IE_AIQ_SECRET = "ie-aiq-secret-77ce"
BUNNY_SECRET = "bunny-secret-0d4a"
LITERAL_SECRET = "literal-secret-93aa"
STORE_PASSWORD = "pg-password-e1c2"

TWO_PAIRS = """
[defaults]
AIQ_BASE_URL = "http://127.0.0.1:8701"
AIQ_PIPELINE_BATCH_SIZE = 50
BUNNY_BASE_URL = "http://127.0.0.1:8702"
BUNNY_CLIENT_ID = "demo-bunny-client"
BUNNY_CLIENT_SECRET = { env = "BUNNY_CLIENT_SECRET" }

[pairs.uk]
AIQ_ENTITY_ID = "DEMO01"
AIQ_CLIENT_ID = "uk-client"
AIQ_CLIENT_SECRET = { env = "UK_AIQ_CLIENT_SECRET" }
AIQ_DEFAULT_TAX_CODE = "v01"
BUNNY_ENTITY_ID = 1
AIQ_PIPELINE_POST_ZERO_VALUE = true

[pairs.ie]
AIQ_ENTITY_ID = "DEMO02"
AIQ_CLIENT_ID = "ie-client"
AIQ_CLIENT_SECRET = { env = "IE_AIQ_CLIENT_SECRET" }
AIQ_DEFAULT_TAX_CODE = "S"
BUNNY_ENTITY_ID = "2"
AIQ_PIPELINE_BATCH_SIZE = 75
AIQ_PIPELINE_SYNC_START_DATE = 2026-03-01
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No setting variable set but DAGSTER_HOME and the secrets the files below reference."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("UK_AIQ_CLIENT_SECRET", UK_AIQ_SECRET)
    monkeypatch.setenv("IE_AIQ_CLIENT_SECRET", IE_AIQ_SECRET)
    monkeypatch.setenv("BUNNY_CLIENT_SECRET", BUNNY_SECRET)
    return monkeypatch


def pairs_file(env: pytest.MonkeyPatch, tmp_path: Path, text: str, name: str = "pairs.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    env.setenv("AIQ_PIPELINE_PAIRS_FILE", str(path))
    return path


def messages(pair: str | None = None) -> list[str]:
    return [p.message for p in read_settings(pair).problems]


def strict_error(pair: str | None = None) -> SettingsError:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(pair=pair)
    return raised.value


# -- reading ---------------------------------------------------------------------------------------------


def test_without_a_file_there_is_the_one_default_pair(env: pytest.MonkeyPatch) -> None:
    assert uses_pairs_file() is False
    assert configured_pairs() == (DEFAULT_PAIR_NAME,)
    assert read_settings().pair == DEFAULT_PAIR_NAME
    env.setenv("AIQ_PIPELINE_PAIR", "uk")
    assert messages() == [
        "pair 'uk' is not configured: without AIQ_PIPELINE_PAIRS_FILE the only pair is default "
        "(set AIQ_PIPELINE_PAIRS_FILE to configure several)"
    ]


def test_each_pair_reads_its_own_table_over_the_defaults(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = pairs_file(env, tmp_path, TWO_PAIRS)
    assert uses_pairs_file() is True
    assert configured_pairs() == ("uk", "ie")  # file order

    uk = Settings.from_env(pair="uk")
    assert [p.name for p in uk.pairs] == ["uk"] and uk.pair.name == "uk"
    aiq, bunny = uk.pair.require_aiq(), uk.pair.require_bunny()
    assert (aiq.base_url, aiq.entity_id, aiq.client_id, aiq.default_tax_code) == (
        "http://127.0.0.1:8701",
        "DEMO01",
        "uk-client",
        "V01",
    )
    assert aiq.client_secret.get_secret_value() == UK_AIQ_SECRET
    assert (bunny.entity_id, bunny.client_secret.get_secret_value()) == ("1", BUNNY_SECRET)  # 1 -> "1"
    assert uk.pair.rules.post_zero_value is True  # true -> "true"
    assert uk.batch_size == 50  # from [defaults]
    assert uk.pair.pairs_file == path

    ie = Settings.from_env(pair="ie")
    ie_aiq = ie.pair.require_aiq()
    assert (ie.pair.name, ie_aiq.entity_id, ie_aiq.client_secret.get_secret_value()) == ("ie", "DEMO02", IE_AIQ_SECRET)
    assert ie.batch_size == 75  # the pair's own key wins over [defaults]
    assert str(ie.pair.sync_start_date) == "2026-03-01"  # a TOML date is taken as its text

    env.setenv("AIQ_PIPELINE_PAIR", "ie")
    assert Settings.from_env().pair.name == "ie"


def test_with_several_pairs_one_must_be_chosen(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS)
    error = strict_error()
    assert error.variables == ("AIQ_PIPELINE_PAIR",)
    assert str(error) == "2 pairs are configured (uk, ie): choose one with --pair or AIQ_PIPELINE_PAIR"
    with pytest.raises(SettingsError):
        Settings.from_env(strict=False)  # the code location cannot guess either
    assert messages("fr") == ["pair 'fr' is not in pairs.toml: the configured pairs are uk, ie"]


def test_a_single_pair_is_chosen_without_asking(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS.split("[pairs.ie]")[0])
    assert Settings.from_env().pair.name == "uk"


def test_env_references_and_env_name(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS)
    pair = Settings.from_env(pair="uk").pair
    assert pair.env_name("AIQ_CLIENT_SECRET") == "UK_AIQ_CLIENT_SECRET"
    assert pair.env_name("BUNNY_CLIENT_SECRET") == "BUNNY_CLIENT_SECRET"  # from [defaults]
    assert pair.env_name("AIQ_ENTITY_ID") is None  # literal in the file
    assert pair.env_name("AIQ_PIPELINE_STORE") is None  # not set at all

    env.delenv("UK_AIQ_CLIENT_SECRET")
    reading = read_settings("uk")
    assert [p.message for p in reading.problems] == [
        "pairs.toml [pairs.uk] AIQ_CLIENT_SECRET: environment variable UK_AIQ_CLIENT_SECRET is not set"
    ]
    assert reading.aiq is None and reading.bunny is not None
    lenient = Settings.from_env(strict=False, pair="uk").pair  # a connection may be missing in the location
    assert lenient.aiq is None and [p.variable for p in lenient.problems] == ["AIQ_CLIENT_SECRET"]


def test_without_a_file_env_name_is_the_variable_itself(env: pytest.MonkeyPatch) -> None:
    env.setenv("AIQ_CLIENT_SECRET", "s")
    pair = Settings.from_env(strict=False).pair
    assert pair.env_name("AIQ_CLIENT_SECRET") == "AIQ_CLIENT_SECRET"
    assert pair.env_name("AIQ_ENTITY_ID") is None  # unset


def test_a_missing_key_names_the_file_and_the_pair(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS.replace('AIQ_CLIENT_ID = "ie-client"\n', ""))
    assert Settings.from_env(pair="uk").pair.name == "uk"  # the other pair is not at fault
    error = strict_error("ie")
    assert error.variables == ("AIQ_CLIENT_ID",)
    assert str(error).startswith("pairs.toml [pairs.ie] AIQ_CLIENT_ID: missing; set it to the AIQ Integration")
    [line] = [p.line() for p in describe_problems(error)]
    assert line.startswith("FAIL settings [AIQ_CLIENT_ID]: pairs.toml [pairs.ie] AIQ_CLIENT_ID: missing")


def test_a_wrong_value_names_the_table_that_gives_it(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS.replace("AIQ_PIPELINE_BATCH_SIZE = 50", 'AIQ_PIPELINE_BATCH_SIZE = "abc"'))
    assert str(strict_error("uk")) == (
        "pairs.toml [defaults] AIQ_PIPELINE_BATCH_SIZE: must be a whole number from 1 to 500, not 'abc'"
    )
    assert Settings.from_env(pair="ie").batch_size == 75  # ie sets its own


# -- the file's rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key"),
    [
        (f'AIQ_CLIENT_SECRET = "{LITERAL_SECRET}"', "AIQ_CLIENT_SECRET"),
        (f'BUNNY_CLIENT_SECRET = "{LITERAL_SECRET}"', "BUNNY_CLIENT_SECRET"),
        (f'AIQ_PIPELINE_ALERT_URLS = "json://user:{LITERAL_SECRET}@example.com"', "AIQ_PIPELINE_ALERT_URLS"),
        (f'AIQ_PIPELINE_STORE = "postgresql://aiq:{LITERAL_SECRET}@db/aiq"', "AIQ_PIPELINE_STORE"),
        (f'AIQ_PIPELINE_STORE = "postgresql://db/aiq?user=aiq&password={LITERAL_SECRET}"', "AIQ_PIPELINE_STORE"),
    ],
)
def test_a_secret_written_in_the_file_is_refused_and_never_shown(
    env: pytest.MonkeyPatch, tmp_path: Path, line: str, key: str
) -> None:
    text = TWO_PAIRS.replace('AIQ_CLIENT_SECRET = { env = "UK_AIQ_CLIENT_SECRET" }', "").replace(
        'BUNNY_CLIENT_SECRET = { env = "BUNNY_CLIENT_SECRET" }', ""
    )
    text = text.replace("[pairs.uk]\n", f"[pairs.uk]\n{line}\n")
    pairs_file(env, tmp_path, text)
    for strict in (True, False):  # the code location refuses it too
        with pytest.raises(SettingsError) as raised:
            Settings.from_env(strict=strict, pair="uk")
        assert key in raised.value.variables
        mine = [p.message for p in raised.value.problems if p.variable == key]
        assert mine and mine[0].startswith(f"pairs.toml [pairs.uk] {key}: ")
        assert "{ env =" in mine[0]
        assert LITERAL_SECRET not in str(raised.value) and LITERAL_SECRET not in repr(raised.value.problems)
    result = CliRunner().invoke(main, ["--pair", "uk", "doctor"], catch_exceptions=False)
    assert LITERAL_SECRET not in result.output and result.exit_code == 4


def test_a_duckdb_store_may_be_written_literally(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(
        env, tmp_path, TWO_PAIRS.replace("[pairs.uk]\n", f'[pairs.uk]\nAIQ_PIPELINE_STORE = "{tmp_path}/uk.db"\n')
    )
    settings = Settings.from_env(pair="uk")
    assert settings.store_location == f"{tmp_path}/uk.db"
    store = resources_from_settings(settings)["store"]
    assert isinstance(store, StoreResource) and store.location == f"{tmp_path}/uk.db"


@pytest.mark.parametrize(
    ("text", "variable", "wanted"),
    [
        (
            '[pairs.uk]\nAIQ_ENTTY_ID = "X"\n',
            "AIQ_PIPELINE_PAIRS_FILE",
            "pairs.toml [pairs.uk] AIQ_ENTTY_ID: unknown key",
        ),
        (
            '[pairs.uk]\nAIQ_ENTITY_ID = "X"\n[pair.ie]\nAIQ_ENTITY_ID = "Y"\n',
            "AIQ_PIPELINE_PAIRS_FILE",
            "pairs.toml: unknown table [pair]",
        ),
        (
            '[pairs.uk]\nAIQ_ENTITY_ID = "X"\n[pairs.ie]\n',
            "AIQ_PIPELINE_PAIRS_FILE",
            "pairs.toml [pairs.ie]: the pair sets no key",
        ),
        (
            '[pairs.uk]\nDAGSTER_HOME = "/tmp"\n',
            "DAGSTER_HOME",
            "pairs.toml [pairs.uk] DAGSTER_HOME: belongs to the process environment",
        ),
        (
            '[defaults]\nAIQ_PIPELINE_PAIR = "uk"\n[pairs.uk]\nAIQ_ENTITY_ID = "X"\n',
            "AIQ_PIPELINE_PAIR",
            "pairs.toml [defaults] AIQ_PIPELINE_PAIR: belongs to the process environment",
        ),
        (
            '[pairs.uk]\nAIQ_PIPELINE_PAIRS_FILE = "x.toml"\n',
            "AIQ_PIPELINE_PAIRS_FILE",
            "pairs.toml [pairs.uk] AIQ_PIPELINE_PAIRS_FILE: belongs",
        ),
        (
            '[pairs.uk]\nAIQ_ENTITY_ID = ["X"]\n',
            "AIQ_ENTITY_ID",
            "pairs.toml [pairs.uk] AIQ_ENTITY_ID: must be a string",
        ),
        (
            '[pairs.uk]\nAIQ_CLIENT_ID = { env = "A", default = "b" }\n',
            "AIQ_CLIENT_ID",
            'pairs.toml [pairs.uk] AIQ_CLIENT_ID: a table value must be { env = "VARIABLE" }',
        ),
    ],
    ids=[
        "unknown-key",
        "unknown-table",
        "empty-pair",
        "dagster-home",
        "pair-variable",
        "pairs-file-variable",
        "array",
        "bad-reference",
    ],
)
def test_each_thing_wrong_in_the_file_is_one_line_naming_where(
    env: pytest.MonkeyPatch, tmp_path: Path, text: str, variable: str, wanted: str
) -> None:
    pairs_file(env, tmp_path, text)
    for strict in (True, False):
        with pytest.raises(SettingsError) as raised:
            Settings.from_env(strict=strict, pair="ie" if "[pairs.ie]" in text else "uk")
        found = [p for p in raised.value.problems if p.message.startswith(wanted)]
        assert found and found[0].variable == variable, raised.value.problems


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ('[pairs.uk]\nAIQ_ENTITY_ID = "X\n', r"is not valid TOML: .*line 2"),
        ('[defaults]\nAIQ_ENTITY_ID = "X"\n', "configures no pair"),
        ('[pairs.Uk]\nAIQ_ENTITY_ID = "X"\n', "pair name 'Uk' is refused"),
        ('[pairs.u__k]\nAIQ_ENTITY_ID = "X"\n', "pair name 'u__k' is refused"),
        ('[pairs.x2345678901234567890123456789012]\nAIQ_ENTITY_ID = "X"\n', "is refused"),
    ],
)
def test_a_file_that_cannot_be_used_is_one_problem_naming_it(
    env: pytest.MonkeyPatch, tmp_path: Path, text: str, wanted: str
) -> None:
    path = pairs_file(env, tmp_path, text)
    with pytest.raises(SettingsError, match=wanted) as raised:
        configured_pairs()
    assert raised.value.variables == ("AIQ_PIPELINE_PAIRS_FILE",) and str(path) in str(raised.value)
    assert [p.variable for p in read_settings().problems] == ["AIQ_PIPELINE_PAIRS_FILE"]


def test_a_missing_file_is_named(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("AIQ_PIPELINE_PAIRS_FILE", str(tmp_path / "nowhere.toml"))
    with pytest.raises(SettingsError, match=r"nowhere\.toml does not exist \(AIQ_PIPELINE_PAIRS_FILE\)"):
        configured_pairs()
    result = CliRunner().invoke(main, ["doctor"], catch_exceptions=False)
    assert result.exit_code == 4 and "nowhere.toml does not exist" in result.output
    assert "Traceback" not in result.output


def test_a_setting_in_the_environment_beside_a_file_is_refused(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS)
    env.setenv("AIQ_ENTITY_ID", "DEMO09")
    env.setenv("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "0.2")
    for strict in (True, False):
        with pytest.raises(SettingsError) as raised:
            Settings.from_env(strict=strict, pair="uk")
        assert set(raised.value.variables) == {"AIQ_ENTITY_ID", "AIQ_PIPELINE_TRANSIENT_RETRY_DELAY"}
        assert "AIQ_ENTITY_ID is set in the environment" in str(raised.value)
        assert "set it in the pairs file, under [defaults] or a pair" in str(raised.value)
        assert "DEMO09" not in str(raised.value)
    # The variables the file references, DAGSTER_HOME and AIQ_PIPELINE_PAIR are the environment's own.
    env.delenv("AIQ_ENTITY_ID")
    env.delenv("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY")
    env.setenv("AIQ_PIPELINE_PAIR", "uk")
    assert Settings.from_env().pair.name == "uk"


def test_two_pairs_may_not_post_to_one_aiq_entity(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS.replace('"DEMO02"', '"demo01"'))
    for pair in ("uk", "ie"):
        error = strict_error(pair)
        assert error.variables == ("AIQ_ENTITY_ID",)
        assert str(error) == (
            "pairs.toml: pairs uk and ie both post to AIQ entity DEMO01 at http://127.0.0.1:8701: each pair posts "
            "to an AIQ entity of its own"
        )
    # The same entity id at another AIQ (another region or base URL) is another entity.
    pairs_file(
        env,
        tmp_path,
        TWO_PAIRS.replace('"DEMO02"', '"DEMO01"').replace(
            "[pairs.ie]\n", '[pairs.ie]\nAIQ_BASE_URL = "http://other:1"\n'
        ),
    )
    assert Settings.from_env(pair="ie").pair.require_aiq().entity_id == "DEMO01"


def test_two_pairs_may_not_share_a_duckdb_store_but_may_share_postgres(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shared = f'AIQ_PIPELINE_STORE = "{tmp_path}/shared.duckdb"\n'
    pairs_file(env, tmp_path, TWO_PAIRS.replace("[defaults]\n", f"[defaults]\n{shared}"))
    error = strict_error("ie")
    assert error.variables == ("AIQ_PIPELINE_STORE",)
    assert str(error).startswith(f"pairs.toml: pairs uk and ie share the DuckDB store {tmp_path}/shared.duckdb")
    env.setenv("STORE_URL", f"postgresql://aiq:{STORE_PASSWORD}@db/aiq")
    pairs_file(
        env, tmp_path, TWO_PAIRS.replace("[defaults]\n", '[defaults]\nAIQ_PIPELINE_STORE = { env = "STORE_URL" }\n')
    )
    settings = Settings.from_env(pair="ie")
    store = resources_from_settings(settings)["store"]
    assert isinstance(store, StoreResource)
    assert isinstance(store.location, dg.EnvVar) and store.location.env_var_name == "STORE_URL"
    assert STORE_PASSWORD not in repr(settings) and STORE_PASSWORD not in repr(store)


def test_each_pair_defaults_to_its_own_store(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = Path(str(Settings.from_env(strict=False).dagster_home))
    assert Settings.from_env(strict=False).store_location == str(home / "aiq_pipeline.duckdb")  # no file: as ever
    pairs_file(env, tmp_path, TWO_PAIRS + '\n[pairs.default]\nAIQ_ENTITY_ID = "DEMO03"\n')
    assert Settings.from_env(strict=False, pair="uk").store_location == str(home / "aiq_pipeline_uk.duckdb")
    assert Settings.from_env(strict=False, pair="ie").store_location == str(home / "aiq_pipeline_ie.duckdb")
    assert Settings.from_env(strict=False, pair="default").store_location == str(home / "aiq_pipeline.duckdb")
    env.setenv("AIQ_PIPELINE_PAIR", "ie")
    assert default_store_location() == str(home / "aiq_pipeline_ie.duckdb")


# -- what the Dagster definitions get ----------------------------------------------------------------------


def test_resources_of_a_file_pair_reference_its_own_variables(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS)
    resources = resources_from_settings(Settings.from_env(pair="uk"))
    aiq, bunny = resources["accountsiq"], resources["bunny"]
    assert isinstance(aiq, AccountsIQResource) and isinstance(bunny, BunnyResource)
    assert isinstance(aiq.client_secret, dg.EnvVar) and aiq.client_secret.env_var_name == "UK_AIQ_CLIENT_SECRET"
    assert isinstance(bunny.client_secret, dg.EnvVar) and bunny.client_secret.env_var_name == "BUNNY_CLIENT_SECRET"
    assert (aiq.entity_id, aiq.client_id, aiq.base_url) == ("DEMO01", "uk-client", "http://127.0.0.1:8701")
    for resource in resources.values():
        for secret in (UK_AIQ_SECRET, IE_AIQ_SECRET, BUNNY_SECRET):
            assert secret not in repr(resource)


def test_without_a_file_the_resources_reference_the_variables_as_before(env: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AIQ_REGION": "EU1",
        "AIQ_ENTITY_ID": "DEMO01",
        "AIQ_CLIENT_ID": "c",
        "AIQ_CLIENT_SECRET": UK_AIQ_SECRET,
        "AIQ_DEFAULT_TAX_CODE": "V01",
    }.items():
        env.setenv(name, value)
    aiq = resources_from_settings(Settings.from_env(strict=False))["accountsiq"]
    assert isinstance(aiq, AccountsIQResource)
    assert isinstance(aiq.client_secret, dg.EnvVar) and aiq.client_secret.env_var_name == "AIQ_CLIENT_SECRET"


def test_a_file_pair_with_an_incomplete_connection_never_reads_another_pairs_variable(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS.replace('AIQ_CLIENT_ID = "uk-client"\n', ""))
    resources = resources_from_settings(Settings.from_env(strict=False, pair="uk"))
    aiq = resources["accountsiq"]
    assert isinstance(aiq, AccountsIQResource)
    # Literal values as they are; the secret by its own reference; nothing by the single-pair variables' names.
    assert (aiq.entity_id, aiq.base_url, aiq.default_tax_code) == ("DEMO01", "http://127.0.0.1:8701", "v01")
    assert isinstance(aiq.client_secret, dg.EnvVar) and aiq.client_secret.env_var_name == "UK_AIQ_CLIENT_SECRET"
    assert not isinstance(aiq.client_id, dg.EnvVar) and not isinstance(aiq.entity_id, dg.EnvVar)
    assert list(aiq.problems) == ["AIQ_CLIENT_ID"]
    with pytest.raises(SettingsError, match=r"^pairs\.toml \[pairs\.uk\] AIQ_CLIENT_ID: missing"), aiq.open():
        raise AssertionError("must not open")


# -- the command line ----------------------------------------------------------------------------------


def test_pair_must_be_a_configured_one(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pairs_file(env, tmp_path, TWO_PAIRS)
    result = CliRunner().invoke(main, ["--pair", "fr", "doctor"])
    assert result.exit_code == 2
    assert "'fr' is not a configured pair; the pairs are: uk, ie" in result.output
    without = CliRunner().invoke(main, ["--pair", "uk", "doctor"])
    assert without.exit_code != 2


def test_pair_without_a_file_accepts_only_the_default(env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["--pair", "uk", "exceptions"])
    assert result.exit_code == 2 and "the pairs are: default" in result.output
