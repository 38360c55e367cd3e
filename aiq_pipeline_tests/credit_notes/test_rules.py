"""Each credit-note rule through both emulators: lines, allocation, waiting, voids, exactly once."""

from __future__ import annotations

import json
from decimal import Decimal

import dagster as dg
import httpx
import pytest
from click.testing import CliRunner

from aiq_pipeline.cli import main
from aiq_pipeline.defs.posting.status import failed_keys, list_exceptions
from aiq_pipeline.operations.runs import post_in_process
from aiq_pipeline.operations.sync import retry
from aiq_pipeline_tests.aiq_writes import CREDIT_NOTE_CREATES
from aiq_pipeline_tests.credit_notes.driving import (
    Daemon,
    aiq_balances,
    aiq_references,
    aiq_transactions,
    all_failed_keys,
    bunny_balances,
    credit_statuses,
)
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS, INVOICES
from aiq_pipeline_tests.pipeline.helpers import sensor_tick
from aiq_pipeline_tests.pipeline.test_full_cycle import _cli_env

pytestmark = pytest.mark.slow

MATERIALIZED = dg.AssetPartitionStatus.MATERIALIZED
FAILED = dg.AssetPartitionStatus.FAILED


def _refund(stack, invoice_id: str, amounts: dict[str, str] | None = None) -> str:
    """A REFUND credit note on the invoice, paid in full first (`/pay`, no payment object, so no money goes back
    through a bank): a refund is up to the paid amount (Bunny's docs; the emulator's `refund_bound`)."""
    store = stack.emulators.bunny.store
    if store.figures(store._invoice(invoice_id)).amount_due > 0:
        paid = httpx.post(f"{stack.emulators.bunny_url}/_emulator/invoices/{invoice_id}/pay")
        assert paid.status_code == 200, paid.text
    body = {"amounts": amounts} if amounts is not None else None
    answer = httpx.post(f"{stack.emulators.bunny_url}/_emulator/invoices/{invoice_id}/refund", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["credit_note_id"]


def _void(stack, invoice_id: str) -> None:
    answer = httpx.post(f"{stack.emulators.bunny_url}/_emulator/invoices/{invoice_id}/void")
    assert answer.status_code == 200, answer.text


def _by_reference(stack, reference: str):
    (found,) = [t for t in aiq_transactions(stack) if t.external_reference == reference]
    return found


def _new_invoice(stack, account: str = "2") -> str:
    (invoice_id,) = stack.emulators.bunny.create_invoices(
        {
            "account": account,
            "items": [{"charge": "PRO-SERVICES", "quantity": 2}, {"charge": "SUB-MONTHLY", "quantity": 1}],
        },
        release=True,
    )
    return invoice_id


def test_credit_note_posts_on_the_invoice_lines_accounts_and_taxes_and_is_allocated(stack):
    stack.fix_demo_data()
    daemon = Daemon(stack)
    invoice_id = _new_invoice(stack)
    daemon.tick()
    invoice_txn = _by_reference(stack, f"BUNNY-INV-{invoice_id}")
    invoice = stack.emulators.bunny.store.tenant.invoices[-1]
    first, second = invoice.items
    note_id = _refund(stack, invoice_id, {first.id: "10.00"})  # a partial refund of one line
    note = next(n for n in stack.emulators.bunny.store.tenant.credit_notes if n.id == note_id)

    result = daemon.tick_credits()
    assert f"CN-{note_id}" in result.dynamic_partitions_requests[0].partition_keys
    assert credit_statuses(stack)[f"CN-{note_id}"] == MATERIALIZED

    sn = _by_reference(stack, f"BUNNY-CN-{note_id}")
    assert sn.type_code == "SN" and sn.customer_code == invoice_txn.customer_code
    (net,) = [ln for ln in sn.lines if ln.kind == "Net"]
    invoice_net = [ln for ln in invoice_txn.lines if ln.kind == "Net"]
    # The credited line's revenue account and tax code, with the credited amount (mirrored sign: a credit note).
    assert net.gl_account_code == invoice_net[0].gl_account_code
    assert net.tax_code == invoice_net[0].tax_code
    assert net.amount == Decimal("10.00")
    assert -sn.control_amount == note.amount == Decimal("10.00") + note.items[0].tax_amount
    # Allocated against the invoice: the credit note has nothing outstanding, the invoice the rest.
    assert sn.outstanding_amount == 0
    assert invoice_txn.outstanding_amount == invoice_txn.control_amount - note.amount
    allocations = stack.emulators.accountsiq.state.data.entities["DEMO01"].allocations
    assert [set(a.transaction_ids) for a in allocations if a.reference == f"BUNNY-CN-{note_id}"] == [
        {sn.transaction_id, invoice_txn.transaction_id}
    ]
    assert second.id  # the other line was not credited
    assert aiq_balances(stack) == bunny_balances(stack)

    # Re-materializing posts nothing twice and does not allocate again.
    summary = post_in_process(stack.instance, [f"CN-{note_id}"], trigger="retry", defs=stack.defs)
    assert summary.already_posted == [f"CN-{note_id}"]
    assert aiq_references(stack)[f"BUNNY-CN-{note_id}"] == 1
    assert len([a for a in allocations if a.reference == f"BUNNY-CN-{note_id}"]) == 1


def test_credit_note_waits_while_its_invoice_is_not_posted_then_clears(stack, monkeypatch):
    _cli_env(stack, monkeypatch)
    daemon = Daemon(stack)
    daemon.tick()  # the demo tenant: three invoices fail (closed period, unknown tax code, unmapped charge)
    failed_invoices = set(failed_keys(stack.instance, INVOICES))
    assert len(failed_invoices) == 3
    blocked = sorted(failed_invoices)[0]
    note_id = _refund(stack, blocked)

    daemon.tick_credits()
    key = f"CN-{note_id}"
    assert credit_statuses(stack)[key] == FAILED
    (waiting,) = [e for e in list_exceptions(stack.instance, DOCUMENT_ASSETS) if e.key == key]
    assert waiting.kind == "credit_note" and waiting.reason_code == "INVOICE_NOT_POSTED" and waiting.retryable
    assert f"BUNNY-CN-{note_id}" not in aiq_references(stack)
    listed = json.loads(CliRunner().invoke(main, ["exceptions", "--json"]).output)
    assert {e["key"]: e["kind"] for e in listed}[key] == "credit_note"

    # The invoice is fixed and posted; the sensor's next tick runs the waiting credit note again.
    stack.fix_demo_data()
    retry(stack.instance, sorted(failed_invoices), defs=stack.defs)
    daemon.tick_credits()
    assert credit_statuses(stack)[key] == MATERIALIZED
    assert aiq_references(stack)[f"BUNNY-CN-{note_id}"] == 1
    assert _by_reference(stack, f"BUNNY-CN-{note_id}").outstanding_amount == 0
    assert aiq_balances(stack) == bunny_balances(stack)
    assert all_failed_keys(stack.instance) == []


def test_void_after_posting_is_reversed_in_full(stack):
    stack.fix_demo_data()
    daemon = Daemon(stack)
    invoice_id = _new_invoice(stack)
    daemon.tick()
    invoice_txn = _by_reference(stack, f"BUNNY-INV-{invoice_id}")
    _void(stack, invoice_id)
    daemon.tick()

    assert credit_statuses(stack)[f"VOID-{invoice_id}"] == MATERIALIZED
    reversal = _by_reference(stack, f"BUNNY-VOID-{invoice_id}")
    assert reversal.type_code == "SN" and reversal.control_amount == -invoice_txn.control_amount
    # Dated on the void (Bunny's last update of the voided invoice), not on the invoice's day.
    voided = next(i for i in stack.emulators.bunny.store.tenant.invoices if i.id == invoice_id)
    assert reversal.transaction_date.date() == voided.updated_at.date()
    net = sorted((ln.gl_account_code, ln.tax_code, -ln.amount) for ln in reversal.lines if ln.kind != "Control")
    assert net == sorted(
        (ln.gl_account_code, ln.tax_code, ln.amount) for ln in invoice_txn.lines if ln.kind != "Control"
    )
    assert _by_reference(stack, f"BUNNY-INV-{invoice_id}").outstanding_amount == 0
    assert aiq_balances(stack) == bunny_balances(stack)
    # A further tick adds nothing.
    assert daemon.tick_credits().run_requests == []


def test_void_before_posting_never_posts_anything(stack):
    stack.fix_demo_data()
    daemon = Daemon(stack)
    invoice_id = _new_invoice(stack)
    _void(stack, invoice_id)  # voided before the sync ever saw it
    daemon.tick()
    daemon.tick()
    refs = aiq_references(stack)
    assert f"BUNNY-INV-{invoice_id}" not in refs and f"BUNNY-VOID-{invoice_id}" not in refs
    assert f"VOID-{invoice_id}" not in credit_statuses(stack)
    assert aiq_balances(stack) == bunny_balances(stack)


def test_void_between_partition_and_run_is_skipped(stack):
    stack.fix_demo_data()
    daemon = Daemon(stack)
    invoice_id = _new_invoice(stack)
    tick = sensor_tick(stack)
    for request in tick.dynamic_partitions_requests:
        stack.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    _void(stack, invoice_id)  # voided after the partition was added, before its run
    keys = list(tick.dynamic_partitions_requests[0].partition_keys)
    post_in_process(stack.instance, keys, trigger="sensor", defs=stack.defs)
    daemon.invoice_cursor = tick.cursor
    daemon.tick()
    assert credit_statuses(stack)[f"VOID-{invoice_id}"] == MATERIALIZED  # looked at, and skipped
    refs = aiq_references(stack)
    assert f"BUNNY-INV-{invoice_id}" not in refs and f"BUNNY-VOID-{invoice_id}" not in refs
    assert aiq_balances(stack) == bunny_balances(stack)


def test_exactly_once_when_aiq_commits_and_drops_the_answer(stack):
    stack.fix_demo_data()
    daemon = Daemon(stack)
    invoices = [_new_invoice(stack) for _ in range(3)]
    daemon.tick()
    notes = [_refund(stack, i) for i in invoices[:2]]
    _void(stack, invoices[2])
    stack.emulators.accountsiq.faults.add(
        {
            "kind": "drop_after_commit",
            "operations": [*CREDIT_NOTE_CREATES, "AllocateTransactions"],
        }
    )
    daemon.tick_credits()
    for _ in range(3):
        if not all_failed_keys(stack.instance):
            break
        retry(stack.instance, all_failed_keys(stack.instance), defs=stack.defs)
    stack.emulators.accountsiq.faults.clear()
    assert stack.emulators.accountsiq.stats.snapshot()["faults"]["drop_after_commit"] >= 3
    refs = aiq_references(stack)
    assert [refs[f"BUNNY-CN-{n}"] for n in notes] == [1, 1]
    assert refs[f"BUNNY-VOID-{invoices[2]}"] == 1
    assert max(refs.values()) == 1
    allocations = stack.emulators.accountsiq.state.data.entities["DEMO01"].allocations
    ours = {f"BUNNY-CN-{n}" for n in notes} | {f"BUNNY-VOID-{invoices[2]}"}
    assert sorted(a.reference for a in allocations if a.reference in ours) == sorted(ours)  # one each
    assert set(credit_statuses(stack).values()) == {MATERIALIZED}
    assert aiq_balances(stack) == bunny_balances(stack)
