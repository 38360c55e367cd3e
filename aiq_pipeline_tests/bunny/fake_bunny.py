"""A scriptable in-process Bunny for `httpx.MockTransport` behaviour tests.

It issues tokens at /oauth/token, rejects unknown bearer tokens with 401, answers GraphQL operations
from per-operation handlers, and lets a test queue raw responses (or exceptions) that win over the handlers.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

from aiq_pipeline.bunny import BunnyClient

SECRET = "s3cr3t-DO-NOT-LEAK"
CLIENT_ID = "test-client"
BASE_URL = "https://tenant.bunny.test"

Handler = Callable[[dict[str, Any]], Any]
Scripted = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class GraphQLCall:
    operation: str
    variables: dict[str, Any]
    token: str | None
    query: str


@dataclass
class FakeBunny:
    expires_in: int = 7200
    token_forms: list[dict[str, str]] = field(default_factory=list)
    graphql_calls: list[GraphQLCall] = field(default_factory=list)
    token_script: deque[Scripted] = field(default_factory=deque)
    graphql_script: deque[Scripted] = field(default_factory=deque)
    handlers: dict[str, Handler] = field(default_factory=dict)
    valid_tokens: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return self._token(request)
        if request.url.path == "/graphql":
            return self._graphql(request)
        return httpx.Response(404)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def client(self, **kwargs: Any) -> BunnyClient:
        options: dict[str, Any] = {"backoff_base": 0.0, "sleep": lambda _: None}
        options.update(kwargs)
        return BunnyClient(
            base_url=BASE_URL, client_id=CLIENT_ID, client_secret=SECRET, transport=self.transport(), **options
        )

    @staticmethod
    def _play(item: Scripted, request: httpx.Request) -> httpx.Response:
        if isinstance(item, Exception):
            raise item
        if isinstance(item, httpx.Response):
            return item
        return item(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        self.token_forms.append(form)
        if self.token_script:
            return self._play(self.token_script.popleft(), request)
        token = f"tok-{len(self.issued) + 1}"
        self.issued.append(token)
        self.valid_tokens.add(token)
        return httpx.Response(
            200, json={"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in, "created_at": 0}
        )

    def _graphql(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        auth = request.headers.get("authorization", "")
        token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else None
        self.graphql_calls.append(
            GraphQLCall(body.get("operationName"), body.get("variables") or {}, token, body["query"])
        )
        if self.graphql_script:
            return self._play(self.graphql_script.popleft(), request)
        if token not in self.valid_tokens:
            return httpx.Response(401, json={"error": "invalid_token"})
        handler = self.handlers.get(body.get("operationName"))
        if handler is None:
            return httpx.Response(200, json={"errors": [{"message": f"no handler for {body.get('operationName')}"}]})
        answer = handler(body.get("variables") or {})
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json={"data": answer})

    def calls(self, operation: str) -> list[GraphQLCall]:
        return [c for c in self.graphql_calls if c.operation == operation]


def connection(items: Sequence[Any], variables: dict[str, Any]) -> dict[str, Any]:
    """A Relay connection page over `items` honouring `first`/`after` (cursor = offset as text)."""
    start = int(variables.get("after") or 0)
    first = int(variables["first"])
    page = list(items[start : start + first])
    end = start + len(page)
    return {"nodes": page, "pageInfo": {"hasNextPage": end < len(items), "endCursor": str(end) if page else None}}


def json_response(text: str, status: int = 200) -> httpx.Response:
    """A response with a hand-written JSON body (to control exactly how numbers are spelled)."""
    return httpx.Response(status, content=text.encode(), headers={"Content-Type": "application/json"})


CURRENCIES = [{"id": "1", "isoCode": "EUR", "name": "Euro"}, {"id": "3", "isoCode": "USD", "name": "US Dollar"}]


def currencies_handler(variables: dict[str, Any]) -> dict[str, Any]:
    return {"currencies": connection(CURRENCIES, variables)}
