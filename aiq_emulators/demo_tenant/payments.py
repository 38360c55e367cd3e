"""The demo tenant's payments (issue 12): what its customers paid, as of AS_OF, played through the Bunny emulator's
own rules so the payments, their applications, the invoices' states and the REFUND credit notes are exactly what the
emulator would hold after the same events.

The story, on the synced entity's released invoices:

- most invoices Bunny drew as PAID are paid in full on the day they were paid, through a processor drawn per currency
  (stripe, gocardless, manual); a few card payments carry the processor's fee;
- some DUE invoices are paid in part (they stay DUE, owing the rest);
- a few paid invoices are refunded afterwards (REFUND credit notes, one in full, the others in part);
- one invoice is overpaid by bank transfer: the rest stays unapplied on the customer's account;
- two invoices have a payment still pending (PROCESSING_PAYMENT) and one a payment that failed;
- account credit is applied to two invoices, one settled by it, one in part;
- a few invoices are paid through "paypal", the processor the demo leaves unmapped on purpose;
- one of the invoices planted to fail as NOT_POSTING_ACCOUNT is paid, so its payment waits for it; the other
  planted failures stay unpaid.

Entity 2's PAID invoices are paid too (never synced). Every moment lies between the invoice's creation and AS_OF, so
the money is received in AIQ's open periods (the closed-period invoices are never paid). Draws come from the
generator's one seeded random after the invoices' own draws, so adding payments left the invoices as they were; the
emulator's own random credit-note uuids are replaced by seeded ones.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from aiq_emulators.bunny.models import Invoice, Tenant, cents
from aiq_emulators.bunny.store import TenantStore
from aiq_emulators.demo_tenant.invoices import Draft
from aiq_emulators.demo_tenant.vocabulary import (
    AS_OF,
    CARD_FEES,
    MANUAL,
    NOT_POSTING_ACCOUNT,
    PAYMENT_TYPES,
    PROCESSORS,
    STRIPE,
    UNMAPPED_PROCESSOR,
)

# The cases of the story; a payment may be in more than one (a refunded card payment with a fee).
FULL = "full"
PARTIAL = "partial"
OVERPAID = "overpaid"
REFUNDED = "refunded"
WITH_FEES = "with_fees"
PENDING = "pending"
FAILED = "failed"
UNMAPPED = "unmapped"
WAITING = "waiting_for_invoice"
OTHER_ENTITY = "other_entity"
ACCOUNT_CREDIT = "account_credit"  # invoice ids, not payment ids
PAYMENT_CASES = (FULL, PARTIAL, OVERPAID, REFUNDED, WITH_FEES, PENDING, FAILED, UNMAPPED, WAITING, OTHER_ENTITY)
HOUR = dt.timedelta(hours=1)


@dataclass
class PaymentStory:
    """What the generator did, by case: payment ids per payment case, invoice ids for account credit, and the
    REFUND credit notes (ids) it issued."""

    cases: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in (*PAYMENT_CASES, ACCOUNT_CREDIT)})
    refund_notes: list[str] = field(default_factory=list)

    def case_of(self, payment_id: str) -> set[str]:
        return {case for case, ids in self.cases.items() if case != ACCOUNT_CREDIT and payment_id in ids}


@dataclass
class _Event:
    moment: dt.datetime
    act: Callable[[TenantStore], None]


class _Clock:
    def __init__(self) -> None:
        self.now = AS_OF

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class _Payment:
    """One payment taken through the emulator's rules when its moment comes; `fees` is decided afterwards."""

    story: PaymentStory
    invoice: Invoice
    moment: dt.datetime
    processor: str
    cases: tuple[str, ...]
    amount: Decimal | None = None  # None: what the invoice owes (or `share` of it)
    share: Decimal | None = None
    pending: bool = False
    fees: bool = False
    payment_id: str = ""

    def __call__(self, store: TenantStore) -> None:
        owed = store.figures(self.invoice).amount_due
        paid = self.amount if self.amount is not None else cents(owed * (self.share or Decimal(1)))
        fees = Decimal(0)
        if self.fees:
            rate, fixed = CARD_FEES[self.invoice.currency_id]
            fees = cents(paid * Decimal(rate)) + Decimal(fixed)
        payment = store.take_payment(
            account_id=self.invoice.account_id,
            invoice_ids=[self.invoice.id],
            amount=paid,
            fees=fees,
            processor=self.processor,
            payment_type=PAYMENT_TYPES[self.processor],
            pending=self.pending,
            received_at=self.moment,
        )
        self.payment_id = payment.id
        for case in (*self.cases, *((WITH_FEES,) if fees else ())):
            self.story.cases[case].append(payment.id)


class PaymentMaker:
    def __init__(self, rng: random.Random, tenant: Tenant, drafts: list[Draft]) -> None:
        """`tenant.invoices[i]` is the invoice made from `drafts[i]`."""
        self.rng = rng
        self.tenant = tenant
        self.drafts = drafts
        self.story = PaymentStory()
        self.events: list[_Event] = []

    def play(self) -> PaymentStory:
        """Decide every payment, then play them in time order through the emulator's rules (the tenant changes in
        place: payments, applications, invoice states, credit notes)."""
        self._decide()
        clock = _Clock()
        store = TenantStore(Tenant(), clock=clock)
        store.tenant = self.tenant  # the tenant itself, not a copy: no state dir, nothing is written
        notes_before = len(self.tenant.credit_notes)
        for event in sorted(self.events, key=lambda e: e.moment):  # stable: same moment, decision order
            clock.now = event.moment
            event.act(store)
        for note in self.tenant.credit_notes[notes_before:]:
            note.uuid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self._states_as_of()
        return self.story

    # -- deciding -----------------------------------------------------------------------------------------

    def _decide(self) -> None:
        rng = self.rng
        pairs = list(zip(self.tenant.invoices, self.drafts, strict=True))
        released = [(i, d) for i, d in pairs if d.state not in ("DRAFT", "VOIDED")]
        for invoice, _draft in released:  # unpaid until the story pays them
            invoice.state, invoice.paid_at, invoice.amount_paid = "DUE", None, None
        waiting = next((i for i, d in released if d.failure == NOT_POSTING_ACCOUNT), None)
        main = [(i, d) for i, d in released if i.entity_id == "1" and not d.failure]
        paid = [i for i, d in main if d.state == "PAID"]
        due = [i for i, d in main if d.state == "DUE"]
        not_due = [i for i, d in main if d.state == "NOT_DUE"]
        paid_at = {id(i): d.paid_at for i, d in released if d.paid_at}

        # Unpaid ones first (pending, in part, account credit); a small tenant may lend them from the paid ones.
        chosen: set[str] = set()
        early = [i for i in (*not_due, *due, *paid) if i.created_at < AS_OF - dt.timedelta(days=6)]
        pending = self._pick(3, chosen, early)
        partial = self._pick(max(2, len(due) // 8), chosen, due, [*due, *not_due], paid)
        credited = self._pick(2, chosen, [*not_due, *due], paid)
        paid = [i for i in paid if i.id not in chosen]
        unmapped = {i.id for i in self._pick(max(2, len(paid) // 600), chosen, paid)}
        overpaid = self._pick(1, chosen, [i for i in paid if i.currency_id == "1" and i.id not in chosen], paid)[0]
        settled_early = [i for i in paid if paid_at[id(i)] <= AS_OF - dt.timedelta(days=4)]
        refunded = [i.id for i in self._pick(max(2, len(paid) // 400), chosen, settled_early)]

        cards: list[_Payment] = []
        for invoice in paid:
            moment = paid_at[id(invoice)]
            assert moment is not None
            if invoice.id in unmapped:
                self._pay(_Payment(self.story, invoice, moment, UNMAPPED_PROCESSOR, (FULL, UNMAPPED)))
                continue
            if invoice is overpaid:
                amount = _round_up(invoice.amount)
                self._pay(_Payment(self.story, invoice, moment, MANUAL, (OVERPAID,), amount=amount))
                continue
            payment = self._pay(_Payment(self.story, invoice, moment, self._processor(invoice), (FULL,)))
            cards += [payment] if payment.processor == STRIPE else []
            if invoice.id in refunded:
                share = None if invoice.id == refunded[0] else rng.choice(("0.25", "0.5", "0.6"))
                refund_at = moment + dt.timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 6))
                self._refund(payment, min(refund_at, AS_OF - HOUR), share)
        # The card processor's fee on a few card payments (the overpayment came by transfer).
        for payment in rng.sample(cards, min(len(cards), max(3, len(paid) // 150))):
            payment.fees = True

        for invoice in partial:
            moment = self._after(invoice, rng.randint(3, 40))
            part = Decimal(rng.choice(("0.25", "0.4", "0.5", "0.6", "0.75")))
            self._pay(_Payment(self.story, invoice, moment, self._processor(invoice), (PARTIAL,), share=part))
        for n, invoice in enumerate(pending):  # two stay pending, the third fails a day later
            moment = AS_OF - dt.timedelta(days=3 if n == 2 else 0, hours=rng.randint(2, 40))
            cases = (FAILED,) if n == 2 else (PENDING,)
            payment = self._pay(_Payment(self.story, invoice, moment, STRIPE, cases, pending=True))
            if n == 2:
                self._fail(payment, moment + dt.timedelta(days=1))
        for n, invoice in enumerate(credited):
            self.events.append(_Event(self._after(invoice, rng.randint(1, 20)), self._credit(invoice, full=n == 0)))
        if waiting is not None:
            moment = self._after(waiting, rng.randint(2, 20))
            self._pay(_Payment(self.story, waiting, moment, STRIPE, (WAITING,)))
        for invoice, draft in released:
            if invoice.entity_id != "1" and draft.paid_at is not None:
                self._pay(_Payment(self.story, invoice, draft.paid_at, STRIPE, (OTHER_ENTITY,)))

    def _pick(self, count: int, chosen: set[str], *pools: list[Invoice]) -> list[Invoice]:
        """`count` invoices not chosen yet, drawn from the first pool that has enough (else from all of them)."""
        for candidates in (*pools, [i for pool in pools for i in pool]):
            free = list({i.id: i for i in candidates if i.id not in chosen}.values())
            if len(free) >= count:
                picked = self.rng.sample(free, count)
                chosen |= {i.id for i in picked}
                return picked
        raise ValueError(f"the tenant is too small for {count} more payment case(s)")

    def _processor(self, invoice: Invoice) -> str:
        choices = PROCESSORS[invoice.currency_id]
        return self.rng.choices([p for p, _ in choices], [w for _, w in choices])[0]

    def _after(self, invoice: Invoice, days: int) -> dt.datetime:
        """`days` (and a few hours) after the invoice was created, and no later than AS_OF."""
        moment = invoice.created_at + dt.timedelta(days=days, hours=self.rng.randint(1, 9))
        return min(moment, AS_OF - HOUR)

    # -- the events ---------------------------------------------------------------------------------------

    def _pay(self, payment: _Payment) -> _Payment:
        self.events.append(_Event(payment.moment, payment))
        return payment

    def _refund(self, payment: _Payment, moment: dt.datetime, share: str | None) -> None:
        story = self.story

        def act(store: TenantStore) -> None:
            amount = (
                None if share is None else cents(store.find("payments", payment.payment_id).amount * Decimal(share))
            )
            notes = store.refund_payment(payment.payment_id, amount)
            story.cases[REFUNDED].append(payment.payment_id)
            story.refund_notes += [n.id for n in notes]

        self.events.append(_Event(moment, act))

    def _fail(self, payment: _Payment, moment: dt.datetime) -> None:
        def act(store: TenantStore) -> None:
            store.fail_payment(payment.payment_id)

        self.events.append(_Event(moment, act))

    def _credit(self, invoice: Invoice, *, full: bool) -> Callable[[TenantStore], None]:
        story = self.story

        def act(store: TenantStore) -> None:
            due = store.figures(invoice).amount_due
            store.apply_credit(invoice.id, due if full else cents(due / 2))
            story.cases[ACCOUNT_CREDIT].append(invoice.id)

        return act

    def _states_as_of(self) -> None:
        """Unpaid released invoices are DUE or NOT_DUE as of AS_OF (the emulator moved them as of each event)."""
        for invoice, draft in zip(self.tenant.invoices, self.drafts, strict=True):
            if draft.state in ("DRAFT", "VOIDED") or invoice.state in ("PAID", "PROCESSING_PAYMENT"):
                continue
            assert invoice.due_at is not None
            invoice.state = "NOT_DUE" if invoice.due_at > AS_OF.date() else "DUE"


def _round_up(amount: Decimal) -> Decimal:
    """What a customer who rounds up pays: the next multiple of 100 (or 100 more on a round amount)."""
    rounded = Decimal(math.ceil(amount / 100) * 100)
    return rounded if rounded > amount else amount + 100
