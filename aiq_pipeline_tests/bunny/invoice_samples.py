"""Invoice JSON in the shape Bunny answers `InvoiceFields` with (money as JSON numbers, like the real API)."""

from __future__ import annotations

from typing import Any


def invoice_node(
    invoice_id: str,
    *,
    entity_id: str = "1",
    state: str = "NOT_DUE",
    updated_at: str = "2026-06-02T10:00:00Z",
    currency_id: str = "1",
    items: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    lines = items if items is not None else [item_node(f"{invoice_id}01")]
    subtotal = sum(line["amount"] for line in lines)
    tax = sum(line["taxAmount"] or 0 for line in lines)
    return {
        "id": invoice_id,
        "number": f"INV-{invoice_id}",
        "state": state,
        "issuedAt": "2026-06-01",
        "dueAt": "2026-07-01",
        "updatedAt": updated_at,
        "currencyId": currency_id,
        "baseCurrencyId": "1",
        "baseCurrencyTotal": round(subtotal + tax, 2),
        "subtotal": round(subtotal, 2),
        "taxAmount": round(tax, 2),
        "amount": round(subtotal + tax, 2),
        "url": f"https://tenant.bunny.test/invoices/{invoice_id}",
        "accountId": "77",
        "entity": {"id": entity_id},
        "account": {
            "id": "77",
            "code": "ACME",
            "name": "Acme Ltd",
            "currencyId": currency_id,
            "taxNumber": "IE123",
            "billingStreet": "1 Main St",
            "billingCity": "Dublin",
            "billingState": None,
            "billingZip": "D01",
            "billingCountry": "IE",
            "billingContact": {"firstName": "Ada", "lastName": "Byrne", "email": "ada@acme.test", "phone": None},
        },
        "invoiceItems": lines,
    }


def item_node(item_id: str, *, amount: float = 100.0, tax: float | None = 23.0, charge: str = "sub") -> dict[str, Any]:
    charge_node: dict[str, Any] = (
        {"__typename": "SubscriptionCharge", "priceListChargeId": "5", "priceListCharge": {"id": "5", "code": "SUB"}}
        if charge == "sub"
        else {"__typename": "QuoteCharge", "priceListChargeId": "6", "priceListCharge": {"id": "6", "code": "PRO"}}
    )
    return {
        "id": item_id,
        "lineText": "Subscription",
        "quantity": 1,
        "price": amount,
        "subtotal": amount,
        "discount": 0,
        "amount": amount,
        "taxAmount": tax,
        "taxRate": 23.0 if tax else None,
        "taxCode": "V01",
        "startDate": "2026-06-01",
        "endDate": "2026-06-30",
        "charge": charge_node,
    }


def ref_node(node: dict[str, Any]) -> dict[str, Any]:
    return {k: node[k] for k in ("id", "state", "updatedAt", "issuedAt", "entity")}
