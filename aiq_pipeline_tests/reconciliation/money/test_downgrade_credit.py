"""A downgrade's credit applied to a later invoice, through both emulators and the monthly reconciliation, under
both readings of how Bunny shows applied credit in `amount` (`amount_includes_credits`, the product's
AIQ_PIPELINE_BUNNY_AMOUNT).

What holds: before the credit is applied the customer-balance reconciliation agrees with AIQ to the cent (the
customer holds the credit: Bunny -61.50 + 123.00, AIQ the downgrade's credit note and the later invoice); when Bunny
applies it, the account credit posts as its journal (`BUNNY-ACR-<later>`, -61.50), every totals check passes, and
nothing is left on the exceptions list.

A KNOWN LEDGER BUG (found 2026-12-02, not fixed): once the credit is applied, AIQ holds the credit twice, document
for document:

    BUNNY-INVCR-<downgrade>  sales credit note    -61.50   (the downgrade: credits the customer)
    BUNNY-INV-<later>        sales invoice       +123.00
    BUNNY-ACR-<later>        sales credit journal -61.50   (from the account-credit account: credits them again)
    = 0.00, where the customer owes 61.50 (Bunny: the later invoice's amountDue, no credit left)

The credit note stays open at -61.50 and the account-credit account is debited with 61.50 nothing ever credited.
The reconciliation does not see it: its Bunny side counts the downgrade at its total (-61.50) and the later invoice
at its amountDue (61.50), 0.00, mirroring what is posted. Neither Bunny's `credits` nor the emulator says where
applied credit came from. `test_..._leaves_the_customer_owing_the_rest` asserts the right balance and is marked
xfail (strict): it fails the suite the day the ledger is fixed, so this note and the reconciliation are revisited.
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


def _downgrade_then_later_invoice(stack: Stack) -> tuple[Daemon, str, str]:
    daemon = Daemon(stack)
    downgrade = new_invoice(stack, items=DOWNGRADE)
    later = new_invoice(stack, items=LATER)
    return daemon, downgrade, later


def _apply_the_credit(stack: Stack, daemon: Daemon, later: str) -> None:
    """Bunny applies the downgrade's credit to the later invoice: its amountDue falls by 61.50."""
    bunny_post(stack, f"/_emulator/invoices/{later}/credits", {"amount": "61.50"})
    daemon.tick()
    daemon.tick()


@pytest.mark.parametrize("includes_credits", [False, True], ids=["amount_full", "amount_less_credits"])
def test_a_downgrade_credit_reconciles_and_its_application_posts_with_every_check_passing(
    stack: Stack, includes_credits: bool
) -> None:
    stack = _with_readings(stack, includes_credits)
    daemon, downgrade, later = _downgrade_then_later_invoice(stack)
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

    _apply_the_credit(stack, daemon, later)
    amount = D("61.50") if includes_credits else D("123.00")
    assert _figures(stack, later) == (amount, D("61.50"), D("61.50"))
    assert _figures(stack, downgrade) == (D("-61.50"), D("0.00"), D("0.00"))  # the downgrade itself is unchanged
    for asset in DOCUMENT_ASSETS:
        assert document_exceptions(stack.instance, asset) == [], asset.noun
    assert _control(stack, account_credit_reference(later)) == ("SC", D("-61.50"))
    assert _control(stack, invoice_reference(later)) == ("SI", D("123.00"))  # still at its full value
    totals = posted_totals(stack.instance)
    assert totals.checked >= 3 and totals.problems == [], totals.problems


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="KNOWN LEDGER BUG: an applied downgrade credit is posted as a second credit (the ACR journal) while the "
    "downgrade's credit note stays open, so AIQ shows 0.00 where the customer owes 61.50 (module docstring)",
)
def test_a_downgrade_credit_applied_to_a_later_invoice_leaves_the_customer_owing_the_rest(stack: Stack) -> None:
    stack = _with_readings(stack, includes_credits=False)
    daemon, _downgrade, later = _downgrade_then_later_invoice(stack)
    daemon.tick()
    _apply_the_credit(stack, daemon, later)
    assert _figures(stack, later)[2] == D("61.50")  # what Bunny says the customer owes, no credit left
    assert _customer_row(stack)["aiq_balance"] == D("61.50")
