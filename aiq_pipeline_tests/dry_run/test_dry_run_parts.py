"""The dry run's parts without the emulators: the journal it reads through refuses every write and leaves the store
as it was; what it would post first is answered as posted, exactly as planned; a preview's verdict, words and sums."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from aiq_pipeline.service.aiq_documents import planned_write, posted_lines
from aiq_pipeline.service.dry_run import PLANNED_NOT_POSTED, DryRunJournal, DryRunWrite, Planned
from aiq_pipeline.service.dry_run_report import DryRunSummary, Would, percent, preview_json, preview_lines, would
from aiq_pipeline.service.outcome import Outcome, Status
from aiq_pipeline.service.posting import Preview
from aiq_pipeline.store import Store
from aiq_pipeline.store.journal import FoundBy, OutcomeRecord, PlannedWrite, PostingJournal, WriteState
from aiq_pipeline.sync.documents.plan import AiqTarget, PlannedAllocation, PlannedDocument, PlannedLine, PostingPlan

ENTITY = "DEMO01"


def _line(net: str, tax: str, rate: str = "0.23", code: str = "V01", source: str = "charge") -> PlannedLine:
    return PlannedLine(
        "4000", code, "Monthly subscription", Decimal(net), Decimal(rate), Decimal(tax), "item-1", source
    )


def _document(
    reference: str, day: date, *lines: PlannedLine, target: AiqTarget = AiqTarget.SALES_INVOICE
) -> PlannedDocument:
    return PlannedDocument(
        target=target,
        reference=reference,
        customer_code="BNY-1",
        currency_code="EUR",
        date=day,
        due_date=day + timedelta(days=30),
        description="Bunny invoice INV-1",
        exchange_rate=Decimal(1),
        lines=lines,
        period_name=day.strftime("%b %Y"),
        financial_year=day.year,
    )


def _preview(
    key: str,
    *documents: PlannedDocument,
    status: Status = Status.POSTED,
    customer: str = "create",
    held: tuple[str, ...] = (),
    allocations: tuple[PlannedAllocation, ...] = (),
) -> Preview:
    plan = PostingPlan("invoice", key, "BNY-1", None, documents, allocations=allocations)
    return Preview(Outcome(key, "invoice", status, number=f"INV-{key}"), plan, held, customer)


def _failed(key: str, code: str, *, retryable: bool = False) -> Preview:
    outcome = Outcome(key, "invoice", Status.FAILED, reason_code=code, reason="why", fix="what", retryable=retryable)
    return Preview(outcome)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.duckdb")


def _rows(store: Store) -> dict[str, list[str]]:
    with store.session() as session:
        return {
            table: sorted(json.dumps(r, default=str, sort_keys=True) for r in session.query(f"SELECT * FROM {table}"))
            for table in ("posting_journal", "posting_claims", "posting_outcomes")
        }


def test_the_journal_of_a_dry_run_reads_and_refuses_every_write(store: Store) -> None:
    write = PlannedWrite(
        "BUNNY-INV-1", "1", "invoice", "SI", "EUR", Decimal("10.00"), Decimal("2.30"), Decimal("12.30")
    )
    with store.session() as session:
        PostingJournal(session, ENTITY).record_posted(write, 4242, found_by=FoundBy.ANSWER)
    before = _rows(store)
    with store.session() as session:
        journal = DryRunJournal(session, ENTITY)
        entry = journal.entry("BUNNY-INV-1")
        assert entry is not None and (entry.state, entry.aiq_id) == (WriteState.POSTED, 4242)
        assert journal.recent_lookup_lags() == []
        attempts: list[Callable[[], object]] = [
            lambda: journal.claim("1", "run", process="p", lease=timedelta(minutes=1), is_dead=lambda _: False),
            lambda: journal.release("1", "run"),
            lambda: journal.begin_write(write, "run"),
            lambda: journal.record_posted(write, 1, found_by=FoundBy.LOOKUP),
            lambda: journal.record_lookup_lag(["BUNNY-INV-1"], timedelta(seconds=1)),
            lambda: journal.record_unknown(write, "lost"),
            lambda: journal.record_outcomes([OutcomeRecord("1", "invoice", "posted")]),
            lambda: journal.session.query("DELETE FROM posting_journal"),
            lambda: journal.session.query("SELECT owner FROM posting_claims FOR UPDATE"),
        ]
        for attempt in attempts:
            with pytest.raises(DryRunWrite):
                attempt()
    assert _rows(store) == before


def test_what_a_dry_run_would_post_first_is_answered_as_the_journal_would_hold_it(store: Store) -> None:
    invoice = _document("BUNNY-INV-1", date(2026, 6, 2), _line("49.00", "11.27"), _line("300.00", "69.00"))
    with store.session() as session:
        journal = DryRunJournal(session, ENTITY)
        journal.plan(_failed("2", "CLOSED_PERIOD"))
        journal.plan(_preview("3", _document("BUNNY-INV-3", date(2026, 6, 3), _line("1.00", "0.23"))), wanted=set())
        journal.plan(_preview("1", invoice))
        assert journal.entry("BUNNY-INV-3") is None  # not wanted by anything planned later
        entry = journal.entry("BUNNY-INV-1")
        assert entry is not None and journal.is_planned("BUNNY-INV-1") and not journal.is_planned("BUNNY-INV-3")
        assert (entry.state, entry.aiq_id, entry.gross) == (WriteState.POSTED, PLANNED_NOT_POSTED, Decimal("429.27"))
        assert entry.document == planned_write(invoice, claim_key="1", kind="invoice").document  # exactly as planned
        mirrored = posted_lines(entry.document)
        assert mirrored is not None and mirrored.lines == invoice.lines and mirrored.customer_code == "BNY-1"
    assert _rows(store) == {"posting_journal": [], "posting_claims": [], "posting_outcomes": []}


def test_a_preview_s_verdict() -> None:
    document = _document("BUNNY-INV-1", date(2026, 6, 2), _line("10.00", "2.30"))
    assert would(Planned("1", _preview("1", document))) == Would.POST
    assert would(Planned("1", _preview("1", document, status=Status.ALREADY_POSTED))) == Would.ALREADY
    assert would(Planned("1", Preview(Outcome("1", "invoice", Status.NOTHING_TO_POST)))) == Would.NOTHING
    assert would(Planned("1", Preview(Outcome("1", "void", Status.SKIPPED)))) == Would.NOTHING
    assert would(Planned("1", _failed("1", "INVOICE_NOT_POSTED", retryable=True))) == Would.WAIT
    assert would(Planned("1", _failed("1", "CLOSED_PERIOD"))) == Would.FAIL
    assert would(Planned("1", _failed("1", "CLOSED_PERIOD"), dismissed=True)) == Would.DISMISSED


@pytest.mark.parametrize(
    ("rate", "shown"), [("0.23", "23%"), ("0.230000", "23%"), ("0.135", "13.5%"), ("0", "0%"), ("0.05", "5%")]
)
def test_a_tax_rate_is_shown_as_a_percentage(rate: str, shown: str) -> None:
    assert percent(Decimal(rate)) == shown


def test_a_preview_in_words_and_as_json() -> None:
    invoice = _document(
        "BUNNY-INV-1", date(2026, 6, 2), _line("49.00", "11.27"), _line("0.01", "0.00", code="", source="rounding")
    )
    allocation = PlannedAllocation("BUNNY-CN-1", "BUNNY-INV-1", date(2026, 6, 10))
    planned = Planned("1", _preview("1", invoice, allocations=(allocation,)), assumes=("BUNNY-INV-9",))
    lines = preview_lines(planned)
    assert lines[:3] == [
        "1 INV-1 (invoice): would post",
        "  customer BNY-1: created in AIQ (new customer)",
        "  SI sales invoice BUNNY-INV-1",
    ]
    assert "    customer BNY-1, dated 2026-06-02, due 2026-07-02, period Jun 2026 (financial year 2026)" in lines
    assert "    - GL 4000  tax V01 at 23%  net 49.00  tax 11.27  Monthly subscription" in lines
    assert "    - GL 4000 (rounding)  no tax  net 0.01  tax 0.00  Monthly subscription" in lines
    assert "    total: net 49.01, tax 11.27, gross 60.28 EUR" in lines
    assert "  allocate BUNNY-CN-1 against BUNNY-INV-1: what both have outstanding on 2026-06-10" in lines
    assert lines[-1].startswith("  planned as if BUNNY-INV-9 (which this dry run would post first) were posted")
    data = preview_json(planned)
    assert data["documents"][0]["lines"][0]["net_amount"] == "49.00"  # money as its exact text
    assert (data["documents"][0]["net"], data["documents"][0]["gross"]) == ("49.01", "60.28")
    assert data["allocations"] == [
        {"source": "BUNNY-CN-1", "target": "BUNNY-INV-1", "amount": None, "date": "2026-06-10"}
    ]
    held = preview_lines(Planned("1", _preview("1", invoice, status=Status.ALREADY_POSTED, held=("BUNNY-INV-1",))))
    assert "  SI sales invoice BUNNY-INV-1 (already in AIQ: not written again)" in held
    failed = preview_lines(Planned("2", _failed("2", "CLOSED_PERIOD")))
    assert failed == ["2 (invoice): would fail [CLOSED_PERIOD]", "  why: why", "  fix: what"]


def test_the_summary_counts_problems_and_sums_what_would_be_written_per_month_and_currency() -> None:
    june = _document("BUNNY-INV-1", date(2026, 6, 2), _line("10.00", "2.30"))
    june_too = _document("BUNNY-INV-2", date(2026, 6, 30), _line("0.10", "0.02"))
    july = _document("BUNNY-INV-3", date(2026, 7, 1), _line("5.00", "1.15"))
    summary = DryRunSummary()
    for planned in (
        Planned("1", _preview("1", june)),
        Planned("2", _preview("2", june_too, customer="existing")),
        Planned("3", _preview("3", july, customer="update: email")),
        Planned("4", _preview("4", july, status=Status.ALREADY_POSTED, held=("BUNNY-INV-3",))),
        Planned("5", _failed("5", "CLOSED_PERIOD")),
        Planned("6", _failed("6", "INVOICE_NOT_POSTED", retryable=True)),
        Planned("7", _failed("7", "CLOSED_PERIOD"), dismissed=True),
    ):
        summary.add(planned)
    assert summary.total == 7 and summary.exit_code == 1
    assert summary.codes == {"CLOSED_PERIOD": 1, "INVOICE_NOT_POSTED": 1}  # the dismissed one is not a problem
    data = summary.as_json()
    assert data["outcomes"] == {"would post": 3, "already in AIQ": 1, "would wait": 1, "would fail": 1, "dismissed": 1}
    assert [(m["month"], m["documents"], m["net"], m["tax"], m["gross"]) for m in data["money"]] == [
        ("2026-06", 2, "10.10", "2.32", "12.42"),
        ("2026-07", 1, "5.00", "1.15", "6.15"),
    ]
    assert (data["customers_created"], data["customers_updated"]) == (1, 1)
    clean = DryRunSummary()
    clean.add(Planned("1", _preview("1", june)))
    clean.add(Planned("7", _failed("7", "CLOSED_PERIOD"), dismissed=True))
    assert clean.exit_code == 0 and clean.problems == []
