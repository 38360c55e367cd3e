"""The emulator's tenant store: the rules of Bunny's objects, a lock, and atomic JSON persistence.

Every mutating method takes the lock, applies Bunny's rule (or raises `RuleViolation`, which the
GraphQL layer reports as a top-level error with the mutation's path) and then writes the state file
atomically (temp file + rename), so a restart resumes exactly where the last mutation left off.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiq_emulators.bunny.models import (
    CreditNote,
    CreditNoteItem,
    FinancialAccount,
    Invoice,
    InvoiceItem,
    IssuedToken,
    Tenant,
    cents,
)

STATE_FILE = "bunny-state.json"
VOIDABLE = ("NOT_DUE", "DUE", "UNPAID")
REFUNDABLE = ("NOT_DUE", "DUE", "UNPAID", "PROCESSING_PAYMENT", "PAID")

Clock = Callable[[], dt.datetime]


class RuleViolation(Exception):
    """A Bunny model/state rule refused the operation (reported as a GraphQL top-level error)."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _next_id(items: Iterable[Any]) -> str:
    return str(max((int(item.id) for item in items if str(item.id).isdigit()), default=0) + 1)


class TenantStore:
    def __init__(self, seed: Tenant, state_dir: Path | str | None = None, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        # Base of the `url`/`portalUrl` links; the app sets it from the address it is served on.
        self.public_url = "http://127.0.0.1"
        self._indexes: dict[str, tuple[int, int, dict[str, Any]]] = {}
        self._item_seq = 0
        self._item_seq_key = 0
        self._sequences: dict[str, tuple[int, int]] = {}
        self._seed = seed.model_copy(deep=True)
        self._clock = clock or _utc_now
        self._clock_offset = dt.timedelta(0)
        self.state_path = Path(state_dir) / STATE_FILE if state_dir is not None else None
        if self.state_path is not None and self.state_path.exists():
            self.tenant = Tenant.model_validate_json(self.state_path.read_text(encoding="utf-8"))
        else:
            self.tenant = self._seed.model_copy(deep=True)
            self.save()

    # -- time ---------------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return (self._clock() + self._clock_offset).astimezone(dt.UTC).replace(microsecond=0)

    def today(self) -> dt.date:
        return self.now().date()

    def set_clock(self, when: dt.datetime | None) -> None:
        """Shift the emulator's clock so that now() == `when` (None: back to real time)."""
        with self.lock:
            self._clock_offset = dt.timedelta(0) if when is None else when - self._clock()

    # -- persistence --------------------------------------------------------------------------------
    def save(self) -> None:
        if self.state_path is None:
            return
        with self.lock:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            payload = self.tenant.model_dump_json(indent=1)
            fd, tmp = tempfile.mkstemp(prefix=".bunny-state-", dir=self.state_path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp, self.state_path)

    def reset(self) -> None:
        with self.lock:
            self.tenant = self._seed.model_copy(deep=True)
            self._indexes.clear()
            self._sequences.clear()
            self._item_seq = 0
            self._clock_offset = dt.timedelta(0)
            self.save()

    # -- lookups ------------------------------------------------------------------------------------
    def find(self, collection: str, object_id: str | None = None, code: str | None = None) -> Any:
        if object_id is not None:
            return self._index(collection).get(object_id)
        for item in getattr(self.tenant, collection):
            if object_id is not None and item.id == object_id:
                return item
            if object_id is None and code is not None and getattr(item, "code", None) == code:
                return item
        return None

    def _index(self, collection: str) -> dict[str, Any]:
        # Id lookups stay O(1) for benchmark-sized tenants: extend the index when the list grew (appends),
        # rebuild it when the list was replaced or shrank.
        items = getattr(self.tenant, collection)
        cached = self._indexes.get(collection)
        if cached is None or cached[0] != id(items) or cached[1] > len(items):
            cached = (id(items), 0, {})
        index = cached[2]
        for item in items[cached[1] :]:
            index[str(item.id)] = item
        self._indexes[collection] = (id(items), len(items), index)
        return index

    def _allocate(self, collection: str) -> str:
        """Next numeric id of `collection` (high-water mark kept per list, so bulk creation stays linear)."""
        items = getattr(self.tenant, collection)
        last_key, last = self._sequences.get(collection, (0, 0))
        if last_key != id(items):
            last = int(_next_id(items)) - 1
        self._sequences[collection] = (id(items), last + 1)
        return str(last + 1)

    def entity(self, entity_id: str) -> Any:
        return self.find("entities", entity_id)

    # -- OAuth tokens -------------------------------------------------------------------------------
    def issue_token(self, client_id: str, scopes: list[str], lifetime: int) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            now = self.now()
            self.tenant.tokens = [t for t in self.tenant.tokens if t.expires_at > now]
            self.tenant.tokens.append(
                IssuedToken(
                    digest=_digest(token),
                    client_id=client_id,
                    scopes=scopes,
                    expires_at=now + dt.timedelta(seconds=lifetime),
                )
            )
            self.save()
        return token

    def token(self, token: str) -> IssuedToken | None:
        """The live token record for `token`, or None when unknown or expired."""
        digest = _digest(token)
        with self.lock:
            now = self.now()
            for record in self.tenant.tokens:
                if secrets.compare_digest(record.digest, digest):
                    return record if record.expires_at > now else None
        return None

    def expire_token(self, token: str) -> None:
        digest = _digest(token)
        with self.lock:
            self.tenant.tokens = [t for t in self.tenant.tokens if t.digest != digest]
            self.save()

    # -- invoices -----------------------------------------------------------------------------------
    def _touch(self, obj: Any) -> None:
        obj.updated_at = self.now()

    def _invoice(self, invoice_id: str) -> Invoice:
        invoice = self.find("invoices", invoice_id)
        if invoice is None:
            raise RuleViolation(f"Invoice {invoice_id} not found")
        return invoice

    def create_invoice(
        self,
        *,
        entity_id: str,
        account_id: str,
        items: list[dict[str, Any]],
        currency_id: str | None = None,
        net_payment_days: int | None = None,
        fx_rate: Decimal = Decimal("1"),
        save: bool = True,
    ) -> Invoice:
        """A new DRAFT invoice; each item is `{charge (code or id), quantity, price?, discount?, tax_rate?,
        tax_amount?, tax_code?, line_text?, start_date?, end_date?, charge_kind?}`."""
        with self.lock:
            account = self.find("accounts", account_id) or self.find("accounts", code=account_id)
            if account is None:
                raise RuleViolation(f"Account {account_id} not found")
            if self.entity(entity_id) is None:
                raise RuleViolation(f"Entity {entity_id} not found")
            next_item = int(self._next_item_id())
            lines: list[InvoiceItem] = []
            for position, spec in enumerate(items, start=1):
                spec = dict(spec)
                charge_ref = str(spec.pop("charge"))
                charge = self.find("price_list_charges", charge_ref) or self.find("price_list_charges", code=charge_ref)
                if charge is None:
                    raise RuleViolation(f"Price list charge {charge_ref} not found")
                spec.setdefault("price", charge.price)
                spec.setdefault("line_text", charge.name)
                lines.append(InvoiceItem(id=str(next_item), position=position, price_list_charge_id=charge.id, **spec))
                next_item += 1
            self._item_seq = next_item - 1
            now = self.now()
            invoice = Invoice(
                id=self._allocate("invoices"),
                uuid=str(uuid.uuid4()),
                entity_id=entity_id,
                account_id=account.id,
                currency_id=currency_id or account.currency_id,
                fx_rate=fx_rate,
                net_payment_days=account.net_payment_days if net_payment_days is None else net_payment_days,
                state="DRAFT",
                created_at=now,
                updated_at=now,
                items=lines,
            )
            self.tenant.invoices.append(invoice)
            if save:
                self.save()
            return invoice

    def _next_item_id(self) -> str:
        # Scanning every line is O(n); remember the high-water mark and only rescan when it looks stale.
        if self._item_seq == 0 or self._item_seq_key != id(self.tenant.invoices):
            self._item_seq = max(
                (int(item.id) for inv in self.tenant.invoices for item in inv.items if item.id.isdigit()), default=0
            )
            self._item_seq_key = id(self.tenant.invoices)
        return str(self._item_seq + 1)

    def release_invoice(self, invoice_id: str, save: bool = True) -> Invoice:
        """DRAFT -> (READY ->) NOT_DUE, or DUE when the due date is not in the future."""
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.state != "DRAFT":
                raise RuleViolation(f"Invoice {invoice_id} cannot be released from state {invoice.state}")
            today = self.today()
            entity = self.entity(invoice.entity_id)
            invoice.issued_at = invoice.issued_at or today
            invoice.due_at = invoice.due_at or invoice.issued_at + dt.timedelta(days=invoice.net_payment_days)
            if not invoice.number:
                invoice.number = f"{entity.invoice_number_prefix}{entity.invoice_number_seq}"
                entity.invoice_number_seq += 1
            invoice.state = "NOT_DUE" if invoice.due_at > today else "DUE"
            self._touch(invoice)
            if save:
                self.save()
            return invoice

    def void_invoice(self, invoice_id: str) -> Invoice:
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.state not in VOIDABLE:
                raise RuleViolation(f"Invoice {invoice_id} cannot be voided in state {invoice.state}")
            invoice.state = "VOIDED"
            self._touch(invoice)
            self.save()
            return invoice

    def pay_invoice(self, invoice_id: str) -> Invoice:
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.state not in ("NOT_DUE", "DUE", "UNPAID", "PROCESSING_PAYMENT"):
                raise RuleViolation(f"Invoice {invoice_id} cannot be paid in state {invoice.state}")
            invoice.state = "PAID"
            invoice.paid_at = self.now()
            self._touch(invoice)
            self.save()
            return invoice

    def update_invoice(self, invoice_id: str, attributes: dict[str, Any]) -> Invoice:
        with self.lock:
            invoice = self._invoice(invoice_id)
            for key in ("notes", "internal_notes", "po_number"):
                if key in attributes:
                    setattr(invoice, key, attributes[key])
            self._touch(invoice)
            self.save()
            return invoice

    def refund_invoice(
        self, invoice_id: str, dispute_reason_id: str | None = None, amounts: dict[str, Decimal] | None = None
    ) -> CreditNote:
        """A REFUND credit note for every line of the invoice (Bunny credits per invoice line).

        `amounts` (invoice item id -> net amount credited) makes a partial refund of just those lines, each with
        its share of the line's tax (rounded to cents), as Bunny's per-line credit note amounts do.
        """
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.state not in REFUNDABLE:
                raise RuleViolation(f"Invoice {invoice_id} cannot be refunded in state {invoice.state}")
            lines = [(item, item.amount, item.tax) for item in invoice.items]
            if amounts is not None:
                by_id = {item.id: item for item in invoice.items}
                unknown = sorted(set(amounts) - set(by_id))
                if unknown:
                    raise RuleViolation(f"Invoice {invoice_id} has no items {', '.join(unknown)}")
                lines = []
                for item_id, raw in amounts.items():
                    item, amount = by_id[item_id], cents(Decimal(raw))
                    if not Decimal(0) < amount <= item.amount:
                        raise RuleViolation(f"Credit for item {item_id} must be in (0, {item.amount}]")
                    tax = cents(item.tax * amount / item.amount) if item.amount else Decimal("0.00")
                    lines.append((item, amount, tax))
            entity = self.entity(invoice.entity_id)
            next_item = 1 + max(
                (int(i.id) for cn in self.tenant.credit_notes for i in cn.items if i.id.isdigit()), default=0
            )
            now = self.now()
            note = CreditNote(
                id=_next_id(self.tenant.credit_notes),
                uuid=str(uuid.uuid4()),
                number=f"{entity.credit_note_number_prefix}{entity.credit_note_number_seq:04d}",
                kind="REFUND",
                state="READY",
                entity_id=invoice.entity_id,
                account_id=invoice.account_id,
                currency_id=invoice.currency_id,
                credited_invoice_id=invoice.id,
                dispute_reason_id=dispute_reason_id,
                issued_at=self.today(),
                items=[
                    CreditNoteItem(
                        id=str(next_item + n),
                        invoice_item_id=item.id,
                        position=item.position,
                        line_text=item.line_text,
                        quantity=1,
                        price=amount,
                        tax_amount=tax,
                        tax_code=item.tax_code,
                        vat_code=item.vat_code,
                    )
                    for n, (item, amount, tax) in enumerate(lines)
                ],
                created_at=now,
                updated_at=now,
            )
            entity.credit_note_number_seq += 1
            self.tenant.credit_notes.append(note)
            self._touch(invoice)
            self.save()
            return note

    # -- financial accounts and charges ---------------------------------------------------------------
    def _check_code(self, entity_id: str, code: str | None, own_id: str | None) -> None:
        if not code:
            return
        for other in self.tenant.financial_accounts:
            if other.entity_id == entity_id and other.code == code and other.id != own_id:
                raise RuleViolation("Code has already been taken")

    def _apply_default(self, account: FinancialAccount) -> None:
        # One default per (entity, type): setting it on one account clears it on the others.
        if not account.default_account:
            return
        for other in self.tenant.financial_accounts:
            if (
                other.id != account.id
                and other.entity_id == account.entity_id
                and other.account_type == account.account_type
                and other.default_account
            ):
                other.default_account = False
                self._touch(other)

    def _map_charges(self, account: FinancialAccount, charge_ids: list[str]) -> None:
        # priceListChargeIds replaces the account's mapping (api-notes §5.2, assumption).
        for charge_id in charge_ids:
            if self.find("price_list_charges", charge_id) is None:
                raise RuleViolation(f"Price list charge {charge_id} not found")
        for charge in self.tenant.price_list_charges:
            if charge.id in charge_ids and charge.financial_account_id != account.id:
                charge.financial_account_id = account.id
                self._touch(charge)
            elif charge.id not in charge_ids and charge.financial_account_id == account.id:
                charge.financial_account_id = None
                self._touch(charge)

    _FA_FIELDS = (
        "code",
        "name",
        "description",
        "account_number",
        "account_type",
        "active",
        "default_account",
        "external_id",
        "source",
        "plugin_id",
    )

    def create_financial_account(self, attributes: dict[str, Any]) -> FinancialAccount:
        with self.lock:
            missing = [key for key in ("name", "account_type", "entity_id") if not attributes.get(key)]
            if missing:
                raise RuleViolation(", ".join(f"{camel_label(key)} can't be blank" for key in missing))
            entity_id = str(attributes["entity_id"])
            if self.entity(entity_id) is None:
                raise RuleViolation("Entity must exist")
            self._check_code(entity_id, attributes.get("code"), None)
            now = self.now()
            account = FinancialAccount(
                id=_next_id(self.tenant.financial_accounts),
                entity_id=entity_id,
                created_at=now,
                updated_at=now,
                **{key: attributes[key] for key in self._FA_FIELDS if attributes.get(key) is not None},
            )
            self.tenant.financial_accounts.append(account)
            self._apply_default(account)
            if attributes.get("price_list_charge_ids") is not None:
                self._map_charges(account, [str(i) for i in attributes["price_list_charge_ids"]])
            self.save()
            return account

    def update_financial_account(self, account_id: str, attributes: dict[str, Any]) -> FinancialAccount:
        with self.lock:
            account = self.find("financial_accounts", account_id)
            if account is None:
                raise RuleViolation(f"Financial account {account_id} not found")
            entity_id = str(attributes.get("entity_id") or account.entity_id)
            if self.entity(entity_id) is None:
                raise RuleViolation("Entity must exist")
            code = attributes.get("code", account.code)
            self._check_code(entity_id, code, account.id)
            for key in ("name", "account_type"):
                if key in attributes and not attributes[key]:
                    raise RuleViolation(f"{camel_label(key)} can't be blank")
            account.entity_id = entity_id
            for key in self._FA_FIELDS:
                if key in attributes:
                    setattr(account, key, attributes[key])
            self._apply_default(account)
            if attributes.get("price_list_charge_ids") is not None:
                self._map_charges(account, [str(i) for i in attributes["price_list_charge_ids"]])
            self._touch(account)
            self.save()
            return account

    def delete_financial_account(self, account_id: str) -> FinancialAccount:
        with self.lock:
            account = self.find("financial_accounts", account_id)
            if account is None:
                raise RuleViolation(f"Financial account {account_id} not found")
            self.tenant.financial_accounts.remove(account)
            self._indexes.pop("financial_accounts", None)  # a later append could restore the length
            for charge in self.tenant.price_list_charges:
                if charge.financial_account_id == account.id:
                    charge.financial_account_id = None
                    self._touch(charge)
            self.save()
            return account

    def update_price_list_charge(self, charge_id: str, attributes: dict[str, Any]) -> Any:
        with self.lock:
            charge = self.find("price_list_charges", charge_id)
            if charge is None:
                raise RuleViolation(f"Price list charge {charge_id} not found")
            target = attributes.get("financial_account_id")
            if target is not None and self.find("financial_accounts", str(target)) is None:
                raise RuleViolation("Financial account must exist")
            for key in ("financial_account_id", "tax_code", "accounting_code", "name", "code", "price"):
                if key in attributes:
                    value = attributes[key]
                    if key == "financial_account_id" and value is not None:
                        value = str(value)
                    if key == "price" and value is not None:
                        value = Decimal(str(value))
                    setattr(charge, key, value)
            self._touch(charge)
            self.save()
            return charge


def camel_label(key: str) -> str:
    """`account_type` -> `Account type` (Rails' humanized attribute name in validation messages)."""
    return key.replace("_", " ").capitalize()
