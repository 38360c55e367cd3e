"""The production client over real HTTP against the emulator configured with each unverified reading (issue 10):
what the client reports under each, so the posting service can rely on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aiq_emulators.accountsiq import EmulatorHandle, operations, start_emulator
from aiq_pipeline.accountsiq import (
    AccountsIQClient,
    AiqDuplicateReference,
    AiqLookupError,
    AiqLookupTruncated,
    AiqWriteOutcomeUnknown,
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
)

SI = ("SI",)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 7, 1, 9, 0, 0)

    def __call__(self) -> datetime:
        return self.now


_clock = Clock()


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[str, EmulatorHandle]]:
    with start_emulator(clock=_clock) as served:
        yield served


@pytest.fixture
def handle(emulator: tuple[str, EmulatorHandle]) -> EmulatorHandle:
    emulator[1].reset()
    emulator[1].reset_options()
    _clock.now = Clock().now
    return emulator[1]


@pytest.fixture
def make_client(emulator: tuple[str, EmulatorHandle], handle: EmulatorHandle) -> Iterator[Any]:
    made: list[AccountsIQClient] = []

    def make(**settings: Any) -> AccountsIQClient:
        client = AccountsIQClient(
            entity_id="DEMO01",
            client_id="demo-aiq-client",
            client_secret="demo-aiq-secret",
            base_url=emulator[0],
            backoff_base=0,
            **settings,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def invoice(reference: str) -> BatchSalesInvoice:
    line = BatchLine("4000", "V01", "Subscription", Decimal("100.00"), Decimal("0.23"), None)
    return BatchSalesInvoice("EXISTING-001", date(2026, 7, 10), reference, "Invoice", (line,))


def test_lagging_lookup_reads_empty_but_the_id_is_found(make_client: Any, handle: EmulatorHandle) -> None:
    handle.set_options(lookup_lag_seconds=30)
    client = make_client()
    created = client.create_batch_sales_invoice_get_back_transaction_id(invoice("LAG-INV-1"))
    # The hazard the posting journal exists for: by reference, a just-created document is "not there".
    assert client.get_transactions_by_external_reference("LAG-INV-1", types=SI) == []
    assert client.get_transactions_by(date(2026, 7, 1), date(2026, 7, 31), types=SI) == []
    # By the id AIQ returned, it is.
    found = client.get_transaction(created.transaction_id)
    assert (found.external_reference, found.gross_amount) == ("LAG-INV-1", Decimal("123.00"))
    _clock.now += timedelta(seconds=30)
    [summary] = client.get_transactions_by_external_reference("LAG-INV-1", types=SI)
    assert summary.transaction_id == created.transaction_id


def test_slow_commit_is_an_unknown_outcome_and_the_document_exists_once(
    make_client: Any, handle: EmulatorHandle
) -> None:
    client = make_client(timeout=0.3)
    client.get_entities_by_token()  # token in hand: only the write meets the slow answer
    handle.set_options(slow_commit_seconds=2)
    with pytest.raises(AiqWriteOutcomeUnknown):
        client.create_batch_sales_invoice_get_back_transaction_id(invoice("SLOW-INV-1"))
    assert handle.stats.snapshot()["calls"]["CreateBatchSalesInvoiceGetBackTransactionID"] == 1  # not re-sent
    [found] = client.get_transactions_by_external_reference("SLOW-INV-1", types=SI)
    assert found.control_amount == Decimal("123.00")


def test_unique_references_on_a_second_create_is_a_duplicate_to_resolve(
    make_client: Any, handle: EmulatorHandle
) -> None:
    handle.set_options(unique_external_references=True)
    client = make_client()
    first = client.create_batch_sales_invoice_get_back_transaction_id(invoice("UNIQUE-INV-1"))
    with pytest.raises(AiqDuplicateReference) as raised:
        client.create_batch_sales_invoice_get_back_transaction_id(invoice("UNIQUE-INV-1"))
    assert raised.value.reference == "UNIQUE-INV-1"
    assert raised.value.code == "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS"
    # Resolving it: the look-up finds the one existing document.
    [existing] = client.get_transactions_by_external_reference(raised.value.reference, types=SI)
    assert existing.transaction_id == first.transaction_id
    note = BatchSalesCreditNote("EXISTING-001", date(2026, 7, 11), "UNIQUE-CN-1", "Credit", invoice("x").lines)
    client.create_batch_sales_credit_note_get_back_transaction_id(note)
    with pytest.raises(AiqDuplicateReference) as note_twice:
        client.create_batch_sales_credit_note_get_back_transaction_id(note)
    assert note_twice.value.reference == "UNIQUE-CN-1"


@pytest.mark.parametrize("match", ["exact", "ignore_case", "prefix"])
def test_every_reference_match_reading_gives_only_the_document_asked_for(
    make_client: Any, handle: EmulatorHandle, match: str
) -> None:
    client = make_client()
    for reference in ("PFX-1", "PFX-10", "PFX-11"):
        client.create_batch_sales_invoice_get_back_transaction_id(invoice(reference))
    handle.set_options(reference_match=match)
    assert [s.external_reference for s in client.get_transactions_by_external_reference("PFX-1", types=SI)] == ["PFX-1"]


def test_a_lookup_answer_at_the_cap_is_truncated_not_empty(
    make_client: Any, handle: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations, "MAX_LOOKUP_ROWS", 3)
    client = make_client()
    client.lookup_row_cap = 3
    for reference in ("CAP-10", "CAP-11", "CAP-12", "CAP-1"):
        client.create_batch_sales_invoice_get_back_transaction_id(invoice(reference))
    handle.set_options(reference_match="prefix")
    with pytest.raises(AiqLookupTruncated):
        client.get_transactions_by_external_reference("CAP-1", types=SI)


def test_not_found_as_failure_is_never_read_as_nothing_there(make_client: Any, handle: EmulatorHandle) -> None:
    handle.set_options(empty_lookup_answer="transaction_not_found")
    client = make_client()
    with pytest.raises(AiqLookupError) as raised:
        client.get_transactions_by_external_reference("NEVER-POSTED-1", types=SI)
    assert raised.value.code == "TRANSACTION_NOT_FOUND"
