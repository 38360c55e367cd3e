"""The AccountsIQ Integration 2.0 emulator as a Starlette ASGI app, plus entry points for tests and the CLI.

Routes:
- `POST /system/dashboard/integration/integration_2_0.asmx`: the SOAP 1.1 service (dispatch on SOAPAction, else
  on the body element's name). A request that is not XML, not an Envelope, names an operation the emulator does
  not implement, or does not validate against the WSDL schema gets HTTP 500 + `soap:Client` fault, as ASMX does.
- `GET .../integration_2_0.asmx?wsdl`: the vendor WSDL with `soap:address` pointing at this server.
- `/_emulator/...` control routes (JSON): `GET|POST|DELETE faults`, `GET stats`, `POST reset`,
  `POST tokens/expire`, `GET|POST|DELETE options` (DELETE: back to the defaults). See fault_injection.py for the
  rule format and state.py's `EmulatorOptions` for the options.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aiq_emulators.accountsiq import payments as _payments  # noqa: F401  registers the handlers of money (receipts...)
from aiq_emulators.accountsiq.contract import WSDL_PATH, service_schema
from aiq_emulators.accountsiq.fault_injection import CallStats, FaultPlan
from aiq_emulators.accountsiq.fixtures import EmulatorFixture, load_fixture
from aiq_emulators.accountsiq.operations import (
    HANDLERS,
    WRITE_OPERATIONS,
    AiqFailure,
    Code,
    failure_response,
    handle,
)
from aiq_emulators.accountsiq.soap import (
    SoapClientFault,
    fault_envelope,
    parse_request,
    response_envelope,
)
from aiq_emulators.accountsiq.state import EmulatorOptions, EmulatorState, validated_options
from aiq_emulators.serving import serve_forever, serve_in_thread

SERVICE_PATH = "/system/dashboard/integration/integration_2_0.asmx"
XML = "text/xml; charset=utf-8"
_WSDL_ADDRESS = "https://eu1.accountsiq.com" + SERVICE_PATH
log = logging.getLogger(__name__)


@dataclass
class EmulatorHandle:
    """In-process control of a running emulator (tests, benchmarks)."""

    state: EmulatorState
    faults: FaultPlan
    stats: CallStats

    def expire_tokens(self) -> int:
        return self.state.expire_access_tokens()

    def set_options(self, **changes: Any) -> EmulatorOptions:
        """Change options at run time (validated as a whole first; nothing changes if any value is refused)."""
        with self.state.lock:
            merged = validated_options(asdict(self.state.options) | changes)
            for option in fields(EmulatorOptions):
                setattr(self.state.options, option.name, getattr(merged, option.name))
            return self.state.options

    def reset_options(self) -> EmulatorOptions:
        return self.set_options(**asdict(EmulatorOptions()))

    def reset(self, data: bool = True, faults: bool = True, stats: bool = True) -> None:
        if data:
            self.state.reset()
        if faults:
            self.faults.clear()
        if stats:
            self.stats.reset()


class _DroppedResponse(Response):
    """Promise the whole body, send half, then end without completing: uvicorn closes the socket."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})


@functools.cache
def _wsdl_text() -> str:
    return WSDL_PATH.read_text(encoding="utf-8")


def _fault(message: str, code: str = "soap:Client") -> Response:
    return Response(fault_envelope(message, code), status_code=500, media_type=XML)


def create_app(
    state: EmulatorState | None = None,
    *,
    faults: FaultPlan | None = None,
    stats: CallStats | None = None,
    validate_responses: bool = False,
) -> Starlette:
    """The emulator app; `validate_responses` re-validates every answer against the WSDL schema (tests)."""
    state = state or EmulatorState()
    faults = faults or FaultPlan()
    stats = stats or CallStats()
    handle_ = EmulatorHandle(state, faults, stats)

    async def soap(request: Request) -> Response:
        body = await request.body()
        try:
            soap_request = parse_request(body, request.headers.get("soapaction"))
        except SoapClientFault as exc:
            stats.count_call("(rejected)")
            return _fault(str(exc))
        operation = soap_request.operation
        stats.count_call(operation)
        if operation not in HANDLERS:
            return _fault(f"Server did not recognize the value of HTTP Header SOAPAction: {operation}.")
        if rule := faults.decide(operation, "latency"):
            stats.count_fault("latency")
            await asyncio.sleep(rule.latency_ms / 1000)
        if faults.decide(operation, "http_500"):
            stats.count_fault("http_500")
            return _fault("Server was unable to process request. ---> injected fault", "soap:Server")
        if faults.decide(operation, "throttle"):
            stats.count_fault("throttle")
            failure = AiqFailure(Code.TOO_MANY_CALLS, "Too many API calls; slow down and retry later.")
            value = failure_response(operation, failure)
        else:
            value = await run_in_threadpool(handle, state, operation, soap_request.header, soap_request.params)
        try:
            payload = response_envelope(operation, value)
        except (KeyError, TypeError, ValueError) as exc:  # an emulator bug, not the client's fault
            log.exception("cannot encode %s response", operation)
            return _fault(f"Server was unable to process request. ---> {exc}", "soap:Server")
        if validate_responses:
            _assert_schema_valid(payload)
        if operation in WRITE_OPERATIONS:
            await _slow_commit(operation)
        if operation in WRITE_OPERATIONS and faults.decide(operation, "drop_after_commit"):
            stats.count_fault("drop_after_commit")
            return _DroppedResponse(payload, media_type=XML)
        return Response(payload, media_type=XML)

    async def _slow_commit(operation: str) -> None:
        """The write is applied; answer late (the `slow_commit_seconds` option or a `slow_commit` rule)."""
        delay = state.options.slow_commit_seconds
        if rule := faults.decide(operation, "slow_commit"):
            delay = max(delay, rule.latency_ms / 1000)
        if delay > 0:
            stats.count_fault("slow_commit")
            await asyncio.sleep(delay)

    async def wsdl(request: Request) -> Response:
        address = f"{request.url.scheme}://{request.url.netloc}{SERVICE_PATH}"
        return Response(_wsdl_text().replace(_WSDL_ADDRESS, address), media_type=XML)

    async def faults_route(request: Request) -> Response:
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            payload = await request.json()
            rules = payload.get("rules", [payload]) if isinstance(payload, dict) else payload
            try:
                for rule in rules:
                    faults.add(rule)
            except ValidationError as exc:
                return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"rules": faults.rules()})

    async def stats_route(request: Request) -> Response:
        return JSONResponse(stats.snapshot())

    async def reset_route(request: Request) -> Response:
        payload = (await request.json()) if await request.body() else {}
        flags = {k: bool(payload.get(k, True)) for k in ("data", "faults", "stats")}
        await run_in_threadpool(handle_.reset, **flags)
        return JSONResponse({"reset": flags})

    async def expire_route(request: Request) -> Response:
        return JSONResponse({"expired": await run_in_threadpool(handle_.expire_tokens)})

    async def options_route(request: Request) -> Response:
        if request.method == "DELETE":
            handle_.reset_options()
        elif request.method == "POST":
            payload = await request.json()
            if not isinstance(payload, dict):
                return JSONResponse({"error": "send a JSON object of option names and values"}, status_code=422)
            try:
                handle_.set_options(**payload)
            except ValueError as exc:  # pydantic's ValidationError included
                return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(asdict(state.options))

    app = Starlette(
        routes=[
            Route(SERVICE_PATH, soap, methods=["POST"]),
            Route(SERVICE_PATH, wsdl, methods=["GET"]),
            Route("/_emulator/faults", faults_route, methods=["GET", "POST", "DELETE"]),
            Route("/_emulator/stats", stats_route, methods=["GET"]),
            Route("/_emulator/reset", reset_route, methods=["POST"]),
            Route("/_emulator/tokens/expire", expire_route, methods=["POST"]),
            Route("/_emulator/options", options_route, methods=["GET", "POST", "DELETE"]),
        ]
    )
    app.state.emulator = handle_
    return app


def _assert_schema_valid(payload: bytes) -> None:
    import defusedxml.ElementTree as DET

    body_child = DET.fromstring(payload)[0][0]
    service_schema().validate(body_child)


def _state(
    state_dir: Path | None, fixture: EmulatorFixture | Path | None, options: EmulatorOptions | None, clock: Any
) -> EmulatorState:
    if isinstance(fixture, Path):
        fixture = load_fixture(fixture)
    if options is not None:
        options = validated_options(asdict(options))
    return EmulatorState(fixture=fixture, state_dir=state_dir, options=options, clock=clock)


@contextmanager
def start_emulator(
    state_dir: Path | None = None,
    fixture: EmulatorFixture | Path | None = None,
    *,
    options: EmulatorOptions | None = None,
    clock: Any = None,
    validate_responses: bool = False,
) -> Iterator[tuple[str, EmulatorHandle]]:
    """Serve the emulator on a loopback port in a thread; yields (base_url, handle).

    The SOAP endpoint is ``base_url + SERVICE_PATH``; `clock` (a callable returning a naive UTC datetime)
    lets tests move time for token expiry.
    """
    app = create_app(_state(state_dir, fixture, options, clock), validate_responses=validate_responses)
    with serve_in_thread(app) as base_url:
        yield base_url, app.state.emulator


def run(port: int, state_dir: Path | None, fixture: Path | None, options: EmulatorOptions | None = None) -> None:
    """Serve in the foreground until interrupted (the CLI's `emulate` command)."""
    app = create_app(_state(state_dir, fixture, options, None))
    print(f"AccountsIQ emulator: http://127.0.0.1:{port}{SERVICE_PATH} (state: {state_dir or 'in memory'})")
    serve_forever(app, port)
