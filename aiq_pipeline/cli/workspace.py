"""`aiq-pipeline workspace`: the Dagster workspace file that loads one code location per configured pair."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aiq_pipeline.cli.app import main, reports_setting_problems

MODULE = "aiq_pipeline.definitions"


def workspace_text(pairs: tuple[str, ...] | None, working_directory: str = ".") -> str:
    """The workspace: one location per pair (`defs_<pair>`, named `aiq_pipeline_<pair>`), or, without a pairs file
    (`pairs` None), the one location as the repository's workspace.yaml has it. Values are written as JSON strings,
    which YAML reads as they are (a path with a colon or a quote stays one string)."""
    lines = [
        "# Written by `aiq-pipeline workspace`: one code location per pair of AIQ_PIPELINE_PAIRS_FILE.",
        "load_from:",
    ]
    for pair in pairs if pairs is not None else (None,):
        lines += ["  - python_module:", f"      module_name: {MODULE}"]
        if pair is not None:
            lines += [
                f"      attribute: {json.dumps('defs_' + pair)}",
                f"      location_name: {json.dumps('aiq_pipeline_' + pair)}",
            ]
        lines.append(f"      working_directory: {json.dumps(working_directory)}")
    return "\n".join(lines) + "\n"


@main.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write it to this file (e.g. workspace.yaml) instead of printing it.",
)
@click.option(
    "--working-directory",
    default=".",
    show_default=True,
    help="The project directory the locations load from (relative to the file, or absolute).",
)
@reports_setting_problems(strict=False)
def workspace(output: Path | None, working_directory: str) -> None:
    """Print the Dagster workspace for the pairs of AIQ_PIPELINE_PAIRS_FILE: one code location per pair, so a pair
    whose settings are wrong does not stop the others. Without a pairs file, the one location."""
    from aiq_pipeline.settings import configured_pairs, uses_pairs_file

    text = workspace_text(configured_pairs() if uses_pairs_file() else None, working_directory)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")
