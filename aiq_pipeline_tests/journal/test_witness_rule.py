"""A person's retry of a document whose earlier write is in doubt (journal `sending` or `unknown`) believes AIQ's
"not found" only when a *witness* shows AIQ's look-up has caught up past the moment the write in doubt was sent: the
newest write of the same AIQ type that AIQ answered with its id, sent after it, shown by the look-up now. Without
one the document stays OUTCOME_UNKNOWN, saying why, and nothing is written (AIQ's look-up may lag beyond the deadline
and AIQ may accept a second document with one reference: both unverified), unless the person says, for that retry,
to write it anyway (`aiq-pipeline retry --rewrite-unknown-may-duplicate`). Automatic runs never write it again.
Real HTTP against both emulators."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from aiq_pipeline.defs.posting.factory import is_manual, rewrites_unknown
from aiq_pipeline.defs.posting.run_requests import REWRITE_UNKNOWN_TRIGGER, TRIGGER_TAG
from aiq_pipeline.service.outcome import Outcome, Status
from aiq_pipeline.service.override import REWRITE_UNKNOWN_FLAG
from aiq_pipeline.service.writes import WRITTEN_AGAIN
from aiq_pipeline.store.database import utcnow
from aiq_pipeline.store.journal import FoundBy, WriteState
from aiq_pipeline.sync.identity import invoice_reference
from aiq_pipeline_tests.journal.conftest import Bench

BULK_INVOICES = "CreateBatchSalesInvoiceBulkGetBackTransactionIDs"
NOT_CAUGHT_UP = "AIQ's look-up has not yet caught up with writes made after this one was sent"


def _in_doubt(bench: Bench, *, held: bool) -> str:
    """An invoice whose write is in doubt (OUTCOME_UNKNOWN after looking until the deadline): AIQ holds it but its
    look-up hides it (`held`: the answer was lost after the commit, look-ups lag), or AIQ never took it (a SOAP fault
    answered the write)."""
    invoice = bench.invoice()
    if held:
        bench.emulators.accountsiq.set_options(lookup_lag_seconds=600)
        bench.emulators.accountsiq.faults.add({"kind": "drop_after_commit", "operations": [BULK_INVOICES], "count": 1})
    else:
        bench.emulators.accountsiq.faults.add({"kind": "http_500", "operations": [BULK_INVOICES], "count": 1})
    outcome = bench.service("run-doubt", deadline=1.0).post(invoice)
    assert outcome.reason_code == "OUTCOME_UNKNOWN", outcome
    assert bench.aiq_count(invoice_reference(invoice)) == (1 if held else 0)
    return invoice


def _posted(bench: Bench, owner: str) -> str:
    """An invoice written and answered by AIQ (found_by answer): a witness once AIQ's look-up shows it."""
    invoice = bench.invoice()
    assert bench.service(owner).post(invoice).status == Status.POSTED
    entry = bench.journal_entry(invoice_reference(invoice))
    assert entry is not None and entry.found_by == FoundBy.ANSWER
    return invoice


def _still_in_doubt(bench: Bench, invoice: str, outcome: Outcome, copies: int) -> None:
    assert outcome.status == Status.FAILED and outcome.reason_code == "OUTCOME_UNKNOWN", outcome
    assert NOT_CAUGHT_UP in (outcome.reason or "") and "cannot tell whether AIQ holds it" in (outcome.reason or "")
    fix = outcome.fix or ""
    assert f"External Reference {invoice_reference(invoice)}" in fix, fix
    assert "wait, and retry later" in fix and f"retry {invoice} {REWRITE_UNKNOWN_FLAG}" in fix, fix
    assert bench.aiq_count(invoice_reference(invoice)) == copies
    entry = bench.journal_entry(invoice_reference(invoice))
    assert entry is not None and entry.state == WriteState.UNKNOWN and NOT_CAUGHT_UP in (entry.last_error or "")


@pytest.mark.parametrize("witness", ["none", "sent_before", "not_shown_yet"])
def test_without_a_witness_a_persons_retry_writes_nothing_and_says_why(bench: Bench, witness: str) -> None:
    earlier = _posted(bench, "run-before") if witness == "sent_before" else None
    invoice = _in_doubt(bench, held=True)  # AIQ holds it; its look-up (600 s behind) does not show it
    later = _posted(bench, "run-after") if witness == "not_shown_yet" else None  # hidden by the lag too

    person = bench.service("run-person", manual=True).post(invoice)
    _still_in_doubt(bench, invoice, person, copies=1)
    if later is not None:
        assert f"{invoice_reference(later)}, sent" in (person.reason or ""), person
        assert person.details["newest_confirmed_write_shown"] == "False"
    if earlier is not None:
        assert person.details["newest_confirmed_write"] == invoice_reference(earlier)

    # Once the look-up has caught up, a retry finds it and records it: still one copy.
    bench.emulators.accountsiq.set_options(lookup_lag_seconds=0)
    again = bench.service("run-person-2", manual=True).post(invoice)
    assert again.status == Status.ALREADY_POSTED, again
    assert bench.aiq_count(invoice_reference(invoice)) == 1


def test_a_witness_shown_by_aiqs_look_up_lets_a_persons_retry_write_it(bench: Bench) -> None:
    invoice = _in_doubt(bench, held=False)  # AIQ never took it
    later = _posted(bench, "run-after")  # sent after it, and AIQ's look-up shows it

    person = bench.service("run-person", manual=True).post(invoice)
    assert person.status == Status.POSTED, person
    assert bench.aiq_count(invoice_reference(invoice)) == 1
    assert person.details[WRITTEN_AGAIN] == f"{invoice_reference(invoice)} (witness {invoice_reference(later)})"
    assert f"shows {invoice_reference(later)}" in (person.reason or ""), person
    entry = bench.journal_entry(invoice_reference(invoice))
    assert entry is not None and entry.state == WriteState.POSTED and entry.attempts == 2


def test_one_witness_look_up_a_batch_whatever_the_number_of_documents_in_doubt(bench: Bench) -> None:
    first, second = _in_doubt(bench, held=False), _in_doubt(bench, held=False)
    _posted(bench, "run-after")
    person = bench.service("run-person", manual=True)
    asked: list[str] = []
    shows = person.lookups.shows

    def counted(reference: str, target: str, transaction_id: int) -> bool:
        asked.append(reference)
        return shows(reference, target, transaction_id)

    person.lookups.shows = counted  # type: ignore[method-assign]
    outcomes = person.post_many([first, second])
    assert [o.status for o in outcomes] == [Status.POSTED, Status.POSTED], outcomes
    assert len(asked) == 1, asked
    assert bench.aiq_count(invoice_reference(first)) == bench.aiq_count(invoice_reference(second)) == 1


def test_a_persons_explicit_override_writes_it_and_says_so(bench: Bench) -> None:
    invoice = _in_doubt(bench, held=False)  # the person looked in AIQ: it is not there; no later write vouches
    plain = bench.service("run-person", manual=True).post(invoice)
    _still_in_doubt(bench, invoice, plain, copies=0)

    person = bench.service("run-override", manual=True, rewrite_unknown=True).post(invoice)
    assert person.status == Status.POSTED, person
    assert bench.aiq_count(invoice_reference(invoice)) == 1
    assert person.details[WRITTEN_AGAIN] == f"{invoice_reference(invoice)} (override)"
    assert f"a person's explicit request (retry {REWRITE_UNKNOWN_FLAG})" in (person.reason or ""), person
    entry = bench.journal_entry(invoice_reference(invoice))
    assert entry is not None and entry.state == WriteState.POSTED and entry.sent_by == "run-override"


def test_the_override_never_writes_again_what_its_own_run_sent(bench: Bench) -> None:
    """A step Dagster retries inside the run that carried the override is no new word from the person: a write that
    run sent itself, in doubt again, is not written again on the override."""
    invoice = _in_doubt(bench, held=False)
    entry = bench.journal_entry(invoice_reference(invoice))
    assert entry is not None and entry.sent_by == "run-doubt"
    again = bench.service("run-doubt", manual=True, rewrite_unknown=True).post(invoice)  # the run that sent it
    _still_in_doubt(bench, invoice, again, copies=0)


@pytest.mark.parametrize("rewrite_unknown", [False, True])
def test_automatic_runs_never_write_an_in_doubt_document_again(bench: Bench, rewrite_unknown: bool) -> None:
    invoice = _in_doubt(bench, held=False)
    _posted(bench, "run-after")  # a witness AIQ's look-up shows: only a person's retry may act on it
    sensor = bench.service("run-sensor", rewrite_unknown=rewrite_unknown).post(invoice)
    assert sensor.status == Status.FAILED and sensor.reason_code == "OUTCOME_UNKNOWN", sensor
    assert NOT_CAUGHT_UP not in (sensor.reason or "") and "Automatic retries never post it again" in (sensor.fix or "")
    assert bench.aiq_count(invoice_reference(invoice)) == 0
    entry = bench.journal_entry(invoice_reference(invoice))
    assert entry is not None and entry.state == WriteState.UNKNOWN and entry.attempts == 1


def test_only_a_persons_retry_run_carries_the_override() -> None:
    override = {TRIGGER_TAG: REWRITE_UNKNOWN_TRIGGER}
    assert is_manual(override) and rewrites_unknown(override)
    assert is_manual({TRIGGER_TAG: "retry"}) and not rewrites_unknown({TRIGGER_TAG: "retry"})
    assert not rewrites_unknown({})  # launched from the UI: a person's retry, without the override
    assert not is_manual({TRIGGER_TAG: "sensor"}) and not rewrites_unknown({TRIGGER_TAG: "sensor"})
    # A re-execution copies its parent's tags (from the UI, or the daemon's run retries): not the person's word.
    reexecuted = override | {"dagster/parent_run_id": "abc", "dagster/root_run_id": "abc"}
    assert is_manual(reexecuted) and not rewrites_unknown(reexecuted)


def test_the_override_names_its_documents_on_the_command_line() -> None:
    from click.testing import CliRunner

    from aiq_pipeline.cli import documents
    from aiq_pipeline.cli.app import main

    assert documents.REWRITE_UNKNOWN_FLAG == REWRITE_UNKNOWN_FLAG  # the flag the exceptions' fixes name
    refused = CliRunner().invoke(main, ["retry", "--all", REWRITE_UNKNOWN_FLAG])
    assert refused.exit_code == 2 and "names its documents" in refused.output, refused.output
    assert "second copy" in CliRunner().invoke(main, ["retry", "--help"]).output


def test_a_witness_from_a_runner_whose_clock_runs_ahead_vouches_for_nothing(bench: Bench) -> None:
    """`sent_at` is each runner's own clock: a witness written before the write in doubt, by a host 5 minutes
    ahead, looks sent after it. The margin (10 minutes by default) keeps it from vouching."""
    bench.emulators.accountsiq.set_options(lookup_lag_seconds=8)
    witness = bench.invoice()
    fast = bench.service("run-fast-clock")
    fast.journal._clock = lambda: utcnow() + timedelta(minutes=5)
    assert fast.post(witness).status == Status.POSTED
    time.sleep(8.5)  # the witness is now shown by the look-up
    invoice = bench.invoice()
    bench.emulators.accountsiq.faults.add({"kind": "drop_after_commit", "operations": [BULK_INVOICES], "count": 1})
    assert bench.service("run-doubt", deadline=1.0).post(invoice).reason_code == "OUTCOME_UNKNOWN"

    person = bench.service("run-person", manual=True, deadline=0.1, witness_margin=600).post(invoice)

    assert person.status == Status.FAILED and person.reason_code == "OUTCOME_UNKNOWN", person
    assert bench.aiq_count(invoice_reference(invoice)) == 1
