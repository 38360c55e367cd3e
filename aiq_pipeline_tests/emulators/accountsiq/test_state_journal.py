"""The AIQ emulator's persistence: snapshot + append-only journal, replayed and compacted on start."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from aiq_emulators.accountsiq import start_emulator
from aiq_emulators.accountsiq.fixtures import payments_demo_fixture
from aiq_emulators.accountsiq.state import (
    JOURNAL_FILE_NAME,
    STATE_FILE_NAME,
    CustomerRecord,
    EmulatorState,
)
from aiq_pipeline.accountsiq import (
    SALES_CREDIT_JOURNAL_TYPE,
    AccountsIQClient,
    BatchLine,
    BatchSalesInvoice,
    JournalLine,
    SalesCreditJournal,
    SalesReceipt,
    SalesRefund,
)


def _post(client: AccountsIQClient, reference: str) -> int:
    invoice = BatchSalesInvoice(
        customer_code="EXISTING-001",
        invoice_date=date(2026, 7, 1),
        external_reference=reference,
        description=reference,
        lines=(BatchLine("4000", "V01", "Subscription", Decimal("49.00"), Decimal("0.23"), Decimal("11.27")),),
    )
    return client.create_batch_sales_invoice_get_back_transaction_id(invoice).transaction_id


def _client(url: str) -> AccountsIQClient:
    return AccountsIQClient(
        base_url=url, entity_id="DEMO01", client_id="demo-aiq-client", client_secret="demo-aiq-secret"
    )


def test_acknowledged_writes_survive_a_restart_through_the_journal(tmp_path: Path):
    with start_emulator(state_dir=tmp_path) as (url, handle):
        client = _client(url)
        ids = [_post(client, f"REF-{n}") for n in range(30)]
        before = handle.state.data.model_dump()
        snapshot = (tmp_path / STATE_FILE_NAME).read_bytes()
        journal = (tmp_path / JOURNAL_FILE_NAME).read_bytes()
    # Writes went to the journal only, one line each, and hold no token or secret.
    assert len(journal.splitlines()) >= 30 and b"REF-29" in journal and b"REF-29" not in snapshot
    assert client._access_token and client._access_token.encode() not in journal
    assert b"demo-aiq-secret" not in journal

    restarted = EmulatorState(state_dir=tmp_path)
    assert restarted.data.model_dump() == before
    assert sorted(restarted.data.entities["DEMO01"].transactions) == sorted(ids)
    # ...and the start compacted: everything in the snapshot, the journal empty.
    assert (tmp_path / JOURNAL_FILE_NAME).read_bytes() == b""
    assert b"REF-29" in (tmp_path / STATE_FILE_NAME).read_bytes()


def test_a_journal_line_stays_small_however_big_the_ledger(tmp_path: Path):
    with start_emulator(state_dir=tmp_path) as (url, _):
        client = _client(url)
        sizes = []
        for n in range(300):
            before = (tmp_path / JOURNAL_FILE_NAME).stat().st_size
            _post(client, f"REF-{n}")
            sizes.append((tmp_path / JOURNAL_FILE_NAME).stat().st_size - before)
    assert max(sizes[-20:]) <= max(sizes[:20]) + 50  # O(1) per write, not O(ledger)


def test_in_place_changes_replacements_and_removals_are_journaled(tmp_path: Path):
    state = EmulatorState(state_dir=tmp_path)
    entity = state.data.entities["DEMO01"]
    with state.writing():
        entity.customers["EXISTING-002"].IsActive = False  # a field assigned in place
        replaced = entity.customers["EXISTING-003"].model_copy(update={"RowVersionNumber": "00000000000000FF"})
        entity.customers["EXISTING-003"] = replaced  # a record replaced under the same key
        del entity.customers["EXISTING-001"]
        entity.periods[4].sales_closed = False  # setup data (reopen May)
        entity.tax_codes["V99"] = entity.tax_codes["V01"].model_copy(update={"code": "V99"})
    with state.writing():
        entity.customers["NEW-1"] = CustomerRecord(
            AccountID=5000, Code="NEW-1", CreationDate=state.now(), RowVersionNumber="1", Name="New One"
        )
    expected = state.data.model_dump()
    assert (tmp_path / JOURNAL_FILE_NAME).read_bytes().count(b"\n") == 2

    restarted = EmulatorState(state_dir=tmp_path)
    assert restarted.data.model_dump() == expected
    customers = restarted.data.entities["DEMO01"].customers
    assert "EXISTING-001" not in customers and not customers["EXISTING-002"].IsActive
    assert customers["EXISTING-003"].RowVersionNumber == "00000000000000FF" and customers["NEW-1"].name == "New One"
    assert not restarted.data.entities["DEMO01"].periods[4].sales_closed
    assert "V99" in restarted.data.entities["DEMO01"].tax_codes


def test_a_write_that_changes_nothing_appends_nothing(tmp_path: Path):
    state = EmulatorState(state_dir=tmp_path)
    with state.writing():
        pass
    assert (tmp_path / JOURNAL_FILE_NAME).read_bytes() == b""


def test_a_torn_last_line_is_ignored_and_a_crash_before_truncation_replays_to_the_same_state(tmp_path: Path):
    state = EmulatorState(state_dir=tmp_path)
    with state.writing():
        state.data.entities["DEMO01"].customers["EXISTING-002"].IsActive = False
    expected = state.data.model_dump()
    journal = tmp_path / JOURNAL_FILE_NAME
    complete = journal.read_bytes()
    journal.write_bytes(complete + b'{"merge":[[["entities","DEMO01"],{"next_id":9')  # a crash mid-append
    assert EmulatorState(state_dir=tmp_path).data.model_dump() == expected

    # A crash after the compacted snapshot was written but before the journal was emptied.
    journal.write_bytes(complete)
    assert EmulatorState(state_dir=tmp_path).data.model_dump() == expected


def test_reset_writes_a_fresh_snapshot(tmp_path: Path):
    state = EmulatorState(state_dir=tmp_path)
    with state.writing():
        state.data.entities["DEMO01"].customers["EXISTING-002"].IsActive = False
    state.reset()
    assert (tmp_path / JOURNAL_FILE_NAME).read_bytes() == b""
    assert EmulatorState(state_dir=tmp_path).data.entities["DEMO01"].customers["EXISTING-002"].IsActive


def test_a_long_journal_is_compacted_while_running(tmp_path: Path):
    state = EmulatorState(state_dir=tmp_path)
    customer = state.data.entities["DEMO01"].customers["EXISTING-002"]
    snapshot_size = (tmp_path / STATE_FILE_NAME).stat().st_size
    for n in range(4000):  # each line carries the customer: the journal passes its bound
        with state.writing():
            customer.Name = f"Renamed {n} " + "x" * 300
    assert (tmp_path / JOURNAL_FILE_NAME).stat().st_size <= 1_000_000 + 2 * snapshot_size + 2_000
    assert (
        EmulatorState(state_dir=tmp_path)
        .data.entities["DEMO01"]
        .customers["EXISTING-002"]
        .name.startswith("Renamed 3999 ")
    )


def test_receipts_refunds_and_allocations_survive_a_restart(tmp_path: Path) -> None:
    fixture = payments_demo_fixture()
    with start_emulator(state_dir=tmp_path, fixture=fixture) as (url, handle):
        client = _client(url)
        invoice = _post(client, "INV-1")
        receipt = client.save_sales_receipt_get_back_transaction_id(
            SalesReceipt("EXISTING-002", "1210", date(2026, 7, 2), Decimal("50.00"), "PAY-1", "Card",
                         exchange_rate=Decimal("1.17"), bank_exchange_rate=Decimal("1.17"))
        ).transaction_id  # fmt: skip
        paid = client.save_sales_receipt_get_back_transaction_id(
            SalesReceipt("EXISTING-001", "1200", date(2026, 7, 2), Decimal("60.27"), "PAY-2", "Card")
        ).transaction_id
        client.allocate_transactions(invoice, paid, amount=Decimal("60.27"), allocation_date=date(2026, 7, 2))
        refund = client.post_sales_refund(
            SalesRefund("EXISTING-002", "1210", date(2026, 7, 3), Decimal("50.00"), "REFUND-1", "Refund",
                        exchange_rate=Decimal("1.17"), bank_exchange_rate=Decimal("1.17"))
        ).transaction_id  # fmt: skip
        client.allocate_transactions(refund, receipt, amount=Decimal("50.00"), allocation_date=date(2026, 7, 3))
        before = handle.state.data.model_dump()
        client.close()
    restarted = EmulatorState(state_dir=tmp_path, fixture=fixture)
    assert restarted.data.model_dump() == before
    entity = restarted.data.entities["DEMO01"]
    assert [entity.transactions[i].type_code for i in (invoice, receipt, paid, refund)] == ["SI", "SR", "SR", "SD"]
    assert all(entity.transactions[i].outstanding_amount == 0 for i in (invoice, receipt, paid, refund))
    assert len(entity.allocations) == 2 and entity.next_receipt_number == 3
    with start_emulator(state_dir=tmp_path, fixture=fixture) as (url, _):
        client = _client(url)
        [allocation] = client.get_allocations_by_transaction_id(refund)
        assert (allocation.other_transaction_id, allocation.amount) == (receipt, Decimal("50.00"))
        client.close()


def test_credit_journals_and_their_allocations_survive_a_restart(tmp_path: Path) -> None:
    fixture = payments_demo_fixture()

    def fees(reference: str, amount: str) -> SalesCreditJournal:
        line = JournalLine(gl_account_code="6900", description="Fees", amount=Decimal(amount), bank_exchange_rate=None)
        return SalesCreditJournal(
            customer_code="EXISTING-001",
            transaction_date=date(2026, 7, 2),
            external_reference=reference,
            lines=(line,),
            exchange_rate=Decimal(1),
        )

    with start_emulator(state_dir=tmp_path, fixture=fixture) as (url, handle):
        client = _client(url)
        invoice = _post(client, "INV-1")  # 60.27
        allocated = client.post_sales_credit_journal_get_back_transaction_id(fees("FEES-1", "2.27")).transaction_id
        client.allocate_transactions(invoice, allocated, amount=Decimal("2.27"), allocation_date=date(2026, 7, 2))
        on_account = client.post_sales_credit_journal_get_back_transaction_id(fees("FEES-2", "1.00")).transaction_id
        before = handle.state.data.model_dump()
        client.close()
    restarted = EmulatorState(state_dir=tmp_path, fixture=fixture)
    assert restarted.data.model_dump() == before
    entity = restarted.data.entities["DEMO01"]
    assert [
        (entity.transactions[i].type_code, entity.transactions[i].internal_number) for i in (allocated, on_account)
    ] == [
        ("SC", "SC000001"),
        ("SC", "SC000002"),
    ]
    assert (entity.transactions[invoice].outstanding_amount, entity.transactions[on_account].outstanding_amount) == (
        Decimal("58.00"),
        Decimal("-1.00"),
    )
    assert entity.next_credit_journal_number == 3 and entity.next_journal_number == 1
    with start_emulator(state_dir=tmp_path, fixture=fixture) as (url, _):
        client = _client(url)
        [found] = client.get_transactions_by_external_reference("FEES-2", types=(SALES_CREDIT_JOURNAL_TYPE,))
        assert (found.transaction_id, found.signed_outstanding_amount) == (on_account, Decimal("-1.00"))
        [allocation] = client.get_allocations_by_transaction_id(allocated)
        assert (allocation.other_transaction_id, allocation.amount) == (invoice, Decimal("2.27"))
        # The numbering goes on after the restart.
        third = client.post_sales_credit_journal_get_back_transaction_id(fees("FEES-3", "1.00"))
        assert client.get_transaction(third.transaction_id).internal_number == "SC000003"
        client.close()
