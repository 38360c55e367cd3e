from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiq_pipeline.accountsiq import AccountsIQClient
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
