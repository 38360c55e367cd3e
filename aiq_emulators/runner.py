"""Both emulators at once, in the foreground (`aiq-pipeline emulate`) or for tests and the demo."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiq_emulators.accountsiq.app import create_app as create_aiq_app
from aiq_emulators.accountsiq.app import load_fixture as load_aiq_fixture
from aiq_emulators.accountsiq.state import EmulatorState
from aiq_emulators.bunny.app import create_app as create_bunny_app
from aiq_emulators.serving import serve_in_thread


@dataclass
class RunningEmulators:
    accountsiq_url: str | None = None
    accountsiq: Any = None  # the AIQ emulator's handle (faults, stats, reset)
    bunny_url: str | None = None
    bunny: Any = None  # the Bunny emulator's handle (invoices, faults, stats)


@contextmanager
def running_emulators(
    *,
    accountsiq_port: int | None = 0,
    bunny_port: int | None = 0,
    state_dir: Path | None = None,
    accountsiq_fixture: Path | None = None,
    bunny_fixture: Path | None = None,
) -> Iterator[RunningEmulators]:
    """Serve the requested emulators on loopback threads (port 0: any free port; None: not started).

    With `state_dir`, each keeps its state in its own subfolder and resumes it on the next start.
    """
    running = RunningEmulators()
    with ExitStack() as stack:
        if accountsiq_port is not None:
            fixture = load_aiq_fixture(accountsiq_fixture) if accountsiq_fixture else None
            app = create_aiq_app(
                EmulatorState(fixture=fixture, state_dir=state_dir / "accountsiq" if state_dir else None)
            )
            running.accountsiq_url = stack.enter_context(serve_in_thread(app, port=accountsiq_port))
            running.accountsiq = app.state.emulator
        if bunny_port is not None:
            app = create_bunny_app(state_dir=state_dir / "bunny" if state_dir else None, fixture=bunny_fixture)
            running.bunny_url = stack.enter_context(serve_in_thread(app, port=bunny_port))
            running.bunny = app.state.bunny
        yield running


def run_emulators(
    *,
    accountsiq_port: int | None,
    bunny_port: int | None,
    state_dir: Path | None,
    accountsiq_fixture: Path | None,
    bunny_fixture: Path | None,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve until Ctrl-C."""
    with running_emulators(
        accountsiq_port=accountsiq_port,
        bunny_port=bunny_port,
        state_dir=state_dir,
        accountsiq_fixture=accountsiq_fixture,
        bunny_fixture=bunny_fixture,
    ) as running:
        where = f"state in {state_dir}" if state_dir else "state in memory"
        if running.accountsiq_url:
            echo(f"AccountsIQ emulator: AIQ_BASE_URL={running.accountsiq_url} ({where})")
        if running.bunny_url:
            echo(f"Bunny emulator: BUNNY_BASE_URL={running.bunny_url} ({where})")
        echo("Ctrl-C stops.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            echo("stopping emulators")
