"""Readings measured in production (issue 15): the journal keeps how long AIQ's look-up took to show each posted
document, the UI gets it as a number it can plot, the deadline for unknown outcomes follows it within bounds, and a
contradiction seen while posting (AIQ holding two documents with one of our references) is an exception for a
person, not a log line."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from aiq_pipeline.accountsiq.models import BatchLine, BatchSalesInvoice
from aiq_pipeline.defs.posting.status import document_exceptions
from aiq_pipeline.operations.runs import post_in_process
from aiq_pipeline.service.lookups import DEADLINE_CEILING, following_lag
from aiq_pipeline.service.outcome import Status
from aiq_pipeline.store.journal import FoundBy, PlannedWrite
from aiq_pipeline.sync.identity import invoice_reference
from aiq_pipeline_tests.journal.conftest import Bench
from aiq_pipeline_tests.pair_names import INVOICES
from aiq_pipeline_tests.pipeline.conftest import Stack

CONFIGURED = timedelta(seconds=120)


def test_the_deadline_follows_the_measured_lag_within_bounds() -> None:
    assert following_lag(CONFIGURED, []) == CONFIGURED
    assert following_lag(CONFIGURED, [Decimal("0.2")] * 50) == CONFIGURED  # never below what is configured
    assert following_lag(CONFIGURED, [Decimal(1)] * 19 + [Decimal(90)] * 2) == timedelta(seconds=270)
    assert following_lag(CONFIGURED, [Decimal(5000)]) == DEADLINE_CEILING  # never above the ceiling


def test_a_service_takes_its_deadline_from_the_journal(bench: Bench) -> None:
    journal = bench.service("run-seed").journal
    for n, lag in enumerate((40, 60, 75)):
        write = PlannedWrite(f"REF-{n}", f"{n}", "document", "SI")
        journal.record_posted(write, 100 + n, found_by=FoundBy.LOOKUP, lookup_lag=timedelta(seconds=lag))
    assert bench.service("run-next", deadline=120).deadline == timedelta(seconds=225)


def test_each_posted_document_has_its_lag_in_the_journal_and_as_a_number_the_ui_plots(stack: Stack) -> None:
    keys = list(stack.emulators.bunny.create_invoices({}, count=3, release=True))
    stack.instance.add_dynamic_partitions(INVOICES.partitions_name, keys)
    summary = post_in_process(stack.instance, keys, trigger="sync", defs=stack.defs)
    assert sorted(summary.posted) == sorted(keys)
    entries = {e.reference: e for e in stack.journal()}
    for key in keys:
        lag = entries[invoice_reference(key)].lookup_lag_seconds
        assert lag is not None and lag >= 0
    records = stack.instance.fetch_materializations(INVOICES.key, limit=10).records
    values = [r.asset_materialization.metadata["aiq_lookup_lag_seconds"].value for r in records]  # type: ignore[union-attr]
    assert values and all(isinstance(v, float) for v in values)


def test_two_documents_with_one_of_our_references_are_an_exception_for_a_person(stack: Stack) -> None:
    (key,) = stack.emulators.bunny.create_invoices({}, count=1, release=True)
    reference = invoice_reference(key)
    aiq = stack.defs.resources["accountsiq"].process_config_and_initialize()
    twice = BatchSalesInvoice(
        customer_code="EXISTING-001",
        invoice_date=stack.emulators.bunny.store.today(),
        external_reference=reference,
        description="booked by hand, twice",
        lines=(BatchLine("4000", "V01", "by hand", Decimal(10), Decimal("0.23"), Decimal("2.30")),),
    )
    with aiq.open() as client:
        ids = [client.create_batch_sales_invoice_get_back_transaction_id(twice).transaction_id for _ in range(2)]
    stack.instance.add_dynamic_partitions(INVOICES.partitions_name, [key])
    post_in_process(stack.instance, [key], trigger="sync", defs=stack.defs)
    (exception,) = [e for e in document_exceptions(stack.instance, INVOICES) if e.key == key]
    assert exception.reason_code == "DUPLICATE_IN_AIQ" and not exception.retryable
    assert all(str(i) in (exception.reason or "") for i in ids) and reference in (exception.fix or "")
    outcome = next(o for o in stack.journal_outcomes() if o["claim_key"] == key)
    assert outcome["outcome"] == str(Status.FAILED)
