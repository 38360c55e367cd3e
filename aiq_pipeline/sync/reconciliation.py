"""Does what AIQ holds match the Bunny invoice it was posted for? Net, tax and gross to the cent.

AIQ reports a posted document two ways: `GetTransaction` gives net/tax/gross directly, while
`GetTransactionsByExternalReference` gives the control (debtors, i.e. gross) amount and the GL lines, from
which net (non-control, non-tax lines) and tax (tax lines) are summed. AIQ signs lines as debits/credits, and
the sign convention of the read-back is not verified on a real tenant, so magnitudes are compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from aiq_pipeline.sync.identity import customer_code, invoice_reference
from aiq_pipeline.sync.inputs import AiqTransaction, AiqTransactionSummary, BunnyInvoice
from aiq_pipeline.sync.money import money_sum, to_cents


@dataclass(frozen=True)
class PostedTotals:
    net: Decimal
    tax: Decimal
    gross: Decimal
    customer_code: str | None
    external_reference: str | None
    currency_code: str | None


@dataclass(frozen=True)
class Difference:
    field: str  # net | tax | gross | customer_code | external_reference | currency_code
    bunny: str
    aiq: str

    def __str__(self) -> str:
        return f"{self.field}: Bunny {self.bunny}, AIQ {self.aiq}"


@dataclass(frozen=True)
class Reconciliation:
    invoice_id: str
    differences: tuple[Difference, ...]

    @property
    def matches(self) -> bool:
        return not self.differences


def totals_from_summary(summary: AiqTransactionSummary) -> PostedTotals:
    lines = summary.lines
    return PostedTotals(
        net=abs(money_sum(line.amount for line in lines if not line.is_control_line and not line.is_tax_line)),
        tax=abs(money_sum(line.amount for line in lines if line.is_tax_line and not line.is_control_line)),
        gross=abs(to_cents(summary.control_amount)),
        customer_code=summary.account_code,
        external_reference=summary.external_reference,
        currency_code=summary.currency_code,
    )


def totals_from_transaction(transaction: AiqTransaction) -> PostedTotals:
    return PostedTotals(
        net=abs(to_cents(transaction.net_amount)),
        tax=abs(to_cents(transaction.tax_amount)),
        gross=abs(to_cents(transaction.gross_amount)),
        customer_code=transaction.account_code,
        external_reference=transaction.external_reference,
        currency_code=transaction.currency_code,
    )


def _same_text(a: str | None, b: str | None) -> bool:
    # AIQ compares codes and references case-insensitively; None means AIQ did not report it.
    return a is None or b is None or a.strip().upper() == b.strip().upper()


def _posted_totals(posted: PostedTotals | AiqTransaction | AiqTransactionSummary) -> PostedTotals:
    if isinstance(posted, PostedTotals):
        return posted
    # The two AIQ readings are Protocols, which isinstance cannot tell apart; only a summary has a control amount.
    if hasattr(posted, "control_amount"):
        return totals_from_summary(cast(AiqTransactionSummary, posted))
    return totals_from_transaction(posted)


def reconcile_invoice(
    invoice: BunnyInvoice, posted: PostedTotals | AiqTransaction | AiqTransactionSummary
) -> Reconciliation:
    """Every way the AIQ posting differs from `invoice` (none: it matches)."""
    posted = _posted_totals(posted)
    differences: list[Difference] = []
    for name, bunny, aiq in (
        ("net", to_cents(invoice.subtotal), posted.net),
        ("tax", to_cents(invoice.tax_amount), posted.tax),
        ("gross", to_cents(invoice.amount), posted.gross),
    ):
        if bunny != aiq:
            differences.append(Difference(name, str(bunny), str(aiq)))
    for name, bunny_text, aiq_text in (
        ("customer_code", customer_code(invoice.account_id), posted.customer_code),
        ("external_reference", invoice_reference(invoice.id), posted.external_reference),
        ("currency_code", invoice.currency_code, posted.currency_code),
    ):
        if not _same_text(bunny_text, aiq_text):
            differences.append(Difference(name, bunny_text, str(aiq_text)))
    return Reconciliation(invoice.id, tuple(differences))
