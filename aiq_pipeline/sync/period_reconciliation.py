"""Reconcile one month of one entity: the Bunny documents issued in it against the AIQ sales documents dated in it.

What AIQ should hold for each Bunny document (references from `identity`, dates as the posters use them):

- a postable invoice (released, not voided; or a consolidation's combined invoice shown CONSOLIDATED): one SI
  `BUNNY-INV-<id>` with its net, tax and gross; where its credit lines exceed a group's charges, that SI less its
  remainder SN `BUNNY-INVCR-<id>`, and for an invoice whose total is negative the SN alone (signed: Bunny's totals
  are then negative). A voided invoice's reversal likewise is the SN `BUNNY-VOID-<id>` less its remainder SI
  `BUNNY-VOIDCR-<id>`. Either counts as one document on both sides;
- a zero-value invoice (a trial, a 100 % coupon): nothing, as the planner posts it (or, configured to post it, the
  SI; either way not a difference);
- an issued credit note: one SN `BUNNY-CN-<id>` with its net, tax and gross;
- a voided invoice: either nothing (voided before it was posted) or the pair SI `BUNNY-INV-<id>` + SN
  `BUNNY-VOID-<id>`, each equal to the invoice (voided after posting). The reversal is dated on the void day (the
  planner's `void_day`), so the pair nets to zero inside a month only when the invoice was voided in its own
  month; half a pair is then a difference. Voided in a later month, the invoice was live at its month's end: its
  month expects the invoice alone (optional: it may have been voided before it was posted), and the void's month
  expects the reversal alone (optional likewise), equal to the invoice;
- any other invoice or credit note (draft, preparing, ...): nothing.

Which month a document belongs to: AIQ's posting month. That is its Bunny issue month, except for a document
moved out of a closed AIQ period (the `first_open_day` closed-period policy): AIQ holds it dated later than Bunny
issued it, and it belongs to the month AIQ dated it in, so each month's AIQ totals stay what AIQ's own reports
show for that month. A Bunny document counts as moved when the AIQ transactions passed in hold its reference dated
after its issue date *on the first day of an AIQ period* (`period_starts`: the only day the policy moves a
document to; any other later date is a plain difference, shown in both months). Callers therefore pass, besides
the month's AIQ documents, the later AIQ documents of the month's Bunny documents that the month lacks (a
moved-out one is then left to its posting month), and Bunny documents issued before the month (a moved-in one is
then matched here).

Documents issued before the sync start date are optional: absent from AIQ is fine, present must match.
AIQ documents whose reference is not one of ours (`BUNNY-` prefixes) are someone else's and only counted.

Amounts come from the AIQ summary: gross is the control amount, tax the tax lines, net the other lines, all as
magnitudes (a credit note posts with the opposite sign). Totals are kept per kind and currency: summing euros and
pounds would hide a difference in either. The voided pairs are counted apart from invoices and credit notes, so
those totals mean "what is live in the ledger" on both sides.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from aiq_pipeline.sync.balance_reconciliation import BalanceReconciliation
from aiq_pipeline.sync.bank_reconciliation import BankReconciliation
from aiq_pipeline.sync.documents.context import BunnyReadings
from aiq_pipeline.sync.documents.credit_note import ISSUED_CREDIT_NOTE_STATES, void_day
from aiq_pipeline.sync.documents.invoice import CONSOLIDATED, VOIDED
from aiq_pipeline.sync.identity import (
    CREDIT_NOTE_PREFIX,
    INVOICE_PREFIX,
    VOID_PREFIX,
    credit_note_reference,
    invoice_credit_reference,
    invoice_reference,
    void_credit_reference,
    void_reference,
)
from aiq_pipeline.sync.inputs import AiqTransactionSummary, BunnyCreditNote, BunnyInvoice
from aiq_pipeline.sync.money import ZERO, Totals, signed_sum, to_cents
from aiq_pipeline.sync.reconciliation import totals_from_summary

INVOICE_TYPE = "SI"
CREDIT_NOTE_TYPE = "SN"
KIND_INVOICE = "invoice"
KIND_CREDIT_NOTE = "credit_note"
KIND_VOID = "void_reversal"
OUR_PREFIXES = (INVOICE_PREFIX, CREDIT_NOTE_PREFIX, VOID_PREFIX)


class Problem(StrEnum):
    MISSING_IN_AIQ = "MISSING_IN_AIQ"  # Bunny says it belongs in AIQ; AIQ has nothing
    NOT_IN_BUNNY = "NOT_IN_BUNNY"  # AIQ holds one of our references; Bunny has no such document this month
    NOT_EXPECTED = "NOT_EXPECTED"  # Bunny has it, but in a state that must not reach AIQ (draft, ...)
    AMOUNTS_DIFFER = "AMOUNTS_DIFFER"  # net, tax, gross or currency differ
    DUPLICATE_IN_AIQ = "DUPLICATE_IN_AIQ"  # more than one AIQ document for one Bunny document
    WRONG_TYPE = "WRONG_TYPE"  # e.g. an invoice reference on a credit note
    NOT_REVERSED = "NOT_REVERSED"  # voided in Bunny, AIQ still holds the invoice without its reversal
    REVERSAL_WITHOUT_INVOICE = "REVERSAL_WITHOUT_INVOICE"  # a void reversal whose invoice AIQ lacks


# --- results ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amounts:
    net: Decimal
    tax: Decimal
    gross: Decimal
    currency: str | None

    def render(self) -> str:
        return f"net {self.net} tax {self.tax} gross {self.gross} {self.currency or ''}".rstrip()


@dataclass(frozen=True)
class DocumentDifference:
    """One document that differs or is missing on either side, with what differs."""

    problem: Problem
    kind: str  # invoice | credit_note | void_reversal
    external_reference: str
    bunny_id: str | None
    bunny_number: str | None
    bunny_state: str | None
    aiq_transaction_ids: tuple[int, ...]
    bunny: Amounts | None
    aiq: Amounts | None
    detail: str

    def __str__(self) -> str:
        who = f"Bunny {self.kind.replace('_', ' ')} {self.bunny_number or self.bunny_id}" if self.bunny_id else "AIQ"
        return f"{self.external_reference} [{self.problem}] {who}: {self.detail}"


@dataclass(frozen=True)
class TotalsRow:
    """Counts and totals of one kind of document in one currency, on both sides."""

    kind: str  # invoice | credit_note | voided_pair
    currency: str
    bunny: Totals
    aiq: Totals

    @property
    def matches(self) -> bool:
        return self.bunny == self.aiq


@dataclass(frozen=True)
class PeriodReconciliation:
    entity_id: str
    month: str  # YYYY-MM
    first_day: date
    last_day: date
    totals: tuple[TotalsRow, ...]
    differences: tuple[DocumentDifference, ...]
    matched_documents: int
    other_aiq_documents: int  # AIQ sales documents not posted by this sync (no BUNNY- reference)
    optional_absent: int = 0  # Bunny documents before the sync start date that AIQ does not hold
    handled_outside: tuple[str, ...] = ()  # dismissed documents AIQ does not hold under our reference
    # The money (sync.bank_reconciliation, sync.balance_reconciliation); None: not compared, `money_note` says why.
    bank: BankReconciliation | None = None  # receipts and refunds per day and bank account
    balances: BalanceReconciliation | None = None  # each customer's balance (only in the month in progress)
    money_note: str | None = None

    @property
    def documents_passed(self) -> bool:
        return not self.differences and all(row.matches for row in self.totals)

    @property
    def passed(self) -> bool:
        return (
            self.documents_passed
            and (self.bank is None or self.bank.passed)
            and (self.balances is None or self.balances.passed)
        )

    def describe(self) -> str:
        if self.documents_passed:
            parts = [f"{self.month}: Bunny and AIQ agree ({self.matched_documents} document(s) matched)"]
        else:
            wrong_totals = [f"{r.kind} {r.currency}" for r in self.totals if not r.matches]
            parts = [f"{self.month}: {len(self.differences)} document(s) differ"]
            if wrong_totals:
                parts.append("totals differ for " + ", ".join(wrong_totals))
        if self.handled_outside:
            parts.append(f"{len(self.handled_outside)} handled outside the product (dismissed)")
        parts += [part.describe() for part in (self.bank, self.balances) if part is not None]
        if self.money_note:
            parts.append(self.money_note)
        return "; ".join(parts)


# --- the reconciliation -------------------------------------------------------------------------------


def month_bounds(month: str | date) -> tuple[date, date]:
    """First and last day of a month given as `YYYY-MM`, `YYYY-MM-DD` or a date in it."""
    day = month if isinstance(month, date) else date.fromisoformat(month if len(month) > 7 else f"{month}-01")
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _bunny_amounts(
    doc: BunnyInvoice | BunnyCreditNote, readings: BunnyReadings, credits: Decimal | None = None
) -> Amounts:
    """Bunny's totals of `doc` as its value, read this tenant's way (as the planner and the totals check read them)."""
    net, tax, gross = readings.document_totals(doc.subtotal, doc.tax_amount, doc.amount, credits)
    return Amounts(to_cents(net or ZERO), to_cents(tax or ZERO), to_cents(gross or ZERO), doc.currency_code)


def _aiq_amounts(summary: AiqTransactionSummary) -> Amounts:
    totals = totals_from_summary(summary)
    return Amounts(totals.net, totals.tax, totals.gross, summary.currency_code)


def _amount_differences(bunny: Amounts, aiq: Amounts) -> list[str]:
    found = [
        f"{name}: Bunny {b}, AIQ {a}"
        for name, b, a in (("net", bunny.net, aiq.net), ("tax", bunny.tax, aiq.tax), ("gross", bunny.gross, aiq.gross))
        if b != a
    ]
    if bunny.currency and aiq.currency and bunny.currency.upper() != aiq.currency.upper():
        found.append(f"currency: Bunny {bunny.currency}, AIQ {aiq.currency}")
    return found


@dataclass
class _Expected:
    kind: str
    reference: str
    type_code: str
    bunny_id: str
    number: str | None
    state: str
    amounts: Amounts
    required: bool  # False: optional (before the sync start date) or half of a voided pair
    # The plan's remainder, of the other type (an invoice's credit beyond a group of its lines, or all of an invoice
    # whose total is negative): AIQ holds the document as its main document less this one.
    remainder: str | None = None


def _split(
    expected: _Expected, found: Sequence[AiqTransactionSummary]
) -> tuple[list[AiqTransactionSummary], list[AiqTransactionSummary]]:
    """`found` as the plan's main documents and its remainders."""
    own = expected.reference.upper()
    return (
        [t for t in found if (t.external_reference or "").upper() == own],
        [t for t in found if (t.external_reference or "").upper() != own],
    )


def _plan_amounts(main: Sequence[AiqTransactionSummary], rest: Sequence[AiqTransactionSummary]) -> Amounts:
    """What AIQ holds of a plan, signed as the Bunny document: its main document less its remainder (the first of
    each: duplicates are counted apart)."""
    total = signed_sum([(True, _aiq_amounts(t)) for t in main[:1]] + [(False, _aiq_amounts(t)) for t in rest[:1]])
    currency = (main[0].currency_code if main else None) or (rest[0].currency_code if rest else None)
    return Amounts(total.net, total.tax, total.gross, currency)


def _other_type(type_code: str) -> str:
    return CREDIT_NOTE_TYPE if type_code == INVOICE_TYPE else INVOICE_TYPE


def _reversal(invoice: BunnyInvoice, readings: BunnyReadings) -> _Expected:
    """What a voided invoice's reversal must be: optional (voided before it was posted), equal to the invoice."""
    return _Expected(
        KIND_VOID,
        void_reference(invoice.id),
        CREDIT_NOTE_TYPE,
        invoice.id,
        invoice.number,
        invoice.state,
        _bunny_amounts(invoice, readings, invoice.credits),
        required=False,
        remainder=void_credit_reference(invoice.id),
    )


@dataclass
class _Builder:
    entity_id: str
    month: str
    first: date
    last: date
    aiq_by_reference: dict[str, list[AiqTransactionSummary]]
    differences: list[DocumentDifference] = field(default_factory=list)
    bunny_totals: dict[tuple[str, str], Totals] = field(default_factory=lambda: defaultdict(Totals))
    aiq_totals: dict[tuple[str, str], Totals] = field(default_factory=lambda: defaultdict(Totals))
    matched: int = 0
    optional_absent: int = 0
    handled_outside: frozenset[str] = frozenset()  # references of documents a person dismissed (upper case)
    readings: BunnyReadings = field(default_factory=BunnyReadings)  # how this tenant's Bunny totals read
    dismissed_absent: list[str] = field(default_factory=list)

    def take(self, reference: str) -> list[AiqTransactionSummary]:
        return self.aiq_by_reference.pop(reference.upper(), [])

    def take_plan(self, expected: _Expected) -> list[AiqTransactionSummary]:
        """AIQ's documents of `expected`'s plan: under its own reference, and its remainder's."""
        return self.take(expected.reference) + (self.take(expected.remainder) if expected.remainder else [])

    def differ(
        self,
        problem: Problem,
        expected: _Expected | None,
        reference: str,
        found: Sequence[AiqTransactionSummary],
        detail: str,
        kind: str | None = None,
        aiq: Amounts | None = None,
    ) -> None:
        self.differences.append(
            DocumentDifference(
                problem=problem,
                kind=expected.kind if expected else (kind or _kind_of_reference(reference)),
                external_reference=reference,
                bunny_id=expected.bunny_id if expected else None,
                bunny_number=expected.number if expected else None,
                bunny_state=expected.state if expected else None,
                aiq_transaction_ids=tuple(t.transaction_id for t in found),
                bunny=expected.amounts if expected else None,
                aiq=aiq or (_aiq_amounts(found[0]) if found else None),
                detail=detail,
            )
        )

    def count_aiq(self, bucket: str, found: Iterable[AiqTransactionSummary]) -> None:
        for summary in found:
            amounts = _aiq_amounts(summary)
            self.aiq_totals[(bucket, (amounts.currency or "").upper())].add(amounts)

    def count_bunny(self, bucket: str, amounts: Amounts) -> None:
        self.bunny_totals[(bucket, (amounts.currency or "").upper())].add(amounts)

    def count_aiq_plan(
        self, bucket: str, main: Sequence[AiqTransactionSummary], rest: Sequence[AiqTransactionSummary]
    ) -> None:
        """One document on AIQ's side for one Bunny document, its plan combined (duplicates count apart)."""
        if not rest:
            self.count_aiq(bucket, main)
            return
        amounts = _plan_amounts(main, rest)
        self.aiq_totals[(bucket, (amounts.currency or "").upper())].add(amounts)
        self.count_aiq(bucket, [*main[1:], *rest[1:]])

    def check_one(self, expected: _Expected, found: list[AiqTransactionSummary], bucket: str) -> None:
        """A document AIQ must (required) or may (optional) hold exactly once, equal to Bunny's (its main document
        less its remainder, where the plan has one)."""
        main, rest = _split(expected, found)
        self.count_aiq_plan(bucket, main, rest)
        if not found:
            if expected.required and expected.reference.upper() in self.handled_outside:
                self.dismissed_absent.append(expected.reference)  # a person said it is handled outside
            elif expected.required:
                self.count_bunny(bucket, expected.amounts)
                self.differ(Problem.MISSING_IN_AIQ, expected, expected.reference, found, "AIQ has no such document")
            else:
                self.optional_absent += 1
            return
        self.count_bunny(bucket, expected.amounts)
        problems = self._document_problems(expected, main, rest)
        if problems:
            detail = "; ".join(d for _, d in problems)
            self.differ(problems[0][0], expected, expected.reference, found, detail, aiq=_plan_amounts(main, rest))
        else:
            self.matched += 1

    def _document_problems(
        self, expected: _Expected, main: Sequence[AiqTransactionSummary], rest: Sequence[AiqTransactionSummary]
    ) -> list[tuple[Problem, str]]:
        problems: list[tuple[Problem, str]] = []
        for held in (main, rest):
            if len(held) > 1:
                ids = ", ".join(str(t.transaction_id) for t in held)
                reference = held[0].external_reference
                problems.append(
                    (Problem.DUPLICATE_IN_AIQ, f"AIQ holds {len(held)} documents {reference} (transactions {ids})")
                )
        wrong = [
            (t, wanted)
            for held, wanted in ((main, expected.type_code), (rest, _other_type(expected.type_code)))
            for t in held
            if (t.transaction_type or "").upper() != wanted
        ]
        if wrong:
            (t, wanted), *_ = wrong
            problems.append(
                (Problem.WRONG_TYPE, f"AIQ type {t.transaction_type} for {t.external_reference}, expected {wanted}")
            )
        amounts = _amount_differences(expected.amounts, _plan_amounts(main, rest))
        if rest and amounts:
            amounts.append(
                f"AIQ's {main[0].external_reference if main else 'nothing'} less {rest[0].external_reference}"
            )
        if amounts:
            problems.append((Problem.AMOUNTS_DIFFER, "; ".join(amounts)))
        return problems

    def check_void(self, expected: _Expected, reversal: _Expected) -> None:
        """A voided invoice: nothing in AIQ, or its invoice and the reversal, both equal to the invoice."""
        invoice_found = self.take_plan(expected)
        reversal_found = self.take_plan(reversal)
        if not invoice_found and not reversal_found:
            return  # voided before it was posted: nothing to hold, and nothing is held
        if invoice_found and reversal_found:
            # Counted as a pair on both sides: together they are zero in the ledger.
            for half, found in ((expected, invoice_found), (reversal, reversal_found)):
                half.required = True
                self.check_one(half, found, "voided_pair")
            return
        self.count_aiq(KIND_INVOICE if invoice_found else KIND_CREDIT_NOTE, invoice_found or reversal_found)
        if invoice_found:
            self.differ(
                Problem.NOT_REVERSED,
                expected,
                expected.reference,
                invoice_found,
                f"voided in Bunny, but AIQ still holds the invoice and no reversal {reversal.reference}",
            )
        else:
            self.differ(
                Problem.REVERSAL_WITHOUT_INVOICE,
                reversal,
                reversal.reference,
                reversal_found,
                f"AIQ holds the reversal of voided invoice but not the invoice {expected.reference}",
            )

    def check_unexpected(self, expected: _Expected) -> None:
        """A Bunny document in a state that never reaches AIQ: AIQ must not hold it."""
        found = self.take_plan(expected)
        if found:
            bucket = KIND_INVOICE if expected.type_code == INVOICE_TYPE else KIND_CREDIT_NOTE
            self.count_aiq(bucket, found)
            self.differ(
                Problem.NOT_EXPECTED,
                expected,
                expected.reference,
                found,
                f"Bunny's document is {expected.state}, which is never posted, but AIQ holds it",
            )

    def check_invoice(self, invoice: BunnyInvoice, *, required: bool, paired: bool = True) -> None:
        """A Bunny invoice of the month: voided (nothing, or the pair when `paired`: voided this month; else the
        invoice alone, live at the month's end), postable (once), or never posted."""
        expected = _Expected(
            KIND_INVOICE,
            invoice_reference(invoice.id),
            INVOICE_TYPE,
            invoice.id,
            invoice.number,
            invoice.state,
            _bunny_amounts(invoice, self.readings, invoice.credits),
            required=required,
            remainder=invoice_credit_reference(invoice.id),
        )
        if invoice.state == VOIDED and not paired:
            self.check_one(replace(expected, required=False), self.take_plan(expected), KIND_INVOICE)
        elif invoice.state == VOIDED:
            self.check_void(expected, _reversal(invoice, self.readings))
        elif invoice.is_postable or (invoice.state == CONSOLIDATED and invoice.merged_to_invoice_id is None):
            # CONSOLIDATED and merged into none: the combined invoice under one reading of consolidation (MONEY.md),
            # which the planner posts. A zero-value invoice (a trial, a 100 % coupon) posts nothing unless
            # configured to: AIQ may lack it.
            zero = expected.amounts.net == expected.amounts.tax == expected.amounts.gross == ZERO
            self.check_one(replace(expected, required=required and not zero), self.take_plan(expected), KIND_INVOICE)
        else:
            self.check_unexpected(expected)

    def check_reversal(self, invoice: BunnyInvoice) -> None:
        """The reversal of an earlier month's invoice voided this month: nothing (voided before it was posted) or
        one SN equal to the invoice."""
        reversal = _reversal(invoice, self.readings)
        self.check_one(reversal, self.take_plan(reversal), KIND_VOID)

    def check_credit_note(self, note: BunnyCreditNote, *, required: bool) -> None:
        """A Bunny credit note of the month: issued (once in AIQ) or never posted."""
        expected = _Expected(
            KIND_CREDIT_NOTE,
            credit_note_reference(note.id),
            CREDIT_NOTE_TYPE,
            note.id,
            note.number,
            note.state,
            _bunny_amounts(note, self.readings),
            required=required,
        )
        if note.state in ISSUED_CREDIT_NOTE_STATES:
            self.check_one(expected, self.take(expected.reference), KIND_CREDIT_NOTE)
        else:
            self.check_unexpected(expected)

    def check_leftovers(self) -> None:
        """Whatever is left carries one of our references but matches no Bunny document of this month."""
        for found in self.aiq_by_reference.values():
            reference = found[0].external_reference or ""
            kind = _kind_of_reference(reference)
            self.count_aiq(KIND_INVOICE if kind == KIND_INVOICE else KIND_CREDIT_NOTE, found)
            ids = ", ".join(str(t.transaction_id) for t in found)
            self.differ(
                Problem.NOT_IN_BUNNY,
                None,
                reference,
                found,
                f"AIQ holds {reference} (transaction {ids}, dated {found[0].transaction_date}); Bunny has no "
                f"matching document issued in {self.month}",
                kind,
            )

    def result(self, *, other_aiq_documents: int) -> PeriodReconciliation:
        """The verdict: totals per kind and currency on both sides, differences by reference."""
        keys = sorted(set(self.bunny_totals) | set(self.aiq_totals))
        totals = tuple(
            TotalsRow(
                kind,
                currency,
                self.bunny_totals.get((kind, currency), Totals()),
                self.aiq_totals.get((kind, currency), Totals()),
            )
            for kind, currency in keys
        )
        differences = sorted(self.differences, key=lambda d: (d.external_reference, d.problem))
        return PeriodReconciliation(
            entity_id=self.entity_id,
            month=self.month,
            first_day=self.first,
            last_day=self.last,
            totals=totals,
            differences=tuple(differences),
            matched_documents=self.matched,
            other_aiq_documents=other_aiq_documents,
            optional_absent=self.optional_absent,
            handled_outside=tuple(sorted(self.dismissed_absent)),
        )


def _kind_of_reference(reference: str) -> str:
    upper = reference.upper()
    if upper.startswith(VOID_PREFIX):
        return KIND_VOID
    if upper.startswith(CREDIT_NOTE_PREFIX):
        return KIND_CREDIT_NOTE
    return KIND_INVOICE


def _is_ours(reference: str | None) -> bool:
    return reference is not None and reference.upper().startswith(OUR_PREFIXES)


def _in(day: date | None, first: date, last: date) -> bool:
    return day is not None and first <= day <= last


def _is_sales_document(summary: AiqTransactionSummary) -> bool:
    return (summary.transaction_type or "").upper() in (INVOICE_TYPE, CREDIT_NOTE_TYPE)


def _posted_on_period_starts(transactions: Iterable[AiqTransactionSummary], starts: frozenset[date]) -> dict[str, date]:
    """Where AIQ dated each of our documents on a period's first day (the earliest, should there be duplicates)."""
    posted_on: dict[str, date] = {}
    for summary in transactions:
        reference = (summary.external_reference or "").upper()
        day = summary.transaction_date
        if day is not None and day in starts and _is_ours(reference) and _is_sales_document(summary):
            posted_on[reference] = min(day, posted_on.get(reference, day))
    return posted_on


def _ledger_day(posted_on: dict[str, date], reference: str, issued: date | None) -> date | None:
    """AIQ's date when AIQ moved the document later (out of a closed period), else Bunny's issue date."""
    posted = posted_on.get(reference.upper())
    return posted if posted is not None and issued is not None and posted > issued else issued


def _month_documents(
    transactions: Iterable[AiqTransactionSummary], first: date, last: date
) -> tuple[dict[str, list[AiqTransactionSummary]], int]:
    """The month's AIQ sales documents: ours by upper-case reference, and how many others there are."""
    ours: dict[str, list[AiqTransactionSummary]] = defaultdict(list)
    other = 0
    for summary in transactions:
        if not _in(summary.transaction_date, first, last) or not _is_sales_document(summary):
            continue
        if _is_ours(summary.external_reference):
            ours[(summary.external_reference or "").upper()].append(summary)
        else:
            other += 1
    return ours, other


def _optional(issued: date | None, sync_start: date | None) -> bool:
    """Issued before the sync start date: AIQ may lack it."""
    return sync_start is not None and issued is not None and issued < sync_start


def reconcile_period(
    *,
    entity_id: str,
    month: str | date,
    invoices: Iterable[BunnyInvoice],
    credit_notes: Iterable[BunnyCreditNote],
    aiq_transactions: Iterable[AiqTransactionSummary],
    sync_start: date | None = None,
    period_starts: Iterable[date] = (),
    handled_outside: Iterable[str] = (),
    readings: BunnyReadings | None = None,
) -> PeriodReconciliation:
    """Compare the month's Bunny documents with the month's AIQ SI/SN documents, document by document.

    Inputs may be wider than the month: documents dated outside it are ignored, so callers can pass a
    whole listing; AIQ documents dated outside it only say where a moved document went (see the module notes).
    AIQ transactions of other types (receipts, journals) are ignored too.
    """
    first, last = month_bounds(month)
    transactions = list(aiq_transactions)
    posted_on = _posted_on_period_starts(transactions, frozenset(period_starts))
    ours, other = _month_documents(transactions, first, last)
    builder = _Builder(entity_id, first.strftime("%Y-%m"), first, last, ours)
    builder.handled_outside = frozenset(r.upper() for r in handled_outside)
    builder.readings = readings or BunnyReadings()
    for invoice in sorted(invoices, key=lambda i: i.id):
        reversed_here = invoice.state == VOIDED and _in(
            _ledger_day(posted_on, void_reference(invoice.id), void_day(invoice)), first, last
        )
        if _in(_ledger_day(posted_on, invoice_reference(invoice.id), invoice.issued_at), first, last):
            builder.check_invoice(invoice, required=not _optional(invoice.issued_at, sync_start), paired=reversed_here)
        elif reversed_here:
            builder.check_reversal(invoice)
    for note in sorted(credit_notes, key=lambda n: n.id):
        if _in(_ledger_day(posted_on, credit_note_reference(note.id), note.issued_at), first, last):
            builder.check_credit_note(note, required=not _optional(note.issued_at, sync_start))
    builder.check_leftovers()
    return builder.result(other_aiq_documents=other)
