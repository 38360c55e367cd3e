"""The Bunny emulator as a Starlette ASGI app: OAuth2 client credentials, GraphQL over Bunny's real SDL,
and namespaced test hooks under `/_emulator/` (see README.md beside this file).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from graphql import (
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

from aiq_emulators.bunny.executable import bunny_schema
from aiq_emulators.bunny.faults import FaultBoard, FaultSpec
from aiq_emulators.bunny.models import Tenant
from aiq_emulators.bunny.resolvers import snake_attributes
from aiq_emulators.bunny.sample_tenant import sample_tenant
from aiq_emulators.bunny.schema import resolve_view_field
from aiq_emulators.bunny.store import Clock, RuleViolation, TenantStore
from aiq_emulators.serving import serve_forever, serve_in_thread

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
        return _create_invoices(self.store, spec, count, release)

    def release_invoices(self, ids: list[str] | None = None) -> list[str]:
        return _release(self.store, ids)


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


def _as_items(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = []
    for item in raw:
        spec = snake_attributes(item)
        for key in ("price", "discount", "tax_rate", "tax_amount"):
            if spec.get(key) is not None:
                spec[key] = Decimal(str(spec[key]))
        items.append(spec)
    return items


def _create_invoices(store: TenantStore, spec: dict[str, Any], count: int, release: bool) -> list[str]:
    spec = snake_attributes(spec)
    currency = spec.get("currency") or spec.get("currency_id")
    currency_id = None
    if currency is not None:
        found = store.find("currencies", str(currency)) or next(
            (c for c in store.tenant.currencies if c.iso_code == str(currency).upper()), None
        )
        if found is None:
            raise RuleViolation(f"Currency {currency} not found")
        currency_id = found.id
    ids: list[str] = []
    with store.lock:
        for _ in range(count):
            invoice = store.create_invoice(
                entity_id=str(spec.get("entity_id", "1")),
                account_id=str(spec.get("account") or spec.get("account_id") or "1"),
                items=_as_items(spec.get("items") or [{"charge": "SUB-MONTHLY", "quantity": 1}]),
                currency_id=currency_id,
                net_payment_days=spec.get("net_payment_days"),
                fx_rate=Decimal(str(spec.get("fx_rate", "1"))),
                save=False,
            )
            if release:
                store.release_invoice(invoice.id, save=False)
            ids.append(invoice.id)
        store.save()
    return ids


def _release(store: TenantStore, ids: list[str] | None, entity_id: str | None = None) -> list[str]:
    with store.lock:
        if ids is None:
            ids = [
                i.id
                for i in store.tenant.invoices
                if i.state == "DRAFT" and (entity_id is None or i.entity_id == entity_id)
            ]
        for invoice_id in ids:
            store.release_invoice(str(invoice_id), save=False)
        store.save()
    return [str(i) for i in ids]


def create_app(
    state: TenantStore | None = None,
    *,
    state_dir: Path | str | None = None,
    fixture: Tenant | Path | str | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The emulator app. `state` wins; else a store over `state_dir` (resumed if it holds a state file)
    seeded from `fixture` (a `Tenant` or a JSON file path) or the sample tenant. The handle is `app.state.bunny`.
    """
    if state is None:
        seed = load_fixture(fixture) if fixture is not None else sample_tenant()
        state = TenantStore(seed, state_dir=state_dir, clock=clock)
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
        try:
            document = parse(query)
        except GraphQLError as exc:
            document, parse_error = None, exc
        else:
            parse_error = None
        operations = _root_fields(document, operation_name) if document else set()
        if operation_name:
            operations.add(operation_name)
        fired = faults.draw("/graphql", operations)
        early = await _apply_faults(fired)
        if early is not None:
            return early
        match = _BEARER.match(request.headers.get("authorization", ""))
        record = store.token(match.group(1)) if match else None
        if record is not None and any(f.kind == "expire_token" for f in fired):
            store.expire_token(match.group(1))  # type: ignore[union-attr]
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

    def _execute(schema: Any, document: Any, variables: dict[str, Any], operation_name: str | None, context: Any):
        errors = validate(schema, document)
        if errors:
            return {"errors": [e.formatted for e in errors]}
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
        payload: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
        if result.errors:  # type: ignore[union-attr]
            payload["errors"] = [e.formatted for e in result.errors]  # type: ignore[union-attr]
        return payload

    # -- test hooks ------------------------------------------------------------------------------
    async def hook_create_invoices(request: Request) -> Response:
        spec = await request.json()
        count = int(spec.pop("count", 1))
        release = bool(spec.pop("release", False))
        if not 1 <= count <= 100_000:
            return JSONResponse({"error": "count must be 1..100000"}, status_code=400)
        try:
            ids = await run_in_threadpool(_create_invoices, store, spec, count, release)
        except (RuleViolation, ValidationError, ArithmeticError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ids": ids}, status_code=201)

    async def hook_release(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        ids = body.get("ids")
        try:
            released = await run_in_threadpool(_release, store, ids, body.get("entity_id") or body.get("entityId"))
        except RuleViolation as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"released": released})

    def _invoice_hook(method: str) -> Any:
        async def hook(request: Request) -> Response:
            try:
                invoice = getattr(store, method)(request.path_params["invoice_id"])
            except RuleViolation as exc:
                status = 404 if "not found" in str(exc) else 409
                return JSONResponse({"error": str(exc)}, status_code=status)
            return JSONResponse(
                {"id": invoice.id, "state": invoice.state, "updated_at": invoice.updated_at.isoformat()}
            )

        return hook

    async def hook_refund(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        amounts = body.get("amounts")  # optional {invoice item id: net amount}: a partial refund
        try:
            parsed = {str(k): Decimal(str(v)) for k, v in amounts.items()} if amounts is not None else None
            note = store.refund_invoice(request.path_params["invoice_id"], amounts=parsed)
        except (ArithmeticError, AttributeError) as exc:
            return JSONResponse({"error": f"amounts must map item ids to amounts ({exc})"}, status_code=400)
        except RuleViolation as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"credit_note_id": note.id, "number": note.number}, status_code=201)

    async def hook_faults(request: Request) -> Response:
        if request.method == "DELETE":
            faults.clear()
            return JSONResponse({"cleared": True})
        try:
            spec = FaultSpec.model_validate(await request.json())
        except (ValidationError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        faults.add(spec)
        return JSONResponse({"armed": spec.model_dump(exclude_none=True)}, status_code=201)

    async def hook_stats(_request: Request) -> Response:
        with store.lock:
            states: dict[str, int] = {}
            for invoice in store.tenant.invoices:
                states[invoice.state] = states.get(invoice.state, 0) + 1
            counts = {
                "invoices": len(store.tenant.invoices),
                "invoice_states": states,
                "financial_accounts": len(store.tenant.financial_accounts),
                "credit_notes": len(store.tenant.credit_notes),
            }
        return JSONResponse({**faults.snapshot(), "tenant": counts})

    async def hook_reset(_request: Request) -> Response:
        store.reset()
        faults.clear()
        faults.reset_stats()
        return JSONResponse({"reset": True})

    async def hook_clock(request: Request) -> Response:
        body = await request.json()
        when = body.get("now")
        try:
            parsed = dt.datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        store.set_clock(parsed)
        return JSONResponse({"now": store.now().isoformat()})

    routes = [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/graphql", graphql, methods=["POST"]),
        Route("/_emulator/invoices", hook_create_invoices, methods=["POST"]),
        Route("/_emulator/invoices/release", hook_release, methods=["POST"]),
        Route("/_emulator/invoices/{invoice_id}/void", _invoice_hook("void_invoice"), methods=["POST"]),
        Route("/_emulator/invoices/{invoice_id}/pay", _invoice_hook("pay_invoice"), methods=["POST"]),
        Route("/_emulator/invoices/{invoice_id}/refund", hook_refund, methods=["POST"]),
        Route("/_emulator/faults", hook_faults, methods=["POST", "DELETE"]),
        Route("/_emulator/stats", hook_stats, methods=["GET"]),
        Route("/_emulator/reset", hook_reset, methods=["POST"]),
        Route("/_emulator/clock", hook_clock, methods=["POST"]),
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
    state_dir: Path | str | None = None, fixture: Tenant | Path | str | None = None, clock: Clock | None = None
) -> Iterator[tuple[str, BunnyEmulator]]:
    """Serve the emulator on a free loopback port; yields (base_url, handle)."""
    app = create_app(state_dir=state_dir, fixture=fixture, clock=clock)
    with serve_in_thread(app) as base_url:
        yield base_url, app.state.bunny


def run(port: int, state_dir: Path | str | None = None, fixture: Tenant | Path | str | None = None) -> None:
    """Serve the emulator in the foreground (the CLI's `emulate bunny`)."""
    serve_forever(create_app(state_dir=state_dir, fixture=fixture), port)
