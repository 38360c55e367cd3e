"""Exactly once rests on the posting journal, not on AIQ's reference look-up: each unverified reading of AIQ is an
emulator option, and the posting service writes every document once under each of them (real HTTP)."""

from __future__ import annotations

from datetime import timedelta

from aiq_pipeline.service.outcome import Outcome, Status
from aiq_pipeline.service.processes import this_process
from aiq_pipeline.store.journal import FoundBy, PlannedWrite, WriteState
from aiq_pipeline_tests.journal.conftest import Bench


def _posted_once(bench: Bench, outcome: Outcome) -> None:
    assert outcome.ok, outcome
    assert bench.aiq_count(outcome.external_reference or "") == 1
    entry = bench.journal_entry(outcome.external_reference or "")
    assert entry is not None and entry.state == WriteState.POSTED and entry.aiq_id == outcome.transaction_id


def test_a_document_is_written_once_and_its_aiq_id_recorded_at_once(bench: Bench) -> None:
    service = bench.service()
    first = service.post(bench.invoice())
    assert first.status == Status.POSTED and first.totals_match
    _posted_once(bench, first)
    entry = bench.journal_entry(first.external_reference or "")
    assert entry is not None and entry.found_by == FoundBy.ANSWER and entry.attempts == 1
    again = service.post(first.key)  # the journal says posted: checked by id, never written again
    assert again.status == Status.ALREADY_POSTED and again.transaction_id == first.transaction_id
    _posted_once(bench, again)


def test_created_but_not_yet_visible_is_posted_by_the_id_aiq_returned(bench: Bench) -> None:
    bench.emulators.accountsiq.set_options(lookup_lag_seconds=30)
    outcome = bench.service().post(bench.invoice())
    # The look-up cannot see it for 30 s; the id AIQ answered with is recorded and read back by id.
    assert outcome.status == Status.POSTED and outcome.totals_match
    _posted_once(bench, outcome)
    assert bench.service("run-2").post(outcome.key).status == Status.ALREADY_POSTED
    assert bench.aiq_count(outcome.external_reference or "") == 1


def test_a_slow_commit_is_found_by_looking_not_written_again(bench: Bench) -> None:
    bench.emulators.accountsiq.set_options(slow_commit_seconds=1.5)
    outcome = bench.service(timeout=0.5).post(bench.invoice())
    assert outcome.status == Status.POSTED, outcome
    _posted_once(bench, outcome)
    entry = bench.journal_entry(outcome.external_reference or "")
    assert entry is not None and entry.found_by == FoundBy.LOOKUP and entry.lookup_lag_seconds is not None


def test_a_slow_commit_with_a_lagging_look_up_waits_for_it_within_the_deadline(bench: Bench) -> None:
    bench.emulators.accountsiq.set_options(slow_commit_seconds=1.0, lookup_lag_seconds=2)
    outcome = bench.service(timeout=0.3, deadline=8).post(bench.invoice())
    assert outcome.status == Status.POSTED, outcome
    _posted_once(bench, outcome)
    entry = bench.journal_entry(outcome.external_reference or "")
    assert entry is not None and entry.lookup_lag_seconds is not None and entry.lookup_lag_seconds >= 1


def test_not_found_by_the_deadline_is_outcome_unknown_and_automatic_runs_never_write_it_again(bench: Bench) -> None:
    bench.emulators.accountsiq.set_options(slow_commit_seconds=0.8, lookup_lag_seconds=4)
    invoice_id = bench.invoice()
    unknown = bench.service(timeout=0.3, deadline=1).post(invoice_id)
    assert unknown.status == Status.FAILED and unknown.reason_code == "OUTCOME_UNKNOWN" and not unknown.retryable
    assert "BUNNY-INV-" in (unknown.fix or "") and "sent" in (unknown.reason or "")
    entry = bench.journal_entry(unknown.external_reference or "")
    assert entry is not None and entry.state == WriteState.UNKNOWN
    # An automatic run looks again and writes nothing while AIQ does not show it.
    still = bench.service("run-2", deadline=0.1).post(invoice_id)
    assert still.reason_code == "OUTCOME_UNKNOWN"
    # Once AIQ's look-up shows it, the next run finds it and records it: still one document.
    bench.emulators.accountsiq.set_options(lookup_lag_seconds=0)
    found = bench.service("run-3").post(invoice_id)
    assert found.status == Status.ALREADY_POSTED
    _posted_once(bench, found)


def test_a_persons_retry_of_an_unknown_outcome_looks_once_more_then_posts_once_a_later_write_vouches(
    bench: Bench,
) -> None:
    invoice_id = bench.invoice()
    service = bench.service("run-dead")
    # A run wrote ahead and died before its request left: the journal says `sending`, AIQ holds nothing.
    reference = f"BUNNY-INV-{invoice_id}"
    journal = service.journal
    assert (
        journal.claim(invoice_id, "run-dead", process=this_process(), lease=timedelta(seconds=1), is_dead=bool) is None
    )
    journal.begin_write(PlannedWrite(reference, invoice_id, "invoice", "SI"), "run-dead")
    journal.release(invoice_id, "run-dead")
    automatic = bench.service("run-sensor", deadline=0.1).post(invoice_id)
    assert automatic.reason_code == "OUTCOME_UNKNOWN" and bench.aiq_count(reference) == 0
    # No write sent after it shows AIQ's look-up has caught up: its "not found" proves nothing, nothing is written.
    early = bench.service("run-person", deadline=0.1, manual=True).post(invoice_id)
    assert early.reason_code == "OUTCOME_UNKNOWN" and bench.aiq_count(reference) == 0, early
    # A later invoice, answered by AIQ and shown by its look-up, vouches for it: the retry posts it.
    assert bench.service("run-later").post(bench.invoice()).status == Status.POSTED
    person = bench.service("run-person-2", deadline=0.1, manual=True).post(invoice_id)
    assert person.status == Status.POSTED
    _posted_once(bench, person)


def test_a_reference_aiq_says_exists_resolves_to_the_existing_document(bench: Bench) -> None:
    invoice_id = bench.invoice()
    posted_by_hand = bench.service("run-hand").post(invoice_id)
    reference = posted_by_hand.external_reference or ""
    # Forget what the journal knows (a document booked by hand, or by an older release), hide it from the look-ups
    # (the batch listing fails, the look-up by reference lags), and make AIQ enforce unique references: the create
    # is refused and the document is then found, not re-sent.
    bench.store.query("DELETE FROM posting_journal")
    bench.emulators.accountsiq.set_options(unique_external_references=True, lookup_lag_seconds=1.5)
    bench.emulators.accountsiq.faults.add({"kind": "http_500", "operations": ["GetTransactionsBy"]})
    outcome = bench.service("run-2", deadline=5).post(invoice_id)
    assert outcome.status == Status.ALREADY_POSTED, outcome.status  # AIQ held it: this run wrote nothing
    assert bench.aiq_count(reference) == 1
    entry = bench.journal_entry(reference)
    assert entry is not None and entry.found_by == FoundBy.DUPLICATE


def test_a_live_claim_is_never_written_over(bench: Bench) -> None:
    invoice_id = bench.invoice()
    holder = bench.service("run-holder")
    assert (
        holder.journal.claim(
            invoice_id, "run-holder", process=this_process(), lease=timedelta(minutes=5), is_dead=lambda _p: False
        )
        is None
    )
    contender = bench.service("run-contender").post(invoice_id)
    assert contender.status == Status.FAILED and contender.reason_code == "BEING_POSTED" and contender.retryable
    assert "run-holder" in (contender.reason or "") and contender.details == {"held_by_run": "run-holder"}
    assert bench.aiq_count(f"BUNNY-INV-{invoice_id}") == 0
    holder.journal.release(invoice_id, "run-holder")
    _posted_once(bench, bench.service("run-contender").post(invoice_id))


def test_a_claim_held_by_a_process_that_is_gone_is_taken_over(bench: Bench) -> None:
    invoice_id = bench.invoice()
    service = bench.service("run-new")
    host = this_process().rsplit("/", 2)[0]
    gone = f"{host}/999999999/1"  # same host, no such pid
    service.journal.claim(invoice_id, "run-old", process=gone, lease=timedelta(hours=1), is_dead=lambda _p: False)
    _posted_once(bench, service.post(invoice_id))


def test_a_failed_look_up_is_an_error_and_writes_nothing(bench: Bench) -> None:
    # The reading where AIQ answers a look-up that matches nothing with Failure + TRANSACTION_NOT_FOUND: the batch
    # listing (GetTransactionsBy) answers rows, so the invoice posts, once.
    bench.emulators.accountsiq.set_options(empty_lookup_answer="transaction_not_found")
    first = bench.invoice()
    _posted_once(bench, bench.service().post(first))
    # Without the listing (it fails), the one-by-one look-up's Failure is an error, and nothing is written.
    bench.emulators.accountsiq.faults.add({"kind": "http_500", "operations": ["GetTransactionsBy"]})
    second = bench.invoice()
    outcome = bench.service().post(second)
    assert outcome.status == Status.FAILED and outcome.reason_code == "TRANSACTION_NOT_FOUND"
    assert bench.aiq_count(f"BUNNY-INV-{second}") == 0
