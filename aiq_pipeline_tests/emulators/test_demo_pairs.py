"""The demo's two pairs as configuration, without starting anything: the pairs file `make demo` writes is read by the
settings exactly as the code locations read it, keeps its secrets out of the file, and a folder left by the one-pair
demo is recognised."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiq_emulators.demo import (
    DEMO_PAIRS,
    HOLDINGS,
    TRADING,
    DemoLayout,
    demo_pairs_environment,
    demo_pairs_text,
    demo_process_environment,
    demo_settings_environment,
)
from aiq_pipeline.cli.workspace import workspace_text
from aiq_pipeline.settings import VARIABLES, Settings, configured_pairs, default_store_path

AIQ_URL, BUNNY_URL = "http://127.0.0.1:18701", "http://127.0.0.1:18702"


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    layout = DemoLayout(tmp_path)
    layout.dagster_home.mkdir()
    layout.pairs_file.write_text(demo_pairs_text(AIQ_URL, BUNNY_URL, batch_size=5), encoding="utf-8")
    return demo_pairs_environment(layout.pairs_file, layout.dagster_home)


def test_the_pairs_file_reads_both_pairs_with_their_entities_clients_and_stores(demo_env, tmp_path):
    with demo_settings_environment(demo_env):
        assert configured_pairs() == ("trading", "holdings")
        read = {pair.name: Settings.from_env(pair=pair.name) for pair in DEMO_PAIRS}
    for pair in DEMO_PAIRS:
        settings = read[pair.name]
        aiq, bunny = settings.pair.require_aiq(), settings.pair.require_bunny()
        assert (aiq.entity_id, aiq.client_id, aiq.client_secret.get_secret_value()) == (
            pair.aiq_entity,
            *pair.aiq_client,
        )
        assert (bunny.entity_id, str(bunny.base_url).rstrip("/")) == (pair.bunny_entity, BUNNY_URL)
        assert settings.pair.sensors_running and settings.batch_size == 5
        assert settings.store_location == str(default_store_path(tmp_path / "dagster_home", pair.name))
    assert read[HOLDINGS.name].pair.rules.bank_accounts != read[TRADING.name].pair.rules.bank_accounts


def test_the_file_holds_no_secret_and_the_environment_names_each_one(demo_env, tmp_path):
    text = (tmp_path / "pairs.toml").read_text(encoding="utf-8")
    for pair in DEMO_PAIRS:
        assert pair.aiq_client[1] not in text
        assert demo_env[pair.secret_variable] == pair.aiq_client[1]
    assert "demo-bunny-secret" not in text
    # What the second terminal sources: the pairs file, the instance and the variables the file references only.
    assert not set(demo_env) & (set(VARIABLES) - {"AIQ_PIPELINE_PAIRS_FILE", "DAGSTER_HOME"})


def test_settings_left_in_the_callers_environment_do_not_reach_the_demos_processes(demo_env):
    leftover = {"AIQ_ENTITY_ID": "DEMO01", "AIQ_PIPELINE_STORE": "/old/aiq_pipeline.duckdb", "PATH": "/usr/bin"}
    env = demo_process_environment(demo_env, leftover)
    assert "AIQ_ENTITY_ID" not in env and "AIQ_PIPELINE_STORE" not in env and env["PATH"] == "/usr/bin"
    with demo_settings_environment(demo_env):
        Settings.from_env(pair=TRADING.name)  # no "set in the environment, but AIQ_PIPELINE_PAIRS_FILE is set too"


def test_the_workspace_has_one_location_per_pair(tmp_path):
    text = workspace_text(tuple(p.name for p in DEMO_PAIRS), str(tmp_path))
    assert text.count("python_module") == 2
    assert '"aiq_pipeline_trading"' in text and '"defs_holdings"' in text


def test_a_folder_of_the_one_pair_demo_is_recognised(tmp_path):
    layout = DemoLayout(tmp_path)
    assert not layout.is_one_pair_demo()  # empty: a new demo
    layout.one_pair_store.touch()
    assert layout.is_one_pair_demo()
    layout.pairs_file.write_text("", encoding="utf-8")
    assert not layout.is_one_pair_demo()  # the two-pair demo's own folder
