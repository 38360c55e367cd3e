"""A downgrade's credit applied to a later invoice, through both emulators and the monthly reconciliation: the
customer-balance reconciliation agrees with AIQ to the cent, before the credit is applied and after.

The suspicion this guards: Bunny's side counts a negative invoice at its total (commit 72d790b), and the later
invoice at its `amountDue`, already less the credit applied; does the credit count twice against AIQ? It does not,
because AIQ holds the credit twice as well, document for document:

    Bunny's side                                   AIQ
    downgrade invoice: amount -61.50 (due 0)       BUNNY-INVCR-<downgrade>  sales credit note   -61.50
    later invoice: amountDue 123.00 - 61.50        BUNNY-INV-<later>        sales invoice      +123.00
                                                   BUNNY-ACR-<later>        sales credit journal -61.50
    = 0.00                                         = 0.00

The account credit applied is posted as its own credit to the customer (a sales credit journal from the
account-credit account, account_credit.py), not as an allocation of the downgrade's credit note, so the later
invoice's `amountDue` (its value less `credits`) is exactly its SI plus its ACR journal. Run under both readings of
how Bunny shows applied credit in `amount` (`amount_includes_credits`, the product's AIQ_PIPELINE_BUNNY_AMOUNT).

Not settled here: both figures (0.00) are below what the customer owes if the credit Bunny applied is the
downgrade's own (61.50 on the later invoice, no credit left). The SN stays open at -61.50 and the ACR journal debits
the account-credit account with 61.50 nothing credited. The reconciliation cannot see that: its Bunny side mirrors
what is posted, and neither Bunny's `credits` nor the emulator says where applied credit came from.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from aiq_pipeline.defs.posting.status import document_exceptions
from aiq_pipeline.operations.reconcile import reconcile_months_in_process
from aiq_pipeline.service.reconciliation import latest_customer_balances, month_key
from aiq_pipeline.sync.identity import (
    account_credit_reference,
    customer_code,
    invoice_credit_reference,
    invoice_reference,
)
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS
from aiq_pipeline_tests.payments.conftest import payments_definitions
from aiq_pipeline_tests.payments.driving import Daemon, aiq_by_reference, bunny_post, new_invoice
from aiq_pipeline_tests.payments.product_checks import posted_totals
from aiq_pipeline_tests.pipeline.conftest import Stack

CUSTOMER = customer_code("1")
D = Decimal

# A downgrade mid-period: the cheaper plan's 40.00 less the dearer plan's unused 90.00, both at the emulator's 23 %:
# a net of -50.00, tax -11.50, a total of -61.50.
DOWNGRADE = [
    {"charge": "SUB-MONTHLY", "quantity": 1, "price": "40.00", "kind": "UPDATE", "line_text": "Basic plan"},
    {"charge": "SUB-MONTHLY", "quantity": 1, "price": "-90.00", "is_credit": True, "kind": "UPDATE",
     "credits_line": 1, "line_text": "Unused time on Premium"},
]  # fmt: skip
LATER = [{"charge": "SUB-MONTHLY", "quantity": 1, "price": "100.00", "line_text": "Basic plan, next month"}]


def _with_readings(stack: Stack, includes_credits: bool) -> Stack:
    """Bunny shows `amount` after the credit applied (or not), and the product is told so."""
    answer = httpx.post(
        f"{stack.emulators.bunny_url}/_emulator/options", json={"amount_includes_credits": includes_credits}
    )
    assert answer.status_code == 200, answer.text
    reading = "less_credits" if includes_credits else "full"
    defs = payments_definitions(stack.emulators, stack.tmp / "store.duckdb", bunny_amount=reading)
    return replace(stack, defs=defs)


def _figures(stack: Stack, invoice_id: str) -> tuple[Decimal, Decimal, Decimal]:
    """Bunny's `amount`, `credits` and `amountDue` of the invoice, as the emulator shows them."""
    store = stack.emulators.bunny.store
    shown = store.figures(store._invoice(invoice_id))
    return shown.amount, shown.credits, shown.amount_due


def _control(stack: Stack, reference: str) -> tuple[str, Decimal]:
    (transaction,) = aiq_by_reference(stack, reference)
    return transaction.type_code, transaction.control_amount


def _customer_row(stack: Stack) -> dict[str, object]:
    (outcome,) = reconcile_months_in_process(stack.instance, [month_key(datetime.now(UTC).date())], stack.defs, "test")
    assert outcome.ran, outcome.description
    assert outcome.passed, outcome.description
    rows = {r["customer_code"]: r for r in latest_customer_balances(stack.store, outcome.month_key[:7])}
    return rows[CUSTOMER]


@pytest.mark.parametrize("includes_credits", [False, True], ids=["amount_full", "amount_less_credits"])
def test_a_downgrade_credit_applied_to_a_later_invoice_reconciles_to_the_cent(
    stack: Stack, includes_credits: bool
) -> None:
    stack = _with_readings(stack, includes_credits)
    daemon = Daemon(stack)
    downgrade = new_invoice(stack, items=DOWNGRADE)
    later = new_invoice(stack, items=LATER)
    assert _figures(stack, downgrade) == (D("-61.50"), D("0.00"), D("0.00"))  # Bunny shows nothing due on it
    assert _figures(stack, later) == (D("123.00"), D("0.00"), D("123.00"))
    daemon.tick()

    assert _control(stack, invoice_credit_reference(downgrade)) == ("SN", D("-61.50"))
    assert aiq_by_reference(stack, invoice_reference(downgrade)) == []  # a negative total is its credit note alone
    assert _control(stack, invoice_reference(later)) == ("SI", D("123.00"))
    # Not applied yet: the customer holds the credit. Bunny -61.50 + 123.00; AIQ the SN and the SI.
    row = _customer_row(stack)
    assert (row["bunny_amount_due"], row["aiq_balance"], row["aiq_outstanding"]) == (D("61.50"),) * 3
    assert row["passed"] and row["invoices"] == 2

    # Bunny applies the downgrade's credit to the later invoice: its amountDue falls by 61.50.
    bunny_post(stack, f"/_emulator/invoices/{later}/credits", {"amount": "61.50"})
    amount = D("61.50") if includes_credits else D("123.00")
    assert _figures(stack, later) == (amount, D("61.50"), D("61.50"))
    assert _figures(stack, downgrade) == (D("-61.50"), D("0.00"), D("0.00"))  # the downgrade itself is unchanged
    daemon.tick()
    daemon.tick()

    for asset in DOCUMENT_ASSETS:
        assert document_exceptions(stack.instance, asset) == [], asset.noun
    assert _control(stack, account_credit_reference(later)) == ("SC", D("-61.50"))
    assert _control(stack, invoice_reference(later)) == ("SI", D("123.00"))  # still at its full value
    totals = posted_totals(stack.instance)
    assert totals.checked >= 3 and totals.problems == [], totals.problems

    # Bunny's side: the downgrade at its total (-61.50) plus the later invoice's amountDue (61.50) = 0.00. AIQ's:
    # the SN (-61.50), the SI (123.00) and the ACR journal (-61.50) = 0.00. Each side counts the credit twice,
    # once as the downgrade and once as applied, so they agree: Bunny is not lower than AIQ by the credit.
    row = _customer_row(stack)
    assert (row["bunny_amount_due"], row["aiq_balance"], row["aiq_outstanding"]) == (D("0.00"),) * 3
    assert row["passed"] and row["problem"] is None and row["currency"] == "EUR"
