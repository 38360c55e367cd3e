"""Issue 13 in the client: bulk creates for invoices and credit notes with per-item outcomes, and one look-up per
batch (GetTransactionsBy narrowed by type and dates) instead of one per document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import httpx
import pytest

from aiq_emulators.accountsiq import EmulatorHandle, start_emulator
from aiq_pipeline.accountsiq import (
    AccountsIQClient,
    AiqDuplicateReference,
    AiqLookupError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    CreatedTransaction,
)
from aiq_pipeline.accountsiq.envelope import NIL_ATTR, SERVICE_NS
from aiq_pipeline_tests.accountsiq import sample_records as rec
from aiq_pipeline_tests.accountsiq.scripted_aiq import ScriptedAiq, failure, result

INVOICES = "CreateBatchSalesInvoiceBulkGetBackTransactionIDs"
NOTES = "CreateBatchSalesCreditNoteBulkGetBackTransactionIDs"
LINE = BatchLine("4000", "V01", "Plan", Decimal("100.00"), Decimal("0.23"), None)


def q(name: str) -> str:
    return f"{{{SERVICE_NS}}}{name}"


def invoice(reference: str, *, gl: str = "4000", day: date = date(2026, 7, 10)) -> BatchSalesInvoice:
    line = BatchLine(gl, "V01", "Plan", Decimal("100.00"), Decimal("0.23"), None)
    return BatchSalesInvoice("EXISTING-001", day, reference, "Invoice", (line,))


def note(reference: str, *, lines: tuple[BatchLine, ...] = (LINE,)) -> BatchSalesCreditNote:
    return BatchSalesCreditNote("EXISTING-001", date(2026, 7, 12), reference, "Credit", lines)


def ids(*values: int) -> str:
    return "<transactionIDs>" + "".join(f"<int>{v}</int>" for v in values) + "</transactionIDs>"


# --- scripted: the exact wire and every answer shape ----------------------------------------------------------


def test_credit_note_bulk_sends_the_wsdl_array_and_reads_items_in_order(
    client: AccountsIQClient, aiq: ScriptedAiq
) -> None:
    statuses = rec.wsresult_status() + rec.wsresult_status("Failure", "BATCH_CREDIT_NOTE_WITH_NO_LINES", "no lines")
    aiq.script(NOTES, failure(NOTES, "BATCH_CREDIT_NOTE_WITH_NO_LINES", result_xml=statuses, out_params=ids(31, -1)))
    first, second = client.create_batch_sales_credit_note_bulk_get_back_transaction_ids([note("cn-1"), note("cn-2")])
    assert (first.index, first.external_reference, first.created) == (0, "cn-1", CreatedTransaction(31, None))
    assert (second.index, second.external_reference, second.ok) == (1, "cn-2", False)
    assert isinstance(second.error, AiqValidationError) and second.error.code == "BATCH_CREDIT_NOTE_WITH_NO_LINES"
    sent = aiq.calls(NOTES)[0].body.find(q("creditNotes"))
    assert sent is not None and [c.tag for c in sent] == [q("BatchSalesCreditNote")] * 2
    assert client.create_batch_sales_credit_note_bulk_get_back_transaction_ids([]) == []
    assert len(aiq.calls(NOTES)) == 1


def test_an_answer_with_another_item_count_is_an_unknown_outcome(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(INVOICES, result(INVOICES, result_xml=rec.wsresult_status(), out_params=ids(10)))
    with pytest.raises(AiqWriteOutcomeUnknown):
        client.create_batch_sales_invoice_bulk_get_back_transaction_ids([invoice("a"), invoice("b")])


def test_success_without_an_id_is_that_items_unknown_outcome(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    statuses = rec.wsresult_status() + rec.wsresult_status()
    aiq.script(INVOICES, result(INVOICES, result_xml=statuses, out_params=ids(10)))
    first, second = client.create_batch_sales_invoice_bulk_get_back_transaction_ids([invoice("a"), invoice("b")])
    assert first.ok and isinstance(second.error, AiqWriteOutcomeUnknown)


def test_a_lost_bulk_answer_is_not_resent(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(INVOICES, httpx.RemoteProtocolError("peer closed connection"))
    with pytest.raises(AiqWriteOutcomeUnknown):
        client.create_batch_sales_invoice_bulk_get_back_transaction_ids([invoice("a")])
    assert len(aiq.calls(INVOICES)) == 1


def test_a_throttled_bulk_call_is_resent_because_nothing_was_applied(
    client: AccountsIQClient, aiq: ScriptedAiq
) -> None:
    aiq.script(
        INVOICES,
        failure(INVOICES, "OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS", out_params=ids()),
        result(INVOICES, result_xml=rec.wsresult_status(), out_params=ids(10)),
    )
    [only] = client.create_batch_sales_invoice_bulk_get_back_transaction_ids([invoice("a")])
    assert only.created == CreatedTransaction(10, None) and len(aiq.calls(INVOICES)) == 2


def test_batch_lookup_is_one_typed_listing_grouped_by_exact_reference(
    client: AccountsIQClient, aiq: ScriptedAiq
) -> None:
    listing = "".join(
        rec.transaction_summary(n, ref) for n, ref in enumerate(["inv-1", "inv-10", "INV-2", "other", "inv-1"], 1)
    )
    aiq.script("GetTransactionsBy", result("GetTransactionsBy", result_xml=listing))
    found = client.get_transactions_by_external_references(
        ["inv-1", "inv-2", "inv-3"], types=["SI"], from_date=date(2025, 1, 1), to_date=date(2025, 1, 31)
    )
    assert {ref: [s.transaction_id for s in rows] for ref, rows in found.items()} == {
        "inv-1": [1, 5],
        "inv-2": [3],
        "inv-3": [],
    }
    (seen,) = aiq.calls("GetTransactionsBy")
    query = seen.body.find(q("query"))
    assert query is not None
    assert [s.text for s in query.find(q("TypesFilter")) or []] == ["SI"]
    assert (
        query.findtext(q("FromDate")) == "2025-01-01T00:00:00" and query.findtext(q("ToDate")) == "2025-01-31T00:00:00"
    )
    assert query.find(q("FromPeriodDate")).get(NIL_ATTR) == "true"  # type: ignore[union-attr]


def test_batch_lookup_refuses_no_types_and_skips_an_empty_batch(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    with pytest.raises(ValueError):
        client.get_transactions_by_external_references(
            ["a"], types=[], from_date=date(2025, 1, 1), to_date=date(2025, 1, 31)
        )
    assert (
        client.get_transactions_by_external_references(
            [], types=["SI"], from_date=date(2025, 1, 1), to_date=date(2025, 1, 31)
        )
        == {}
    )
    assert aiq.seen == []


def test_a_failed_batch_lookup_raises(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script("GetTransactionsBy", failure("GetTransactionsBy", "TRANSACTION_NOT_FOUND"))
    with pytest.raises(AiqLookupError):
        client.get_transactions_by_external_references(
            ["a"], types=["SI"], from_date=date(2025, 1, 1), to_date=date(2025, 1, 31)
        )


# --- over real HTTP against the emulator -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, EmulatorHandle]]:
    with start_emulator(validate_responses=True) as running:
        yield running


@pytest.fixture
def live(served: tuple[str, EmulatorHandle]) -> Iterator[tuple[AccountsIQClient, EmulatorHandle]]:
    base_url, handle = served
    handle.reset()
    handle.reset_options()
    with AccountsIQClient(
        entity_id="DEMO01", client_id="demo-aiq-client", client_secret="demo-aiq-secret", base_url=base_url
    ) as client:
        yield client, handle


def test_bulk_credit_notes_post_independently(live: tuple[AccountsIQClient, EmulatorHandle]) -> None:
    client, _ = live
    outcomes = client.create_batch_sales_credit_note_bulk_get_back_transaction_ids(
        [note("BCN-A"), note("BCN-B", lines=()), note("BCN-C")]
    )
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error is not None and outcomes[1].error.code == "BATCH_CREDIT_NOTE_WITH_NO_LINES"
    created = outcomes[2].created
    assert created is not None
    assert client.get_transaction(created.transaction_id).gross_amount == Decimal("123.00")


def test_a_bulk_call_dropped_after_commit_is_resolved_by_one_batch_lookup(
    live: tuple[AccountsIQClient, EmulatorHandle],
) -> None:
    client, handle = live
    docs = [invoice(f"BULK-DROP-{n}") for n in range(5)] + [invoice("BULK-DROP-BAD", gl="4900")]
    handle.faults.add({"kind": "drop_after_commit", "operations": [INVOICES]})
    with pytest.raises(AiqWriteOutcomeUnknown):
        client.create_batch_sales_invoice_bulk_get_back_transaction_ids(docs)
    before = handle.stats.snapshot()["calls"].get("GetTransactionsBy", 0)
    found = client.get_transactions_by_external_references(
        [d.external_reference for d in docs], types=["SI"], from_date=date(2026, 7, 1), to_date=date(2026, 7, 31)
    )
    assert handle.stats.snapshot()["calls"]["GetTransactionsBy"] - before == 1  # one call for the whole batch
    assert {ref: len(rows) for ref, rows in found.items()} == {
        **{f"BULK-DROP-{n}": 1 for n in range(5)},
        "BULK-DROP-BAD": 0,  # refused inside the call: never posted
    }
    assert handle.stats.snapshot()["calls"][INVOICES] == 1


def test_a_duplicate_inside_a_bulk_call_is_named(live: tuple[AccountsIQClient, EmulatorHandle]) -> None:
    client, handle = live
    handle.set_options(unique_external_references=True)
    outcomes = client.create_batch_sales_invoice_bulk_get_back_transaction_ids([invoice("BD-1"), invoice("BD-1")])
    assert outcomes[0].ok and isinstance(outcomes[1].error, AiqDuplicateReference)
    assert outcomes[1].error.reference == "BD-1"
