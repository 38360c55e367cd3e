"""Randomized payments (issue 12): a seeded sequence of invoices (plain, two lines, coupons, a credit line, account
credit applied at issue), payments (full, partial, over, on account, two invoices at once, with fees, pending then
completed or failed, through a processor mapped to a clearing bank in EUR whatever the currency, through one left
unmapped on purpose), refunds of payments (full and partial), account credit applied later, write-offs, voids of
untouched invoices, sensor ticks of a random subset in a random order (so a payment or a refund is often seen before
its invoice is posted), a person's retry of what is retryable, and AIQ faults (drop after commit, slow commit past the
client's timeout, throttling, HTTP 500, latency, look-ups lagging for a few steps), through real HTTP against both
emulators, for EUR, GBP and USD customers, under both readings of which AIQ transactions allocate together (and
random readings of the summaries' signs and of unique references).

At the end, as operators would after an incident: faults off, the sensors ticked until quiet, the retryable (and
in-doubt) exceptions retried. Then:
- the exceptions list holds only what the scenario caused on purpose, UNMAPPED_BANK_ACCOUNT: payments through the
  processor left out of AIQ_PIPELINE_BANK_ACCOUNTS, and refund credit notes on invoices such a payment paid (their
  money goes back through that processor's bank); the operator maps the processor and retries them, and the list is
  empty;
- per customer, AIQ's balance equals Bunny's (synced invoices' amount due less unapplied payment money) to the cent;
- no AIQ document reference is held twice; one receipt per payment received, none for a pending or failed one, and
  per bank account AIQ's receipts equal Bunny's payments less fees;
- no pair of documents is allocated beyond what Bunny applied between them (read from the AIQ emulator's allocations),
  nor more than once, and every document's outstanding amount is its gross less its allocations;
- each invoice's AIQ outstanding amount is Bunny's amount due (under wiki_table, plus the fees and account credit AIQ
  will not allocate to an invoice);
- the product's own checks agree: every posting run's totals check and every posted partition's `totals_match`, and
  the monthly reconciliation of the month in progress whole (documents, receipts and refunds per bank day, customer
  balances).

The default run is one seed per allocation reading (a fresh seed each time); the slow variant runs 60 steps.
Replaying: the test prints its seed; AIQ_PIPELINE_PAYMENTS_SEED=<seed> runs that seed (with the same test id, which
names the allocation reading), AIQ_PIPELINE_PAYMENTS_STEPS=<n> sets the number of steps.

Found on the way and reproduced at the end of this file: account credit never allocated after a lagging look-up
(fixed; now a plain test), and a person's retry during a look-up lag longer than the unknown-outcome deadline
writing a second invoice (fixed by the witness rule, service/writes.py: a person's retry believes AIQ's "not found"
only once its look-up shows a later write; now a plain test).
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from aiq_pipeline.defs.posting.status import list_exceptions
from aiq_pipeline.operations.sync import retry
from aiq_pipeline.sync.identity import account_credit_reference, invoice_reference
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS, INVOICES, PAYMENTS
from aiq_pipeline_tests.payments.driving import Daemon, aiq_by_reference
from aiq_pipeline_tests.payments.product_checks import posted_totals, reconcile_months
from aiq_pipeline_tests.payments.random_payments import (
    SEED_VARIABLE,
    STEPS_VARIABLE,
    AiqReadings,
    Log,
    Scenario,
    aiq_control,
    audit,
    bunny_control,
    draw_readings,
    exceptions_summary,
    fresh_seed,
    payments_stack,
    seed_from_env,
    steps_wanted,
    unmapped_allowed,
)
from aiq_pipeline_tests.pipeline.conftest import Stack
from aiq_pipeline_tests.pipeline.helpers import REWRITE_FLAG

PAIRS = ["debit_credit", "wiki_table"]


def _scenario(tmp_path: Path, request: pytest.FixtureRequest, pairs: str, steps: int) -> None:
    seed = seed_from_env() or fresh_seed()
    steps = steps_wanted(steps)
    rng = random.Random(seed)
    readings = replace(draw_readings(rng), allocation_pairs=pairs)  # the test id names the allocation reading
    log = Log()
    log.say(
        f"seed {seed}, {steps} steps; replay: {SEED_VARIABLE}={seed} {STEPS_VARIABLE}={steps} "
        f"pytest '{request.node.nodeid}'; AIQ readings {readings.options()}"
    )
    started = time.monotonic()
    with payments_stack(tmp_path, readings) as env:
        stack = env.stack
        scenario = Scenario(env, rng, log)
        scenario.run(steps)
        ran = time.monotonic() - started

        allowed = unmapped_allowed(stack, scenario.unmapped_payments)
        left = scenario.settle(allowed)  # the operator's override for what no later write vouches for included
        unexpected = [e for e in left if not allowed(e)]
        assert not unexpected, f"seed {seed}: unexpected exceptions: {exceptions_summary(unexpected)}\n{log.tail()}"
        if left:  # the operator maps the processor left out, and retries what waited for it
            env.map_unmapped_processor()
            log.say(f"the operator maps {sorted({e.key for e in left})}'s processor and retries them")
            retry(stack.instance, [e.key for e in left], defs=stack.defs)
            scenario.settle(lambda _e: False)
        left = list_exceptions(stack.instance, DOCUMENT_ASSETS)
        assert not left, f"seed {seed}: exceptions left: {exceptions_summary(left)}\n{log.tail()}"

        result = audit(stack, readings.allocation_pairs)
        balances = {code: str(aiq) for code, (aiq, _bunny) in result.balances.items()}
        # Reported, not asserted: Bunny does not say which payment a refund credit note pays back, and the product
        # uses the bank of the invoice's latest payment; a refund of an earlier payment through another processor
        # then leaves through that other bank.
        refunds_elsewhere = {bank: f"AIQ {a}, Bunny {b}" for bank, (a, b) in result.refunds_by_bank.items() if a != b}
        log.say(
            f"RESULT seed {seed}: steps {dict(scenario.counts)}; AIQ documents {dict(result.documents)}, "
            f"{result.allocations} allocations; balances {balances}; "
            f"faults injected {stack.emulators.accountsiq.stats.snapshot()['faults']}; "
            f"refunds paid back through another bank than their payment's: {refunds_elsewhere or 'none'}; "
            f"steps {ran:.0f} s, total {time.monotonic() - started:.0f} s"
        )
        assert not result.problems(), f"seed {seed}: {result.problems()}\n{log.tail()}"
        _the_products_checks_agree(stack, seed, log)


def _the_products_checks_agree(stack: Stack, seed: int, log: Log) -> None:
    """What the product itself tells finance: every run's totals green, and the month in progress (every document
    here is issued today) reconciled whole: documents, receipts and refunds per bank day, customer balances."""
    totals = posted_totals(stack.instance)
    assert totals.checked and totals.runs, f"seed {seed}: no totals check recorded"
    assert not totals.problems, f"seed {seed}: posting runs' totals differ: {totals.problems}\n{log.tail()}"
    today = date.today()
    (month,) = reconcile_months(stack, today, today)
    log.say(f"RECONCILED seed {seed}: {month.description}")
    assert month.balances, f"seed {seed}: no customer balance compared: {month.description}"
    assert month.passed, (
        f"seed {seed}: {month.description}\ndocuments {month.documents}\nbank {month.bank}\n"
        f"balances {[r for r in month.balances if not r['passed']]}"
    )


@pytest.mark.parametrize("pairs", PAIRS)
def test_random_payments_leave_aiq_and_bunny_agreeing(
    tmp_path: Path, request: pytest.FixtureRequest, pairs: str
) -> None:
    _scenario(tmp_path, request, pairs, steps=26)


@pytest.mark.slow
@pytest.mark.parametrize("pairs", PAIRS)
def test_long_random_payments_leave_aiq_and_bunny_agreeing(
    tmp_path: Path, request: pytest.FixtureRequest, pairs: str
) -> None:
    _scenario(tmp_path, request, pairs, steps=60)


@pytest.mark.slow
def test_account_credit_written_while_lookups_lag_is_allocated_to_its_invoice(tmp_path: Path) -> None:
    """Found by the randomized seeds (5, 6 and 8 at 40-60 steps), in its smallest form: account credit applied to
    a posted invoice, its journal written while AIQ's look-ups lag (the allocation cannot see it yet and the run's
    retries come too soon), then the sensors and a person's retry once AIQ caught up. The invoice must end settled
    by the credit: the journal AIQ holds is planned again and allocated, never written twice."""
    with payments_stack(tmp_path, AiqReadings("debit_credit", "signed", False)) as env:
        stack = env.stack
        daemon = Daemon(stack)
        created = bunny_control(stack, "/_emulator/invoices", {"account": "1", "release": True, "credits": "15.00"})
        invoice = str(created["ids"][0])
        daemon.tick(INVOICES)
        aiq_control(stack, "/_emulator/options", {"lookup_lag_seconds": 10})
        daemon.tick(PAYMENTS)  # CREDIT-<id>: the credit journal is written; AIQ's look-up hides it for 10 s
        aiq_control(stack, "/_emulator/options", {"lookup_lag_seconds": 0})
        if keys := [e.key for e in list_exceptions(stack.instance, DOCUMENT_ASSETS)]:
            retry(stack.instance, keys, defs=stack.defs)
        daemon.tick()

        (journal,) = aiq_by_reference(stack, account_credit_reference(invoice))
        (posted,) = aiq_by_reference(stack, invoice_reference(invoice))
        assert abs(journal.control_amount) == Decimal("15.00")
        assert list_exceptions(stack.instance, DOCUMENT_ASSETS) == []
        assert journal.outstanding_amount == 0 and posted.outstanding_amount == posted.control_amount - Decimal("15.00")


@pytest.mark.slow
def test_a_persons_retry_while_lookups_lag_posts_no_second_invoice(tmp_path: Path) -> None:
    """Found while building the scenario above (which therefore retries in-doubt documents only once AIQ's look-ups
    caught up): an invoice whose bulk write's answer was lost while AIQ's look-ups lag ends OUTCOME_UNKNOWN; a
    person's retry (what the exception's fix and `retry --all` invite) looked once, did not see it yet, and wrote
    it again. Now the retry believes AIQ's "not found" only when the look-up shows a later write (a witness): there
    is none, so it writes nothing and says why; once the look-up has caught up, a retry finds it and records it."""
    with payments_stack(tmp_path, AiqReadings("debit_credit", "signed", False)) as env:
        stack = env.stack
        invoice = str(bunny_control(stack, "/_emulator/invoices", {"account": "1", "release": True})["ids"][0])
        aiq_control(stack, "/_emulator/options", {"lookup_lag_seconds": 60})
        drop = {
            "kind": "drop_after_commit",
            "count": 1,
            "operations": ["CreateBatchSalesInvoiceBulkGetBackTransactionIDs"],
        }
        aiq_control(stack, "/_emulator/faults", drop)
        Daemon(stack).tick(INVOICES)
        (doubt,) = list_exceptions(stack.instance, DOCUMENT_ASSETS)
        assert (doubt.key, doubt.reason_code) == (invoice, "OUTCOME_UNKNOWN")

        retry(stack.instance, [invoice], defs=stack.defs)  # a person, while AIQ's look-ups still lag
        assert len(aiq_by_reference(stack, invoice_reference(invoice))) == 1
        (still,) = list_exceptions(stack.instance, DOCUMENT_ASSETS)
        assert (still.key, still.reason_code) == (invoice, "OUTCOME_UNKNOWN")
        assert "has not yet caught up with writes made after this one was sent" in (still.reason or ""), still
        assert REWRITE_FLAG in (still.fix or ""), still

        aiq_control(stack, "/_emulator/options", {"lookup_lag_seconds": 0})
        retry(stack.instance, [invoice], defs=stack.defs)  # AIQ's look-up has caught up: found, recorded
        assert list_exceptions(stack.instance, DOCUMENT_ASSETS) == []
        assert len(aiq_by_reference(stack, invoice_reference(invoice))) == 1
