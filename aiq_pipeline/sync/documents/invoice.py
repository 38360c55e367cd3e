"""The invoice planner: the AIQ batch sales invoice for one Bunny invoice, or exactly why it cannot be posted.

`invoice_document` raises `PreflightFailed` carrying *every* problem found (not a result union): a document that
exists is always postable, the caller cannot forget to check a flag, and the Dagster layer turns the exception into
the partition's failure reason as it is. Credit notes and void reversals reuse it on a credited view of their
invoice, so every invoice rule applies to them too.

Policies (each a finance decision: fail rather than post something that differs from Bunny) live in the modules
they concern: `lines` (amounts, accounts, tax codes), `rates` (exchange and tax rates), `dating` (periods). Here:

- The document's net, tax and gross must equal Bunny's `subtotal`, `tax_amount` and `amount` to the cent, else
  TOTALS_MISMATCH.
- Customer: an existing AIQ customer must be in the invoice's currency (AIQ forbids changing it); without one, the
  Bunny account must be complete enough to create it.
- An invoice voided in Bunny before it was posted is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aiq_pipeline.sync.customer import DesiredCustomer, currency_problem, customer_problems, desired_customer
from aiq_pipeline.sync.documents.context import PlanContext
from aiq_pipeline.sync.documents.dating import posting_date
from aiq_pipeline.sync.documents.lines import invoice_label, plan_lines, single_line
from aiq_pipeline.sync.documents.plan import AiqTarget, Decision, PlannedDocument, PlannedLine, PostingPlan, Skip
from aiq_pipeline.sync.documents.rates import exchange_rate
from aiq_pipeline.sync.identity import customer_code, invoice_reference
from aiq_pipeline.sync.inputs import AiqPeriod, BunnyInvoice
from aiq_pipeline.sync.money import money_sum, to_cents
from aiq_pipeline.sync.problems import PreflightFailed, Problem, ProblemCode

KIND_INVOICE = "invoice"


@dataclass(frozen=True)
class DocumentDraft:
    """What `invoice_document` decided besides the document itself."""

    document: PlannedDocument
    customer: DesiredCustomer | None
    bunny_issue_date: date
    exchange_rate_source: str


def plan_invoice(invoice: BunnyInvoice, ctx: PlanContext) -> Decision:
    """The AIQ posting of a Bunny invoice (called once the service knows AIQ does not hold it yet)."""
    if invoice.state == "VOIDED":
        return Skip("Voided in Bunny before it was posted.", code="VOIDED")
    number = invoice.number or f"id {invoice.id}"
    draft = invoice_document(
        invoice,
        ctx,
        target=AiqTarget.SALES_INVOICE,
        reference=invoice_reference(invoice.id),
        description=f"Bunny invoice {number}",
    )
    return PostingPlan(
        kind=KIND_INVOICE,
        source_id=invoice.id,
        customer_code=draft.document.customer_code,
        customer=draft.customer,
        documents=(draft.document,),
        bunny_issue_date=draft.bunny_issue_date,
        exchange_rate_source=draft.exchange_rate_source,
    )


def invoice_document(
    invoice: BunnyInvoice, ctx: PlanContext, *, target: AiqTarget, reference: str, description: str
) -> DocumentDraft:
    """The AIQ document carrying `invoice`'s lines, or `PreflightFailed` with every problem."""
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
    lines, found = plan_lines(invoice, ctx)
    problems += found
    problems += _totals_problems(invoice, lines, label)
    if problems:
        raise PreflightFailed(list(dict.fromkeys(problems)))  # repeats dropped, first-seen order kept
    assert invoice.issued_at is not None and posting is not None and rate is not None
    day, period = posting
    if day != invoice.issued_at:
        description += f", issued {invoice.issued_at.isoformat()} in Bunny"
    document = PlannedDocument(
        target=target,
        reference=reference,
        customer_code=customer_code(invoice.account_id),
        currency_code=invoice.currency_code.strip().upper(),
        date=day,
        due_date=invoice.due_at,
        description=single_line(description),
        exchange_rate=rate,
        lines=tuple(lines),
        period_name=period.period_name,
        financial_year=period.financial_year,
    )
    return DocumentDraft(document, customer, invoice.issued_at, rate_source)


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
    if not invoice.is_postable:
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
        mismatch = currency_problem(ctx.existing_customer, invoice_currency=currency, invoice_id=invoice.id)
        problems += [mismatch] if mismatch else []
    else:
        problems += customer_problems(invoice.account, invoice_id=invoice.id)
    customer = None
    if invoice.account is not None and (invoice.account.name or "").strip():
        customer = desired_customer(invoice.account, currency_code=currency)
    return customer, problems


def _currency(invoice: BunnyInvoice, ctx: PlanContext, label: str) -> tuple[Decimal | None, str, list[Problem]]:
    ledger = ctx.ledger
    currency = invoice.currency_code.strip().upper()
    problems: list[Problem] = []
    if ledger.currencies is not None and currency not in ledger.currencies:
        problems.append(
            Problem(
                ProblemCode.UNKNOWN_CURRENCY,
                f"{label} is in {currency}, a currency the AIQ company does not have.",
                f"Add {currency} to the currencies of the AIQ company, then retry.",
            )
        )
    rate, source = exchange_rate(invoice, ledger, ctx.settings)
    if rate is None or rate <= 0:
        problems.append(
            Problem(
                ProblemCode.NO_EXCHANGE_RATE,
                f"{label} is in {currency}, not AIQ's base currency {ledger.base_currency}, and no usable exchange "
                f"rate is known ({'none given' if rate is None else f'got {rate}'}).",
                f"Set the {currency} rate in AIQ (Currencies), or configure the {currency} -> {ledger.base_currency} "
                "rate for the sync, then retry.",
            )
        )
    return rate, source, problems


def _totals_problems(invoice: BunnyInvoice, lines: list[PlannedLine], label: str) -> list[Problem]:
    """Never post a document that does not add up to Bunny's totals."""
    if not lines:
        return []
    net = money_sum(line.net_amount for line in lines)
    tax = money_sum(line.tax_amount for line in lines)
    actual = {"net": net, "tax": tax, "gross": net + tax}
    expected = {
        "net": to_cents(invoice.subtotal),
        "tax": to_cents(invoice.tax_amount),
        "gross": to_cents(invoice.amount),
    }
    differing = [name for name in expected if expected[name] != actual[name]]
    if not differing:
        return []
    detail = ", ".join(f"{name} {actual[name]} vs Bunny {expected[name]}" for name in differing)
    return [
        Problem(
            ProblemCode.TOTALS_MISMATCH,
            f"The lines of {label} do not add up to its totals ({detail}), e.g. because credits were applied on the "
            "invoice.",
            "Check the invoice in Bunny; post it by hand in AIQ with External Reference "
            f"{invoice_reference(invoice.id)} if it is right.",
        )
    ]
