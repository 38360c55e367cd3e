from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from aiq_emulators.accountsiq import EmulatorHandle, start_emulator
from aiq_emulators.accountsiq.fixtures import payments_demo_fixture
from aiq_pipeline.accountsiq import AccountsIQClient, AiqError
from aiq_pipeline_tests.accountsiq.scripted_aiq import CLIENT_ID, CLIENT_SECRET, ENTITY, ScriptedAiq

# MockTransport answers in-process; the address is loopback so nothing could leave the machine anyway.
FAKE_BASE_URL = "http://127.0.0.1:9"


@pytest.fixture
def aiq() -> ScriptedAiq:
    return ScriptedAiq()


@pytest.fixture
def client(aiq: ScriptedAiq) -> Iterator[AccountsIQClient]:
    with AccountsIQClient(
        entity_id=ENTITY,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=FAKE_BASE_URL,
        backoff_base=0,
        max_attempts=3,
        transport=aiq.transport(),
    ) as c:
        yield c


# --- the production client over real HTTP against the emulator's payments tenant (receipts, refunds, allocations)


class FixedClock:
    """The emulator's clock for the money tests: a fixed moment in an open period, advanced by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 7, 1, 9, 0, 0)

    def __call__(self) -> datetime:
        return self.now


_money_clock = FixedClock()


@pytest.fixture(scope="module")
def money_emulator() -> Iterator[tuple[str, EmulatorHandle]]:
    with start_emulator(fixture=payments_demo_fixture(), clock=_money_clock, validate_responses=True) as served:
        yield served


@dataclass
class Money:
    """One test's view of the payments tenant: the handle, clients made, errors seen (for the secret check)."""

    base_url: str
    handle: EmulatorHandle
    clock: FixedClock
    clients: list[AccountsIQClient] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def client(self, **settings: Any) -> AccountsIQClient:
        made = AccountsIQClient(
            entity_id="DEMO01",
            client_id="demo-aiq-client",
            client_secret="demo-aiq-secret",
            base_url=self.base_url,
            backoff_base=0,
            max_attempts=3,
            **settings,
        )
        self.clients.append(made)
        return made

    @contextmanager
    def raises(self, error: type[AiqError]) -> Iterator[pytest.ExceptionInfo[AiqError]]:
        """pytest.raises that also keeps the exception for the secret check."""
        with pytest.raises(error) as info:
            yield info
        self.errors.append(info.value)

    def calls(self, operation: str) -> int:
        return int(self.handle.stats.snapshot()["calls"].get(operation, 0))


@pytest.fixture
def money(money_emulator: tuple[str, EmulatorHandle], caplog: pytest.LogCaptureFixture) -> Iterator[Money]:
    base_url, handle = money_emulator
    handle.reset()
    handle.reset_options()
    _money_clock.now = FixedClock().now
    caplog.set_level(logging.DEBUG)
    session = Money(base_url, handle, _money_clock)
    yield session
    secrets = {"demo-aiq-secret"}
    for client in session.clients:
        secrets |= {s for s in client._secrets if s}  # every token the client was issued
        client.close()
    texts = [r.getMessage() for phase in ("setup", "call") for r in caplog.get_records(phase)]
    texts += [f"{e!s} {e!r}" for e in session.errors] + [repr(c) for c in session.clients]
    assert not [s for s in secrets for text in texts if s in text], "a secret or token leaked"
