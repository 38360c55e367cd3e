"""`aiq-pipeline preflight --since DATE` through the command line against both emulators: every released invoice,
credit note and payment since the date planned with today's mappings and settings, in posting batches; the counts,
problem codes, fixes and money it prints; its exit code; and that nothing is written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from aiq_pipeline.service.posting import PostingService, Preview
from aiq_pipeline.sync.identity import parse_key
from aiq_pipeline_tests.dry_run.conftest import aiq_money, dry_run_money, run, run_json, written
from aiq_pipeline_tests.payments.conftest import START
from aiq_pipeline_tests.payments.driving import new_invoice, take_payment
from aiq_pipeline_tests.pipeline.conftest import Stack

BROKEN = {"CLOSED_PERIOD", "UNKNOWN_TAX_CODE", "NOT_POSTING_ACCOUNT"}  # the demo tenant's three broken invoices


@pytest.mark.slow  # posts the demo tenant for real after the preflight
def test_preflight_counts_outcomes_and_problems_and_the_money_is_what_posting_then_writes(demo: Stack) -> None:
    before = written(demo)
    result = run("preflight", "--since", "2026-01-01")
    assert result.exit_code == 1, result.output  # three invoices would fail
    text = result.stdout
    assert text.startswith(
        "Planning 7 invoice(s), 2 credit note(s) and void(s), 0 payment(s) and account credit(s) issued or received "
        "since 2026-01-01 (nothing is written)\n"
    )
    for code in BROKEN:
        assert f"  {code:<28}      1\n" in text  # counted per problem code
    assert "- 8 INV-1007 (invoice) [NOT_POSTING_ACCOUNT] would fail" in text
    assert "    fix: In Bunny (Billing > GL mappings) map the charge to a Posting revenue account; then retry." in text
    money = [line.split() for line in text.splitlines() if line.startswith("  2026-")]
    assert ["2026-06", "EUR", "SN", "sales", "credit", "note", "1", "150.00", "34.50", "184.50"] in money
    assert ["2026-06", "EUR", "SI", "sales", "invoice", "1", "349.00", "80.27", "429.27"] in money
    assert written(demo) == before  # nothing in AIQ, the store, the partitions or the runs

    summary = run_json("preflight", "--since", "2026-01-01")
    assert summary["since"] == "2026-01-01" and summary["documents"] == 9
    assert summary["outcomes_by_kind"] == {
        "invoice": {"would post": 4, "would fail": 3},
        "credit_note": {"would post": 1},  # against INV-1001, which this preflight would post first
        "void": {"nothing to post": 1},  # INV-1003 was voided before anything posted it
    }
    assert summary["problem_codes"] == dict.fromkeys(sorted(BROKEN), 1)
    assert all(p["fix"] and p["reason"] for p in summary["problems"])
    assert summary["customers_created"] == 3 and summary["planned_against_invoices_posted_first"] == 1
    assert summary["would_fail"] is True
    assert written(demo) == before

    synced = run("sync")  # posting for real: what the preflight said would be written is what AIQ then holds
    assert synced.exit_code == 1, synced.output
    assert "posted: 5" in synced.output and "failed: 3" in synced.output
    assert dry_run_money(summary) == aiq_money(demo)

    demo.fix_demo_data()  # a finance team fixes the three causes: the preflight now passes
    fixed = run_json("preflight", "--since", "2026-01-01")
    assert fixed["outcomes"] == {"would post": 3, "already in AIQ": 5, "nothing to post": 1}
    assert fixed["problems"] == [] and fixed["would_fail"] is False
    assert run("preflight", "--since", "2026-01-01").exit_code == 0


def test_a_credit_note_whose_invoice_is_older_than_the_date_and_not_in_aiq_would_wait(demo: Stack) -> None:
    summary = run_json("preflight", "--since", "2026-06-05")  # CN-1 (06-10) credits INV-1001 (06-02)
    assert summary["outcomes_by_kind"]["credit_note"] == {"would wait": 1}
    (problem,) = [p for p in summary["problems"] if p["key"] == "CN-1"]
    assert problem["reason_code"] == "INVOICE_NOT_POSTED" and problem["fix"].startswith("Post the invoice first")
    later = run_json("preflight", "--since", "2026-10-01")  # invoices 9, 2, 5, 6, 8; nothing older
    assert later["documents"] == 5 and set(later["outcomes_by_kind"]) == {"invoice"}
    assert run("preflight", "--since", "2027-01-01").stdout.endswith("Nothing to plan: no documents.\n")


def test_preflight_plans_in_posting_batches_in_posting_order(demo: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = run_json("preflight", "--since", "2026-01-01")
    batches: list[list[str]] = []
    preview_many = PostingService.preview_many

    def recording(self: PostingService, keys: Iterable[str]) -> list[Preview]:
        batches.append(list(keys))
        return preview_many(self, batches[-1])

    monkeypatch.setattr(PostingService, "preview_many", recording)
    monkeypatch.setenv("AIQ_PIPELINE_BATCH_SIZE", "2")  # posting's batch size
    in_batches = run_json("preflight", "--since", "2026-01-01")
    assert in_batches == whole  # the same plans, the credit note still against the invoice planned batches before
    assert [len(b) for b in batches] == [2, 2, 2, 1, 2]  # 7 invoices, then CN-1 and VOID-4 (one asset)
    kinds = [parse_key(k)[0] for b in batches for k in b]
    assert kinds == ["invoice"] * 7 + ["credit_note", "void"]


def test_preflight_plans_payments_after_their_invoices(payments: Stack) -> None:
    paid = new_invoice(payments)
    unmapped = new_invoice(payments)
    good = take_payment(payments, "1", [paid])
    bad = take_payment(payments, "1", [unmapped], processor="paypal")
    before = written(payments)
    summary: dict[str, Any] = run_json("preflight", "--since", START)
    assert written(payments) == before
    assert summary["outcomes_by_kind"] == {
        "invoice": {"would post": 2},
        "payment": {"would post": 1, "would fail": 1},
    }
    assert summary["problem_codes"] == {"UNMAPPED_BANK_ACCOUNT": 1}
    (problem,) = summary["problems"]
    assert problem["key"] == f"PAY-{bad['id']}" and "paypal:EUR=" in problem["fix"]
    receipts = [m for m in summary["money"] if m["type"] == "SR"]
    assert [(r["currency"], r["documents"]) for r in receipts] == [("EUR", 1)]
    assert summary["planned_against_invoices_posted_first"] == 1
    result = run("preflight", "--since", START)
    assert result.exit_code == 1
    assert f"- PAY-{bad['id']}" in result.stdout and "[UNMAPPED_BANK_ACCOUNT] would fail" in result.stdout
    assert "SR sales receipt" in result.stdout
    (receipt,) = receipts
    assert receipt["month"] == START[:7] and good["id"]
