"""Both halves of the demo tenant from the drawn customers and invoices: Bunny's tenant (ids in creation
order, numbers in issue order per entity, exchange rates) and the AccountsIQ fixture (the sample ledger with
its existing customers, plus the ones an earlier import already created for Bunny accounts)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiq_emulators.accountsiq.fixtures import CustomerFixture, EmulatorFixture, payments_demo_fixture
from aiq_emulators.bunny.models import Entity, Invoice, Tenant
from aiq_emulators.bunny.sample_tenant import sample_tenant
from aiq_emulators.demo_tenant.customers import CustomerMaker, Customers
from aiq_emulators.demo_tenant.holdings import holdings_summary, set_up_holdings
from aiq_emulators.demo_tenant.invoices import Draft, InvoiceMaker
from aiq_emulators.demo_tenant.payments import PaymentMaker
from aiq_emulators.demo_tenant.summary import summarise
from aiq_emulators.demo_tenant.vocabulary import EUR, FX_TO_EUR, MIN_CUSTOMERS, MIN_INVOICES
from aiq_pipeline.sync.identity import customer_code


@dataclass(frozen=True)
class DemoTenant:
    accountsiq: EmulatorFixture
    bunny: Tenant
    summary: dict[str, Any]


def build_demo_tenant(*, customers: int = 300, invoices: int = 3000, seed: int = 7) -> DemoTenant:
    """Both halves of the demo tenant in memory (validated models) plus the summary."""
    if customers < MIN_CUSTOMERS or invoices < MIN_INVOICES:
        raise ValueError(f"need at least {MIN_CUSTOMERS} customers and {MIN_INVOICES} invoices")
    rng = random.Random(seed)  # one random, drawn from in a fixed order: the same seed gives the same bytes
    drawn = CustomerMaker(rng).customers(customers)
    drafts = InvoiceMaker(rng, invoices).invoices(drawn)
    # Ids follow creation order; numbers follow issue order per entity, as Bunny numbers at release.
    drafts.sort(key=lambda d: (d.created, d.customer.account.id))
    base = sample_tenant()  # entities, API client, currencies, financial accounts, charges
    entities = {e.id: e.model_copy(deep=True) for e in base.entities}
    numbers = _number(drafts, entities)
    _number_items(drafts)
    bunny_invoices = [_invoice(index, draft, numbers.get(id(draft)), rng) for index, draft in enumerate(drafts, 1)]

    tenant = base.model_copy(deep=True)
    tenant.entities = [entities["1"], entities["2"]]
    tenant.accounts = [c.account for c in (*drawn.main, drawn.mismatch, *drawn.other)]
    tenant.invoices = bunny_invoices
    tenant.credit_notes = []
    tenant.tokens = []
    # Drawn after everything the invoices draw, so the payments leave the invoices' own draws as they were.
    story = PaymentMaker(rng, tenant, drafts).play()
    set_up_holdings(tenant)  # draws nothing: entity 1's documents stay as drawn
    accountsiq = _accountsiq_fixture(drawn)
    summary = summarise(seed, tenant, drafts, accountsiq, story) | {"holdings": holdings_summary(tenant)}
    return DemoTenant(accountsiq=accountsiq, bunny=tenant, summary=summary)


def _number(drafts: list[Draft], entities: dict[str, Entity]) -> dict[int, str]:
    """Each released draft's invoice number (by `id(draft)`), per entity in issue order; moves each entity's
    sequence on, so a release in the emulator continues it."""
    numbering = sorted(
        (d for d in drafts if d.state != "DRAFT"), key=lambda d: (d.customer.account.entity_id, d.issued, d.created)
    )
    numbers: dict[int, str] = {}
    for entity_id, start in (("1", 1001), ("2", 2001)):
        seq = start
        for draft in numbering:
            if draft.customer.account.entity_id == entity_id:
                numbers[id(draft)] = f"{entities[entity_id].invoice_number_prefix}{seq}"
                seq += 1
        entities[entity_id].invoice_number_seq = seq
    return numbers


def _number_items(drafts: list[Draft]) -> None:
    """Item ids run on across the invoices in creation order; positions start at 1 on each invoice."""
    item_id = 0
    for draft in drafts:
        for position, item in enumerate(draft.items, start=1):
            item_id += 1
            item.id, item.position = str(item_id), position


def _invoice(index: int, draft: Draft, number: str | None, rng: random.Random) -> Invoice:
    """The Bunny invoice of a draft (its items already numbered)."""
    account = draft.customer.account
    currency = account.currency_id
    fx = (
        Decimal("1")
        if currency == EUR or account.entity_id == "2"
        else Decimal(FX_TO_EUR[currency][draft.issued.month])
    )
    released = draft.state != "DRAFT"
    return Invoice(
        id=str(index),
        uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        number=number,
        state=draft.state,
        entity_id=account.entity_id,
        account_id=account.id,
        currency_id=currency,
        fx_rate=fx,
        issued_at=draft.issued,
        due_at=draft.due if released else None,
        paid_at=draft.paid_at,
        net_payment_days=account.net_payment_days,
        description=f"{account.name}, {draft.issued:%B %Y}",
        po_number=f"PO-{rng.randrange(10000, 99999)}" if rng.random() < 0.2 else None,
        created_at=draft.created,
        updated_at=draft.updated,
        items=draft.items,
    )


def _accountsiq_fixture(drawn: Customers) -> EmulatorFixture:
    """The sample ledger (with the bank, bank-charges and customer-credits accounts payments need) with its existing
    customers plus a few more, and the customers an earlier (manual) import already created for Bunny accounts; one
    of those in the wrong currency."""
    aiq = payments_demo_fixture()
    demo01 = aiq.entities[0]
    extra = [
        CustomerFixture(code="EXISTING-004", name="Liffey Print Works Ltd", email="accounts@liffeyprint.example"),
        CustomerFixture(code="EXISTING-005", name="Thames & Kennet Freight Ltd", currency_code="GBP"),
        CustomerFixture(code="EXISTING-006", name="Société Générale d'Études SARL"),
    ]
    synced = [c for c in drawn.main if c.account.currency_id == EUR and c.tax == "standard"][-2:]
    prior = [
        CustomerFixture(code=customer_code(c.account.id), name=c.account.name[:100], currency_code="EUR")
        for c in synced
    ]
    mismatch = drawn.mismatch.account
    wrong = CustomerFixture(code=customer_code(mismatch.id), name=mismatch.name, currency_code="GBP")
    demo01 = demo01.model_copy(update={"customers": [*demo01.customers, *extra, *prior, wrong]})
    return aiq.model_copy(update={"entities": [demo01, *aiq.entities[1:]]})
