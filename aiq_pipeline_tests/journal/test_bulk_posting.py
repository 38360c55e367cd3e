"""A batch posts in bulk (issue 13), exactly once: AIQ round trips stay a small fixed number per batch, a document
AIQ refuses inside a bulk call is that document's exception while its neighbours post, a bulk call whose answer is
lost is resolved by looking for every document (none written twice), and throttling slows a batch down without
failing it. Real HTTP against both emulators."""

from __future__ import annotations

import traceback
from collections import Counter
from typing import Any

import pytest

from aiq_pipeline.accountsiq import AiqError
from aiq_pipeline.service.aiq_documents import planned_write
from aiq_pipeline.service.outcome import Status
from aiq_pipeline.service.posting import PostingService
from aiq_pipeline.store.journal import FoundBy
from aiq_pipeline.sync.identity import invoice_reference
from aiq_pipeline_tests.journal.conftest import Bench

BULK_INVOICES = "CreateBatchSalesInvoiceBulkGetBackTransactionIDs"


def _invoices(bench: Bench, count: int, **spec: object) -> list[str]:
    return list(bench.emulators.bunny.create_invoices(dict(spec), count=count, release=True))


def _aiq_references(bench: Bench) -> Counter[str]:
    transactions = bench.emulators.accountsiq.state.data.entities["DEMO01"].transactions.values()
    return Counter(t.external_reference for t in transactions)


def test_a_batch_of_existing_customers_costs_a_few_aiq_calls_not_a_few_per_invoice(bench: Bench) -> None:
    assert all(o.status == Status.POSTED for o in bench.service("warm-up").post_many(_invoices(bench, 3)))
    batch = _invoices(bench, 120)
    service = bench.service("run-batch")
    outcomes = service.post_many(batch)
    assert [o.status for o in outcomes] == [Status.POSTED] * len(batch)
    print(f"AIQ calls: {service.aiq.request_count}, Bunny requests: {service.bunny.request_count} for {len(batch)}")
    assert service.aiq.request_count / len(batch) <= 0.2
    assert service.bunny.request_count / len(batch) <= 0.05
    assert all(_aiq_references(bench)[invoice_reference(i)] == 1 for i in batch)


def test_a_document_aiq_refuses_inside_a_bulk_call_fails_alone(bench: Bench) -> None:
    services = _invoices(bench, 3, items=[{"charge": "PRO-SERVICES", "quantity": 1, "price": "100.00"}])
    plain = _invoices(bench, 3)
    service = bench.service()
    assert service.reference is not None  # the ledger as planned ...
    with bench.emulators.accountsiq.state.writing() as data:  # ... then the account is closed in AIQ
        accounts = data.entities["DEMO01"].gl_accounts
        accounts["4010"] = accounts["4010"].model_copy(update={"is_active": False})
    outcomes = {o.key: o for o in service.post_many([*services, *plain])}
    assert {outcomes[k].status for k in plain} == {Status.POSTED}
    for key in services:
        assert outcomes[key].status == Status.FAILED and outcomes[key].reason_code
        assert "AccountsIQ refused" in (outcomes[key].reason or "")
        assert _aiq_references(bench)[invoice_reference(key)] == 0


def test_a_bulk_call_whose_answer_is_lost_is_resolved_by_looking_never_by_sending_again(bench: Bench) -> None:
    bench.emulators.accountsiq.faults.add({"kind": "drop_after_commit", "operations": [BULK_INVOICES], "count": 1})
    batch = _invoices(bench, 5)
    outcomes = bench.service().post_many(batch)
    assert [o.status for o in outcomes] == [Status.POSTED] * 5
    for key in batch:
        assert _aiq_references(bench)[invoice_reference(key)] == 1
        entry = bench.journal_entry(invoice_reference(key))
        assert entry is not None and entry.found_by == FoundBy.LOOKUP


def test_throttling_mid_batch_slows_it_down_without_failing_it(bench: Bench) -> None:
    bench.emulators.accountsiq.faults.add({"kind": "throttle", "operations": [BULK_INVOICES], "count": 2})
    batch = _invoices(bench, 5)
    service = bench.service()
    outcomes = service.post_many(batch)
    assert [o.status for o in outcomes] == [Status.POSTED] * 5
    assert all(_aiq_references(bench)[invoice_reference(k)] == 1 for k in batch)
    assert service.aiq.pacer.throttled_calls == 2  # every later call waited (a pause that answers wear away)


def test_a_preview_is_what_is_then_posted_field_by_field_and_writes_nothing(bench: Bench) -> None:
    batch = _invoices(bench, 3)
    before = dict(bench.emulators.accountsiq.state.data.entities["DEMO01"].transactions)
    previews = bench.service("run-preview").preview_many(batch)
    assert dict(bench.emulators.accountsiq.state.data.entities["DEMO01"].transactions) == before
    assert all(bench.journal_entry(invoice_reference(k)) is None for k in batch)
    assert [p.outcome.status for p in previews] == [Status.POSTED] * 3  # would post
    assert {p.customer for p in previews} <= {"create", "existing"}
    bench.service("run-post").post_many(batch)
    for preview in previews:
        assert preview.plan is not None
        for doc in preview.plan.documents:
            entry = bench.journal_entry(doc.reference)
            assert entry is not None and entry.document is not None
            sent = planned_write(doc, claim_key=preview.outcome.key, kind=preview.outcome.kind)
            assert entry.document == sent.document  # the exact document, field by field
    again = bench.service("run-preview-2").preview_many(batch)
    assert [p.outcome.status for p in again] == [Status.ALREADY_POSTED] * 3


def _store_transactions(service: PostingService, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of the store transactions (each query is one) `service`'s journal opens from now on."""
    session = service.journal.session
    opened = [0]
    transaction = session.transaction

    def counted() -> Any:
        opened[0] += not session._in_transaction
        return transaction()

    monkeypatch.setattr(session, "transaction", counted)
    return opened


def test_a_batch_costs_a_fixed_number_of_journal_statements_not_a_few_per_invoice(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert all(o.status == Status.POSTED for o in bench.service("warm-up").post_many(_invoices(bench, 6)))
    counts = []
    for size in (5, 40):
        service = bench.service(f"run-{size}")
        opened = _store_transactions(service, monkeypatch)
        assert [o.status for o in service.post_many(_invoices(bench, size))] == [Status.POSTED] * size
        counts.append(opened[0])
    # Before: each invoice read its journal row twice and wrote its look-up lag alone (3 per invoice).
    assert counts[0] == counts[1], counts


def test_aiq_not_answering_the_reference_reads_fails_a_batch_after_one_read_not_one_per_invoice(bench: Bench) -> None:
    batch = _invoices(bench, 8)
    aiq = bench.emulators.accountsiq
    aiq.faults.add({"kind": "http_500", "count": 1000, "operations": ["GetChartOfAccounts"]})
    before = aiq.stats.calls["GetChartOfAccounts"]
    service = bench.service("run-1")
    outcomes = service.post_many(batch)
    tries = aiq.stats.calls["GetChartOfAccounts"] - before
    aiq.faults.clear()
    assert [o.status for o in outcomes] == [Status.FAILED] * len(batch)
    assert all(o.retryable for o in outcomes), outcomes
    assert 1 <= tries <= 4, tries  # the client's attempts at one read; before, one read more per invoice
    # The kept error is raised again for each invoice with a traceback of its own: it does not grow per invoice
    # (holding every invoice's frames and what they refer to until the run ends).
    with pytest.raises(AiqError) as raised:
        _ = service.reference
    assert len(traceback.extract_tb(raised.value.__traceback__)) <= 3, traceback.format_tb(raised.value.__traceback__)
    # The next run reads it again, and posts.
    assert [o.status for o in bench.service("run-2").post_many(batch)] == [Status.POSTED] * len(batch)
