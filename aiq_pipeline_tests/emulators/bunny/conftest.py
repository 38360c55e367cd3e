"""Shared helpers: a live emulator on loopback and a tiny httpx GraphQL caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from aiq_emulators.bunny.app import BunnyEmulator, start_emulator
from aiq_emulators.bunny.sample_tenant import SAMPLE_CLIENT_ID, SAMPLE_CLIENT_SECRET


@dataclass
class Live:
    url: str
    handle: BunnyEmulator
    http: httpx.Client

    def token(self, scope: str | None = None) -> str:
        data = {
            "grant_type": "client_credentials",
            "client_id": SAMPLE_CLIENT_ID,
            "client_secret": SAMPLE_CLIENT_SECRET,
        }
        if scope is not None:
            data["scope"] = scope
        response = self.http.post(f"{self.url}/oauth/token", data=data)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def post(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        return self.http.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    def gql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        response = self.post(query, variables, token)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def live(tmp_path) -> Iterator[Live]:
    with start_emulator(state_dir=tmp_path / "state") as (url, handle), httpx.Client(timeout=10) as http:
        yield Live(url, handle, http)


@pytest.fixture(scope="module")
def sample() -> Iterator[Live]:
    """One in-memory sample emulator per module, for tests that only read."""
    with start_emulator() as (url, handle), httpx.Client(timeout=10) as http:
        yield Live(url, handle, http)
