"""Bunny JSON (already parsed with `parse_float=Decimal`) -> the typed models of `models.py`.

Money never passes through float: the response text is parsed with `json.loads(text, parse_float=Decimal)`
(see `graphql_http.decode_json`), so `12.10` arrives as `Decimal("12.10")`; whole numbers arrive as `int`
and become exact Decimals here. ISO 4217 codes are resolved by the caller-supplied `currency_code`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiq_pipeline.bunny.errors import BunnyQueryError
from aiq_pipeline.bunny.models import (
    Account,
    Contact,
    CreditNote,
    CreditNoteItem,
    Currency,
    Entity,
    FinancialAccount,
    Invoice,
    InvoiceItem,
    InvoiceRef,
    NumberedDocument,
    Payment,
    PaymentApplication,
    PriceListCharge,
)

Node = Mapping[str, Any]
CurrencyResolver = Callable[[str], str]


class DecodingError(BunnyQueryError):
    """A value in Bunny's answer does not have the type the SDL promises."""


def money(value: Any) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int):
        raise DecodingError(f"expected a JSON number for money, got {type(value).__name__}")
    return Decimal(value)


def optional_money(value: Any) -> Decimal | None:
    return None if value is None else money(value)


def optional_date(value: Any) -> date | None:
    """`ISO8601Date` ("YYYY-MM-DD")."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise DecodingError(f"not an ISO 8601 date: {value!r}") from exc


def timestamp(value: Any) -> datetime:
    """`ISO8601DateTime` -> aware datetime; accepts `Z` and `+hh:mm`. A missing offset is read as UTC
    (graphql-ruby always sends one; Rails stores UTC)."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise DecodingError(f"not an ISO 8601 datetime: {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def optional_timestamp(value: Any) -> datetime | None:
    return None if value is None else timestamp(value)


def _id(value: Any) -> str:
    if value is None:
        raise DecodingError("missing id")
    return str(value)


def _optional_id(value: Any) -> str | None:
    return None if value is None else str(value)


def _flag(value: Any) -> bool:
    """A `Boolean!`; null (a field this server does not send) reads as false."""
    if value is None or isinstance(value, bool):
        return bool(value)
    raise DecodingError(f"expected a JSON boolean, got {type(value).__name__}")


def _optional_flag(value: Any) -> bool | None:
    return None if value is None else _flag(value)


def _ref_id(node: Any) -> str | None:
    """The id of a nested `{ id }` object, or None."""
    return _optional_id(node.get("id")) if isinstance(node, Mapping) else None


def currency(node: Node) -> Currency:
    return Currency(id=_id(node.get("id")), iso_code=node["isoCode"], name=node.get("name"))


def entity(node: Node, currency_code: CurrencyResolver) -> Entity:
    base = node.get("baseCurrencyId")
    return Entity(
        id=_id(node.get("id")),
        name=node.get("name") or "",
        base_currency_code=currency_code(str(base)) if base is not None else None,
    )


def invoice_ref(node: Node) -> InvoiceRef:
    return InvoiceRef(
        id=_id(node.get("id")),
        state=node["state"],
        updated_at=timestamp(node["updatedAt"]),
        issued_at=optional_date(node.get("issuedAt")),
        entity_id=_optional_id((node.get("entity") or {}).get("id")),
        merged_to_invoice_id=_ref_id(node.get("mergedToInvoice")),
        credits=optional_money(node.get("credits")),
    )


def contact(node: Node | None) -> Contact | None:
    if node is None:
        return None
    return Contact(
        first_name=node.get("firstName"),
        last_name=node.get("lastName"),
        email=node.get("email"),
        phone=node.get("phone"),
    )


def account(node: Node | None, currency_code: CurrencyResolver) -> Account | None:
    if node is None:
        return None
    currency_id = node.get("currencyId")
    return Account(
        id=_id(node.get("id")),
        name=node.get("name") or "",
        code=node.get("code"),
        currency_code=currency_code(str(currency_id)) if currency_id is not None else None,
        billing_street=node.get("billingStreet"),
        billing_city=node.get("billingCity"),
        billing_state=node.get("billingState"),
        billing_zip=node.get("billingZip"),
        billing_country=node.get("billingCountry"),
        tax_number=node.get("taxNumber"),
        billing_contact=contact(node.get("billingContact")),
        entity_id=_optional_id(node.get("entityId")),
        tax_number_validated=_optional_flag(node.get("taxNumberValidated")),
    )


def invoice_item(node: Node) -> InvoiceItem:
    charge = node.get("charge") or {}
    price_list_charge = charge.get("priceListCharge") or {}
    return InvoiceItem(
        id=_id(node.get("id")),
        line_text=node.get("lineText"),
        quantity=node.get("quantity"),
        price=optional_money(node.get("price")),
        subtotal=money(node["subtotal"]),
        amount=money(node["amount"]),
        # Nullable in the SDL; a line without tax has none to post.
        tax_amount=optional_money(node.get("taxAmount")) or Decimal(0),
        tax_rate=optional_money(node.get("taxRate")),
        tax_code=node.get("taxCode"),
        price_list_charge_id=_optional_id(price_list_charge.get("id") or charge.get("priceListChargeId")),
        price_list_charge_code=price_list_charge.get("code"),
        start_date=optional_date(node.get("startDate")),
        end_date=optional_date(node.get("endDate")),
        discount=optional_money(node.get("discount")),
        charge_type=charge.get("__typename"),
        position=node.get("position"),
        vat_code=node.get("vatCode"),
        is_credit=_flag(node.get("isCredit")),
        is_coupon=_flag(node.get("isCoupon")),
        coupon_id=_optional_id(node.get("couponId")),
        kind=node.get("kind"),
        proration_rate=optional_money(node.get("prorationRate")),
        credited_item_id=_ref_id(node.get("creditedItem")),
    )


def numbered_document(node: Node) -> NumberedDocument:
    """An `InvoiceNumbers` node (`entity { id }`) or a `CreditNoteNumbers` node (`entityId`)."""
    entity_id = _ref_id(node.get("entity")) if "entity" in node else _optional_id(node.get("entityId"))
    return NumberedDocument(
        id=_id(node.get("id")), number=str(node.get("number") or ""), state=node["state"], entity_id=entity_id
    )


def invoice(node: Node, currency_code: CurrencyResolver) -> Invoice:
    base_currency_id = node.get("baseCurrencyId")
    return Invoice(
        id=_id(node.get("id")),
        number=node.get("number"),
        state=node["state"],
        entity_id=_id((node.get("entity") or {}).get("id")),
        account_id=_id(node.get("accountId")),
        currency_code=currency_code(str(node["currencyId"])),
        issued_at=optional_date(node.get("issuedAt")),
        due_at=optional_date(node.get("dueAt")),
        subtotal=money(node["subtotal"]),
        tax_amount=money(node["taxAmount"]),
        amount=money(node["amount"]),
        updated_at=timestamp(node["updatedAt"]),
        account=account(node.get("account"), currency_code),
        items=tuple(invoice_item(item) for item in node.get("invoiceItems") or ()),
        base_currency_code=currency_code(str(base_currency_id)) if base_currency_id is not None else None,
        base_currency_total=optional_money(node.get("baseCurrencyTotal")),
        url=node.get("url"),
        credits=optional_money(node.get("credits")),
        amount_due=optional_money(node.get("amountDue")),
        amount_paid=optional_money(node.get("amountPaid")),
        tax_rate=optional_money(node.get("taxRate")),
        coupon_applied=_flag(node.get("couponApplied")),
        paid_at=optional_timestamp(node.get("paidAt")),
        merged_to_invoice_id=_ref_id(node.get("mergedToInvoice")),
        merged_invoice_ids=tuple(i for i in (_ref_id(m) for m in node.get("mergedInvoices") or ()) if i),
        payment_applications=tuple(
            payment_application(a, currency_code) for a in node.get("paymentApplications") or () if a
        ),
    )


def credit_note_item(node: Node) -> CreditNoteItem:
    return CreditNoteItem(
        invoice_item_id=_optional_id(node.get("invoiceItemId")),
        line_text=node.get("lineText"),
        subtotal=money(node["subtotal"]),
        amount=money(node["amount"]),
        tax_amount=optional_money(node.get("taxAmount")) or Decimal(0),
        tax_code=node.get("taxCode"),
        id=_optional_id(node.get("id")),
        quantity=node.get("quantity"),
        price=optional_money(node.get("price")),
        vat_code=node.get("vatCode"),
    )


def credit_note(node: Node, currency_code: CurrencyResolver) -> CreditNote:
    currency_id = node.get("currencyId")
    return CreditNote(
        id=_id(node.get("id")),
        number=node.get("number"),
        state=node["state"],
        kind=node.get("kind"),
        entity_id=_optional_id(node.get("entityId")),
        account_id=_id(node.get("accountId")),
        credited_invoice_id=_optional_id(node.get("creditedInvoiceId")),
        currency_code=currency_code(str(currency_id)) if currency_id is not None else None,
        issued_at=optional_date(node.get("issuedAt")),
        subtotal=money(node["subtotal"]),
        tax_amount=money(node["taxAmount"]),
        amount=money(node["amount"]),
        updated_at=timestamp(node["updatedAt"]),
        items=tuple(credit_note_item(item) for item in node.get("creditNoteItems") or ()),
        amount_applied=optional_money(node.get("amountApplied")),
        amount_unapplied=optional_money(node.get("amountUnapplied")),
    )


def _currency_or_none(node: Node, currency_code: CurrencyResolver) -> str | None:
    currency_id = node.get("currencyId")
    return currency_code(str(currency_id)) if currency_id is not None else None


def payment_application(node: Node, currency_code: CurrencyResolver) -> PaymentApplication:
    return PaymentApplication(
        id=_id(node.get("id")),
        payment_id=_optional_id(node.get("paymentId")),
        invoice_id=_optional_id(node.get("invoiceId")),
        amount=optional_money(node.get("amount")),
        currency_code=_currency_or_none(node, currency_code),
        payment_type=node.get("paymentType"),
        created_at=optional_timestamp(node.get("createdAt")),
        updated_at=optional_timestamp(node.get("updatedAt")),
    )


def payment(node: Node, currency_code: CurrencyResolver, applications: tuple[PaymentApplication, ...] = ()) -> Payment:
    return Payment(
        id=_id(node.get("id")),
        entity_id=_ref_id(node.get("entity")),
        account_id=_optional_id(node.get("accountId")),
        currency_code=_currency_or_none(node, currency_code),
        amount=money(node["amount"]),
        fees=optional_money(node.get("fees")),
        amount_unapplied=optional_money(node.get("amountUnapplied")),
        state=node["state"],
        processing_state=node["processingState"],
        payment_processor=node.get("paymentProcessor"),
        received_at=optional_timestamp(node.get("receivedAt")),
        completed_at=optional_timestamp(node.get("completedAt")),
        updated_at=timestamp(node["updatedAt"]),
        created_at=optional_timestamp(node.get("createdAt")),
        remote_transaction_id=node.get("remoteTransactionId"),
        applications=applications,
        account=account(node.get("account"), currency_code),
    )


def financial_account(node: Node) -> FinancialAccount:
    return FinancialAccount(
        id=_id(node.get("id")),
        code=node.get("code"),
        name=node.get("name"),
        account_type=node.get("accountType"),
        active=node.get("active") is not False,  # null: Bunny's default, active
        default_account=bool(node.get("defaultAccount")),
        entity_id=_id(node.get("entityId")),
        external_id=node.get("externalId"),
        source=node.get("source"),
        description=node.get("description"),
        price_list_charge_ids=tuple(str(i) for i in node.get("priceListChargeIds") or ()),
    )


def price_list_charge(node: Node) -> PriceListCharge:
    account_node = node.get("financialAccount") or {}
    return PriceListCharge(
        id=_id(node.get("id")),
        code=node.get("code"),
        name=node.get("name"),
        financial_account_id=_optional_id(node.get("financialAccountId") or account_node.get("id")),
        financial_account_code=account_node.get("code"),
        tax_code=node.get("taxCode"),
    )
