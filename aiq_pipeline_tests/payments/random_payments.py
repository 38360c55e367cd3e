"""The randomized payments scenario: a stack, a seeded sequence of what happens in Bunny and to AIQ, and the checks
of what the two ledgers hold at the end (see test_randomized.py for the rules it checks).

- `payments_stack`: both emulators over real HTTP (AIQ with the payments chart, in memory), a DuckDB store, a Dagster
  instance, the product's definitions with the bank mapping of the payments tests, a bad-debt account for write-offs,
  and two test-only settings: the AIQ client's timeout (the product leaves it at 30 s; a slow commit must outlast it)
  and a short unknown-outcome deadline (production's minutes would make every lost answer a long wait).
- `Scenario`: one step at a time, drawn from one `random.Random(seed)`: invoices (plain, two lines, coupons, a credit
  line, account credit applied at issue), payments (full, partial, over, on account, with fees, pending then completed
  or failed, through a processor mapped to the EUR clearing bank, through one left unmapped on purpose), refunds of
  payments (full and partial), account credit applied later, write-offs, voids of untouched invoices, sensor ticks of
  a random subset in a random order, a person's retry, and AIQ faults (drop after commit, slow commit past the
  client's timeout, throttling, HTTP 500, latency, look-ups lagging for a few steps).
- `settle`: what operators do after an incident: faults off, the sensors ticked until they launch nothing, the
  retryable (and in-doubt) exceptions retried, again until only the expected exceptions are left.
- `audit`: the AIQ emulator's own state against the Bunny emulator's: balances per customer, references held once,
  one receipt per payment received and receipts per bank account, allocations per pair within what Bunny applied,
  invoices' outstanding amounts.

A seed replays the same tenant, steps, readings and fault rules. Which call a count-limited fault meets, and whether
a lagging look-up sees a document yet, can still depend on timing, so a replay follows the same path almost always,
not always.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from aiq_emulators.runner import running_emulators
from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.posting.status import DocumentException, list_exceptions
from aiq_pipeline.defs.resources import SyncSettings
from aiq_pipeline.operations.sync import retry
from aiq_pipeline.service.outcome import Reason
from aiq_pipeline.store import Store
from aiq_pipeline.sync.identity import (
    ACCOUNT_CREDIT_PREFIX,
    account_credit_reference,
    credit_note_key,
    credit_note_reference,
    customer_code,
    fee_reference,
    invoice_reference,
    payment_key,
    payment_reference,
    refund_reference,
    void_reference,
)
from aiq_pipeline_tests.journal.runner_process import TimedAccountsIQResource
from aiq_pipeline_tests.pair_names import CREDIT_NOTES, DOCUMENT_ASSETS, INVOICES, PAYMENTS
from aiq_pipeline_tests.payments.conftest import BANKS, START, aiq_fixture_json, payment_rules
from aiq_pipeline_tests.payments.driving import AIQ_ENTITY, Daemon, aiq_customer_balances, bunny_customer_balances
from aiq_pipeline_tests.pipeline.conftest import Stack, make_resources
from aiq_pipeline_tests.pipeline.helpers import checked_in_aiq_and_absent

SEED_VARIABLE = "AIQ_PIPELINE_PAYMENTS_SEED"
STEPS_VARIABLE = "AIQ_PIPELINE_PAYMENTS_STEPS"

ZERO = Decimal(0)
CENT = Decimal("0.01")
AIQ_TIMEOUT = 3.0  # seconds: the AIQ client's timeout in this stack (a slow commit answers later than this)
UNKNOWN_OUTCOME_DEADLINE = 3  # seconds the product looks for a write whose answer was lost
BATCH_SIZE = 25
BAD_DEBT_ACCOUNT = "8000"  # the demo chart has no bad-debt account; Sundry stands in for one
UNMAPPED = "paypal"  # left out of AIQ_PIPELINE_BANK_ACCOUNTS on purpose, mapped by the operator at the end
PAYPAL_BANKS = {"paypal:EUR": "1200", "paypal:GBP": "1210", "paypal:USD": "1220"}

# AIQ's write operations the product calls: documents AIQ takes in bulk go in bulk calls (receipts as receipt-only
# pay-and-allocate queries, AIQ's own duplicate check on), journals one at a time; single creates kept for any path
# that still sends one.
AIQ_WRITES = (
    "CreateBatchSalesInvoiceBulkGetBackTransactionIDs",
    "CreateBatchSalesCreditNoteBulkGetBackTransactionIDs",
    "PostPayAndAllocateSalesInvoices",
    "CreateBatchSalesInvoiceGetBackTransactionID",
    "CreateBatchSalesCreditNoteGetBackTransactionID",
    "PostPayAndAllocateSalesInvoice",
    "PostSalesCreditJournalGetBackTransactionID",
    "PostSalesDebitJournalGetBackTransactionID",
    "AllocateTransactions",
)
PAYABLE = ("NOT_DUE", "DUE", "UNPAID")  # open invoices no payment is being collected for
RECEIVED = ("SUCCEEDED", "DISPUTED")


def seed_from_env() -> int | None:
    raw = os.environ.get(SEED_VARIABLE, "").strip()
    return int(raw) if raw else None


def fresh_seed() -> int:
    return random.SystemRandom().randrange(1, 10**6)


def steps_wanted(default: int) -> int:
    raw = os.environ.get(STEPS_VARIABLE, "").strip()
    return int(raw) if raw else default


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


# -- the customers ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    account: str  # Bunny account id (entity 1)
    currency: str
    fx_rate: str  # Bunny's fxRate on its invoices: AIQ's rate for the currency

    @property
    def code(self) -> str:
        return customer_code(self.account)


USD_ACCOUNT = "6"  # the sample tenant bills USD only in entity 2: the stack adds a USD account to entity 1
CUSTOMERS = (
    Customer("1", "EUR", "1"),
    Customer("4", "EUR", "1"),
    Customer("3", "GBP", "1.17"),
    Customer(USD_ACCOUNT, "USD", "0.92"),
)


def add_usd_account(stack: Stack) -> None:
    """A USD customer of entity 1, as a person would create it in Bunny (the emulator's store, in process)."""
    store = stack.emulators.bunny.store
    with store.lock:
        template = store.find("accounts", "1")
        contact = template.billing_contact.model_copy(
            update={"id": USD_ACCOUNT, "first_name": "Dana", "last_name": "Reyes", "email": "ap@starline.example"}
        )
        store.tenant.accounts.append(
            template.model_copy(
                update={
                    "id": USD_ACCOUNT,
                    "code": "STARLINE",
                    "name": "Starline Robotics Inc",
                    "currency_id": "3",
                    "billing_contact": contact,
                    "billing_street": "1 Main St",
                    "billing_city": "Boston",
                    "billing_zip": "02108",
                    "billing_country": "US",
                    "tax_number": None,
                }
            )
        )
        store.save()


# -- AIQ's readings -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AiqReadings:
    allocation_pairs: str
    summary_amount_sign: str
    unique_external_references: bool

    def options(self) -> dict[str, Any]:
        return {
            "allocation_pairs": self.allocation_pairs,
            "summary_amount_sign": self.summary_amount_sign,
            "unique_external_references": self.unique_external_references,
        }


def draw_readings(rng: random.Random) -> AiqReadings:
    return AiqReadings(
        allocation_pairs=rng.choice(["debit_credit", "wiki_table"]),
        summary_amount_sign=rng.choice(["signed", "magnitude"]),
        unique_external_references=rng.random() < 0.5,
    )


# -- the stack ----------------------------------------------------------------------------------------------------


def definitions(stack_resources: dict[str, Any], banks: dict[str, str]) -> dg.Definitions:
    rules = payment_rules(bank_accounts=banks, bad_debt_account=BAD_DEBT_ACCOUNT)
    return build_definitions(stack_resources | {"posting_rules": rules})


@dataclass
class RandomStack:
    stack: Stack
    resources: dict[str, Any]

    def map_unmapped_processor(self) -> None:
        """The operator adds the processor left out to AIQ_PIPELINE_BANK_ACCOUNTS (the code location reloads)."""
        self.stack.defs = definitions(self.resources, BANKS | PAYPAL_BANKS)


@contextmanager
def payments_stack(tmp_path: Path, readings: AiqReadings) -> Iterator[RandomStack]:
    fixture = tmp_path / "aiq-fixture.json"
    fixture.write_text(json.dumps(aiq_fixture_json()), encoding="utf-8")
    with (
        running_emulators(state_dir=None, accountsiq_fixture=fixture) as emulators,
        dg.instance_for_test() as instance,
    ):
        store_path = tmp_path / "store.duckdb"
        resources = make_resources(emulators, store_path, batch_size=BATCH_SIZE, sync_start_date=START)
        plain = resources["accountsiq"]
        resources["accountsiq"] = TimedAccountsIQResource(
            base_url=plain.base_url,
            entity_id=plain.entity_id,
            client_id=plain.client_id,
            client_secret=plain.client_secret,
            default_tax_code=plain.default_tax_code,
            backoff_seconds=plain.backoff_seconds,
            timeout_seconds=AIQ_TIMEOUT,
        )
        resources["sync_settings"] = SyncSettings(
            batch_size=BATCH_SIZE, sync_start_date=START, unknown_outcome_deadline_seconds=UNKNOWN_OUTCOME_DEADLINE
        )
        stack = Stack(emulators, definitions(resources, BANKS), instance, Store(store_path), tmp_path)
        aiq_control(stack, "/_emulator/options", readings.options())
        add_usd_account(stack)
        yield RandomStack(stack, resources)


def bunny_control(stack: Stack, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = httpx.post(f"{stack.emulators.bunny_url}{path}", json=body or {}, timeout=30)
    assert answer.status_code < 300, f"{path}: {answer.status_code} {answer.text}"
    return answer.json()


def aiq_control(stack: Stack, path: str, body: dict[str, Any]) -> Any:
    answer = httpx.post(f"{stack.emulators.accountsiq_url}{path}", json=body, timeout=30)
    assert answer.status_code < 300, f"{path}: {answer.status_code} {answer.text}"
    return answer.json()


# -- the scenario ----------------------------------------------------------------------------------------------------


@dataclass
class Log:
    """What happened, printed as it happens (pytest shows it on failure) and kept for the failure message."""

    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)

    def tail(self, n: int = 400) -> str:
        return "\n".join(self.lines[-n:])


SENSORS = {"invoices": INVOICES, "credit_notes": CREDIT_NOTES, "payments": PAYMENTS}


class Scenario:
    """The Bunny tenant's life and AIQ's bad moments, one seeded step at a time."""

    def __init__(self, env: RandomStack, rng: random.Random, log: Log) -> None:
        self.env, self.rng, self.log = env, rng, log
        self.stack = env.stack
        self.bunny = env.stack.emulators.bunny.store
        self.daemon = Daemon(env.stack)
        self.unmapped_payments: set[str] = set()
        self.lag_steps = 0  # steps left while AIQ's look-ups lag
        self.counts: Counter[str] = Counter()
        self.actions: list[tuple[str, int, Callable[[], str | None]]] = [
            ("invoice", 14, self.new_invoice),
            ("pay", 18, self.pay),
            ("complete", 4, self.complete_pending),
            ("fail", 2, self.fail_pending),
            ("refund", 6, self.refund),
            ("credit", 4, self.apply_credit),
            ("write_off", 2, self.write_off),
            ("void", 2, self.void),
            ("tick", 9, self.tick),
            ("faulty_tick", 8, self.faulty_tick),
            ("retry", 2, self.person_retry),
            ("lag", 3, self.lag),
        ]

    # -- stepping ----------------------------------------------------------------------------------------------

    def run(self, steps: int) -> None:
        names = [name for name, _, _ in self.actions]
        weights = [weight for _, weight, _ in self.actions]
        acts = {name: act for name, _, act in self.actions}
        for number in range(1, steps + 1):
            name = self.rng.choices(names, weights)[0]
            said = acts[name]()
            if said is None:  # nothing to do that (no invoice to pay, ...): a new invoice instead
                name, said = "invoice", self.new_invoice()
            self.counts[name] += 1
            self.log.say(f"step {number}: {said}")
            self._lag_countdown()

    def _lag_countdown(self) -> None:
        if self.lag_steps > 0:
            self.lag_steps -= 1
            if self.lag_steps == 0:
                aiq_control(self.stack, "/_emulator/options", {"lookup_lag_seconds": 0})
                self.log.say("        AIQ's look-ups catch up (lag 0)")

    # -- Bunny, as its customers and finance team act -----------------------------------------------------------------

    def _customer(self) -> Customer:
        return self.rng.choice(CUSTOMERS)

    def _invoices(self, customer: Customer | None = None, states: tuple[str, ...] = PAYABLE) -> list[Any]:
        return [
            i
            for i in self.bunny.tenant.invoices
            if i.entity_id == "1"
            and i.issued_at is not None
            and i.issued_at.isoformat() >= START
            and i.state in states
            and (customer is None or i.account_id == customer.account)
        ]

    def _due(self, invoice: Any) -> Decimal:
        return Decimal(self.bunny.figures(invoice).amount_due)

    def new_invoice(self) -> str:
        rng, customer = self.rng, self._customer()
        shape = rng.choice(["plain", "two_lines", "coupon", "credit_line", "credits"])
        items: list[dict[str, Any]] = [{"charge": "SUB-MONTHLY", "quantity": rng.randint(1, 3)}]
        spec: dict[str, Any] = {"account": customer.account, "release": True, "fx_rate": customer.fx_rate}
        if shape == "two_lines":
            items.append({"charge": "PRO-SERVICES", "quantity": rng.randint(1, 2)})
        elif shape == "coupon":
            coupon = {"code": "WELCOME", "percent": str(rng.choice([10, 25]))}
            spec["coupons"] = [coupon if rng.random() < 0.5 else {"code": "TENOFF", "amount": "10.00"}]
        elif shape == "credit_line":
            items = [
                {"charge": "PRO-SERVICES", "quantity": 2},
                {
                    "charge": "PRO-SERVICES",
                    "quantity": 1,
                    "price": f"-{rng.choice([30, 50, 75])}.00",
                    "is_credit": True,
                    "credits_line": 1,
                    "line_text": "Service credit",
                },
            ]
        elif shape == "credits":
            spec["credits"] = f"{rng.randint(5, 40)}.00"  # account credit applied when it was issued
        created = bunny_control(self.stack, "/_emulator/invoices", spec | {"items": items})
        (invoice_id,) = created["ids"]
        invoice = self.bunny._invoice(str(invoice_id))
        return f"invoice {invoice_id} ({shape}) for {customer.code} in {customer.currency}, due {self._due(invoice)}"

    def pay(self) -> str | None:
        rng, customer = self.rng, self._customer()
        open_ = [i for i in self._invoices(customer) if self._due(i) > 0]
        kind = rng.choice(["full", "full", "partial", "over", "two_invoices", "on_account"])
        if kind == "on_account":
            invoices: list[Any] = []
        elif kind == "two_invoices" and len(open_) >= 2:
            invoices = rng.sample(open_, 2)
        elif open_:
            invoices = [rng.choice(open_)]
            kind = "full" if kind == "two_invoices" else kind
        else:
            return None
        due = sum((self._due(i) for i in invoices), ZERO)
        amount: Decimal | None = None
        if kind == "partial":
            amount = max(CENT, cents(due * Decimal(rng.randint(20, 80)) / 100))
        elif kind == "over":
            amount = due + Decimal(rng.randint(100, 5000)) / 100
        elif kind == "on_account":
            amount = Decimal(rng.randint(1000, 20000)) / 100
        paid = amount if amount is not None else due
        processor = rng.choices(["stripe", "manual", UNMAPPED], [80, 12, 8])[0]
        body: dict[str, Any] = {
            "account": customer.account,
            "invoices": [i.id for i in invoices],
            "processor": processor,
        }
        if amount is not None:
            body["amount"] = str(amount)
        if rng.random() < 0.3:
            body["fees"] = str(min(cents(paid * Decimal("0.029") + Decimal("0.30")), cents(paid / 2)))
        pending = rng.random() < 0.2
        if pending:
            body["pending"] = True
        payment = bunny_control(self.stack, "/_emulator/payments", body)
        if processor == UNMAPPED:
            self.unmapped_payments.add(str(payment["id"]))
        on = ", ".join(i.id for i in invoices) or "no invoice"
        return (
            f"payment {payment['id']} ({kind}{', pending' if pending else ''}) of {paid} {customer.currency} "
            f"by {customer.code} through {processor}{', fees ' + body['fees'] if 'fees' in body else ''} on {on}; "
            f"applied {[(a['invoice_id'], a['amount']) for a in payment['applications']]}, "
            f"unapplied {payment['unapplied']}"
        )

    def _payments(self, states: tuple[str, ...]) -> list[Any]:
        return [p for p in self.bunny.tenant.payments if p.entity_id == "1" and p.processing_state in states]

    def complete_pending(self) -> str | None:
        pending = self._payments(("PENDING", "PROCESSING"))
        if not pending:
            return None
        payment = self.rng.choice(pending)
        done = bunny_control(self.stack, f"/_emulator/payments/{payment.id}/complete")
        applied = [(a["invoice_id"], a["amount"]) for a in done["applications"]]
        return f"pending payment {payment.id} completes: applied {applied}, unapplied {done['unapplied']}"

    def fail_pending(self) -> str | None:
        pending = self._payments(("PENDING", "PROCESSING"))
        if not pending:
            return None
        payment = self.rng.choice(pending)
        bunny_control(self.stack, f"/_emulator/payments/{payment.id}/fail")
        return f"pending payment {payment.id} fails"

    def refundable(self, payment: Any) -> Decimal:
        """What of the payment's applied money has not been refunded yet (the emulator's own rule)."""
        applied = sum((a.amount for a in self.bunny.applications_of(payment.id)), ZERO)
        marker = f"Refund of payment {payment.id}"
        refunded = sum((n.amount for n in self.bunny.tenant.credit_notes if n.description == marker), ZERO)
        return applied - refunded

    def refund(self) -> str | None:
        candidates = [p for p in self._payments(("SUCCEEDED",)) if self.refundable(p) > 0]
        if not candidates:
            return None
        payment = self.rng.choice(candidates)
        left = self.refundable(payment)
        full = self.rng.random() < 0.5
        amount = left if full else max(CENT, cents(left * Decimal(self.rng.randint(10, 90)) / 100))
        done = bunny_control(self.stack, f"/_emulator/payments/{payment.id}/refund", {"amount": str(amount)})
        notes = [(n["id"], n["invoice_id"], n["amount"]) for n in done["credit_notes"]]
        kind = "full" if full else "partial"
        return f"refund ({kind}) of {amount} of payment {payment.id}: credit notes (id, invoice, amount) {notes}"

    def apply_credit(self) -> str | None:
        open_ = [i for i in self._invoices(states=(*PAYABLE, "PROCESSING_PAYMENT")) if self._due(i) > 0]
        if not open_:
            return None
        invoice = self.rng.choice(open_)
        due = self._due(invoice)
        amount = due if self.rng.random() < 0.3 else max(CENT, cents(due * Decimal(self.rng.randint(10, 60)) / 100))
        bunny_control(self.stack, f"/_emulator/invoices/{invoice.id}/credits", {"amount": str(amount)})
        return f"account credit of {amount} applied to invoice {invoice.id} (due was {due})"

    def write_off(self) -> str | None:
        open_ = [i for i in self._invoices() if self._due(i) > 0]
        if not open_:
            return None
        invoice = self.rng.choice(open_)
        done = bunny_control(self.stack, f"/_emulator/invoices/{invoice.id}/write_off")
        return f"invoice {invoice.id} written off: credit note {done['credit_note_id']} of {done['amount']}"

    def void(self) -> str | None:
        noted = {n.credited_invoice_id for n in self.bunny.tenant.credit_notes}
        untouched = [
            i
            for i in self._invoices()
            if not self.bunny.applications_to(i.id)
            and not i.credits_applied
            and i.id not in noted
            and not any(i.id in p.intended_invoice_ids for p in self.bunny.tenant.payments)
        ]
        if not untouched:
            return None
        invoice = self.rng.choice(untouched)
        bunny_control(self.stack, f"/_emulator/invoices/{invoice.id}/void")
        return f"invoice {invoice.id} voided (nothing paid or credited on it)"

    # -- the daemon, a person, and AIQ ---------------------------------------------------------------------------

    def tick(self) -> str:
        names = self.rng.sample(list(SENSORS), self.rng.randint(1, len(SENSORS)))
        # A sweep now and then, as every few minutes: what a quick tick leaves (a change stamped in the second of its
        # watermark, or behind it) waits for one.
        runs = self.daemon.tick(*(SENSORS[n] for n in names), sweep=self.rng.random() < 0.3)
        listed = Counter(e.reason_code for e in list_exceptions(self.stack.instance, DOCUMENT_ASSETS))
        return f"tick {' -> '.join(names)}: {len(runs)} run(s); exceptions {dict(listed) or 'none'}"

    def person_retry(self) -> str | None:
        keys = [e.key for e in list_exceptions(self.stack.instance, DOCUMENT_ASSETS) if e.retryable]
        if not keys:
            return None
        retry(self.stack.instance, keys, defs=self.stack.defs)
        return f"a person retries {keys}"

    def faulty_tick(self) -> str:
        """A tick while AIQ misbehaves: one fault rule armed for this tick's runs, cleared after them."""
        rng = self.rng
        kind = rng.choice(["drop_after_commit", "drop_after_commit", "slow_commit", "throttle", "http_500", "latency"])
        rule: dict[str, Any] = {"kind": kind, "count": rng.randint(1, 2)}
        if kind != "latency" and rng.random() < 0.3:  # else any call (drops and slow commits hit only writes)
            rule["operations"] = [rng.choice(AIQ_WRITES)]
        if kind == "slow_commit":
            rule["latency_ms"] = int((AIQ_TIMEOUT + 0.5) * 1000)
        elif kind == "latency":
            rule |= {"latency_ms": rng.randint(100, 400), "count": rng.randint(2, 6)}
        elif kind == "throttle":
            rule["count"] = rng.randint(1, 3)
        before = self._faults_fired()
        aiq_control(self.stack, "/_emulator/faults", rule)
        try:
            said = self.tick()
        finally:
            httpx.delete(f"{self.stack.emulators.accountsiq_url}/_emulator/faults", timeout=30)
        fired = self._faults_fired() - before
        return f"AIQ fault {rule}, fired {sum(fired.values())} time(s), during a {said}"

    def _faults_fired(self) -> Counter[str]:
        return Counter(self.stack.emulators.accountsiq.stats.snapshot()["faults"])

    def lag(self) -> str:
        seconds = self.rng.choice([1, 2, 4])  # 4: longer than the product looks for a write it lost the answer of
        self.lag_steps = self.rng.randint(2, 6)
        aiq_control(self.stack, "/_emulator/options", {"lookup_lag_seconds": seconds})
        return f"AIQ fault: look-ups lag {seconds} s for the next {self.lag_steps} steps"

    # -- after the incident ----------------------------------------------------------------------------------------

    def tick_until_quiet(self, limit: int = 6) -> int:
        for round_number in range(1, limit + 1):
            if not self.daemon.tick(INVOICES, CREDIT_NOTES, PAYMENTS, sweep=True):  # the operator waits minutes
                return round_number
        return limit

    def settle(self, allowed: Callable[[DocumentException], bool], rounds: int = 6) -> list[DocumentException]:
        """Faults off and look-ups caught up; then, until nothing but `allowed` is listed: tick until quiet, and
        retry as a person what is retryable or in doubt (an OUTCOME_UNKNOWN is looked up once more first). What is in
        doubt with no later write to vouch for it (an HTTP 500 on the last write, or within the witness margin), the
        person checks in AIQ's own state and, when absent, retries with the override, as its fix says."""
        httpx.delete(f"{self.stack.emulators.accountsiq_url}/_emulator/faults", timeout=30)
        aiq_control(self.stack, "/_emulator/options", {"lookup_lag_seconds": 0})
        left: list[DocumentException] = []
        for round_number in range(1, rounds + 1):
            ticks = self.tick_until_quiet()
            left = list_exceptions(self.stack.instance, DOCUMENT_ASSETS)
            self.log.say(
                f"settle round {round_number}: {ticks} tick(s); exceptions "
                + (", ".join(f"{e.key} [{e.reason_code}]" for e in left) or "none")
            )
            again = [e.key for e in left if not allowed(e) and (e.retryable or e.reason_code == Reason.OUTCOME_UNKNOWN)]
            if not again:
                return left
            unvouched = checked_in_aiq_and_absent(self.stack, left, allowed)
            if unvouched:
                self.log.say(f"the operator finds {unvouched} absent from AIQ and retries them with the override")
                retry(self.stack.instance, unvouched, defs=self.stack.defs, rewrite_unknown=True)
            if rest := [key for key in again if key not in unvouched]:
                retry(self.stack.instance, rest, defs=self.stack.defs)
        return left


# -- what the two ledgers hold ---------------------------------------------------------------------------------------


def unmapped_allowed(stack: Stack, unmapped_payments: set[str]) -> Callable[[DocumentException], bool]:
    """An exception the scenario causes on purpose, UNMAPPED_BANK_ACCOUNT: a payment through the processor left
    unmapped, or a refund credit note on an invoice such a payment paid (the product pays a refund back through the
    bank of the invoice's latest payment, Bunny not saying which payment a refund returns)."""
    store = stack.emulators.bunny.store
    paid_by_unmapped = {a.invoice_id for p in unmapped_payments for a in store.applications_of(p)}
    notes = {
        credit_note_key(n.id)
        for n in store.tenant.credit_notes
        if n.kind == "REFUND" and n.credited_invoice_id in paid_by_unmapped
    }
    keys = {payment_key(p) for p in unmapped_payments} | notes

    def allowed(e: DocumentException) -> bool:
        return e.key in keys and e.reason_code == "UNMAPPED_BANK_ACCOUNT"

    return allowed


def bank_for(processor: str | None, currency: str) -> str:
    """The AIQ bank account the test's mapping (after the operator's fix) names for a processor and currency."""
    banks = BANKS | PAYPAL_BANKS
    name = (processor or "").lower()
    return banks.get(f"{name}:{currency}") or banks[f"{name}:*"]


def money_by_bank(stack: Stack) -> tuple[dict[str, tuple[Decimal, Decimal]], dict[str, tuple[Decimal, Decimal]]]:
    """Bank account -> (AIQ, Bunny): receipts (payments received less fees), and refunds paid back (by the bank
    of the payment Bunny refunded)."""
    store = stack.emulators.bunny.store
    currency = {c.id: c.iso_code for c in store.tenant.currencies}
    entity = stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY]
    receipts: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    refunds: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    banks: dict[str, str] = {}
    for payment in store.tenant.payments:
        if payment.entity_id == "1" and payment.processing_state in RECEIVED:
            banks[payment.id] = bank_for(payment.payment_processor, currency[payment.currency_id])
            receipts[banks[payment.id]][1] += payment.amount - payment.fees
    for note in store.tenant.credit_notes:
        refunded = note.description.removeprefix("Refund of payment ")
        if note.kind == "REFUND" and refunded in banks:
            refunds[banks[refunded]][1] += note.amount
    for t in entity.transactions.values():
        if t.type_code == "SR" and t.bank_account_code:
            receipts[t.bank_account_code][0] += abs(t.control_amount)
        elif t.type_code == "SD" and t.bank_account_code:
            refunds[t.bank_account_code][0] += abs(t.control_amount)
    return (
        {bank: (aiq, bunny) for bank, (aiq, bunny) in sorted(receipts.items())},
        {bank: (aiq, bunny) for bank, (aiq, bunny) in sorted(refunds.items())},
    )


@dataclass
class Audit:
    balances: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # customer -> (AIQ, Bunny)
    duplicates: dict[str, int] = field(default_factory=dict)
    over_allocated: list[str] = field(default_factory=list)  # a pair allocated beyond what Bunny applied
    allocated_twice: list[str] = field(default_factory=list)
    unexpected_pairs: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)  # a document's outstanding not its gross less allocations
    outstanding: list[str] = field(default_factory=list)  # an invoice's AIQ outstanding not what Bunny implies
    receipts: list[str] = field(default_factory=list)  # receipts AIQ lacks or holds without money received in Bunny
    receipts_by_bank: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # bank -> (AIQ, Bunny)
    refunds_by_bank: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # reported, not asserted
    allocations: int = 0
    documents: Counter[str] = field(default_factory=Counter)

    def problems(self) -> dict[str, object]:
        differ = {c: f"AIQ {a}, Bunny {b}" for c, (a, b) in self.balances.items() if a != b}
        named = {
            "balances differ": differ,
            "references held twice": self.duplicates,
            "pairs allocated beyond Bunny's amount": self.over_allocated,
            "pairs allocated more than once": self.allocated_twice,
            "allocations Bunny has no reason for": self.unexpected_pairs,
            "outstanding amounts inconsistent with allocations": self.inconsistent,
            "invoices outstanding in AIQ other than Bunny implies": self.outstanding,
            "receipts not one per payment received": self.receipts,
            "receipts per bank account differ (AIQ, Bunny)": {
                bank: f"AIQ {aiq}, Bunny {bunny}"
                for bank, (aiq, bunny) in self.receipts_by_bank.items()
                if aiq != bunny
            },
        }
        return {name: value for name, value in named.items() if value}


def _base_reference(reference: str) -> str:
    """Account credit posts in parts (BUNNY-ACR-<id>, -2, ...): one budget for all of them."""
    if reference.startswith(ACCOUNT_CREDIT_PREFIX):
        head, _, tail = reference.rpartition("-")
        if tail.isdigit() and head != ACCOUNT_CREDIT_PREFIX:
            return head
    return reference


def bunny_plan(bunny: Any) -> tuple[dict[tuple[str, str], Decimal], dict[str, Decimal]]:
    """From Bunny's state: (credit-side reference, debit-side reference) -> the most the product may allocate between
    them, and invoice reference -> what AIQ shows outstanding on it when every pair allocates (Bunny's amount due)."""
    plan: dict[tuple[str, str], Decimal] = {}
    for payment in bunny.tenant.payments:
        if payment.entity_id != "1" or payment.processing_state not in RECEIVED:
            continue
        receipt_left, fee_left = payment.amount - payment.fees, payment.fees
        applied: dict[str, Decimal] = {}
        for a in sorted(bunny.applications_of(payment.id), key=lambda a: (a.created_at, a.id)):
            applied[a.invoice_id] = applied.get(a.invoice_id, ZERO) + a.amount
        for invoice_id, amount in applied.items():
            by_receipt = min(amount, receipt_left)
            by_fees = min(amount - by_receipt, fee_left)
            receipt_left, fee_left = receipt_left - by_receipt, fee_left - by_fees
            plan[(payment_reference(payment.id), invoice_reference(invoice_id))] = by_receipt
            plan[(fee_reference(payment.id), invoice_reference(invoice_id))] = by_fees
    due: dict[str, Decimal] = {}
    for invoice in bunny.tenant.invoices:
        if invoice.entity_id != "1" or invoice.issued_at is None or invoice.issued_at.isoformat() < START:
            continue
        figures = bunny.figures(invoice)
        due[invoice_reference(invoice.id)] = figures.amount_due
        if invoice.credits_applied:
            plan[(account_credit_reference(invoice.id), invoice_reference(invoice.id))] = invoice.credits_applied
        if invoice.state == "VOIDED":
            plan[(void_reference(invoice.id), invoice_reference(invoice.id))] = figures.gross
    for note in bunny.tenant.credit_notes:
        if note.entity_id != "1" or not note.credited_invoice_id:
            continue
        plan[(credit_note_reference(note.id), invoice_reference(note.credited_invoice_id))] = note.amount
        if note.kind == "REFUND":
            plan[(credit_note_reference(note.id), refund_reference(note.id))] = note.amount
    return plan, due


def audit(stack: Stack, allocation_pairs: str) -> Audit:
    result = Audit()
    entity = stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY]
    transactions = [t for t in entity.transactions.values() if t.external_reference.startswith("BUNNY-")]
    by_id = {t.transaction_id: t for t in transactions}
    references = Counter(t.external_reference for t in transactions)
    result.duplicates = {ref: n for ref, n in references.items() if n > 1}
    result.documents = Counter(t.type_code for t in transactions)

    aiq, bunny = aiq_customer_balances(stack), bunny_customer_balances(stack)
    for code in sorted(set(aiq) | set(bunny) | {c.code for c in CUSTOMERS}):
        result.balances[code] = (aiq.get(code, ZERO), bunny.get(code, ZERO))

    bunny_store = stack.emulators.bunny.store
    received = {
        payment_reference(p.id)
        for p in bunny_store.tenant.payments
        if p.entity_id == "1" and p.processing_state in RECEIVED
    }
    held = {t.external_reference for t in transactions if t.type_code == "SR"}
    result.receipts = [f"{r} missing" for r in sorted(received - held)] + [
        f"{r} without money received" for r in sorted(held - received)
    ]
    result.receipts_by_bank, result.refunds_by_bank = money_by_bank(stack)
    plan, due = bunny_plan(bunny_store)
    pairs: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    allocated: dict[int, Decimal] = defaultdict(Decimal)
    for allocation in entity.allocations:
        first, second = (by_id.get(i) for i in allocation.transaction_ids)
        if first is None or second is None:
            continue
        result.allocations += 1
        allocated[first.transaction_id] += allocation.amount
        allocated[second.transaction_id] += allocation.amount
        one, other = _base_reference(first.external_reference), _base_reference(second.external_reference)
        pairs[(one, other) if (one, other) in plan else (other, one)].append(allocation.amount)
    for pair, amounts in pairs.items():
        label = f"{pair[0]} / {pair[1]}: {[str(a) for a in amounts]}"
        if pair not in plan:
            result.unexpected_pairs.append(label)
            continue
        if sum(amounts, ZERO) > plan[pair]:
            result.over_allocated.append(f"{label}, Bunny {plan[pair]}")
        if len(amounts) > 1 and not pair[0].startswith(ACCOUNT_CREDIT_PREFIX):
            result.allocated_twice.append(label)
    for t in transactions:
        gross, left = abs(t.control_amount), abs(t.outstanding_amount)
        if left != gross - allocated[t.transaction_id] or t.outstanding_amount * t.control_amount < 0:
            result.inconsistent.append(
                f"{t.external_reference} ({t.type_code}): gross {gross}, allocated {allocated[t.transaction_id]}, "
                f"outstanding {t.outstanding_amount}"
            )
    _audit_invoices(transactions, plan, due, allocated, allocation_pairs, result)
    return result


def _audit_invoices(
    transactions: list[Any],
    plan: dict[tuple[str, str], Decimal],
    due: dict[str, Decimal],
    allocated: dict[int, Decimal],
    pairs: str,
    result: Audit,
) -> None:
    """Each posted invoice's outstanding amount in AIQ is Bunny's amount due, plus (under wiki_table, where AIQ does
    not allocate a credit journal to an invoice) what fees and account credit settled of it in Bunny."""
    for t in transactions:
        if t.type_code != "SI" or t.external_reference not in due:
            continue
        expected = due[t.external_reference]
        if pairs == "wiki_table":
            expected += sum(
                (
                    amount
                    for (source, target), amount in plan.items()
                    if target == t.external_reference and source.startswith(("BUNNY-FEE-", ACCOUNT_CREDIT_PREFIX))
                ),
                ZERO,
            )
        if abs(t.outstanding_amount) == expected:
            continue
        said = (
            f"{t.external_reference}: AIQ outstanding {t.outstanding_amount}, expected {expected} "
            f"(Bunny amount due {due[t.external_reference]})"
        )
        result.outstanding.append(said)


def exceptions_summary(exceptions: list[DocumentException]) -> str:
    return "; ".join(f"{e.key} [{e.reason_code}] {e.reason}" for e in exceptions) or "none"
