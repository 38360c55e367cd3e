"""The README stays true: every setting the product reads and every command it has is documented there."""

from __future__ import annotations

from pathlib import Path

from aiq_pipeline.cli import main
from aiq_pipeline.settings import VARIABLES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_configuration_section() -> None:
    configuration = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in VARIABLES if f"`{name}`" not in configuration]
    assert not missing, f"README's Configuration lacks {missing}"


def test_every_command_is_in_the_command_line_section() -> None:
    section = README.split("## The command line", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in main.commands if f"aiq-pipeline {name}" not in section]
    assert not missing, f"README's command table lacks {missing}"
