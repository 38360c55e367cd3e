"""`aiq-pipeline emulate` and `aiq-pipeline demo`: they need the `emulators` extra, imported lazily."""

from __future__ import annotations

from pathlib import Path

import click

from aiq_pipeline.cli.app import main


@main.command()
@click.option("--accountsiq-port", type=int, help="Serve the AccountsIQ emulator on this port.")
@click.option("--bunny-port", type=int, help="Serve the Bunny emulator on this port.")
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep emulator state here (survives restarts); in memory without it.",
)
@click.option(
    "--fixture",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="AccountsIQ fixture (JSON); the demo tenant without it.",
)
@click.option(
    "--bunny-fixture",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Bunny fixture (JSON); the demo tenant without it.",
)
def emulate(
    accountsiq_port: int | None,
    bunny_port: int | None,
    state_dir: Path | None,
    fixture: Path | None,
    bunny_fixture: Path | None,
) -> None:
    """Run the AccountsIQ and/or Bunny emulator in the foreground (Ctrl-C stops)."""
    if accountsiq_port is None and bunny_port is None:
        raise click.UsageError("give --accountsiq-port, --bunny-port or both")
    try:  # the emulators' libraries come with the `emulators` extra only, not with a production install
        from aiq_emulators.runner import run_emulators
    except ModuleNotFoundError as missing:
        if missing.name != "aiq_emulators":
            raise
        raise click.ClickException(
            "the emulators need the `emulators` extra: pip install 'aiq-pipeline[emulators]'"
        ) from None
    run_emulators(
        accountsiq_port=accountsiq_port,
        bunny_port=bunny_port,
        state_dir=state_dir,
        accountsiq_fixture=fixture,
        bunny_fixture=bunny_fixture,
        echo=click.echo,
    )


@main.command()
@click.option("--ui-port", type=int, default=3000, show_default=True, help="Serve the Dagster UI on this port.")
@click.option("--fresh", is_flag=True, help="Wipe .demo/ first and start over.")
def demo(ui_port: int, fresh: bool) -> None:
    """Both emulators with the demo tenant, DuckDB, a persistent DAGSTER_HOME, the Dagster UI and daemon."""
    try:  # the demo stack is part of the emulators extra, like `emulate`
        from aiq_emulators.demo import run_demo
    except ModuleNotFoundError as missing:
        if missing.name != "aiq_emulators":
            raise
        raise click.ClickException(
            "the demo needs the `emulators` extra: pip install 'aiq-pipeline[emulators]'"
        ) from None
    run_demo(ui_port=ui_port, fresh=fresh, echo=click.echo)
