"""The emulator's tenant store: the rules of Bunny's objects over one tenant, behind one lock.

`TenantStore` joins the store's base (`core.py`: clock, lookups, tokens, options, persistence), the invoice and
credit-note rules (`invoicing.py`), the payment rules (`payments.py`) and, here, the financial-account and
price-list-charge rules.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiq_emulators.bunny.core import STATE_FILE, Clock, RuleViolation, StoreCore, next_id
from aiq_emulators.bunny.invoicing import REFUNDABLE, VOIDABLE
from aiq_emulators.bunny.models import FinancialAccount
from aiq_emulators.bunny.payments import Payments

__all__ = ["REFUNDABLE", "STATE_FILE", "VOIDABLE", "Clock", "RuleViolation", "StoreCore", "TenantStore"]


class TenantStore(Payments):
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
                id=next_id(self.tenant.financial_accounts),
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
