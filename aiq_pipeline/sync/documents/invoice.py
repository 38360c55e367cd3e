"""The invoice planner: the AIQ documents for one Bunny invoice, or exactly why it cannot be posted.

`draft_documents` raises `PreflightFailed` carrying *every* problem found (not a result union): a plan that exists is
always postable, the caller cannot forget to check a flag, and the Dagster layer turns the exception into the
partition's failure reason as it is. Credit notes and void reversals reuse it on a credited view of their invoice,
so every invoice rule applies to them too.

What an invoice becomes in AIQ (each rule lives in the module it concerns: `lines` for amounts, accounts and tax
codes; `netting` for negative lines; `rounding` for document tax; `rates`, `dating`):

- A sales invoice of its lines. Negative lines (prorations, coupons, credits) are netted against lines of the same
  account and tax code; what they exceed the charges by posts as a credit note allocated to the invoice; an invoice
  whose total is negative is that credit note alone.
- At its full value: credit applied from the customer's balance (`credits`) is a settlement, left to payments, and
  stated in the notes. Net, tax and gross must equal Bunny's to the cent (tax within the rounding tolerance), read
  the way this tenant's Bunny reads (`BunnyReadings`), else TOTALS_MISMATCH.
- Nothing, for a zero-value invoice (a trial, a 100 % coupon), unless `post_zero_value`; nothing for a voided one,
  and nothing for an invoice billed again on a consolidated invoice (its revenue would count twice).
- Customer: an existing AIQ customer must be in the invoice's currency (AIQ forbids changing it); without one, the
  Bunny account must be complete enough to create it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aiq_pipeline.sync.customer import DesiredCustomer, currency_problem, customer_problems, desired_customer
from aiq_pipeline.sync.documents.context import PlanContext
from aiq_pipeline.sync.documents.dating import posting_date
from aiq_pipeline.sync.documents.lines import DESCRIPTION_LIMIT, ResolvedLine, invoice_label, resolve_lines
from aiq_pipeline.sync.documents.netting import net_lines
from aiq_pipeline.sync.documents.plan import (
    AiqTarget,
    Decision,
    PlannedAllocation,
    PlannedDocument,
    PlannedLine,
    PostingPlan,
    Skip,
)
from aiq_pipeline.sync.documents.rates import currency_problems, exchange_rate
from aiq_pipeline.sync.documents.rounding import round_tax
from aiq_pipeline.sync.identity import KIND_INVOICE, customer_code, invoice_credit_reference, invoice_reference
from aiq_pipeline.sync.inputs import AiqPeriod, BunnyInvoice
from aiq_pipeline.sync.money import ZERO, money_sum, to_cents
from aiq_pipeline.sync.problems import PreflightFailed, Problem, ProblemCode
from aiq_pipeline.sync.text import clean_text

NOTHING_TO_POST = "NOTHING_TO_POST"
# Issued invoices, plus CONSOLIDATED: under one reading of Bunny's consolidated billing (MONEY.md) the combined
# invoice is CONSOLIDATED, under the other its components are; a component (merged into another invoice) is skipped
# whatever its state, so both readings post each revenue once.
CONSOLIDATED = "CONSOLIDATED"
VOIDED = "VOIDED"
SYNCED_INVOICE_STATES: frozenset[str] = frozenset(
    {"NOT_DUE", "DUE", "UNPAID", "PROCESSING_PAYMENT", "PAID", CONSOLIDATED}
)


@dataclass(frozen=True)
class Draft:
    """What `draft_documents` decided: the main document, the remainder on the other side (if any), and why."""

    main: PlannedDocument | None  # None: the document's lines all fell on the other side
    remainder: PlannedDocument | None
    customer: DesiredCustomer | None
    bunny_issue_date: date
    exchange_rate_source: str
    notes: tuple[str, ...] = ()


def plan_invoice(invoice: BunnyInvoice, ctx: PlanContext) -> Decision:
    """The AIQ posting of a Bunny invoice (called once the service knows AIQ does not hold it yet)."""
    # A voided invoice partly in AIQ (its main document without its remainder credit note, or the remainder without
    # the main document, whose write failed or was in doubt) is completed: it was live in its month, and the void
    # reverses the whole of it.
    if invoice.state == "VOIDED" and not _completing_voided(invoice, ctx):
        return Skip("Voided in Bunny before it was posted.", code="VOIDED")
    if invoice.merged_to_invoice_id:
        return Skip(
            f"Billed again on invoice {invoice.merged_to_invoice_id} (consolidated billing): that invoice posts "
            "its lines, so this one posts nothing (its revenue would count twice).",
            code="CONSOLIDATED",
        )
    if _zero_value(invoice) and not ctx.settings.post_zero_value:
        return Skip("A zero-value invoice: nothing to post.", code=NOTHING_TO_POST)
    draft = draft_documents(
        invoice,
        ctx,
        target=AiqTarget.SALES_INVOICE,
        reference=invoice_reference(invoice.id),
        remainder_reference=invoice_credit_reference(invoice.id),
        description=f"Bunny invoice {invoice.number or f'id {invoice.id}'}",
    )
    documents = tuple(d for d in (draft.main, draft.remainder) if d is not None)
    if all(d.gross == ZERO and d.net == ZERO for d in documents) and not ctx.settings.post_zero_value:
        return Skip("A zero-value invoice (its credits cancel its charges): nothing to post.", code=NOTHING_TO_POST)
    allocations: tuple[PlannedAllocation, ...] = ()
    if draft.main is not None and draft.remainder is not None:
        allocations = (PlannedAllocation(draft.remainder.reference, draft.main.reference, draft.main.date),)
    notes = draft.notes
    if invoice.credits:
        notes += (f"Bunny applied {to_cents(invoice.credits)} of account credit: a settlement, not posted here",)
    return PostingPlan(
        kind=KIND_INVOICE,
        source_id=invoice.id,
        customer_code=documents[0].customer_code,
        customer=draft.customer,
        documents=documents,
        allocations=allocations,
        bunny_issue_date=draft.bunny_issue_date,
        exchange_rate_source=draft.exchange_rate_source,
        notes=notes,
    )


def _zero_value(invoice: BunnyInvoice) -> bool:
    amounts = [invoice.amount, invoice.subtotal, invoice.tax_amount]
    amounts += [a for item in invoice.items for a in (item.amount, item.tax_amount)]
    return all(to_cents(a) == ZERO for a in amounts)


def draft_documents(
    invoice: BunnyInvoice,
    ctx: PlanContext,
    *,
    target: AiqTarget,
    reference: str,
    remainder_reference: str | None,
    description: str,
) -> Draft:
    """`invoice`'s lines as a document of `target` (and, when credits exceed charges and `remainder_reference` is
    given, a remainder document of the other type), or `PreflightFailed` with every problem."""
    label = invoice_label(invoice)
    problems = _document_problems(invoice, ctx, label)
    customer, found = _customer(invoice, ctx)
    problems += found
    rate, rate_source, found = _currency(invoice, ctx, label)
    problems += found
    posting: tuple[date, AiqPeriod] | None = None
    if invoice.issued_at is not None:
        posting, found = posting_date(label, invoice.issued_at, ctx.ledger.periods, ctx.settings.closed_period_policy)
        problems += found
    resolved, found = resolve_lines(invoice, ctx)
    problems += found
    netted = net_lines(resolved)
    problems += list(netted.problems)
    if netted.credits and remainder_reference is None:
        problems.append(_no_remainder(label))
    main_lines, remainder_lines, rounding_note, found = _rounded(invoice, ctx, netted.debits, netted.credits, label)
    problems += found
    problems += _totals_problems(invoice, ctx, resolved, label)
    if problems:
        raise PreflightFailed(list(dict.fromkeys(problems)))  # repeats dropped, first-seen order kept
    assert invoice.issued_at is not None and posting is not None and rate is not None
    header = _Header(invoice, ctx, posting, rate, description)
    main = header.document(target, reference, main_lines) if main_lines else None
    other = AiqTarget.SALES_CREDIT_NOTE if target == AiqTarget.SALES_INVOICE else AiqTarget.SALES_INVOICE
    remainder = header.document(other, remainder_reference or "", remainder_lines) if remainder_lines else None
    notes = (*netted.notes, *(n for line in resolved for n in line.notes), *header.notes)
    notes += (rounding_note,) if rounding_note else ()
    return Draft(main, remainder, customer, invoice.issued_at, rate_source, notes)


@dataclass
class _Header:
    invoice: BunnyInvoice
    ctx: PlanContext
    posting: tuple[date, AiqPeriod]
    rate: Decimal
    description: str

    def __post_init__(self) -> None:
        day, _ = self.posting
        text = self.description
        if self.invoice.issued_at is not None and day != self.invoice.issued_at:
            text += f", issued {self.invoice.issued_at.isoformat()} in Bunny"
        cleaned = clean_text(text, DESCRIPTION_LIMIT)
        self.text = cleaned.value
        note = cleaned.note("description")
        self.notes: tuple[str, ...] = (note,) if note else ()

    def document(self, target: AiqTarget, reference: str, lines: tuple[PlannedLine, ...]) -> PlannedDocument:
        day, period = self.posting
        return PlannedDocument(
            target=target,
            reference=reference,
            customer_code=self.ctx.customer_code or customer_code(self.invoice.account_id),
            currency_code=self.invoice.currency_code.strip().upper(),
            date=day,
            due_date=self.invoice.due_at if target == AiqTarget.SALES_INVOICE else None,
            description=self.text,
            exchange_rate=self.rate,
            lines=lines,
            period_name=period.period_name,
            financial_year=period.financial_year,
        )


def _rounded(
    invoice: BunnyInvoice,
    ctx: PlanContext,
    debits: tuple[PlannedLine, ...],
    credits: tuple[PlannedLine, ...],
    label: str,
) -> tuple[tuple[PlannedLine, ...], tuple[PlannedLine, ...], str | None, list[Problem]]:
    """The documents' lines with Bunny's document tax: the difference goes to the side that has lines."""
    wanted = to_cents(invoice.tax_amount)
    if debits:
        rounded = round_tax(debits, wanted + money_sum(line.tax_amount for line in credits), ctx.settings, label)
        return rounded.lines, credits, rounded.note, [rounded.problem] if rounded.problem else []
    rounded = round_tax(credits, -wanted, ctx.settings, label)
    return debits, rounded.lines, rounded.note, [rounded.problem] if rounded.problem else []


def _no_remainder(label: str) -> Problem:
    return Problem(
        ProblemCode.NEGATIVE_LINE,
        f"{label}: the credited lines include negative amounts larger than the lines they credit; a credit note "
        "cannot carry them.",
        "Check the credit note's lines in Bunny, then retry.",
    )


def _completing_voided(invoice: BunnyInvoice, ctx: PlanContext) -> bool:
    """A voided invoice of which AIQ holds a document (its main one or its remainder credit note): the rest of it is
    still posted (see `plan_invoice`)."""
    held = (ctx.holds(invoice_reference(invoice.id)), ctx.holds(invoice_credit_reference(invoice.id)))
    return invoice.state == "VOIDED" and any(d is not None for d in held)


def _document_problems(invoice: BunnyInvoice, ctx: PlanContext, label: str) -> list[Problem]:
    problems: list[Problem] = []
    entity = ctx.settings.bunny_entity_id
    if invoice.entity_id != entity:
        problems.append(
            Problem(
                ProblemCode.WRONG_ENTITY,
                f"{label} belongs to Bunny entity {invoice.entity_id}; this sync posts entity {entity} only.",
                "Nothing to post: invoices of other entities go to their own AIQ company. Check BUNNY_ENTITY_ID "
                "if this invoice should be synced here.",
            )
        )
    if not (invoice.is_postable or invoice.state == CONSOLIDATED or _completing_voided(invoice, ctx)):
        problems.append(
            Problem(
                ProblemCode.NOT_POSTABLE,
                f"{label} is {invoice.state}; only issued invoices (not due, due, unpaid, paid) are posted.",
                "Release the invoice in Bunny (a voided invoice is never posted); then retry.",
            )
        )
    if invoice.issued_at is None:
        problems.append(
            Problem(
                ProblemCode.NOT_POSTABLE,
                f"{label} has no issue date, which AIQ needs as the invoice date.",
                "Release the invoice in Bunny so it gets an issue date; then retry.",
            )
        )
    if not invoice.items:
        problems.append(
            Problem(
                ProblemCode.NO_LINES,
                f"{label} has no lines; AIQ cannot post an invoice without lines.",
                "Check the invoice in Bunny; an empty invoice has nothing to post (void it there).",
            )
        )
    return problems


def _customer(invoice: BunnyInvoice, ctx: PlanContext) -> tuple[DesiredCustomer | None, list[Problem]]:
    currency = invoice.currency_code.strip().upper()
    problems: list[Problem] = []
    if ctx.existing_customer is not None:
        mismatch = currency_problem(ctx.existing_customer, currency=currency, document=f"Bunny invoice {invoice.id}")
        problems += [mismatch] if mismatch else []
    else:
        problems += customer_problems(invoice.account, document=f"Bunny invoice {invoice.id}")
    customer = None
    if invoice.account is not None and (invoice.account.name or "").strip():
        customer = desired_customer(invoice.account, currency_code=currency, code=ctx.customer_code)
    return customer, problems


def _currency(invoice: BunnyInvoice, ctx: PlanContext, label: str) -> tuple[Decimal | None, str, list[Problem]]:
    rate, source = exchange_rate(invoice, ctx.ledger, ctx.settings)
    return rate, source, currency_problems(label, invoice.currency_code.strip().upper(), rate, ctx.ledger)


def _totals_problems(invoice: BunnyInvoice, ctx: PlanContext, lines: list[ResolvedLine], label: str) -> list[Problem]:
    """Never post a document that does not add up to Bunny's totals, read this tenant's way."""
    if not lines:
        return []
    readings = ctx.settings.readings
    net = money_sum(line.net for line in lines)
    before_discount = money_sum(item.subtotal for item in invoice.items)
    subtotal = before_discount if readings.subtotal == "before_discount" else net
    credits = to_cents(invoice.credits or ZERO) if readings.amount == "less_credits" else ZERO
    actual = {"net": subtotal, "gross": net + to_cents(invoice.tax_amount)}
    expected = {"net": to_cents(invoice.subtotal), "gross": to_cents(invoice.amount) + credits}
    differing = [name for name in expected if expected[name] != actual[name]]
    if not differing:
        return []
    detail = ", ".join(f"{name} {actual[name]} vs Bunny {expected[name]}" for name in differing)
    return [
        Problem(
            ProblemCode.TOTALS_MISMATCH,
            f"The lines of {label} do not add up to its totals ({detail}, reading subtotal {readings.subtotal} and "
            f"amount {readings.amount}).",
            "Check the invoice in Bunny, and that AIQ_PIPELINE_BUNNY_SUBTOTAL and AIQ_PIPELINE_BUNNY_AMOUNT read "
            "this tenant's Bunny right (aiq-pipeline doctor --probe); post it by hand in AIQ with External Reference "
            f"{invoice_reference(invoice.id)} if it is right.",
        )
    ]
