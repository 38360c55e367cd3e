"""The probe's judgements on their own, without a tenant: invoices that fit no reading, a filter that is accepted
but misses invoices, the spelling of AccountType, tax-rate units, and the table's shape."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from aiq_pipeline.accountsiq.models import GLAccount
from aiq_pipeline.bunny.models import Invoice, InvoiceItem, InvoiceRef
from aiq_pipeline.service.probe import Verdict, bunny_filters
from aiq_pipeline.service.probe.aiq_chart import account_types_finding, tax_rate_unit
from aiq_pipeline.service.probe.bunny_money import money_findings, money_fit
from aiq_pipeline.service.probe.findings import Finding
from aiq_pipeline.service.probe.report import ProbeReport
from aiq_pipeline.settings import PostingRules

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _invoice(invoice_id: str, *, net: str, discount: str = "0", subtotal: str | None = None, credits: str = "0",
             amount: str | None = None) -> Invoice:  # fmt: skip
    """One line of quantity x price `net` + `discount`, 23 % tax, read under the product's readings unless told."""
    line_net, off = Decimal(net), Decimal(discount)
    tax = (line_net * Decimal("0.23")).quantize(Decimal("0.01"))
    item = InvoiceItem(id=f"{invoice_id}-1", line_text="Plan", quantity=1, price=line_net + off,
                       subtotal=line_net + off, amount=line_net, tax_amount=tax, tax_rate=Decimal(23),
                       discount=off)  # fmt: skip
    return Invoice(
        id=invoice_id, number=f"INV-{invoice_id}", state="DUE", entity_id="1", account_id="1", currency_code="EUR",
        issued_at=date(2026, 11, 1), due_at=None, subtotal=Decimal(subtotal or net), tax_amount=tax,
        amount=Decimal(amount) if amount else line_net + tax, updated_at=NOW, items=(item,),
        credits=Decimal(credits),
    )  # fmt: skip


def test_an_invoice_that_adds_up_under_no_reading_is_named() -> None:
    good = [_invoice("1", net="80", discount="20"), _invoice("2", net="100", credits="10")]
    broken = _invoice("3", net="100", subtotal="95")  # a subtotal no reading explains
    fit = money_fit([*good, broken])
    assert fit.fit_none == ("3",)
    assert fit.dimensions["subtotal"].shown == "after_discount"
    assert fit.dimensions["amount"].shown == "full"
    findings = {f.reading: f for f in money_findings([*good, broken], PostingRules())}
    assert "no reading fits 1: 3" in findings["Bunny subtotal"].evidence
    assert findings["Bunny subtotal"].verdict is Verdict.AGREES


def test_nothing_that_tells_readings_apart_leaves_them_undetermined() -> None:
    plain = [_invoice(str(n), net="100") for n in range(1, 4)]
    findings = {f.reading: f for f in money_findings(plain, PostingRules())}
    for reading in ("Bunny line amount", "Bunny credit lines", "Bunny subtotal", "Bunny amount"):
        assert findings[reading].verdict is Verdict.UNDETERMINED, findings[reading]
        assert findings[reading].shows == "cannot tell"
        assert "no invoice tells them apart" in findings[reading].evidence
    assert findings["Bunny taxRate units"].shows == "percent"


def test_a_filter_accepted_but_missing_invoices_contradicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bunny answers every filter with nothing: the client would trust it and never see an invoice."""

    class Client:
        filter_time_margin = timedelta(hours=14)

    monkeypatch.setattr(bunny_filters, "invoice_refs_under", lambda client, text: [])
    finding = bunny_filters.filter_finding(Client(), "1", [_invoice("7", net="10")])  # type: ignore[arg-type]
    assert finding.verdict is Verdict.CONTRADICTS
    assert "accepted but missed invoices" in finding.evidence
    assert "do not switch the sensor on" in finding.fix_line()


def test_a_filter_accepted_but_not_applied_is_harmless(monkeypatch: pytest.MonkeyPatch) -> None:
    stranger = InvoiceRef(id="99", state="DRAFT", updated_at=NOW - timedelta(days=400), entity_id="2")
    mine = InvoiceRef(id="7", state="DUE", updated_at=NOW, entity_id="1")

    class Client:
        filter_time_margin = timedelta(hours=14)

    monkeypatch.setattr(bunny_filters, "invoice_refs_under", lambda client, text: [mine, stranger])
    finding = bunny_filters.filter_finding(Client(), "1", [_invoice("7", net="10")])  # type: ignore[arg-type]
    assert (finding.shows, finding.verdict) == ("documented", Verdict.AGREES)
    assert "accepted but not applied" in finding.evidence


@pytest.mark.parametrize(("types", "shows", "verdict"), [
    (("Posting", "Control", "Bank", "VAT"), "word", Verdict.AGREES),
    (("POSTING", "CONTROL", "BANK", "VAT"), "upper", Verdict.AGREES),
    (("P", "C", "B", "V"), "letter", Verdict.CONTRADICTS),
    (("Posting", "Control", "Asset"), "word", Verdict.UNDETERMINED),
    (("Control", "VAT"), "word", Verdict.CONTRADICTS),  # nothing to post an invoice line to
])  # fmt: skip
def test_account_type_spellings(types: tuple[str, ...], shows: str, verdict: Verdict) -> None:
    accounts = [GLAccount(code=f"{n}", description="x", account_type=t, is_active=True, is_departmental=False)
                for n, t in enumerate(types)]  # fmt: skip
    finding = account_types_finding(accounts)
    assert (finding.shows, finding.verdict) == (shows, verdict), finding


@pytest.mark.parametrize(("rates", "unit"), [
    (("23", "13.5", "0"), "percent"),
    (("0.23", "0.135", "0"), "fraction"),
    (("0", "0"), None),
    (("1",), None),
])  # fmt: skip
def test_tax_rate_units_from_the_rates(rates: tuple[str, ...], unit: str | None) -> None:
    assert tax_rate_unit([Decimal(r) for r in rates]) == unit


def test_the_table_is_five_cells_per_line_and_wraps_long_evidence() -> None:
    long = " ".join(f"id{n}" for n in range(60)) + " a|b"
    finding = Finding("AIQ tax rate units", "percent", long, "AIQ_PIPELINE_AIQ_TAX_RATE_UNITS=fraction",
                      Verdict.CONTRADICTS, variable="AIQ_PIPELINE_AIQ_TAX_RATE_UNITS", wanted="percent")  # fmt: skip
    report = ProbeReport((finding,))
    lines = report.table(150)
    assert all(len(line.split(" | ")) == 5 for line in lines[2:]), lines
    assert len(lines) > 3  # the evidence wrapped
    assert all(len(line) <= 150 for line in lines)
    assert report.fix_lines() == [
        "FIX  AIQ tax rate units: set AIQ_PIPELINE_AIQ_TAX_RATE_UNITS=percent (the tenant shows percent)"
    ]
