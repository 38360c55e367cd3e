"""What AIQ must hold after the concurrency test, checked against the AIQ emulator's own state (not the product's
view of it): each document once, credits allocated once and never beyond what is outstanding, the journal agreeing.

`Expectation` says, per Bunny document the test created, which AIQ documents it must give; `audit` compares that with
every transaction and allocation the emulator stores and returns a `LedgerAudit` (counts and the offending items),
so a failure names the references, ids and amounts involved.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from aiq_pipeline.store.journal import JournalEntry, WriteState
from aiq_pipeline.sync.identity import credit_note_reference, customer_code, invoice_reference, void_reference

ZERO = Decimal("0")


@dataclass
class Expectation:
    """The Bunny side, from the Bunny emulator's state at the end."""

    invoices: dict[str, str]  # invoice id -> Bunny state (VOIDED or a postable one)
    voided_after_posting: set[str]  # voided once AIQ held them: their reversal must post
    credit_notes: dict[str, str]  # credit note id -> credited invoice id
    planted: set[str]  # invoice ids that must fail (a data problem planted on purpose): nothing in AIQ
    bunny_balance: dict[str, Decimal]  # customer code -> what Bunny says the customer owes for these documents


@dataclass
class LedgerAudit:
    expected_documents: int = 0
    aiq_documents: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)  # reference -> AIQ documents beyond the first
    lost: list[str] = field(default_factory=list)  # references that must be in AIQ and are not
    unexpected: list[str] = field(default_factory=list)  # references AIQ holds that it must not
    unreversed: list[str] = field(default_factory=list)  # voided invoices AIQ holds without (or with a lone) reversal
    over_allocated: list[str] = field(default_factory=list)
    unallocated: list[str] = field(default_factory=list)  # a credit with something left while its invoice has too
    allocated_twice: list[str] = field(default_factory=list)  # more than one allocation between the same pair
    journal_disagrees: list[str] = field(default_factory=list)
    balance_differs: list[str] = field(default_factory=list)
    allocations: int = 0

    @property
    def duplicate_count(self) -> int:
        return sum(self.duplicates.values())

    def problems(self) -> dict[str, object]:
        named = {
            "duplicates": self.duplicates,
            "lost": self.lost,
            "unexpected": self.unexpected,
            "unreversed": self.unreversed,
            "over_allocated": self.over_allocated,
            "unallocated": self.unallocated,
            "allocated_twice": self.allocated_twice,
            "journal_disagrees": self.journal_disagrees,
            "balance_differs": self.balance_differs,
        }
        return {name: value for name, value in named.items() if value}


def audit(aiq_entity: object, expected: Expectation, journal: Iterable[JournalEntry]) -> LedgerAudit:
    """Compare the AIQ emulator's entity data (`EntityData`) with `expected` and the posting journal."""
    result = LedgerAudit()
    transactions = [t for t in aiq_entity.transactions.values() if t.external_reference.startswith("BUNNY-")]  # type: ignore[attr-defined]
    result.aiq_documents = len(transactions)
    held: Counter[tuple[str, str]] = Counter((t.external_reference, t.type_code) for t in transactions)
    must: set[tuple[str, str]] = set()
    may: set[tuple[str, str]] = set()  # at most once (a void reversal of an invoice voided while it was posting)
    for invoice_id, state in expected.invoices.items():
        if invoice_id in expected.planted:
            continue
        own = (invoice_reference(invoice_id), "SI")
        reversal = (void_reference(invoice_id), "SN")
        if state != "VOIDED" or invoice_id in expected.voided_after_posting:
            must.add(own)
        else:
            may.add(own)
        if invoice_id in expected.voided_after_posting:
            must.add(reversal)
        elif state == "VOIDED":
            may.add(reversal)
            if held[own] != held[reversal]:
                result.unreversed.append(f"{invoice_id}: {held[own]} SI, {held[reversal]} reversal(s)")
    must |= {(credit_note_reference(note_id), "SN") for note_id in expected.credit_notes}
    result.expected_documents = len(must)
    result.lost = sorted(f"{ref} ({kind})" for ref, kind in must if held[(ref, kind)] == 0)
    result.duplicates = {f"{ref} ({kind})": n - 1 for (ref, kind), n in held.items() if n > 1}
    result.unexpected = sorted(f"{ref} ({kind})" for ref, kind in held if (ref, kind) not in must | may)
    _audit_allocations(aiq_entity, transactions, expected, result)
    _audit_journal(transactions, journal, result)
    _audit_balances(transactions, expected, result)
    return result


def _audit_allocations(aiq_entity: object, transactions: list, expected: Expectation, result: LedgerAudit) -> None:
    by_id = {t.transaction_id: t for t in transactions}
    allocated: dict[int, Decimal] = defaultdict(Decimal)
    pairs: Counter[tuple[int, int]] = Counter()
    for allocation in aiq_entity.allocations:  # type: ignore[attr-defined]
        first, second = allocation.transaction_ids
        if first not in by_id and second not in by_id:
            continue
        result.allocations += 1
        allocated[first] += allocation.amount
        allocated[second] += allocation.amount
        pairs[tuple(sorted((first, second)))] += 1  # type: ignore[index]
    for pair, n in pairs.items():
        if n > 1:
            refs = " / ".join(by_id[i].external_reference for i in pair if i in by_id)
            result.allocated_twice.append(f"{refs}: {n} allocations")
    for t in transactions:
        gross = abs(t.control_amount)
        left = abs(t.outstanding_amount)
        sign_ok = t.outstanding_amount * t.control_amount >= 0
        if allocated[t.transaction_id] > gross or not sign_ok or left != gross - allocated[t.transaction_id]:
            result.over_allocated.append(
                f"{t.external_reference} ({t.type_code} {t.transaction_id}): gross {gross}, allocated "
                f"{allocated[t.transaction_id]}, outstanding {t.outstanding_amount}"
            )
    invoices = {t.external_reference: t for t in transactions if t.type_code == "SI"}
    credits = {credit_note_reference(n): invoice_reference(i) for n, i in expected.credit_notes.items()}
    credits |= {void_reference(i): invoice_reference(i) for i in expected.invoices}
    for t in transactions:
        if t.type_code != "SN":
            continue
        credited = credits.get(t.external_reference)
        invoice = invoices.get(credited) if credited else None
        if invoice is not None and t.outstanding_amount != 0 and invoice.outstanding_amount != 0:
            result.unallocated.append(
                f"{t.external_reference}: {t.outstanding_amount} left while {credited} has {invoice.outstanding_amount}"
            )


def _audit_journal(transactions: list, journal: Iterable[JournalEntry], result: LedgerAudit) -> None:
    entries = {e.reference: e for e in journal}
    for t in transactions:
        entry = entries.get(t.external_reference)
        if entry is None or entry.state != WriteState.POSTED or entry.aiq_id != t.transaction_id:
            what = "no row" if entry is None else f"{entry.state}, AIQ id {entry.aiq_id}"
            result.journal_disagrees.append(f"{t.external_reference}: AIQ {t.transaction_id}, journal {what}")
    held = {t.external_reference: t.transaction_id for t in transactions}
    for entry in entries.values():
        if entry.target not in ("SI", "SN"):
            continue
        if entry.state == WriteState.POSTED and held.get(entry.reference) != entry.aiq_id:
            result.journal_disagrees.append(f"{entry.reference}: journal says AIQ {entry.aiq_id}, AIQ has none such")
        if entry.state in (WriteState.SENDING, WriteState.UNKNOWN) and entry.reference in held:
            result.journal_disagrees.append(f"{entry.reference}: AIQ holds it, journal still {entry.state}")


def _audit_balances(transactions: list, expected: Expectation, result: LedgerAudit) -> None:
    aiq: dict[str, Decimal] = defaultdict(Decimal)
    for t in transactions:
        aiq[t.customer_code] += t.control_amount
    for code in sorted(set(aiq) | set(expected.bunny_balance)):
        bunny = expected.bunny_balance.get(code, ZERO)
        if aiq.get(code, ZERO) != bunny:
            result.balance_differs.append(f"{code}: AIQ {aiq.get(code, ZERO)}, Bunny {bunny}")


def bunny_balances(bunny_store: object, invoice_ids: Iterable[str], note_ids: Iterable[str], planted: set[str]) -> dict:
    """Customer code -> released, not voided invoices minus credit notes, as Bunny computes them."""
    tenant = bunny_store.tenant  # type: ignore[attr-defined]
    wanted, notes = set(invoice_ids) - planted, set(note_ids)
    out: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in tenant.invoices:
        if invoice.id in wanted and invoice.state != "VOIDED":
            out[customer_code(invoice.account_id)] += bunny_store.figures(invoice).amount  # type: ignore[attr-defined]
    for note in tenant.credit_notes:
        if note.id in notes:
            out[customer_code(note.account_id)] -= note.amount
    return dict(out)
