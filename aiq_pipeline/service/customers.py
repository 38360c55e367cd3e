"""The AIQ customer of a Bunny account: matched to an existing one by the configured rules, created once whatever
else is running, and kept current (name, address, e-mail, VAT number, country) only when Bunny says otherwise."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import AiqValidationError, AiqWriteOutcomeUnknown
from aiq_pipeline.accountsiq.models import Customer
from aiq_pipeline.service.processes import is_dead, this_process
from aiq_pipeline.store.journal import ClaimLost, FoundBy, PlannedWrite, PostingJournal, WriteState
from aiq_pipeline.sync.customer import (
    AmbiguousCustomer,
    CustomerMatch,
    DesiredCustomer,
    customer_changes,
    match_customer,
    new_customer,
)
from aiq_pipeline.sync.documents.plan import PostingPlan
from aiq_pipeline.sync.inputs import BunnyAccount

# What AIQ answers when another writer created or changed the customer between our look and our write.
CONCURRENT_CHANGE_CODES = frozenset({"OUTDATED_RECORD", "ACCOUNT_CODE_ALREADY_IN_USE"})


def ensure_customer(aiq: AccountsIQClient, code: str, desired: DesiredCustomer) -> Customer:
    """Create customer `code` from AIQ's defaults with the `desired` fields unless it exists; return it.

    Safe when two runs create the same customer at once (the loser re-reads the winner's) and after an unknown
    outcome (look before creating again). A genuine rejection (a field AIQ refuses) propagates.
    """
    customer = new_customer(aiq.get_new_customer_from_defaults(), desired)
    customer.code = code
    try:
        aiq.update_customer(customer, create=True)
    except AiqWriteOutcomeUnknown:
        pass  # it may or may not exist now: the look below decides
    except AiqValidationError as exc:
        if exc.code not in CONCURRENT_CHANGE_CODES:
            raise
    existing = aiq.get_customer(code)
    if existing is None:
        aiq.update_customer(customer, create=True)  # the unknown outcome was "not created": create it now
        existing = aiq.get_customer(code)
    if existing is None:
        raise AiqValidationError(f"customer {code} was created but AIQ does not return it", operation="GetCustomer")
    return existing


@dataclass(frozen=True)
class CustomerResolution:
    match: CustomerMatch
    existing: Customer | None  # what AIQ holds under `match.code` (None: to be created)


class CustomerDirectory:
    """The AIQ customers of one batch, listed once (one call per batch), and how each Bunny account maps to one."""

    def __init__(self, aiq: AccountsIQClient, rules: Sequence[str]) -> None:
        self.aiq = aiq
        self.rules = tuple(rules)
        self._by_code: dict[str, Customer] | None = None

    def _customers(self) -> dict[str, Customer]:
        if self._by_code is None:
            self._by_code = {(c.code or "").strip().upper(): c for c in self.aiq.get_customer_list() if c.code}
        return self._by_code

    def resolve(self, account: BunnyAccount) -> CustomerResolution | AmbiguousCustomer:
        customers = self._customers()
        found = match_customer(account, list(customers.values()), self.rules)
        if isinstance(found, AmbiguousCustomer):
            return found
        return CustomerResolution(found, customers.get(found.code))

    def get(self, code: str) -> Customer | None:
        """AIQ's customer under `code`, as listed this batch (or written since)."""
        return self._customers().get(code.strip().upper())

    def remember(self, customer: Customer) -> None:
        if customer.code:
            self._customers()[customer.code.strip().upper()] = customer


def changed_fields(existing: Customer, desired: DesiredCustomer) -> dict[str, str | None]:
    """What Bunny says differently about the customer than AIQ does (name, address, e-mail, VAT number,
    country); never the code or the currency. Empty when AIQ is current."""
    changes = customer_changes(existing, desired)
    changes.pop("code", None)
    changes.pop("currency_code", None)
    return changes


def update_customer(aiq: AccountsIQClient, existing: Customer, changes: dict[str, str | None]) -> Customer:
    """Write `changes` onto AIQ's customer (its row version echoed); a concurrent change is re-read once."""
    for attempt in range(2):
        current = existing if attempt == 0 else aiq.get_customer(existing.code or "")
        if current is None:
            raise AiqValidationError(f"customer {existing.code} is gone from AIQ", operation="GetCustomer")
        try:
            aiq.update_customer(dataclasses.replace(current, **cast(dict[str, Any], changes)), create=False)
        except AiqValidationError as exc:
            if exc.code not in CONCURRENT_CHANGE_CODES or attempt:
                raise
            continue
        break
    updated = aiq.get_customer(existing.code or "")
    return updated or existing


class CustomerWrites:
    """The AIQ customer a plan needs, created unless AIQ has it or brought up to date, each write under the
    customer's own claim and journaled like any write (so two runs never create it twice)."""

    def __init__(
        self,
        aiq: AccountsIQClient,
        journal: PostingJournal,
        directory: CustomerDirectory,
        *,
        owner: str,
        lease: timedelta,
    ) -> None:
        self.aiq, self.journal, self.directory, self.owner, self.lease = aiq, journal, directory, owner, lease

    def intent(self, plan: PostingPlan, resolution: CustomerResolution | None) -> str:
        """What `ensure` would do, in words: create, update: <fields>, existing, or matched by <rule>."""
        existing = self.directory.get(plan.customer_code) or (resolution.existing if resolution else None)
        if plan.customer is None or existing is None:
            return "create" if plan.customer is not None else "existing"
        changes = changed_fields(existing, plan.customer)
        if changes:
            return "update: " + ", ".join(sorted(changes))
        how = resolution.match.how if resolution else "existing"
        return "existing" if how == "existing" else f"matched by {how}"

    def ensure(self, plan: PostingPlan, resolution: CustomerResolution | None) -> bool:
        """True when this run created the plan's customer."""
        existing = self.directory.get(plan.customer_code) or (resolution.existing if resolution else None)
        if plan.customer is None or (existing is not None and (existing.code or "").upper() != plan.customer_code):
            return False  # nothing known to write, or the document posts to another customer (a mirrored credit)
        if existing is not None:
            changes = changed_fields(existing, plan.customer)
            if changes:
                self._write(plan.customer_code, changes, lambda: update_customer(self.aiq, existing, changes))
            return False
        desired = plan.customer
        self._write(plan.customer_code, None, lambda: ensure_customer(self.aiq, plan.customer_code, desired))
        return True

    def _write(self, code: str, changes: dict[str, str | None] | None, write: Callable[[], Customer]) -> None:
        key = f"CUSTOMER:{code}"
        holder = self.journal.claim(key, self.owner, process=this_process(), lease=self.lease, is_dead=is_dead)
        if holder is not None:
            raise ClaimLost(f"AIQ customer {code} is being written by run {holder.owner}")
        what = "update " + ", ".join(sorted(changes)) if changes else "create"
        # Each distinct update is its own journal row (an update never repeats once recorded); a create is one row.
        digest = hashlib.sha256(repr(sorted((changes or {}).items())).encode()).hexdigest()[:12]
        reference = key if changes is None else f"{key}:{digest}"
        planned = PlannedWrite(reference, key, "customer", "CUSTOMER", summary=f"customer {code}: {what}")
        try:
            entry = self.journal.entry(reference)
            if entry is not None and entry.state == WriteState.POSTED:
                return
            self.journal.begin_write(planned, self.owner)
            customer = write()
            self.journal.record_posted(planned, customer.account_id, found_by=FoundBy.ANSWER)
        finally:
            self.journal.release(key, self.owner)
        self.directory.remember(customer)
