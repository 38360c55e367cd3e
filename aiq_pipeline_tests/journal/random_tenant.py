"""The concurrency test's tenant and AIQ's behaviour, drawn from one seeded generator.

- `Sizes`: how many invoices, refunds (credit notes) and voids, from the number of documents asked for.
- `new_invoices`: released Bunny invoices of a few shapes (one line, two lines on two revenue accounts, EUR and GBP
  customers); `planted` ones carry a tax code AIQ lacks, a data problem that must end on the exceptions list.
- `refund` (full or partial) and `void` change Bunny as a person would.
- `aiq_behaviour`: the AIQ emulator's unverified readings (lagging look-ups, token lifetime) and fault rules
  (latency, throttling, HTTP 500, slow commits past the client's timeout, drops after commit), each rule with a
  fraction and a seed of its own drawn from the test's seed. Which call a fault hits still depends on how the
  runners interleave, so a seed reproduces the tenant, the rates and the kill plan, not the exact schedule.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiq_pipeline_tests.aiq_writes import CREATES

SEED_VARIABLE = "AIQ_PIPELINE_TEST_SEED"
DOCUMENTS_VARIABLE = "AIQ_PIPELINE_TEST_DOCUMENTS"
PLANTED_TAX_CODE = "V88"  # not in the AIQ tenant: UNKNOWN_TAX_CODE, a data problem for a person

WRITES = [*CREATES, "AllocateTransactions", "UpdateCustomer"]
ACCOUNTS = ["1", "2", "3", "4"]  # the sample tenant's entity-1 accounts (3 bills in GBP)


def seed_from_env() -> int:
    """The seed from AIQ_PIPELINE_TEST_SEED, else a fresh one (printed by the test, so a failure can be replayed)."""
    raw = os.environ.get(SEED_VARIABLE, "").strip()
    return int(raw) if raw else random.SystemRandom().randrange(1, 10**6)


def documents_wanted(default: int = 1000) -> int:
    raw = os.environ.get(DOCUMENTS_VARIABLE, "").strip()
    return int(raw) if raw else default


@dataclass(frozen=True)
class Sizes:
    """Bunny documents the test makes: invoices in two waves, credit notes (refunds) and voids."""

    first_invoices: int  # posted in phase 1
    voids_while_posting: int  # voided at random moments of phase 1, whatever their posting state
    voids_after_posting: int  # voided between the phases, among those AIQ holds
    refunds: int  # of first-wave invoices, between the phases (a third of them partial)
    refund_and_void: int  # of those refunds, invoices voided afterwards as well (two credits on one invoice)
    second_invoices: int  # released between the phases, posted in phase 2
    second_refunds: int  # of second-wave invoices at once: their credit notes race their invoices
    planted: int  # first-wave invoices with a tax code AIQ lacks (plus one in the second wave)

    @classmethod
    def for_documents(cls, documents: int) -> Sizes:
        return cls(
            first_invoices=round(documents * 0.70),
            voids_while_posting=round(documents * 0.03),
            voids_after_posting=round(documents * 0.07),
            refunds=round(documents * 0.10),
            refund_and_void=max(1, round(documents * 0.01)),
            second_invoices=round(documents * 0.07),
            second_refunds=round(documents * 0.03),
            planted=4,
        )

    @property
    def documents(self) -> int:
        """Bunny invoices, credit notes and voids the pipeline must handle (the planted ones not counted)."""
        return (
            self.first_invoices
            + self.second_invoices
            + self.refunds
            + self.second_refunds
            + self.voids_while_posting
            + self.voids_after_posting
        )


def _items(rng: random.Random, tax_code: str | None = None) -> list[dict[str, Any]]:
    shape = rng.random()
    if shape < 0.6:
        items: list[dict[str, Any]] = [{"charge": "SUB-MONTHLY", "quantity": rng.randint(1, 5)}]
    elif shape < 0.9:
        items = [
            {"charge": "PRO-SERVICES", "quantity": rng.randint(1, 3)},
            {"charge": "SUB-MONTHLY", "quantity": 1},
        ]
    else:
        price = Decimal(rng.randint(1000, 99999)) / 100
        items = [{"charge": "SUB-MONTHLY", "quantity": 1, "price": str(price), "line_text": "Usage top-up"}]
    if tax_code:
        items[0]["tax_code"] = tax_code
    return items


def new_invoices(bunny: Any, rng: random.Random, count: int) -> list[str]:
    """`count` released invoices of random shapes and customers."""
    return [
        invoice_id
        for _ in range(count)
        for invoice_id in bunny.create_invoices({"account": rng.choice(ACCOUNTS), "items": _items(rng)}, release=True)
    ]


def planted_invoices(bunny: Any, rng: random.Random, count: int) -> list[str]:
    """Invoices AIQ must refuse for a data reason (a tax code it does not have)."""
    return [
        invoice_id
        for _ in range(count)
        for invoice_id in bunny.create_invoices(
            {"account": rng.choice(ACCOUNTS), "items": _items(rng, PLANTED_TAX_CODE)}, release=True
        )
    ]


def refund(bunny: Any, rng: random.Random, invoice_id: str) -> str:
    """A REFUND credit note for the invoice: in full, or (one time in three) half of its first line. Nobody paid the
    invoice: the emulator allows it only under `refund_bound: "none"` (the concurrency scenario sets it)."""
    store = bunny.store
    amounts = None
    if rng.random() < 1 / 3:
        invoice = next(i for i in store.tenant.invoices if i.id == invoice_id)
        first = store.figures(invoice).items[0]
        amounts = {first.item.id: (first.net / 2).quantize(Decimal("0.01"))}
    return str(store.refund_invoice(invoice_id, amounts=amounts).id)


def void(bunny: Any, invoice_id: str) -> None:
    bunny.store.void_invoice(invoice_id)


@dataclass(frozen=True)
class AiqBehaviour:
    options: dict[str, Any]
    rules: list[dict[str, Any]]
    timeout: float  # the runners' AIQ client timeout: slow commits take longer
    unknown_outcome_deadline: int  # seconds the product keeps looking after an unknown outcome

    def describe(self) -> str:
        rules = ", ".join(
            f"{r['kind']} {r.get('fraction')}" + (f" {r['latency_ms']} ms" if r.get("latency_ms") else "")
            for r in self.rules
        )
        return f"options {self.options}; rules: {rules}; client timeout {self.timeout} s"


def aiq_behaviour(rng: random.Random) -> AiqBehaviour:
    """AIQ's readings and faults. Rates are low enough that a thousand documents meet each fault a few dozen times,
    and the waits they cause (a deadline of looking for each write lost to an HTTP 500) stay within minutes."""
    timeout = 2.0
    return AiqBehaviour(
        options={"lookup_lag_seconds": rng.choice([0.5, 1.0, 1.5]), "token_ttl_seconds": rng.randint(20, 60)},
        rules=[
            {"kind": "latency", "latency_ms": rng.randint(100, 300), "fraction": 0.01, "seed": rng.randrange(10**6)},
            {"kind": "throttle", "fraction": round(rng.uniform(0.01, 0.02), 3), "seed": rng.randrange(10**6)},
            {"kind": "http_500", "fraction": 0.002, "seed": rng.randrange(10**6)},
            {
                "kind": "slow_commit",
                "operations": WRITES,
                "latency_ms": int((timeout + rng.uniform(0.3, 0.8)) * 1000),
                "fraction": round(rng.uniform(0.006, 0.012), 3),
                "seed": rng.randrange(10**6),
            },
            {
                "kind": "drop_after_commit",
                "operations": WRITES,
                "fraction": round(rng.uniform(0.006, 0.012), 3),
                "seed": rng.randrange(10**6),
            },
        ],
        timeout=timeout,
        unknown_outcome_deadline=4,
    )
