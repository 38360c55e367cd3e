"""The planner of a Bunny payment: a sales receipt into the mapped bank account, allocated to the invoices it paid.

- Only money received posts: a SUCCEEDED (or later DISPUTED) payment. A pending one waits (PAYMENT_PENDING,
  retryable); a failed one is skipped (PAYMENT_FAILED): it never moved money.
- The receipt (BUNNY-PAY-<id>, type SR) carries what reached the bank: the amount less the processor's fees, into
  the AIQ bank account mapped for the payment's processor and currency; dated when the payment was received.
- The fees (BUNNY-FEE-<id>, a sales credit journal) credit the customer and debit the fees account: the customer
  paid the whole amount, the processor kept the fees. Receipts per bank and day then equal Bunny's payments less
  fees, which is what the bank statement shows.
- Both are allocated to the invoices the payment was applied to, with the applied amounts (receipt first). An
  overpayment stays unallocated on the customer's account. A payment whose invoice AIQ does not hold yet waits
  (INVOICE_NOT_POSTED, retryable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from aiq_pipeline.sync.customer import DesiredCustomer, currency_problem, customer_problems, desired_customer
from aiq_pipeline.sync.documents.banks import Bank, bank_for, money_line
from aiq_pipeline.sync.documents.context import PlanContext, PostedDocument
from aiq_pipeline.sync.documents.dating import posting_date
from aiq_pipeline.sync.documents.lines import single_line
from aiq_pipeline.sync.documents.plan import (
    INVOICE_NOT_POSTED,
    AiqTarget,
    Decision,
    PlannedAllocation,
    PlannedDocument,
    PlannedLine,
    PostingPlan,
    Skip,
    Wait,
)
from aiq_pipeline.sync.documents.rates import ONE, RATE_BASE, known_rate
from aiq_pipeline.sync.documents.rates import currency_problems as rate_problems
from aiq_pipeline.sync.gl_mapping import account_problem
from aiq_pipeline.sync.identity import (
    KIND_PAYMENT,
    customer_code,
    fee_reference,
    invoice_reference,
    payment_reference,
)
from aiq_pipeline.sync.inputs import BunnyPayment
from aiq_pipeline.sync.money import ZERO, money_sum, to_cents
from aiq_pipeline.sync.problems import PreflightFailed, Problem, ProblemCode

PAYMENT_PENDING = "PAYMENT_PENDING"
PAYMENT_FAILED = "PAYMENT_FAILED"
RECEIVED_STATES = ("SUCCEEDED", "DISPUTED")
IN_FLIGHT_STATES = ("PENDING", "PROCESSING")


def plan_payment(payment: BunnyPayment, ctx: PlanContext) -> Decision:
    """The AIQ documents of a Bunny payment, or why it does not post (yet)."""
    state = (payment.processing_state or "").strip().upper()
    label = f"Bunny payment {payment.id}"
    if state == "FAILED":
        return Skip("Failed in Bunny: no money was received, so nothing posts.", code=PAYMENT_FAILED)
    if state in IN_FLIGHT_STATES:
        return Wait(
            PAYMENT_PENDING,
            f"{label} is {state.lower()} in Bunny: no money has been received yet.",
            "Nothing to do: it posts once Bunny shows it succeeded, and never if it fails.",
        )
    if state not in RECEIVED_STATES:
        raise PreflightFailed([_problem(ProblemCode.NOT_POSTABLE, f"{label} is {state or 'in no state'}.")])
    entity = ctx.settings.bunny_entity_id
    if payment.entity_id is not None and payment.entity_id != entity:
        message = f"{label} belongs to Bunny entity {payment.entity_id}, not {entity}, which this sync posts."
        raise PreflightFailed([_problem(ProblemCode.WRONG_ENTITY, message, "Nothing to post here.")])
    applied = applications(payment)
    waiting = [invoice_id for invoice_id in applied if invoice_reference(invoice_id) not in ctx.posted]
    if waiting:
        return _waits_for_invoices(label, waiting)
    return _plan(payment, ctx, applied, label)


def applications(payment: BunnyPayment) -> dict[str, tuple[Decimal, datetime | None]]:
    """Invoice id -> (amount applied, when first applied), in the order they were applied; zero amounts dropped."""
    ordered = sorted(payment.applications, key=lambda a: (a.created_at or datetime.min, a.id))
    applied: dict[str, tuple[Decimal, datetime | None]] = {}
    for application in ordered:
        if not application.invoice_id or not application.amount:
            continue
        before, first = applied.get(application.invoice_id, (ZERO, application.created_at))
        applied[application.invoice_id] = (before + to_cents(application.amount), first)
    return {invoice_id: found for invoice_id, found in applied.items() if found[0] > 0}


def _waits_for_invoices(label: str, invoice_ids: Sequence[str]) -> Wait:
    listed = ", ".join(invoice_ids)
    return Wait(
        INVOICE_NOT_POSTED,
        f"{label} was applied to invoice(s) {listed}, which AIQ does not hold yet.",
        "Nothing to do if the invoice is on its way: the payment posts once it is. Otherwise post the invoice "
        "first (see its own exception), then retry the payment.",
        details={"invoice_ids": listed},
    )


def _plan(
    payment: BunnyPayment, ctx: PlanContext, applied: dict[str, tuple[Decimal, datetime | None]], label: str
) -> PostingPlan:
    currency = (payment.currency_code or "").strip().upper()
    received, fees, problems = _amounts(payment, ctx, applied, label)
    posted = [ctx.posted[invoice_reference(invoice_id)] for invoice_id in applied]
    code, customer, customer_issues = _customer(payment, ctx, posted, currency, label)
    rate, rate_source = (ONE, RATE_BASE) if currency == ctx.ledger.base_currency else known_rate(currency, ctx.settings)
    bank, bank_issues = bank_for(label, payment.payment_processor, currency, rate, ctx.settings.payments, ctx.ledger)
    dated, date_issues = posting_date(
        label, _received_on(payment), ctx.ledger.periods, ctx.settings.closed_period_policy
    )
    problems += customer_issues + bank_issues + date_issues + _fees_problems(fees, ctx, label)
    if currency != ctx.ledger.base_currency:
        problems += rate_problems(label, currency, rate, ctx.ledger)
    if problems or bank is None or dated is None or rate is None:
        raise PreflightFailed(problems or [_problem(ProblemCode.NOT_POSTABLE, f"{label} cannot be planned.")])
    day, period = dated
    header = _Header(
        payment.id, code, currency, day, period.period_name, period.financial_year, rate, _description(payment)
    )
    documents = _documents(header, bank, received - fees, fees, ctx)
    return PostingPlan(
        kind=KIND_PAYMENT,
        source_id=payment.id,
        customer_code=code,
        customer=customer,
        documents=documents,
        allocations=_allocations(documents, applied, day),
        bunny_issue_date=_received_on(payment),
        exchange_rate_source=rate_source,
        notes=_notes(payment, received, applied),
    )


def _amounts(
    payment: BunnyPayment, ctx: PlanContext, applied: dict[str, tuple[Decimal, datetime | None]], label: str
) -> tuple[Decimal, Decimal, list[Problem]]:
    """(what the customer paid, the processor's fees), read this tenant's way (Payment.amount: UNVERIFIED)."""
    fees = to_cents(payment.fees or ZERO)
    amount = to_cents(payment.amount)
    received = amount + fees if ctx.settings.readings.payment_amount == "net_of_fees" else amount
    problems: list[Problem] = []
    if not (ZERO <= fees < received):
        problems.append(
            _problem(
                ProblemCode.PAYMENT_AMOUNTS,
                f"{label} shows amount {amount} and fees {fees}: the fees must be at least 0 and less than what "
                "the customer paid.",
                "Check the payment in Bunny (and AIQ_PIPELINE_BUNNY_PAYMENT_AMOUNT), then retry.",
            )
        )
    total = money_sum(amount for amount, _ in applied.values())
    if total > received:
        problems.append(
            _problem(
                ProblemCode.PAYMENT_AMOUNTS,
                f"{label} was applied to invoices for {total}, more than the {received} the customer paid.",
                "If Bunny's payment amounts are net of fees, set AIQ_PIPELINE_BUNNY_PAYMENT_AMOUNT=net_of_fees "
                "(aiq-pipeline doctor --probe tells); then retry.",
            )
        )
    return received, fees, problems


def _customer(
    payment: BunnyPayment, ctx: PlanContext, posted: list[PostedDocument], currency: str, label: str
) -> tuple[str, DesiredCustomer | None, list[Problem]]:
    """The AIQ customer: the one its invoices were posted to, else the account's (matched or derived)."""
    account = payment.account
    code = next((d.customer for d in posted if d.customer), None) or ctx.customer_code
    code = code or customer_code(payment.account_id or (account.id if account else ""))
    problems: list[Problem] = []
    if ctx.existing_customer is not None:
        mismatch = currency_problem(ctx.existing_customer, currency=currency, document=label)
        problems += [mismatch] if mismatch else []
    elif not posted:
        problems += customer_problems(account, document=label)
    customer = None
    if account is not None and (account.name or "").strip():
        customer = desired_customer(account, currency_code=currency, code=code)
    return code, customer, problems


def _fees_problems(fees: Decimal, ctx: PlanContext, label: str) -> list[Problem]:
    if fees <= 0:
        return []
    account = ctx.settings.payments.fees_account
    if not account:
        return [
            _problem(
                ProblemCode.NO_FEES_ACCOUNT,
                f"{label} carries {fees} of processor fees, and no fees account is configured.",
                "Set AIQ_PIPELINE_FEES_ACCOUNT to the AIQ account for bank charges, then retry.",
            )
        ]
    found = account_problem(account, ctx.ledger.accounts, used_by="AIQ_PIPELINE_FEES_ACCOUNT")
    return [found] if found else []


def _received_on(payment: BunnyPayment) -> date:
    moment = payment.received_at or payment.completed_at or payment.created_at or payment.updated_at
    return moment.date()


@dataclass(frozen=True)
class _Header:
    """What every document of one payment shares."""

    payment_id: str
    code: str
    currency: str
    day: date
    period_name: str | None
    year: int
    rate: Decimal
    description: str

    def document(
        self, target: AiqTarget, reference: str, line: PlannedLine, bank_rate: Decimal | None
    ) -> PlannedDocument:
        return PlannedDocument(
            target=target,
            reference=reference,
            customer_code=self.code,
            currency_code=self.currency,
            date=self.day,
            due_date=None,
            description=self.description,
            exchange_rate=self.rate,
            lines=(line,),
            period_name=self.period_name,
            financial_year=self.year,
            bank_exchange_rate=bank_rate,
        )


def _description(payment: BunnyPayment) -> str:
    processor = (payment.payment_processor or "").strip()
    return single_line(f"Bunny payment {payment.id}" + (f" ({processor})" if processor else ""))


def _documents(
    header: _Header, bank: Bank, banked: Decimal, fees: Decimal, ctx: PlanContext
) -> tuple[PlannedDocument, ...]:
    receipt = header.document(
        AiqTarget.SALES_RECEIPT,
        payment_reference(header.payment_id),
        money_line(bank.code, header.description, banked, header.payment_id, "bank"),
        bank.exchange_rate or header.rate,
    )
    if fees <= 0:
        return (receipt,)
    fees_account = ctx.settings.payments.fees_account or ""
    fee_text = single_line(f"Processor fees of {header.description}")
    fee = header.document(
        AiqTarget.SALES_CREDIT_JOURNAL,
        fee_reference(header.payment_id),
        money_line(fees_account, fee_text, fees, header.payment_id, "fees"),
        None,
    )
    return receipt, fee


def _allocations(
    documents: tuple[PlannedDocument, ...], applied: dict[str, tuple[Decimal, datetime | None]], day: date
) -> tuple[PlannedAllocation, ...]:
    """The applied amounts, settled by the receipt first and then by the fees journal, invoice by invoice."""
    left = {doc.reference: doc.gross for doc in documents}
    allocations: list[PlannedAllocation] = []
    for invoice_id, (amount, _) in applied.items():
        owed = amount
        for doc in documents:
            share = min(owed, left[doc.reference])
            if share <= 0:
                continue
            allocations.append(
                PlannedAllocation(
                    doc.reference, invoice_reference(invoice_id), day, amount=share, source_type=doc.target
                )
            )
            left[doc.reference] -= share
            owed -= share
    return tuple(allocations)


def _notes(
    payment: BunnyPayment, received: Decimal, applied: dict[str, tuple[Decimal, datetime | None]]
) -> tuple[str, ...]:
    notes: list[str] = []
    unapplied = received - money_sum(amount for amount, _ in applied.values())
    if unapplied > 0:
        notes.append(f"{unapplied} not applied to any invoice: left on the customer's account in AIQ")
    if (payment.processing_state or "").strip().upper() == "DISPUTED":
        notes.append("disputed in Bunny when read: posted as the money received")
    return tuple(notes)


def _problem(code: ProblemCode, message: str, fix: str = "Check the payment in Bunny, then retry.") -> Problem:
    return Problem(code, message, fix)
