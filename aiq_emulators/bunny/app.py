"""The Bunny emulator as a Starlette ASGI app: OAuth2 client credentials, GraphQL over Bunny's real SDL,
and namespaced test hooks under `/_emulator/` (see README.md beside this file).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    parse,
    validate,
)
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aiq_emulators.bunny.complexity import combined_refusal
from aiq_emulators.bunny.control import control_routes, create_invoices, release
from aiq_emulators.bunny.executable import bunny_schema
from aiq_emulators.bunny.faults import FaultBoard, FaultSpec
from aiq_emulators.bunny.models import EmulatorOptions, Tenant
from aiq_emulators.bunny.sample_tenant import sample_tenant
from aiq_emulators.bunny.schema import resolve_view_field
from aiq_emulators.bunny.store import Clock, TenantStore
from aiq_emulators.serving import serve_forever, serve_in_thread

OPTIONS_ENV = "BUNNY_EMULATOR_OPTIONS"
_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)

# Doorkeeper's default error descriptions (Bunny's token endpoint is Doorkeeper).
_OAUTH_ERRORS = {
    "invalid_request": (
        400,
        "The request is missing a required parameter, includes an unsupported parameter value, "
        "or is otherwise malformed.",
    ),
    "invalid_client": (
        401,
        "Client authentication failed due to unknown client, no client authentication included, "
        "or unsupported authentication method.",
    ),
    "invalid_scope": (400, "The requested scope is invalid, unknown, or malformed."),
    "unauthorized_client": (400, "The client is not authorized to perform this request using this method."),
    "unsupported_grant_type": (400, "The authorization grant type is not supported by the authorization server."),
}


class BunnyEmulator:
    """Handle on a running emulator: its store (tenant data), fault board and the ASGI app."""

    def __init__(self, store: TenantStore, faults: FaultBoard) -> None:
        self.store = store
        self.faults = faults
        self.app: Starlette | None = None

    # Convenience for tests/benchmarks in the same process (same rules as the HTTP hooks).
    def create_invoices(self, spec: dict[str, Any], count: int = 1, release: bool = False) -> list[str]:
        return create_invoices(self.store, spec, count, release)

    def release_invoices(self, ids: list[str] | None = None) -> list[str]:
        return release(self.store, ids)


def _oauth_error(code: str) -> JSONResponse:
    status, description = _OAUTH_ERRORS[code]
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


def _root_fields(document: Any, operation_name: str | None) -> set[str]:
    names: set[str] = set()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            if operation_name and definition.name and definition.name.value != operation_name:
                continue
            for selection in definition.selection_set.selections:
                if isinstance(selection, FieldNode):
                    names.add(selection.name.value)
    return names


def create_app(
    state: TenantStore | None = None,
    *,
    state_dir: Path | str | None = None,
    fixture: Tenant | Path | str | None = None,
    clock: Clock | None = None,
    options: EmulatorOptions | Mapping[str, Any] | None = None,
) -> Starlette:
    """The emulator app. `state` wins; else a store over `state_dir` (resumed if it holds a state file)
    seeded from `fixture` (a `Tenant` or a JSON file path) or the sample tenant. `options` sets the readings
    (README: "Readings"), over the fixture's and a resumed state's. The handle is `app.state.bunny`.
    """
    if state is None:
        seed = load_fixture(fixture) if fixture is not None else sample_tenant()
        state = TenantStore(seed, state_dir=state_dir, clock=clock, options=options)
    store = state
    faults = FaultBoard()
    emulator = BunnyEmulator(store, faults)
    schema = bunny_schema()

    async def token(request: Request) -> Response:
        faults.count("oauth.requests")
        fired = faults.draw("/oauth/token", set())
        early = await _apply_faults(fired)
        if early is not None:
            return early
        form = await request.form()
        grant_type = str(form.get("grant_type") or "")
        if not grant_type:
            return _oauth_error("invalid_request")
        if grant_type != "client_credentials":
            return _oauth_error("unsupported_grant_type")
        client_id, secret = str(form.get("client_id") or ""), str(form.get("client_secret") or "")
        client = next((c for c in store.tenant.api_clients if c.client_id == client_id), None)
        if client is None or not secret or client.client_secret != secret:
            return _oauth_error("invalid_client")
        if not client.client_credentials_enabled:
            return _oauth_error("unauthorized_client")
        requested = str(form.get("scope") or "").split() or list(client.scopes)
        if not set(requested) <= set(client.scopes):
            return _oauth_error("invalid_scope")
        access_token = store.issue_token(client.client_id, requested, client.access_token_expires_in)
        faults.count("oauth.tokens_issued")
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": client.access_token_expires_in,
                "scope": " ".join(requested),
                "created_at": int(store.now().timestamp()),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def graphql(request: Request) -> Response:
        faults.count("graphql.requests")
        try:
            body = json.loads(await request.body())
            query = body["query"]
            variables = body.get("variables") or {}
            operation_name = body.get("operationName")
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _status(400, {"errors": [{"message": "Request body must be JSON with a 'query' string"}]}, faults)
        parse_error: GraphQLError | None = None
        try:
            document = parse(query)
        except GraphQLError as exc:
            document, parse_error = None, exc
        operations = _root_fields(document, operation_name) if document else set()
        if operation_name:
            operations.add(operation_name)
        fired = faults.draw("/graphql", operations)
        early = await _apply_faults(fired)
        if early is not None:
            return early
        match = _BEARER.match(request.headers.get("authorization", ""))
        bearer = match.group(1) if match else None
        record = store.token(bearer) if bearer else None
        if bearer and record is not None and any(f.kind == "expire_token" for f in fired):
            store.expire_token(bearer)
            record = None
        if record is None:
            return _status(
                401, {"error": "invalid_token"}, faults, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        client = next((c for c in store.tenant.api_clients if c.client_id == record.client_id), None)
        if parse_error is not None:
            return _status(200, {"errors": [parse_error.formatted]}, faults)
        for name in operations:
            faults.count(f"graphql.field.{name}")
        context = {
            "store": store,
            "scopes": set(record.scopes),
            "entity_id": client.entity_id if client else None,
        }
        store.public_url = str(request.base_url).rstrip("/")
        payload = await run_in_threadpool(_execute, schema, document, variables, operation_name, context)
        return _status(200, payload, faults)

    def _execute(
        schema: Any, document: Any, variables: dict[str, Any], operation_name: str | None, context: Any
    ) -> dict[str, Any]:
        errors = validate(schema, document)
        if errors:
            return {"errors": [e.formatted for e in errors]}
        # UNVERIFIED, an option: graphql-ruby checks complexity after validation, before running anything.
        refusal = combined_refusal(document, operation_name) if store.options.combined_reads == "refused" else None
        if refusal is not None:
            return {"errors": [{"message": refusal}]}
        # One lock around the whole execution: a query sees one consistent tenant.
        with store.lock:
            result = execute(
                schema,
                document,
                variable_values=variables,
                operation_name=operation_name,
                context_value=context,
                field_resolver=resolve_view_field,
            )
        # Every resolver here is synchronous, so `execute` answers an ExecutionResult, never an awaitable.
        assert isinstance(result, ExecutionResult)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        return payload

    routes = [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/graphql", graphql, methods=["POST"]),
        *control_routes(store, faults),
    ]
    app = Starlette(routes=routes)
    app.state.bunny = emulator
    emulator.app = app
    return app


def _status(status: int, body: Any, faults: FaultBoard, headers: dict[str, str] | None = None) -> JSONResponse:
    faults.count(f"http.{status}")
    return JSONResponse(body, status_code=status, headers=headers)


async def _apply_faults(fired: list[FaultSpec]) -> Response | None:
    for fault in fired:
        if fault.kind == "latency":
            await asyncio.sleep(fault.latency_ms / 1000)
    for fault in fired:
        if fault.kind == "status":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            body = {"error": "Too Many Requests"} if fault.status == 429 else {"exception": "emulated server error"}
            return JSONResponse(body, status_code=fault.status, headers=headers)
    return None


def load_fixture(fixture: Tenant | Path | str) -> Tenant:
    if isinstance(fixture, Tenant):
        return fixture
    return Tenant.model_validate_json(Path(fixture).read_text(encoding="utf-8"))


@contextmanager
def start_emulator(
    state_dir: Path | str | None = None,
    fixture: Tenant | Path | str | None = None,
    clock: Clock | None = None,
    options: EmulatorOptions | Mapping[str, Any] | None = None,
) -> Iterator[tuple[str, BunnyEmulator]]:
    """Serve the emulator on a free loopback port; yields (base_url, handle)."""
    app = create_app(state_dir=state_dir, fixture=fixture, clock=clock, options=options)
    with serve_in_thread(app) as base_url:
        yield base_url, app.state.bunny


def run(port: int, state_dir: Path | str | None = None, fixture: Tenant | Path | str | None = None) -> None:
    """Serve the emulator in the foreground (the CLI's `emulate bunny`). The readings can be set at start with
    BUNNY_EMULATOR_OPTIONS, a JSON object such as `{"tax_rate_units": "fraction"}` (README: "Readings")."""
    serve_forever(create_app(state_dir=state_dir, fixture=fixture, options=options_from_env()), port)


def options_from_env(environ: Mapping[str, str] | None = None) -> EmulatorOptions | None:
    """The readings given in BUNNY_EMULATOR_OPTIONS (a JSON object), or None; a bad one fails naming the variable."""
    raw = (os.environ if environ is None else environ).get(OPTIONS_ENV)
    if not raw:
        return None
    try:
        return EmulatorOptions.model_validate_json(raw)
    except ValidationError as exc:
        raise ValueError(f"{OPTIONS_ENV} is not a valid set of Bunny emulator options: {exc}") from exc
