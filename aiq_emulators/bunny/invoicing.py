"""Bunny's rules for invoices and their credit notes: create, release, void, pay, refund, write off, apply
account credit, consolidate. What GraphQL then shows of them is computed in `money.py` from the money table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from aiq_emulators.bunny.core import RuleViolation, StoreCore, next_id
from aiq_emulators.bunny.models import CreditNote, CreditNoteItem, Invoice, InvoiceItem, cents
from aiq_emulators.bunny.money import ZERO, ShownInvoice, allocate, invoice_figures

VOIDABLE = ("NOT_DUE", "DUE", "UNPAID")
REFUNDABLE = ("NOT_DUE", "DUE", "UNPAID", "PROCESSING_PAYMENT", "PAID")
WRITE_OFF_FROM = ("NOT_DUE", "DUE", "UNPAID")
PAYABLE = ("NOT_DUE", "DUE", "UNPAID", "PROCESSING_PAYMENT")
ITEM_KEYS = frozenset(set(InvoiceItem.model_fields) - {"id", "position", "price_list_charge_id", "credited_item_id"})


# The rate a control-created line is taxed at unless its spec names a rate, a tax code or a tax amount: the sample
# tenant's standard rate (its AIQ default code V01 is 23 % too).
DEFAULT_TAX_RATE = Decimal(23)


class Invoicing(StoreCore):
    # -- reading ------------------------------------------------------------------------------------
    def _invoice(self, invoice_id: str) -> Invoice:
        invoice = self.find("invoices", invoice_id)
        if invoice is None:
            raise RuleViolation(f"Invoice {invoice_id} not found")
        return invoice

    def charge_tax_code(self, charge_id: str) -> str | None:
        charge = self.find("price_list_charges", charge_id)
        return charge.tax_code if charge is not None else None

    def written_off(self, invoice_id: str) -> Decimal:
        return sum(
            (
                n.amount
                for n in self.tenant.credit_notes
                if n.credited_invoice_id == invoice_id and n.kind == "WRITE_OFF"
            ),
            ZERO,
        )

    def refunded(self, invoice_id: str) -> Decimal:
        """The gross the invoice's REFUND credit notes already credit."""
        return sum(
            (n.amount for n in self.tenant.credit_notes if n.credited_invoice_id == invoice_id and n.kind == "REFUND"),
            ZERO,
        )

    def refundable(self, invoice: Invoice) -> Decimal | None:
        """What a refund of the invoice may still credit: its amountPaid less earlier refunds (Bunny's docs, credit
        notes page: a refund is "up to the paid amount"), or None (no bound) under refund_bound="none"."""
        if self.options.refund_bound == "none":
            return None
        return max(ZERO, self.figures(invoice).amount_paid - self.refunded(invoice.id))

    def _check_refund(self, invoice: Invoice, amount: Decimal) -> None:
        """Refuse a refund beyond what was paid on the invoice (refund_bound="paid"; UNVERIFIED that Bunny does)."""
        left = self.refundable(invoice)
        if left is not None and amount > left:
            paid, earlier = self.figures(invoice).amount_paid, self.refunded(invoice.id)
            raise RuleViolation(
                f"Invoice {invoice.id} cannot be refunded {amount}: a refund is up to the paid amount, and its "
                f"amountPaid {paid} less {earlier} already refunded leaves {left}"
            )

    def figures(self, invoice: Invoice) -> ShownInvoice:
        """The invoice's money and state fields as GraphQL shows them under the current options."""
        return invoice_figures(
            invoice, self.options, written_off=self.written_off(invoice.id), charge_tax_code=self.charge_tax_code
        )

    # -- creating -----------------------------------------------------------------------------------
    def create_invoice(
        self,
        *,
        entity_id: str,
        account_id: str,
        items: list[dict[str, Any]],
        currency_id: str | None = None,
        net_payment_days: int | None = None,
        fx_rate: Decimal = Decimal("1"),
        coupons: Sequence[Mapping[str, Any]] = (),
        credits: Decimal = ZERO,
        queued: bool = False,
        issued_at: dt.date | None = None,
        due_at: dt.date | None = None,
        save: bool = True,
    ) -> Invoice:
        """A new DRAFT (or, with `queued`, QUEUED) invoice.

        Each item is `{charge (code or id), quantity, price?, discount?, tax_rate? (percent), tax_amount?, tax_code?,
        vat_code?, line_text?, start_date?, end_date?, charge_kind?, is_credit?, is_coupon?, coupon_id?, kind?,
        proration_rate? (fraction), credits_line? (1-based position of the line a credit line credits), comment?}`.
        Credit and coupon lines carry a negative price. Each coupon is `{code, percent | amount, tax_rate?,
        tax_code?}` and becomes an isCoupon line (shown per `coupon_shape`). `credits` is account credit applied.
        """
        with self.lock:
            account = self.find("accounts", account_id) or self.find("accounts", code=account_id)
            if account is None:
                raise RuleViolation(f"Account {account_id} not found")
            if self.entity(entity_id) is None:
                raise RuleViolation(f"Entity {entity_id} not found")
            lines = self._lines(items)
            lines += self._coupon_lines(lines, coupons, start=len(lines) + 1)
            self._item_seq = int(lines[-1].id) if lines else self._item_seq
            now = self.now()
            invoice = Invoice(
                id=self._allocate("invoices"),
                uuid=str(uuid.uuid4()),
                entity_id=entity_id,
                account_id=account.id,
                currency_id=currency_id or account.currency_id,
                fx_rate=fx_rate,
                net_payment_days=account.net_payment_days if net_payment_days is None else net_payment_days,
                state="QUEUED" if queued else "DRAFT",
                issued_at=issued_at,
                due_at=due_at,
                created_at=now,
                updated_at=now,
                items=lines,
            )
            self._check_credits(invoice, cents(credits))
            invoice.credits_applied = cents(credits)
            self.tenant.invoices.append(invoice)
            if save:
                self.save()
            return invoice

    def _lines(self, specs: Sequence[Mapping[str, Any]]) -> list[InvoiceItem]:
        next_item = int(self._next_item_id())
        lines: list[InvoiceItem] = []
        for position, raw in enumerate(specs, start=1):
            spec = dict(raw)
            charge_ref = str(spec.pop("charge", ""))
            charge = self.find("price_list_charges", charge_ref) or self.find("price_list_charges", code=charge_ref)
            if charge is None:
                raise RuleViolation(f"Price list charge {charge_ref or '(none)'} not found")
            credits_line = spec.pop("credits_line", None)
            unknown = sorted(set(spec) - ITEM_KEYS)
            if unknown:
                raise RuleViolation(f"Unknown item attributes: {', '.join(unknown)}")
            spec.setdefault("price", charge.price)
            spec.setdefault("line_text", charge.name)
            if "tax_code" not in spec and "tax_amount" not in spec:
                # Like Bunny's Simple Tax: a rate per line and no tax code (DEFAULT_TAX_RATE unless the spec says).
                spec.setdefault("tax_rate", DEFAULT_TAX_RATE)
            item = InvoiceItem(
                id=str(next_item + position - 1), position=position, price_list_charge_id=charge.id, **spec
            )
            if (item.is_credit or item.is_coupon) and item.price > 0:
                raise RuleViolation(f"Line {position}: credit and coupon lines carry a negative price")
            if credits_line is not None:
                if not 1 <= int(credits_line) < position:
                    raise RuleViolation(f"Line {position}: credits_line must name an earlier line")
                item.credited_item_id = lines[int(credits_line) - 1].id
            lines.append(item)
        return lines

    def _coupon_lines(
        self, lines: list[InvoiceItem], coupons: Sequence[Mapping[str, Any]], start: int
    ) -> list[InvoiceItem]:
        """Coupons as isCoupon lines. Percentage: that share of the purchase; amount: at most the purchase, the
        rest of the coupon is discarded (Bunny's docs, coupons page)."""
        purchase = sum((line.net for line in lines if line.net > 0), ZERO)
        first = next((line for line in lines if line.net > 0), None)
        if coupons and first is None:
            raise RuleViolation("A coupon needs a line to discount")
        out: list[InvoiceItem] = []
        for n, coupon in enumerate(coupons):
            spec = dict(coupon)
            if ("percent" in spec) == ("amount" in spec):
                raise RuleViolation("A coupon has either a percent or an amount")
            if "percent" in spec:
                value = cents(purchase * Decimal(str(spec["percent"])) / 100)
            else:
                value = min(cents(Decimal(str(spec["amount"]))), purchase)
            purchase -= value
            assert first is not None
            out.append(
                InvoiceItem(
                    id=str(int(lines[-1].id if lines else self._next_item_id()) + n + 1),
                    position=start + n,
                    price_list_charge_id=first.price_list_charge_id,
                    charge_kind=first.charge_kind,
                    line_text=str(spec.get("line_text") or f"Coupon {spec.get('code') or ''}".strip()),
                    price=-value,
                    tax_rate=Decimal(str(spec["tax_rate"])) if "tax_rate" in spec else first.tax_rate,
                    tax_code=spec.get("tax_code", first.tax_code),
                    is_coupon=True,
                    coupon_id=str(spec["code"]) if spec.get("code") else None,
                    kind="COUPON",
                )
            )
        return out

    def _next_item_id(self) -> str:
        # Scanning every line is O(n); remember the high-water mark and only rescan when it looks stale.
        if self._item_seq == 0 or self._item_seq_key != id(self.tenant.invoices):
            self._item_seq = max(
                (int(item.id) for inv in self.tenant.invoices for item in inv.items if item.id.isdigit()), default=0
            )
            self._item_seq_key = id(self.tenant.invoices)
        return str(self._item_seq + 1)

    def _check_credits(self, invoice: Invoice, credits: Decimal) -> None:
        gross = self.figures(invoice).gross
        if credits < 0 or credits > max(gross, ZERO):
            raise RuleViolation(f"Credits applied must be between 0 and the invoice total {gross}")

    # -- lifecycle ----------------------------------------------------------------------------------
    def release_invoice(self, invoice_id: str, save: bool = True) -> Invoice:
        """DRAFT -> (READY ->) NOT_DUE, or DUE when the due date is not in the future; an invoice with nothing to
        pay goes to PAID under zero_invoice_state="paid"."""
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.state != "DRAFT":
                raise RuleViolation(f"Invoice {invoice_id} cannot be released from state {invoice.state}")
            self._issue(invoice)
            if save:
                self.save()
            return invoice

    def _issue(self, invoice: Invoice) -> None:
        today = self.today()
        entity = self.entity(invoice.entity_id)
        invoice.issued_at = invoice.issued_at or today
        invoice.due_at = invoice.due_at or invoice.issued_at + dt.timedelta(days=invoice.net_payment_days)
        if not invoice.number:
            invoice.number = f"{entity.invoice_number_prefix}{entity.invoice_number_seq}"
            entity.invoice_number_seq += 1
        invoice.state = "NOT_DUE" if invoice.due_at > today else "DUE"
        if self.options.zero_invoice_state == "paid" and self.figures(invoice).amount_due == 0:
            invoice.state, invoice.paid_at, invoice.amount_paid = "PAID", self.now(), ZERO
        self._touch(invoice)

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
        """Paid in full, outside any payment object (the `/pay` control route)."""
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.state not in PAYABLE:
                raise RuleViolation(f"Invoice {invoice_id} cannot be paid in state {invoice.state}")
            figures = self.figures(invoice)
            invoice.amount_paid = figures.amount_paid + figures.amount_due
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

    def apply_credit(self, invoice_id: str, amount: Decimal) -> Invoice:
        """Account credit applied to an issued invoice: `credits` grows, `amountDue` falls (row Invoice.credits)."""
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.state not in PAYABLE:
                raise RuleViolation(f"Invoice {invoice_id} cannot take credit in state {invoice.state}")
            figures = self.figures(invoice)
            amount = cents(amount)
            if not ZERO < amount <= figures.amount_due:
                raise RuleViolation(f"Credit must be in (0, {figures.amount_due}]")
            invoice.credits_applied = cents(invoice.credits_applied + amount)
            if amount == figures.amount_due:
                invoice.state, invoice.paid_at = "PAID", self.now()
                invoice.amount_paid = figures.amount_paid
            self._touch(invoice)
            self.save()
            return invoice

    def consolidate_invoices(self, invoice_ids: Sequence[str]) -> Invoice:
        """A bill run for consolidated billing: the QUEUED invoices become one new, issued invoice holding all
        their lines; each queued invoice becomes CONSOLIDATED and names it (Bunny's docs, consolidated billing;
        how the states read is the `consolidation` option)."""
        with self.lock:
            parts = [self._invoice(str(i)) for i in invoice_ids]
            if not parts:
                raise RuleViolation("Nothing to consolidate")
            if any(p.state != "QUEUED" for p in parts):
                raise RuleViolation("Only QUEUED invoices can be consolidated")
            first = parts[0]
            if {(p.account_id, p.currency_id, p.entity_id) for p in parts} != {
                (first.account_id, first.currency_id, first.entity_id)
            }:
                raise RuleViolation("Consolidated invoices share one account, currency and entity")
            next_item = int(self._next_item_id())
            lines = [
                item.model_copy(update={"id": str(next_item + n), "position": n + 1, "credited_item_id": None})
                for n, item in enumerate(i for p in parts for i in p.items)
            ]
            self._item_seq = next_item + len(lines) - 1
            now = self.now()
            combined = Invoice(
                id=self._allocate("invoices"),
                uuid=str(uuid.uuid4()),
                entity_id=first.entity_id,
                account_id=first.account_id,
                currency_id=first.currency_id,
                fx_rate=first.fx_rate,
                net_payment_days=first.net_payment_days,
                state="DRAFT",
                created_at=now,
                updated_at=now,
                items=lines,
                credits_applied=sum((p.credits_applied for p in parts), ZERO),
                merged_invoice_ids=[p.id for p in parts],
            )
            self.tenant.invoices.append(combined)
            self._issue(combined)
            for part in parts:
                part.state, part.merged_to_invoice_id = "CONSOLIDATED", combined.id
                self._touch(part)
            self.save()
            return combined

    # -- credit notes -------------------------------------------------------------------------------
    def refund_invoice(
        self, invoice_id: str, dispute_reason_id: str | None = None, amounts: dict[str, Decimal] | None = None
    ) -> CreditNote:
        """A REFUND credit note crediting the invoice per line (Bunny credits per invoice line).

        Without `amounts` it credits the whole invoice: every line at its amount and tax, or, when the invoice has
        negative lines, its total spread over the positive lines. `amounts` (invoice item id -> net amount
        credited) makes a partial refund of just those lines, each with its share of the line's tax. Under
        refund_bound="paid" (the default) a refund beyond what was paid on the invoice is refused.
        """
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.state not in REFUNDABLE:
                raise RuleViolation(f"Invoice {invoice_id} cannot be refunded in state {invoice.state}")
            figures = self.figures(invoice)
            if amounts is None:
                lines = allocate([(i.item.id, i.net, i.tax) for i in figures.items], figures.gross)
            else:
                lines = self._partial_lines(invoice, figures, amounts)
            self._check_refund(invoice, sum((net + tax for _id, net, tax in lines), ZERO))
            note = self._credit_note(invoice, "REFUND", "READY", lines, dispute_reason_id)
            self.save()
            return note

    def _partial_lines(
        self, invoice: Invoice, figures: ShownInvoice, amounts: Mapping[str, Decimal]
    ) -> list[tuple[str, Decimal, Decimal]]:
        by_id = {shown.item.id: shown for shown in figures.items}
        unknown = sorted(set(amounts) - set(by_id))
        if unknown:
            raise RuleViolation(f"Invoice {invoice.id} has no items {', '.join(unknown)}")
        lines = []
        for item_id, raw in amounts.items():
            line, amount = by_id[item_id], cents(Decimal(raw))
            if not ZERO < amount <= line.net:
                raise RuleViolation(f"Credit for item {item_id} must be in (0, {line.net}]")
            lines.append((item_id, amount, cents(line.tax * amount / line.net)))
        return lines

    def write_off_invoice(self, invoice_id: str, dispute_reason_id: str | None = None) -> CreditNote:
        """A WRITE_OFF credit note for the total unpaid amount, per line, applied to the invoice at once; the
        invoice moves to PAID when it had payments, else UNPAID, and owes nothing (Bunny's docs, credit notes)."""
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.state not in WRITE_OFF_FROM:
                raise RuleViolation(f"Invoice {invoice_id} cannot be written off in state {invoice.state}")
            figures = self.figures(invoice)
            if figures.amount_due <= 0:
                raise RuleViolation(f"Invoice {invoice_id} has nothing unpaid to write off")
            lines = allocate([(i.item.id, i.net, i.tax) for i in figures.items], figures.amount_due)
            note = self._credit_note(invoice, "WRITE_OFF", "APPLIED", lines, dispute_reason_id)
            invoice.amount_paid = figures.amount_paid
            invoice.state = "PAID" if figures.amount_paid > 0 else "UNPAID"
            self._touch(invoice)
            self.save()
            return note

    def _credit_note(
        self,
        invoice: Invoice,
        kind: str,
        state: str,
        lines: Sequence[tuple[str, Decimal, Decimal]],
        dispute_reason_id: str | None,
    ) -> CreditNote:
        if not lines:
            raise RuleViolation(f"Invoice {invoice.id} has nothing to credit")
        entity = self.entity(invoice.entity_id)
        by_id = {shown.item.id: shown for shown in self.figures(invoice).items}
        next_item = 1 + max(
            (int(i.id) for cn in self.tenant.credit_notes for i in cn.items if i.id.isdigit()), default=0
        )
        now = self.now()
        try:
            note = CreditNote.model_validate(
                {
                    "id": next_id(self.tenant.credit_notes),
                    "uuid": str(uuid.uuid4()),
                    "number": f"{entity.credit_note_number_prefix}{entity.credit_note_number_seq:04d}",
                    "kind": kind,
                    "state": state,
                    "entity_id": invoice.entity_id,
                    "account_id": invoice.account_id,
                    "currency_id": invoice.currency_id,
                    "credited_invoice_id": invoice.id,
                    "dispute_reason_id": dispute_reason_id,
                    "issued_at": self.today(),
                    "items": [
                        CreditNoteItem(
                            id=str(next_item + n),
                            invoice_item_id=item_id,
                            position=by_id[item_id].item.position,
                            line_text=by_id[item_id].item.line_text,
                            quantity=1,
                            price=net,
                            tax_amount=tax,
                            tax_code=by_id[item_id].tax_code,
                            vat_code=by_id[item_id].item.vat_code,
                        )
                        for n, (item_id, net, tax) in enumerate(lines)
                    ],
                    "created_at": now,
                    "updated_at": now,
                }
            )
        except ValidationError as exc:  # pragma: no cover - the arguments come from this module
            raise RuleViolation(str(exc)) from exc
        entity.credit_note_number_seq += 1
        self.tenant.credit_notes.append(note)
        self._touch(invoice)
        return note
