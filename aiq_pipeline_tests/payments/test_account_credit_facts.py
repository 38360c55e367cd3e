"""What the totals check takes as Bunny's figure for an account-credit journal (BUNNY-ACR-<id>): the credit applied,
under both readings of Bunny's `amount` (AIQ_PIPELINE_BUNNY_AMOUNT)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from aiq_pipeline.bunny.models import Invoice
from aiq_pipeline.service.kinds import ACCOUNT_CREDIT, INVOICE
from aiq_pipeline.service.outcome import Outcome, Status
from aiq_pipeline.service.posting_outcomes import with_facts
from aiq_pipeline.sync.documents.context import BunnyReadings

D = Decimal


def _invoice(amount: str) -> Invoice:
    """An invoice of 123.00 with 61.50 of account credit applied; `amount` as the reading shows it."""
    return Invoice(
        id="14",
        number="INV-14",
        state="NOT_DUE",
        entity_id="1",
        account_id="1",
        currency_code="EUR",
        issued_at=date(2026, 12, 2),
        due_at=date(2027, 1, 1),
        subtotal=D("100.00"),
        tax_amount=D("23.00"),
        amount=D(amount),
        updated_at=datetime(2026, 12, 2, tzinfo=UTC),
        credits=D("61.50"),
        amount_due=D("61.50"),
    )


@pytest.mark.parametrize(("reading", "amount"), [("full", "123.00"), ("less_credits", "61.50")])
def test_an_account_credit_journal_is_checked_against_the_credit_applied(reading: str, amount: str) -> None:
    """Found by the downgrade-credit scenario (reconciliation/money/test_downgrade_credit.py): under `less_credits`
    the journal's facts kept the invoice's `credits`, which the reading adds back to the gross, so the check took
    Bunny's figure for a 61.50 journal as 123.00 and failed (`aiq_receipts_match_bunny`) though AIQ held 61.50."""
    readings = BunnyReadings(amount=reading)
    invoice = _invoice(amount)
    base = Outcome(key="CREDIT-14", kind="account_credit", status=Status.POSTED)
    journal = with_facts(base, ACCOUNT_CREDIT.facts(invoice), readings)
    assert (journal.net, journal.tax, journal.gross) == (None, None, D("61.50"))
    # The invoice itself is still read at its full value under both readings.
    assert with_facts(base, INVOICE.facts(invoice), readings).gross == D("123.00")
