"""AccountsIQ Integration 2.0 emulator (SOAP 1.1); see README.md in this folder.

Public entry points: `create_app`, `start_emulator`, `run`, `EmulatorState`, `EmulatorOptions`, the fixture
models in `fixtures`, and `SERVICE_PATH`.
"""

from aiq_emulators.accountsiq.app import SERVICE_PATH, EmulatorHandle, create_app, run, start_emulator
from aiq_emulators.accountsiq.fixtures import EmulatorFixture, FixtureError, demo_fixture, load_fixture
from aiq_emulators.accountsiq.state import EmulatorOptions, EmulatorState

__all__ = [
    "SERVICE_PATH",
    "EmulatorFixture",
    "EmulatorHandle",
    "EmulatorOptions",
    "EmulatorState",
    "FixtureError",
    "create_app",
    "demo_fixture",
    "load_fixture",
    "run",
    "start_emulator",
]
