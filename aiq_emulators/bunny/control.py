"""The emulator's control routes under `/_emulator/` (outside Bunny's contract): create and move documents, set
the readings (options), inject faults, read counters, reset, move the clock. README.md lists them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aiq_emulators.bunny.faults import FaultBoard, FaultSpec
from aiq_emulators.bunny.models import Invoice, Payment
from aiq_emulators.bunny.resolvers import snake_attributes
from aiq_emulators.bunny.store import RuleViolation, TenantStore

Handler = Callable[[Request], Awaitable[Response]]
MONEY_KEYS = ("price", "discount", "tax_rate", "tax_amount", "proration_rate", "percent", "amount")
BAD_INPUT = (RuleViolation, ValidationError, ArithmeticError, TypeError, ValueError, AttributeError, KeyError)


def _decimals(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = snake_attributes(spec)
    for key in MONEY_KEYS:
        if out.get(key) is not None:
            out[key] = Decimal(str(out[key]))
    return out


def _date(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(str(value))


def _currency_id(store: TenantStore, currency: Any) -> str | None:
    if currency is None:
        return None
    found = store.find("currencies", str(currency)) or next(
        (c for c in store.tenant.currencies if c.iso_code == str(currency).upper()), None
    )
    if found is None:
        raise RuleViolation(f"Currency {currency} not found")
    return str(found.id)


def create_invoices(store: TenantStore, raw: Mapping[str, Any], count: int, release: bool) -> list[str]:
    """`POST /_emulator/invoices`: `count` invoices from one spec (README: "Creating real-world invoices")."""
    spec = snake_attributes(raw)
    currency_id = _currency_id(store, spec.get("currency") or spec.get("currency_id"))
    items = [_decimals(item) for item in spec.get("items") or [{"charge": "SUB-MONTHLY", "quantity": 1}]]
    coupons = [_decimals(coupon) for coupon in spec.get("coupons") or []]
    ids: list[str] = []
    with store.lock:
        for _ in range(count):
            invoice = store.create_invoice(
                entity_id=str(spec.get("entity_id", "1")),
                account_id=str(spec.get("account") or spec.get("account_id") or "1"),
                items=items,
                currency_id=currency_id,
                net_payment_days=spec.get("net_payment_days"),
                fx_rate=Decimal(str(spec.get("fx_rate", "1"))),
                coupons=coupons,
                credits=Decimal(str(spec.get("credits") or "0")),
                queued=bool(spec.get("queued", False)),
                issued_at=_date(spec.get("issued_at")),
                due_at=_date(spec.get("due_at")),
                save=False,
            )
            if release and invoice.state != "QUEUED":
                store.release_invoice(invoice.id, save=False)
            ids.append(invoice.id)
        store.save()
    return ids


def release(store: TenantStore, ids: list[str] | None, entity_id: str | None = None) -> list[str]:
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


async def _body(request: Request) -> dict[str, Any]:
    if not await request.body():
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise TypeError("the body must be a JSON object")
    return body


def _error(exc: Exception) -> JSONResponse:
    message = str(exc)
    status = 404 if isinstance(exc, RuleViolation) and "not found" in message else 409
    if not isinstance(exc, RuleViolation):
        status = 400
    return JSONResponse({"error": message}, status_code=status)


def _invoice_state(invoice: Invoice) -> dict[str, Any]:
    return {"id": invoice.id, "state": invoice.state, "updated_at": invoice.updated_at.isoformat()}


def _payment_summary(store: TenantStore, payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "processing_state": payment.processing_state,
        "state": store.payment_state(payment),
        "amount": str(payment.amount),
        "applications": [
            {"invoice_id": a.invoice_id, "amount": str(a.amount)} for a in store.applications_of(payment.id)
        ],
        "unapplied": str(store.unapplied(payment)),
    }


def control_routes(store: TenantStore, faults: FaultBoard) -> list[Route]:
    """Every `/_emulator/...` route of one emulator."""

    async def create(request: Request) -> Response:
        try:
            spec = await _body(request)
            count = int(spec.pop("count", 1))
            do_release = bool(spec.pop("release", False))
            if not 1 <= count <= 100_000:
                return JSONResponse({"error": "count must be 1..100000"}, status_code=400)
            ids = await run_in_threadpool(create_invoices, store, spec, count, do_release)
        except BAD_INPUT as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ids": ids}, status_code=201)

    async def release_hook(request: Request) -> Response:
        body = await _body(request)
        try:
            released = await run_in_threadpool(
                release, store, body.get("ids"), body.get("entity_id") or body.get("entityId")
            )
        except RuleViolation as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"released": released})

    def invoice_action(act: Callable[[str, dict[str, Any]], dict[str, Any]], created: bool = False) -> Handler:
        async def hook(request: Request) -> Response:
            try:
                body = await _body(request)
                result = await run_in_threadpool(act, request.path_params["invoice_id"], body)
            except BAD_INPUT as exc:
                return _error(exc)
            return JSONResponse(result, status_code=201 if created else 200)

        return hook

    def refund(invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
        amounts = body.get("amounts")  # optional {invoice item id: net amount}: a partial refund
        try:
            parsed = {str(k): Decimal(str(v)) for k, v in amounts.items()} if amounts is not None else None
        except (InvalidOperation, AttributeError) as exc:
            raise ValueError(f"amounts must map item ids to amounts ({exc})") from exc
        note = store.refund_invoice(invoice_id, amounts=parsed)
        return {"credit_note_id": note.id, "number": note.number}

    def write_off(invoice_id: str, _body: dict[str, Any]) -> dict[str, Any]:
        note = store.write_off_invoice(invoice_id)
        return {"credit_note_id": note.id, "number": note.number, "amount": str(note.amount)}

    def credit(invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return _invoice_state(store.apply_credit(invoice_id, Decimal(str(body["amount"]))))

    async def consolidate(request: Request) -> Response:
        try:
            body = await _body(request)
            combined = await run_in_threadpool(store.consolidate_invoices, [str(i) for i in body.get("ids") or []])
        except BAD_INPUT as exc:
            return _error(exc)
        return JSONResponse(
            {"id": combined.id, "number": combined.number, "merged": combined.merged_invoice_ids}, status_code=201
        )

    async def take_payment(request: Request) -> Response:
        try:
            body = snake_attributes(await _body(request))
            invoices = body.get("invoices") or ([body["invoice"]] if body.get("invoice") else [])
            payment = await run_in_threadpool(
                lambda: store.take_payment(
                    account_id=str(body.get("account") or body.get("account_id") or "1"),
                    invoice_ids=[str(i) for i in invoices],
                    amount=Decimal(str(body["amount"])) if body.get("amount") is not None else None,
                    fees=Decimal(str(body.get("fees") or "0")),
                    processor=body.get("processor", "stripe"),
                    payment_type=body.get("payment_type", "card"),
                    pending=bool(body.get("pending", False)),
                    received_at=dt.datetime.fromisoformat(body["received_at"]) if body.get("received_at") else None,
                )
            )
        except BAD_INPUT as exc:
            return _error(exc)
        return JSONResponse(_payment_summary(store, payment), status_code=201)

    def payment_action(act: Callable[[str, dict[str, Any]], Any], created: bool = False) -> Handler:
        async def hook(request: Request) -> Response:
            try:
                body = await _body(request)
                result = await run_in_threadpool(act, request.path_params["payment_id"], body)
            except BAD_INPUT as exc:
                return _error(exc)
            return JSONResponse(result, status_code=201 if created else 200)

        return hook

    def complete(payment_id: str, _body: dict[str, Any]) -> dict[str, Any]:
        return _payment_summary(store, store.complete_payment(payment_id))

    def fail(payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        payment = store.fail_payment(payment_id, body.get("error_code"), body.get("error_message"))
        return _payment_summary(store, payment)

    def refund_payment(payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        amount = Decimal(str(body["amount"])) if body.get("amount") is not None else None
        notes = store.refund_payment(payment_id, amount)
        return {
            "credit_notes": [{"id": n.id, "invoice_id": n.credited_invoice_id, "amount": str(n.amount)} for n in notes]
        }

    async def options(request: Request) -> Response:
        if request.method == "POST":
            try:
                await run_in_threadpool(store.set_options, await _body(request))
            except BAD_INPUT as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(store.options.model_dump())

    async def fault_hook(request: Request) -> Response:
        if request.method == "DELETE":
            faults.clear()
            return JSONResponse({"cleared": True})
        try:
            spec = FaultSpec.model_validate(await request.json())
        except (ValidationError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        faults.add(spec)
        return JSONResponse({"armed": spec.model_dump(exclude_none=True)}, status_code=201)

    async def stats(_request: Request) -> Response:
        with store.lock:
            states: dict[str, int] = {}
            for invoice in store.tenant.invoices:
                states[invoice.state] = states.get(invoice.state, 0) + 1
            counts = {
                "invoices": len(store.tenant.invoices),
                "invoice_states": states,
                "financial_accounts": len(store.tenant.financial_accounts),
                "credit_notes": len(store.tenant.credit_notes),
                "payments": len(store.tenant.payments),
            }
        return JSONResponse({**faults.snapshot(), "tenant": counts})

    async def reset(_request: Request) -> Response:
        store.reset()
        faults.clear()
        faults.reset_stats()
        return JSONResponse({"reset": True})

    async def clock(request: Request) -> Response:
        body = await _body(request)
        when = body.get("now")
        try:
            parsed = dt.datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        store.set_clock(parsed)
        return JSONResponse({"now": store.now().isoformat()})

    def simple(method: Callable[[str], Invoice]) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
        return lambda invoice_id, _body: _invoice_state(method(invoice_id))

    return [
        Route("/_emulator/invoices", create, methods=["POST"]),
        Route("/_emulator/invoices/release", release_hook, methods=["POST"]),
        Route("/_emulator/invoices/consolidate", consolidate, methods=["POST"]),
        Route("/_emulator/invoices/{invoice_id}/void", invoice_action(simple(store.void_invoice)), methods=["POST"]),
        Route("/_emulator/invoices/{invoice_id}/pay", invoice_action(simple(store.pay_invoice)), methods=["POST"]),
        Route("/_emulator/invoices/{invoice_id}/refund", invoice_action(refund, created=True), methods=["POST"]),
        Route("/_emulator/invoices/{invoice_id}/write_off", invoice_action(write_off, created=True), methods=["POST"]),
        Route("/_emulator/invoices/{invoice_id}/credits", invoice_action(credit), methods=["POST"]),
        Route("/_emulator/payments", take_payment, methods=["POST"]),
        Route("/_emulator/payments/{payment_id}/complete", payment_action(complete), methods=["POST"]),
        Route("/_emulator/payments/{payment_id}/fail", payment_action(fail), methods=["POST"]),
        Route(
            "/_emulator/payments/{payment_id}/refund", payment_action(refund_payment, created=True), methods=["POST"]
        ),
        Route("/_emulator/options", options, methods=["GET", "POST"]),
        Route("/_emulator/faults", fault_hook, methods=["POST", "DELETE"]),
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/clock", clock, methods=["POST"]),
    ]
