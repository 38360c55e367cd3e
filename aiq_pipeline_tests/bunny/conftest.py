"""The Bunny emulator in a thread, one per test module (each module resets what it needs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiq_emulators.bunny.app import create_app
from aiq_emulators.serving import serve_in_thread


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_thread(create_app()) as url:
        yield url
