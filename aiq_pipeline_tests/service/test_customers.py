"""ensure_customer: one AIQ customer per Bunny account, even when two runs create it at once."""

from __future__ import annotations

import pytest

from aiq_emulators.accountsiq.app import start_emulator
from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import AiqValidationError
from aiq_pipeline.bunny.models import Account
from aiq_pipeline.service.customers import ensure_customer
from aiq_pipeline.sync.customer import desired_customer


@pytest.fixture
def aiq():
    with (
        start_emulator() as (url, handle),
        AccountsIQClient(
            entity_id="DEMO01", client_id="demo-aiq-client", client_secret="demo-aiq-secret", base_url=url
        ) as client,
    ):
        yield client, handle


def _desired(name: str = "Smith & <Sons>", currency: str = "GBP"):
    return desired_customer(Account(id="77", name=name, currency_code=currency), currency_code=currency)


def test_creates_the_customer_in_the_invoice_currency(aiq):
    client, _ = aiq
    created = ensure_customer(client, "BNY-77", _desired())
    assert created.code == "BNY-77" and created.name == "Smith & <Sons>" and created.currency_code == "GBP"


def test_losing_a_creation_race_reuses_the_winners_customer(aiq):
    client, handle = aiq
    winner = ensure_customer(client, "BNY-77", _desired())
    # A second run that looked before the first one wrote now creates the same code from a fresh template:
    # AIQ answers Conflicted/OUTDATED_RECORD, and the loser carries on with the winner's customer.
    loser = ensure_customer(client, "BNY-77", _desired(name="Smith and Sons"))
    assert loser.code == winner.code and loser.name == "Smith & <Sons>"
    customers = handle.state.data.entities["DEMO01"].customers
    assert sum(1 for code in customers if code == "BNY-77") == 1


def test_a_genuine_rejection_is_not_mistaken_for_a_race(aiq):
    client, _ = aiq
    with pytest.raises(AiqValidationError):
        ensure_customer(client, "bny-lower-case", _desired())


def test_an_unknown_outcome_is_resolved_by_looking(aiq):
    client, handle = aiq
    handle.faults.add({"kind": "drop_after_commit", "operations": ["UpdateCustomer"], "count": 1})
    created = ensure_customer(client, "BNY-78", _desired())
    assert created.code == "BNY-78"
    assert handle.stats.snapshot()["calls"]["UpdateCustomer"] == 1  # committed once, never re-sent
