"""`get_transactions_by`: the request is WSDL-valid (ScriptedAiq checks both ways), pages with Skip, and works
over real HTTP against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from aiq_emulators.accountsiq import operations
from aiq_emulators.accountsiq.app import start_emulator
from aiq_pipeline.accountsiq import AccountsIQClient, AiqLookupError, BatchLine, BatchSalesCreditNote, BatchSalesInvoice
from aiq_pipeline.accountsiq.envelope import NIL_ATTR, SERVICE_NS
from aiq_pipeline_tests.accountsiq import sample_records as rec
from aiq_pipeline_tests.accountsiq.scripted_aiq import ScriptedAiq, Seen, failure, result

OP = "GetTransactionsBy"


def q(name: str) -> str:
    return f"{{{SERVICE_NS}}}{name}"


def query_of(seen: Seen) -> dict[str, str | None]:
    query = seen.body.find(q("query"))
    assert query is not None
    return {c.tag.rpartition("}")[2]: (None if c.get(NIL_ATTR) == "true" else c.text) for c in query}


def page(*ids: int) -> str:
    return "".join(rec.transaction_summary(i, f"BUNNY-INV-{i}") for i in ids)


def test_query_is_wsdl_ordered_with_wide_creation_dates_and_nil_periods(
    client: AccountsIQClient, aiq: ScriptedAiq
) -> None:
    aiq.script(OP, result(OP, result_xml=page(9)))
    (summary,) = client.get_transactions_by(date(2025, 1, 1), date(2025, 1, 31), types=["SI", "SN"])
    assert (summary.transaction_id, summary.external_reference) == (9, "BUNNY-INV-9")
    assert summary.control_amount == Decimal("123.00") and summary.transaction_date == date(2025, 1, 31)
    assert [(d.is_control_line, d.is_tax_line) for d in summary.lines] == [(True, False), (False, False), (False, True)]
    (seen,) = aiq.calls(OP)
    query = seen.body.find(q("query"))
    assert query is not None
    assert [c.tag.rpartition("}")[2] for c in query] == [
        "FromDate",
        "ToDate",
        "FromCreationDate",
        "ToCreationDate",
        "Skip",
        "TypesFilter",
        "FromPeriodDate",
        "ToPeriodDate",
        "ExcludeReconciliationInformation",
    ]
    values = query_of(seen)
    assert (values["FromDate"], values["ToDate"]) == ("2025-01-01T00:00:00", "2025-01-31T00:00:00")
    assert (values["FromCreationDate"], values["ToCreationDate"]) == ("1900-01-01T00:00:00", "2999-12-31T00:00:00")
    assert values["Skip"] == "0" and values["FromPeriodDate"] is None and values["ToPeriodDate"] is None
    assert [s.text for s in query.find(q("TypesFilter")) or []] == ["SI", "SN"]


def test_no_types_sends_no_filter(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    aiq.script(OP, result(OP, result_xml=""))
    assert client.get_transactions_by(date(2025, 1, 1), date(2025, 1, 31)) == []
    assert "TypesFilter" not in query_of(aiq.calls(OP)[0])


def test_pages_with_skip_until_a_short_page_and_keeps_each_transaction_once(
    client: AccountsIQClient, aiq: ScriptedAiq
) -> None:
    client.transactions_by_page_size = 2
    # The third page repeats id 4 (a row shifted while paging): it is kept once.
    aiq.script(OP, result(OP, result_xml=page(1, 2)), result(OP, result_xml=page(3, 4)), result(OP, result_xml=page(4)))
    found = client.get_transactions_by(date(2025, 1, 1), date(2025, 1, 31))
    assert [s.transaction_id for s in found] == [1, 2, 3, 4]
    assert [query_of(s)["Skip"] for s in aiq.calls(OP)] == ["0", "2", "4"]


def test_a_full_last_page_costs_one_empty_call(client: AccountsIQClient, aiq: ScriptedAiq) -> None:
    client.transactions_by_page_size = 2
    aiq.script(OP, result(OP, result_xml=page(1, 2)), result(OP, result_xml=""))
    assert [s.transaction_id for s in client.get_transactions_by(date(2025, 1, 1), date(2025, 1, 31))] == [1, 2]
    assert len(aiq.calls(OP)) == 2


@pytest.mark.parametrize("code", ["TRANSACTION_NOT_FOUND", "GETTRANSACTIONSBY_QUERY_TIMEOUT"])
def test_a_failed_page_is_an_error_not_a_short_listing(client: AccountsIQClient, aiq: ScriptedAiq, code: str) -> None:
    client.transactions_by_page_size = 2
    aiq.script(OP, result(OP, result_xml=page(1, 2)), failure(OP, code))
    with pytest.raises(AiqLookupError) as raised:
        client.get_transactions_by(date(2025, 1, 1), date(2025, 1, 31))
    assert raised.value.code == code and len(aiq.calls(OP)) == 2


# --- over real HTTP against the emulator -----------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with start_emulator(validate_responses=True) as (base_url, _handle):
        yield base_url


def _line(net: str) -> BatchLine:
    return BatchLine("4000", "V01", "Subscription", Decimal(net), Decimal("0.23"), None)


def test_lists_a_month_of_invoices_and_credit_notes_from_the_emulator(
    emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations, "MAX_TRANSACTIONS_BY_ROWS", 2)  # force paging on both sides
    with AccountsIQClient(
        entity_id="DEMO01", client_id="demo-aiq-client", client_secret="demo-aiq-secret", base_url=emulator_url
    ) as aiq:
        aiq.transactions_by_page_size = 2
        for n, day in enumerate((date(2026, 7, 1), date(2026, 7, 15), date(2026, 7, 31), date(2026, 8, 1))):
            aiq.create_batch_sales_invoice_get_back_transaction_id(
                BatchSalesInvoice("EXISTING-001", day, f"TB-INV-{n}", "Invoice", (_line("100.00"),))
            )
        aiq.create_batch_sales_credit_note_get_back_transaction_id(
            BatchSalesCreditNote("EXISTING-001", date(2026, 7, 20), "TB-CN-1", "Credit", (_line("10.00"),))
        )
        july = aiq.get_transactions_by(date(2026, 7, 1), date(2026, 7, 31))
        notes = aiq.get_transactions_by(date(2026, 7, 1), date(2026, 7, 31), types=["SN"])
    mine = [s for s in july if (s.external_reference or "").startswith("TB-")]
    assert [(s.external_reference, s.transaction_type) for s in mine] == [
        ("TB-INV-0", "SI"),
        ("TB-INV-1", "SI"),
        ("TB-INV-2", "SI"),
        ("TB-CN-1", "SN"),
    ]
    assert [s.control_amount for s in mine[:3]] == [Decimal("123.00")] * 3
    assert [s.external_reference for s in notes if (s.external_reference or "").startswith("TB-")] == ["TB-CN-1"]
    assert all(s.transaction_type == "SN" for s in notes)
