"""The `aiq-pipeline` command offers what the README promises."""

from click.testing import CliRunner

from aiq_pipeline.cli import main


def test_every_documented_command_exists():
    commands = set(main.commands)
    assert {"demo", "emulate", "doctor", "sync", "exceptions", "retry", "backfill"} <= commands


def test_emulate_needs_a_port():
    result = CliRunner().invoke(main, ["emulate"])
    assert result.exit_code != 0 and "--accountsiq-port" in result.output


def test_retry_needs_ids_or_all():
    result = CliRunner().invoke(main, ["retry"])
    assert result.exit_code != 0 and "--all" in result.output
