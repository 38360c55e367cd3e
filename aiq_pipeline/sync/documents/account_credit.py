"""The planner of account credit applied to an invoice: Bunny's `Invoice.credits`, read as a settlement from the
customer's credit balance (MONEY.md; UNVERIFIED), settles the invoice in AIQ.

The invoice itself posts at its full value. The credit is a sales credit journal (BUNNY-ACR-<invoice id>): the
customer credited, the account credit comes from (AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT, e.g. customer credits held)
debited, allocated to the invoice. What the customer owes in AIQ is then what Bunny says is due. It waits while AIQ
lacks the invoice. Bunny may apply more credit later: the difference is a further journal (BUNNY-ACR-<id>-2, ...),
so what AIQ holds always adds up to the credit Bunny shows.
"""

from __future__ import annotations

from decimal import Decimal

from aiq_pipeline.sync.documents.banks import money_line
from aiq_pipeline.sync.documents.context import PlanContext, PostedDocument
from aiq_pipeline.sync.documents.dating import posting_date
from aiq_pipeline.sync.documents.invoice import NOTHING_TO_POST
from aiq_pipeline.sync.documents.lines import single_line
from aiq_pipeline.sync.documents.plan import (
    INVOICE_NOT_POSTED,
    AiqTarget,
    Decision,
    PlannedAllocation,
    PlannedDocument,
    PostingPlan,
    Skip,
    Wait,
)
from aiq_pipeline.sync.documents.rates import currency_problems, exchange_rate
from aiq_pipeline.sync.gl_mapping import account_problem
from aiq_pipeline.sync.identity import KIND_ACCOUNT_CREDIT, account_credit_reference, customer_code, invoice_reference
from aiq_pipeline.sync.inputs import BunnyInvoice
from aiq_pipeline.sync.money import ZERO, money_sum, to_cents
from aiq_pipeline.sync.problems import PreflightFailed, Problem, ProblemCode

MAX_PARTS = 5  # credit applied to one invoice in more steps than this is unusual: the sixth is an exception


def part_references(invoice_id: str) -> tuple[str, ...]:
    """Every reference the credits of an invoice can post under, the first one first."""
    first = account_credit_reference(invoice_id)
    return (first, *(f"{first}-{n}" for n in range(2, MAX_PARTS + 1)))


def plan_account_credit(invoice: BunnyInvoice, ctx: PlanContext) -> Decision:
    label = f"Account credit applied to Bunny invoice {invoice.number or invoice.id}"
    credits = to_cents(invoice.credits or ZERO)
    posted_parts = [ctx.posted[r] for r in part_references(invoice.id) if r in ctx.posted]
    missing = credits - money_sum(part.gross for part in posted_parts)
    if credits <= 0 or (missing == 0 and not posted_parts):
        return Skip("No account credit left to post on this invoice.", code=NOTHING_TO_POST)
    posted_invoice = ctx.holds(invoice_reference(invoice.id))
    if posted_invoice is None:
        return Wait(
            INVOICE_NOT_POSTED,
            f"{label}: the invoice is not in AIQ yet.",
            "Nothing to do if the invoice is on its way: the credit posts once it is.",
            {"invoice_ids": invoice.id},
        )
    if missing < 0:
        raise PreflightFailed([_shrunk(label, credits, posted_parts)])
    if missing > 0 and len(posted_parts) >= MAX_PARTS:
        raise PreflightFailed([_too_many(label, credits, posted_parts)])
    # The parts AIQ holds are planned again (they are not written twice) so that their allocations run too: a part
    # written while AIQ's look-ups lagged may never have been allocated. One that cannot be planned any more (its
    # period closed since) is left as it is.
    held = [d for part in posted_parts if (d := _replanned(invoice, ctx, posted_invoice, part, label)) is not None]
    new = (
        [_journal(invoice, ctx, posted_invoice, part_references(invoice.id)[len(posted_parts)], missing, label)]
        if missing > 0
        else []
    )
    documents = (*new, *held)
    if not documents:
        return Skip("No account credit left to post on this invoice.", code=NOTHING_TO_POST)
    return PostingPlan(
        kind=KIND_ACCOUNT_CREDIT,
        source_id=invoice.id,
        customer_code=documents[0].customer_code,
        customer=None,
        documents=documents,
        allocations=tuple(
            PlannedAllocation(
                d.reference,
                posted_invoice.reference,
                d.date,
                amount=d.gross,
                source_type=AiqTarget.SALES_CREDIT_JOURNAL,
            )
            for d in documents
        ),
        bunny_issue_date=invoice.issued_at,
        notes=(f"{missing} of account credit settles the invoice",) if missing > 0 else (),
    )


def _replanned(
    invoice: BunnyInvoice, ctx: PlanContext, posted_invoice: PostedDocument, part: PostedDocument, label: str
) -> PlannedDocument | None:
    try:
        return _journal(invoice, ctx, posted_invoice, part.reference, part.gross, label)
    except PreflightFailed:
        return None


def _journal(
    invoice: BunnyInvoice,
    ctx: PlanContext,
    posted_invoice: PostedDocument,
    reference: str,
    amount: Decimal,
    label: str,
) -> PlannedDocument:
    account = ctx.settings.payments.account_credit_account
    problems: list[Problem] = []
    if not account:
        problems.append(
            Problem(
                ProblemCode.NO_ACCOUNT_CREDIT_ACCOUNT,
                f"{label}: {amount} {invoice.currency_code}, and no account is configured for account credit.",
                "Set AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT to the AIQ account customer credit is held on, then retry.",
            )
        )
    elif found := account_problem(account, ctx.ledger.accounts, used_by="AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT"):
        problems.append(found)
    day = invoice.issued_at or invoice.updated_at.date()
    dated, date_problems = posting_date(label, day, ctx.ledger.periods, ctx.settings.closed_period_policy)
    rate = (
        posted_invoice.document.exchange_rate
        if posted_invoice.document
        else exchange_rate(invoice, ctx.ledger, ctx.settings)[0]
    )
    problems += date_problems + currency_problems(label, invoice.currency_code.strip().upper(), rate, ctx.ledger)
    if problems or dated is None or rate is None or not account:
        raise PreflightFailed(problems)
    description = single_line(label)
    return PlannedDocument(
        target=AiqTarget.SALES_CREDIT_JOURNAL,
        reference=reference,
        customer_code=posted_invoice.customer or customer_code(invoice.account_id),
        currency_code=invoice.currency_code.strip().upper(),
        date=dated[0],
        due_date=None,
        description=description,
        exchange_rate=rate,
        lines=(money_line(account, description, amount, invoice.id, "account_credit"),),
        period_name=dated[1].period_name,
        financial_year=dated[1].financial_year,
    )


def _shrunk(label: str, credits: Decimal, posted: list[PostedDocument]) -> Problem:
    done = money_sum(part.gross for part in posted)
    return Problem(
        ProblemCode.PAYMENT_AMOUNTS,
        f"{label}: AIQ holds {done} of account credit for it, but Bunny now shows {credits}.",
        "Bunny took credit back from a posted invoice: reverse the difference by hand in AIQ (a sales debit "
        "journal), then dismiss this exception.",
    )


def _too_many(label: str, credits: Decimal, posted: list[PostedDocument]) -> Problem:
    done = money_sum(part.gross for part in posted)
    return Problem(
        ProblemCode.PAYMENT_AMOUNTS,
        f"{label}: Bunny applied credit in more than {MAX_PARTS} steps; AIQ holds {done} of the {credits}.",
        "Post the difference by hand in AIQ (a sales credit journal allocated to the invoice), then dismiss this "
        "exception.",
    )
