"""The randomized invoices scenario (issue 11): a stack, a seeded sequence of what happens to invoices in Bunny and
to AIQ, and an audit of the two ledgers from the emulators' own state (see test_randomized.py for the rules).

- `invoices_stack`: the payments test's stack (`payments_stack`: both emulators over real HTTP, a short client
  timeout and unknown-outcome deadline, a bad-debt account for write-offs), with the sample tenant's documents
  removed (history this test does not own), a sync start two months back (invoices are back-dated so several AIQ
  periods hold documents), a finance team's tax mapping (an engine code and the reverse-charge and export markers)
  and a drawn reading of how Bunny shows consolidation.
- `InvoiceScenario`: the payments `Scenario`'s driver (ticks, a person's retry, settle) with invoice steps: every
  kind of line and document (prorations up and down, coupons, several tax rates in one invoice, credit lines, a
  credit beyond its tax group, zero-value trials, account credit, consolidated invoices, write-offs, full and
  partial refunds of what a customer paid first, voids) and AIQ faults aimed at what the product sends
  (INVOICE_CREATES, CREDIT_NOTE_CREATES).
- `audit`: per customer, month and AIQ tax code, the signed net and tax of AIQ's sales invoices and credit notes
  (SI positive, SN negative) against what Bunny's documents say should post; each reference held once (the
  receipts of the payments refunded and the money paid back included); no reference for what must not post;
  write-offs on the bad-debt account.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.resources import PostingRulesResource, SyncSettings
from aiq_pipeline.sync.identity import (
    account_credit_reference,
    credit_note_reference,
    customer_code,
    fee_reference,
    invoice_credit_reference,
    invoice_reference,
    payment_reference,
    refund_reference,
    void_credit_reference,
    void_reference,
)
from aiq_pipeline.sync.tax import TaxMapping
from aiq_pipeline_tests.aiq_writes import CREDIT_NOTE_CREATES, INVOICE_CREATES
from aiq_pipeline_tests.payments.conftest import BANKS, payment_rules
from aiq_pipeline_tests.payments.driving import AIQ_ENTITY
from aiq_pipeline_tests.payments.random_payments import (
    AIQ_TIMEOUT,
    BAD_DEBT_ACCOUNT,
    SENSORS,
    AiqReadings,
    Customer,
    Log,
    RandomStack,
    Scenario,
    bunny_control,
    payments_stack,
)
from aiq_pipeline_tests.pipeline.conftest import Stack

SEED_VARIABLE = "AIQ_PIPELINE_INVOICES_SEED"
STEPS_VARIABLE = "AIQ_PIPELINE_INVOICES_STEPS"

ZERO = Decimal(0)
CENT = Decimal("0.01")
BACK_DAYS = 60  # invoices are issued up to this many days ago (the sync starts there)
OPEN = ("NOT_DUE", "DUE", "UNPAID")  # voidable, and can be written off when something is due
NOT_ISSUED = ("PREPARING", "FAILED", "DRAFT", "READY", "QUEUED", "VOIDED")
CONSOLIDATION_READINGS = ("components_consolidated", "combined_consolidated")

# A finance team's mapping: the tax engine's reduced-rate product code, and the reverse-charge and export markers.
ENGINE_CODE = "PC040100"
TAX_MAPPING = (
    f"bunny_tax_code,bunny_vat_code,rate,country,aiq_tax_code\n{ENGINE_CODE},,,,V02\n,RC,,,EX\n,EXPORT,,,V00\n"
)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


# -- the stack ----------------------------------------------------------------------------------------------------


def sync_start() -> dt.date:
    return dt.date.today() - dt.timedelta(days=BACK_DAYS)


def posting_rules(tmp_path: Path) -> PostingRulesResource:
    mapping = tmp_path / "tax-mapping.csv"
    mapping.write_text(TAX_MAPPING, encoding="utf-8")
    return payment_rules(bank_accounts=BANKS, bad_debt_account=BAD_DEBT_ACCOUNT, tax_mapping_file=str(mapping))


@contextmanager
def invoices_stack(tmp_path: Path, readings: AiqReadings, consolidation: str) -> Iterator[RandomStack]:
    with payments_stack(tmp_path, readings) as env:
        store = env.stack.emulators.bunny.store
        with store.lock:  # the sample tenant's documents are history this test does not own
            store.tenant.invoices = [i for i in store.tenant.invoices if i.entity_id != "1"]
            store.tenant.credit_notes = [n for n in store.tenant.credit_notes if n.entity_id != "1"]
            store.tenant.payments = [p for p in store.tenant.payments if p.entity_id != "1"]
            store.save()
        bunny_control(env.stack, "/_emulator/options", {"consolidation": consolidation})
        settings = env.resources["sync_settings"]
        env.resources["sync_settings"] = SyncSettings(
            batch_size=settings.batch_size,
            sync_start_date=sync_start().isoformat(),
            unknown_outcome_deadline_seconds=settings.unknown_outcome_deadline_seconds,
        )
        env.resources["posting_rules"] = posting_rules(tmp_path)
        env.stack.defs = build_definitions(env.resources)
        yield env


# -- the scenario -------------------------------------------------------------------------------------------------


def _money(rng: random.Random, low: int, high: int) -> str:
    return f"{Decimal(rng.randint(low * 100, high * 100)) / 100:.2f}"


STANDARD = {"charge": "SUB-MONTHLY", "tax_rate": "23", "tax_code": "V01"}
SERVICES = {"charge": "PRO-SERVICES", "tax_rate": "13.5", "tax_code": "V02", "charge_kind": "quote"}


class InvoiceScenario(Scenario):
    """Bunny's invoicing and AIQ's bad moments, one seeded step at a time (the payments scenario's driver)."""

    def __init__(self, env: RandomStack, rng: random.Random, log: Log) -> None:
        super().__init__(env, rng, log)
        self.shapes: Counter[str] = Counter()
        self.touched: set[str] = set()  # invoices already refunded, written off or voided
        self.actions = [
            ("invoice", 24, self.new_invoice),
            ("consolidate", 5, self.consolidate),
            ("write_off", 4, self.write_off),
            ("refund", 5, self.refund),
            ("void", 4, self.void),
            ("tick", 8, self.tick),
            ("faulty_tick", 10, self.faulty_tick),
            ("retry", 2, self.person_retry),
        ]

    def _issued_at(self) -> str:
        return (dt.date.today() - dt.timedelta(days=self.rng.randint(0, BACK_DAYS))).isoformat()

    def _lines(self, shape: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        rng = self.rng
        price = _money(rng, 20, 300)
        standard = STANDARD | {"price": price, "quantity": rng.randint(1, 3)}
        if shape == "plain":
            return [standard], {}
        if shape == "several_rates":
            pool: list[dict[str, Any]] = [
                SERVICES | {"price": _money(rng, 50, 400)},
                {"charge": "SUB-MONTHLY", "price": _money(rng, 5, 60), "tax_rate": "0", "tax_code": "V00",
                 "line_text": "Books"},
                {"charge": "SUB-MONTHLY", "price": _money(rng, 10, 90), "tax_rate": "0", "vat_code": "RC",
                 "line_text": "EU business customer (reverse charge)"},
                {"charge": "SUB-MONTHLY", "price": _money(rng, 10, 90), "tax_rate": "0", "vat_code": "EXPORT",
                 "line_text": "Customer outside the EU (export)"},
                {"charge": "PRO-SERVICES", "price": _money(rng, 10, 90), "tax_rate": "13.5",
                 "tax_code": ENGINE_CODE, "charge_kind": "quote", "line_text": "Reduced (tax engine code)"},
                {"charge": "SUB-MONTHLY", "price": f"-{_money(rng, 1, 15)}", "tax_rate": "23", "tax_code": "V01",
                 "is_credit": True, "line_text": "Goodwill credit"},
            ]  # fmt: skip
            return [standard, *rng.sample(pool, rng.randint(2, len(pool)))], {}
        if shape in ("proration_up", "proration_down"):
            full = Decimal(price)
            old = cents(full * Decimal(rng.choice(["0.3", "0.5", "0.7"])))
            if shape == "proration_down":
                old = full + Decimal(rng.randint(100, 5000)) / 100  # the dearer plan's unused time: a negative total
            credit = STANDARD | {"price": f"-{old}", "is_credit": True, "kind": "UPDATE", "proration_rate": "0.5",
                                 "credits_line": 1, "line_text": "Unused time on the old plan"}  # fmt: skip
            return [STANDARD | {"price": price, "kind": "UPDATE", "proration_rate": "0.5"}, credit], {}
        if shape == "coupon":
            coupon = (
                {"code": "WINTER", "percent": str(rng.choice([10, 20, 25]))}
                if rng.random() < 0.5
                else {"code": "WELCOME", "amount": _money(rng, 1, 20)}
            )
            return [standard, SERVICES | {"price": _money(rng, 20, 100)}], {"coupons": [coupon]}
        if shape == "credit_beyond_group":  # the V02 group's credit exceeds its charge: a remainder credit note
            services = Decimal(_money(rng, 20, 80))
            over = services + Decimal(_money(rng, 1, 15))
            credit = SERVICES | {"price": f"-{over}", "is_credit": True, "credits_line": 2, "line_text": "Credit"}
            return [STANDARD | {"price": _money(rng, 100, 300)}, SERVICES | {"price": str(services)}, credit], {}
        if shape == "zero_value":
            return [STANDARD | {"price": price, "line_text": "Trial"}], {
                "coupons": [{"code": "TRIAL", "percent": "100"}]
            }
        if shape == "credits":  # account credit applied at issue
            return [standard], {"credits": _money(rng, 1, 20)}
        raise AssertionError(shape)

    SHAPES = ("plain", "several_rates", "proration_up", "proration_down", "coupon", "credit_beyond_group",
              "zero_value", "credits")  # fmt: skip

    def new_invoice(self) -> str:
        customer: Customer = self._customer()
        shape = self.rng.choice(self.SHAPES)
        items, extra = self._lines(shape)
        spec = {"account": customer.account, "release": True, "fx_rate": customer.fx_rate, "items": items}
        spec |= extra | {"issued_at": self._issued_at()}
        (invoice_id,) = bunny_control(self.stack, "/_emulator/invoices", spec)["ids"]
        self.shapes[shape] += 1
        figures = self.bunny.figures(self.bunny._invoice(str(invoice_id)))
        return f"invoice {invoice_id} ({shape}) for {customer.code}, {spec['issued_at']}, gross {figures.amount}"

    def consolidate(self) -> str:
        customer = self._customer()
        ids = []
        for _ in range(self.rng.randint(2, 3)):
            shape = self.rng.choice(("plain", "several_rates", "coupon", "proration_up"))
            items, extra = self._lines(shape)
            spec = {"account": customer.account, "queued": True, "fx_rate": customer.fx_rate, "items": items}
            ids += bunny_control(self.stack, "/_emulator/invoices", spec | extra)["ids"]
        combined = bunny_control(self.stack, "/_emulator/invoices/consolidate", {"ids": ids})
        self.shapes["consolidated"] += 1
        return f"invoices {ids} queued and consolidated into {combined['id']} for {customer.code}"

    def _targets(self, states: tuple[str, ...]) -> list[Any]:
        return [
            i
            for i in self.bunny.tenant.invoices
            if i.entity_id == "1"
            and i.state in states
            and i.id not in self.touched
            and not i.credits_applied
            and self.bunny.figures(i).amount > 0
        ]

    def _pick(self, states: tuple[str, ...]) -> Any | None:
        found = self._targets(states)
        if not found:
            return None
        invoice = self.rng.choice(found)
        self.touched.add(invoice.id)
        return invoice

    def write_off(self) -> str | None:
        invoice = self._pick(OPEN)
        if invoice is None:
            return None
        done = bunny_control(self.stack, f"/_emulator/invoices/{invoice.id}/write_off")
        return f"invoice {invoice.id} written off: credit note {done['credit_note_id']} of {done['amount']}"

    def refund(self) -> str | None:
        """The customer pays the invoice through stripe (in full, or in part) and is refunded: the whole invoice,
        part of one line, or through the payment's own refund route. A refund is up to the paid amount (Bunny's
        docs; the emulator's default `refund_bound`): one asking more than was paid is refused, and the payment's
        refund of part of what was paid follows instead."""
        invoice = self._pick(OPEN)
        if invoice is None:
            return None
        rng, due = self.rng, self.bunny.figures(invoice).amount_due
        pay: dict[str, Any] = {"account": invoice.account_id, "invoices": [invoice.id], "processor": "stripe"}
        if rng.random() < 0.3:
            pay["amount"] = str(max(CENT, cents(due * Decimal(rng.randint(20, 80)) / 100)))
        payment = bunny_control(self.stack, "/_emulator/payments", pay)
        figures = self.bunny.figures(self.bunny._invoice(invoice.id))
        paid = figures.amount_paid
        said = f"invoice {invoice.id} paid {paid} of {figures.gross} (payment {payment['id']})"
        kind = rng.choice(["full", "line", "line", "payment"])
        if kind != "payment":
            body: dict[str, Any] = {}
            asked = figures.gross
            positive = [s for s in figures.items if s.net > 0]
            if kind == "line" and positive:  # a partial refund of one line, with its share of the line's tax
                line = rng.choice(positive)
                net = max(CENT, cents(line.net * Decimal(rng.randint(10, 90)) / 100))
                body["amounts"] = {line.item.id: str(net)}
                asked = net + cents(line.tax * net / line.net)
            answer = httpx.post(
                f"{self.stack.emulators.bunny_url}/_emulator/invoices/{invoice.id}/refund", json=body, timeout=30
            )
            what = f"partial {body['amounts']}" if body else "full"
            if asked <= paid:
                assert answer.status_code == 201, f"refund of {asked}, {paid} paid: {answer.text}"
                return f"{said}; refunded ({what}, {asked}): credit note {answer.json()['credit_note_id']}"
            assert answer.status_code == 409 and "up to the paid amount" in answer.json()["error"], answer.text
            said += f"; a refund ({what}) of {asked} refused"
        back = paid if rng.random() < 0.5 else max(CENT, cents(paid * Decimal(rng.randint(10, 90)) / 100))
        done = bunny_control(self.stack, f"/_emulator/payments/{payment['id']}/refund", {"amount": str(back)})
        notes = [(n["id"], n["amount"]) for n in done["credit_notes"]]
        return f"{said}; {back} of the payment refunded: credit note(s) (id, amount) {notes}"

    def void(self) -> str | None:
        invoice = self._pick(OPEN)
        if invoice is None:
            return None
        bunny_control(self.stack, f"/_emulator/invoices/{invoice.id}/void")
        return f"invoice {invoice.id} voided"

    def faulty_tick(self) -> str:
        """A tick while AIQ misbehaves: one fault rule on what the product sends, cleared after the tick."""
        rng = self.rng
        kind = rng.choice(["drop_after_commit", "drop_after_commit", "slow_commit", "throttle", "http_500", "latency"])
        rule: dict[str, Any] = {"kind": kind, "count": rng.randint(1, 2)}
        if kind != "latency":
            rule["operations"] = rng.choice(
                [INVOICE_CREATES, CREDIT_NOTE_CREATES, [*INVOICE_CREATES, *CREDIT_NOTE_CREATES]]
            )
        if kind == "slow_commit":
            rule["latency_ms"] = int((AIQ_TIMEOUT + 0.5) * 1000)
        elif kind == "latency":
            rule |= {"latency_ms": rng.randint(100, 300), "count": rng.randint(2, 5)}
        faults = self.stack.emulators.accountsiq.faults
        before = self._faults_fired()
        faults.add(rule)
        try:  # the document sensors in a random order, so the fault meets the writes waiting
            names = self.rng.sample(["invoices", "credit_notes"], 2)
            runs = self.daemon.tick(*(SENSORS[n] for n in names), sweep=self.rng.random() < 0.3)
            said = f"tick {' -> '.join(names)}: {len(runs)} run(s)"
        finally:
            faults.clear()
        fired = self._faults_fired() - before
        return f"AIQ fault {rule}, fired {sum(fired.values())} time(s), during a {said}"


# -- the audit ----------------------------------------------------------------------------------------------------

Key = tuple[str, str, str]  # (customer code, YYYY-MM, AIQ tax code)


@dataclass
class InvoiceAudit:
    aiq: dict[Key, tuple[Decimal, Decimal]] = field(default_factory=dict)  # signed (net, tax)
    bunny: dict[Key, tuple[Decimal, Decimal]] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    bad_debt: tuple[Decimal, Decimal] = (ZERO, ZERO)  # net on the bad-debt account: (AIQ, Bunny's write-offs)
    documents: Counter[str] = field(default_factory=Counter)

    def problems(self) -> dict[str, object]:
        differ = {
            "/".join(k): f"AIQ {self.aiq.get(k, (ZERO, ZERO))}, Bunny {self.bunny.get(k, (ZERO, ZERO))}"
            for k in sorted(set(self.aiq) | set(self.bunny))
            if self.aiq.get(k, (ZERO, ZERO)) != self.bunny.get(k, (ZERO, ZERO))
        }
        named = {
            "net/tax differ per customer, month and tax code": differ,
            "references held twice": self.duplicates,
            "documents AIQ lacks": self.missing,
            "references AIQ should not hold": self.unexpected,
            "bad debt (AIQ, Bunny)": self.bad_debt if self.bad_debt[0] != self.bad_debt[1] else None,
        }
        return {name: value for name, value in named.items() if value}


def _month(day: dt.date) -> str:
    return day.strftime("%Y-%m")


def expected_tax_code(mapping: TaxMapping, known: set[str], tax_code: str | None, vat_code: str | None,
                      rate: Decimal | None) -> str:  # fmt: skip
    """The AIQ code a Bunny line posts under: the finance team's mapping (from the stack's settings), else the
    line's own code when AIQ knows it, else the default V01 for an uncoded 23 % line."""
    rule = mapping.resolve(
        tax_code=tax_code, vat_code=vat_code, rate_matches=lambda r: r == (rate or ZERO), country=None
    )
    if rule is not None:
        return rule.aiq_tax_code
    if tax_code and tax_code in known:
        return tax_code
    assert not tax_code and rate == Decimal(23), f"no AIQ code for {tax_code}/{vat_code}/{rate}"
    return "V01"


def _add(out: dict[Key, list[Decimal]], key: Key, net: Decimal, tax: Decimal) -> None:
    out[key][0] += net
    out[key][1] += tax


def _nonzero(out: dict[Key, list[Decimal]]) -> dict[Key, tuple[Decimal, Decimal]]:
    return {k: (cents(n), cents(t)) for k, (n, t) in out.items() if n or t}


def audit(stack: Stack, rules: PostingRulesResource) -> InvoiceAudit:
    result = InvoiceAudit()
    entity = stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY]
    transactions = [t for t in entity.transactions.values() if t.external_reference.startswith("BUNNY-")]
    references = Counter(t.external_reference for t in transactions)
    result.duplicates = {r: n for r, n in references.items() if n > 1}
    result.documents = Counter(t.type_code for t in transactions)

    aiq: dict[Key, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for t in transactions:
        if t.type_code not in ("SI", "SN"):
            continue
        for line in t.lines:  # AIQ's lines: credit negative; an SI's net and VAT are credits, an SN's debits
            if line.kind == "Net":
                _add(aiq, (t.customer_code, _month(t.transaction_date), line.tax_code or ""), -line.amount, ZERO)
                if t.type_code == "SN" and line.gl_account_code == BAD_DEBT_ACCOUNT:
                    result.bad_debt = (result.bad_debt[0] + line.amount, result.bad_debt[1])
            elif line.kind == "Vat":
                _add(aiq, (t.customer_code, _month(t.transaction_date), line.tax_code or ""), ZERO, -line.amount)
    result.aiq = _nonzero(aiq)

    store = stack.emulators.bunny.store
    mapping, known = rules.tax_mapping(), set(entity.tax_codes)
    start = sync_start()
    bunny: dict[Key, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    codes: dict[str, str] = {}  # invoice item id -> AIQ tax code
    expected: dict[str, tuple[str, ...]] = {}  # a document -> the references one of which AIQ must hold
    allowed: set[str] = set()
    for invoice in store.tenant.invoices:
        if invoice.entity_id != "1" or invoice.issued_at is None or invoice.issued_at < start:
            continue
        figures = store.figures(invoice)
        for shown in figures.items:
            item = shown.item
            codes[item.id] = expected_tax_code(mapping, known, shown.tax_code, item.vat_code, item.tax_rate)
        if invoice.credits_applied:
            allowed |= {account_credit_reference(invoice.id)} | {
                f"{account_credit_reference(invoice.id)}-{n}" for n in range(2, 10)
            }
        main, remainder = invoice_reference(invoice.id), invoice_credit_reference(invoice.id)
        voided = invoice.state == "VOIDED"
        posts = (
            invoice.merged_to_invoice_id is None
            and figures.amount != 0
            and (invoice.state not in NOT_ISSUED or (voided and bool(references[main] + references[remainder])))
        )  # a voided invoice posted (and reversed) only if the product saw it issued: either is right
        if not posts:
            continue
        who = customer_code(invoice.account_id)
        expected[f"invoice {invoice.id}"] = (main, remainder)
        allowed |= {main, remainder}
        for shown in figures.items:
            _add(bunny, (who, _month(invoice.issued_at), codes[shown.item.id]), shown.net, shown.tax)
        if voided:
            expected[f"void of {invoice.id}"] = (void_reference(invoice.id), void_credit_reference(invoice.id))
            allowed |= {void_reference(invoice.id), void_credit_reference(invoice.id)}
            for shown in figures.items:
                day = invoice.updated_at.date()
                _add(bunny, (who, _month(day), codes[shown.item.id]), -shown.net, -shown.tax)
    paid_by: dict[str, set[str]] = defaultdict(set)  # invoice id -> the received payments applied to it
    for payment in store.tenant.payments:
        if payment.entity_id != "1" or payment.processing_state != "SUCCEEDED":
            continue
        expected[f"payment {payment.id}"] = (payment_reference(payment.id),)
        allowed |= {payment_reference(payment.id), fee_reference(payment.id)}
        for application in store.applications_of(payment.id):
            paid_by[application.invoice_id].add(payment.id)
    for note in store.tenant.credit_notes:
        if note.entity_id != "1" or note.issued_at is None or note.issued_at < start:
            continue
        reference = credit_note_reference(note.id)
        expected[f"credit note {note.id} ({note.kind})"] = (reference,)
        allowed.add(reference)
        if note.kind == "REFUND" and paid_by.get(note.credited_invoice_id or ""):  # money paid back
            expected[f"refund paid back by credit note {note.id}"] = (refund_reference(note.id),)
            allowed.add(refund_reference(note.id))
        who = customer_code(note.account_id)
        for ni in note.items:
            code = codes.get(ni.invoice_item_id or "") or expected_tax_code(
                mapping, known, ni.tax_code, ni.vat_code, None
            )
            _add(bunny, (who, _month(note.issued_at), code), -ni.subtotal, -ni.tax_amount)
            if note.kind == "WRITE_OFF":
                result.bad_debt = (result.bad_debt[0], result.bad_debt[1] + ni.subtotal)
    result.bunny = _nonzero(bunny)
    result.missing = [f"{what}: {refs}" for what, refs in expected.items() if not any(references[r] for r in refs)]
    result.unexpected = sorted(r for r in references if r not in allowed)
    return result
