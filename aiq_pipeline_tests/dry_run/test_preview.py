"""`aiq-pipeline preview DOCUMENT...` through the command line against both emulators: exactly what would be sent, or
why not, with nothing written anywhere; and what it shows is what posting then sends."""

from __future__ import annotations

import json
from decimal import Decimal

from aiq_pipeline.sync.identity import credit_note_reference, invoice_reference
from aiq_pipeline_tests.dry_run.conftest import run, run_json, written
from aiq_pipeline_tests.pair_names import CREDIT_NOTES, INVOICES
from aiq_pipeline_tests.pipeline.conftest import Stack

INVOICE = "1"  # INV-1001, issued 2026-06-02: two lines at V01 23 %, to a customer AIQ does not have yet
CREDIT_NOTE = "CN-1"  # credits part of INV-1001
UNMAPPED = "8"  # INV-1007: its LEGACY-ADDON charge maps to a control account


def test_an_invoice_shows_its_customer_document_lines_and_totals(demo: Stack) -> None:
    before = written(demo)
    result = run("preview", INVOICE)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("1 INV-1001 (invoice): would post\n")
    assert "customer BNY-1: created in AIQ (new customer)" in text
    assert "SI sales invoice BUNNY-INV-1\n" in text
    assert "customer BNY-1, dated 2026-06-02, due 2026-07-02, period Jun 2026 (financial year 2026)" in text
    assert "EUR at exchange rate 1 (base)" in text
    # the subscription's charge has no mapping: it posts to the entity's default revenue account
    assert "- GL 4000 (default revenue account)  tax V01 at 23%  net 49.00  tax 11.27  Monthly subscription" in text
    assert "- GL 4010  tax V01 at 23%  net 300.00  tax 69.00  Onboarding (2 days)" in text
    assert "total: net 349.00, tax 80.27, gross 429.27 EUR" in text
    assert text.rstrip().endswith("Nothing was written (a preview).")
    assert written(demo) == before  # not a document, customer, journal row, claim, partition or run


def test_the_json_preview_is_what_posting_then_sends_field_by_field(demo: Stack) -> None:
    (shown,) = run_json("preview", INVOICE)
    assert shown["would"] == "would post" and shown["customer"] == {
        "code": "BNY-1",
        "action": "create",
        "created_by": None,
    }
    (document,) = shown["documents"]
    assert document["type"] == "SI" and document["reference"] == invoice_reference(INVOICE)
    assert (document["date"], document["period"], document["financial_year"]) == ("2026-06-02", "Jun 2026", 2026)
    assert (document["currency"], document["exchange_rate"]) == ("EUR", "1")
    lines = [
        (x["gl_account_code"], x["tax_code"], x["net_amount"], Decimal(x["tax_rate"]), x["tax_amount"])
        for x in document["lines"]
    ]
    assert lines == [
        ("4000", "V01", "49.00", Decimal("0.23"), "11.27"),
        ("4010", "V01", "300.00", Decimal("0.23"), "69.00"),
    ]
    assert (document["net"], document["tax"], document["gross"]) == ("349.00", "80.27", "429.27")

    posted = run("backfill", "--from", "2026-06-02", "--to", "2026-06-02")  # posts INV-1001 alone
    assert posted.exit_code == 0, posted.output
    (entry,) = [e for e in demo.journal() if e.reference == invoice_reference(INVOICE)]
    sent = json.loads(entry.document or "{}")
    for name in ("customer_code", "currency_code", "date", "due_date", "period_name", "financial_year", "description"):
        key = {"currency_code": "currency", "period_name": "period"}.get(name, name)
        assert str(sent[name]) == str(document[key]), name
    assert Decimal(sent["exchange_rate"]) == Decimal(document["exchange_rate"])
    assert [
        {k: line[k] for k in ("gl_account_code", "tax_code", "description", "net_amount", "tax_rate", "tax_amount")}
        for line in sent["lines"]
    ] == [{k: v for k, v in line.items() if k != "gl_source"} for line in document["lines"]]
    (aiq,) = [
        t
        for t in demo.emulators.accountsiq.state.data.entities["DEMO01"].transactions.values()
        if t.external_reference == invoice_reference(INVOICE)
    ]
    assert abs(aiq.control_amount) == Decimal(document["gross"])

    again = run("preview", INVOICE)  # posted now: nothing would be written
    assert again.exit_code == 0, again.output
    assert "1 INV-1001 (invoice): already in AIQ" in again.stdout
    assert "(already in AIQ: not written again)" in again.stdout


def test_a_credit_note_waits_for_its_invoice_or_mirrors_it_when_both_are_previewed(demo: Stack) -> None:
    alone = run("preview", CREDIT_NOTE)
    assert alone.exit_code == 1, alone.output  # it would wait: the invoice is not in AIQ
    assert "CN-1 CN-0001 (credit note): would wait [INVOICE_NOT_POSTED]" in alone.stdout
    assert "fix: Post the invoice first" in alone.stdout

    before = written(demo)
    both = {p["key"]: p for p in run_json("preview", CREDIT_NOTE, INVOICE)}
    assert written(demo) == before
    note = both[CREDIT_NOTE]
    assert note["would"] == "would post" and note["assumes_posted"] == [invoice_reference(INVOICE)]
    assert note["customer"]["created_by"] == INVOICE  # the invoice, posted first, creates the customer
    (document,) = note["documents"]
    assert (document["type"], document["reference"]) == ("SN", credit_note_reference("1"))
    assert (document["date"], document["customer_code"]) == ("2026-06-10", "BNY-1")
    (line,) = document["lines"]  # on the account, tax code and rate the invoice's line posts with
    assert (line["gl_account_code"], line["tax_code"], Decimal(line["tax_rate"])) == ("4010", "V01", Decimal("0.23"))
    assert (line["net_amount"], line["tax_amount"], document["gross"]) == ("150.00", "34.50", "184.50")
    assert note["allocations"] == [
        {
            "source": credit_note_reference("1"),
            "target": invoice_reference(INVOICE),
            "amount": None,
            "date": "2026-06-10",
        }
    ]

    assert run("backfill", "--from", "2026-06-02", "--to", "2026-06-02").exit_code == 0
    (posted_first,) = run_json("preview", CREDIT_NOTE)  # the invoice is in AIQ now: the same credit note
    assert posted_first["would"] == "would post" and posted_first["assumes_posted"] == []
    assert posted_first["documents"] == note["documents"]
    assert posted_first["customer"]["action"] == "existing"


def test_a_document_that_would_fail_says_why_and_what_to_do(demo: Stack) -> None:
    result = run("preview", UNMAPPED)
    assert result.exit_code == 1, result.output
    assert "8 INV-1007 (invoice): would fail [NOT_POSTING_ACCOUNT]" in result.stdout
    assert "LEGACY-ADDON" in result.stdout and "fix: In Bunny (Billing > GL mappings) map the charge" in result.stdout
    (shown,) = run_json("preview", UNMAPPED)
    assert (shown["would"], shown["reason_code"], shown["documents"]) == ("would fail", "NOT_POSTING_ACCOUNT", [])
    assert shown["fix"] and "LEGACY-ADDON" in shown["reason"]


def test_an_unknown_document_is_a_clear_error_and_nothing_is_previewed(demo: Stack) -> None:
    result = run("preview", INVOICE, "no-such-invoice", "CN-999")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Error: unknown document no-such-invoice: Bunny has no invoice no-such-invoice in entity 1." in result.stderr
    assert "Error: unknown document CN-999:" in result.stderr

    malformed = run("preview", "PAY-")
    assert malformed.exit_code == 2
    assert "not a document: 'PAY-'" in malformed.stderr and "CN-<credit note id>" in malformed.stderr


def test_a_dismissed_document_is_previewed_and_said_to_be_dismissed(demo: Stack) -> None:
    assert run("backfill", "--from", "2026-11-05", "--to", "2026-11-05").exit_code == 1  # INV-1007 alone: it fails
    assert run("exceptions", "dismiss", UNMAPPED, "--reason", "booked by hand").exit_code == 0
    before = written(demo)
    result = run("preview", UNMAPPED)
    assert "8 INV-1007 (invoice): dismissed" in result.stdout
    assert f"nothing posts it until `aiq-pipeline exceptions undismiss {UNMAPPED}`" in result.stdout
    assert result.exit_code == 0, result.output  # nothing would fail: nothing posts it
    assert written(demo) == before
    assert demo.instance.get_dynamic_partitions(INVOICES.partitions_name) == [UNMAPPED]
    assert demo.instance.get_dynamic_partitions(CREDIT_NOTES.partitions_name) == []
