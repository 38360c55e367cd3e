from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from aiq_pipeline.bunny.models import CreditNote, InvoiceRef
from aiq_pipeline.defs.posting.run_requests import batches
from aiq_pipeline.service.discovery import (
    CreditCursor,
    Cursor,
    InvoicePartitions,
    discover_credit_notes,
    discover_released_invoices,
    is_valid_partition_key,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class FakeSource:
    def __init__(self, refs):
        self.refs = refs
        self.calls = []
        self.newest_known = []

    def iter_invoice_refs(self, entity_id, *, updated_since, states=None, newest_known=None):
        self.calls.append((entity_id, updated_since, frozenset(states or ())))
        self.newest_known.append(newest_known)
        return [r for r in self.refs if updated_since is None or r.updated_at >= updated_since]


def ref(i, minutes, state="NOT_DUE", issued=date(2026, 11, 1)):
    return InvoiceRef(id=str(i), state=state, updated_at=T0 + timedelta(minutes=minutes), issued_at=issued)


def discover(source, overlap=timedelta(minutes=5), **kw):
    """A look reading `overlap` behind its cursor's watermark, as a sweep does."""
    args = dict(entity_id="1", known_ids=(), cursor=Cursor(), limit=100)
    args.update(kw)
    watermark = args["cursor"].watermark
    return discover_released_invoices(source, since=watermark - overlap if watermark else None, **args)


def test_new_postable_invoices_are_found_in_update_order_and_drafts_ignored():
    source = FakeSource([ref(3, 2), ref(1, 1), ref(2, 3, state="DRAFT"), ref(4, 4, state="PAID")])
    found = discover(source)
    assert found.new_invoice_ids == ["1", "3", "4"]
    assert found.cursor.watermark == T0 + timedelta(minutes=4)
    assert "DRAFT" not in source.calls[0][2]


def test_cursor_window_overlaps_and_known_invoices_are_not_asked_twice():
    source = FakeSource([ref(1, 1), ref(2, 10)])
    first = discover(source)
    source.refs.append(ref(3, 8))  # updated while the first look was paging, behind the watermark
    second = discover(source, cursor=first.cursor, known_ids=first.new_invoice_ids)
    assert source.calls[1][1] == T0 + timedelta(minutes=5)  # watermark 10 minus 5 minutes overlap
    assert second.new_invoice_ids == ["3"]


def test_cursor_survives_serialisation():
    cursor = Cursor(watermark=T0)
    assert Cursor.parse(cursor.serialize()) == cursor
    assert Cursor.parse(Cursor(watermark=T0, resume=True).serialize()).resume
    assert Cursor.parse(None) == Cursor()


def test_cap_per_look_resumes_where_it_stopped():
    source = FakeSource([ref(i, i) for i in range(1, 8)])
    first = discover(source, limit=3)
    assert first.new_invoice_ids == ["1", "2", "3"] and first.more_pending
    second = discover(source, limit=3, cursor=first.cursor, known_ids=first.new_invoice_ids)
    assert second.new_invoice_ids == ["4", "5", "6"]
    third = discover(source, limit=3, cursor=second.cursor, known_ids=[*first.new_invoice_ids, *second.new_invoice_ids])
    # While a look stops at its cap, the next must read all of the watermark's moment, not stop where it is reached.
    assert (first.cursor.resume, second.cursor.resume, third.cursor.resume) == (True, True, False)
    discover(source, limit=3, cursor=third.cursor, known_ids=[str(i) for i in range(1, 8)])
    assert source.newest_known == [None, None, None, third.cursor.watermark]


def test_invoices_issued_before_start_date_are_never_picked_up():
    source = FakeSource([ref(1, 1, issued=date(2026, 5, 31)), ref(2, 2, issued=date(2026, 6, 1))])
    found = discover(source, start_date=date(2026, 6, 1))
    assert found.new_invoice_ids == ["2"]
    assert found.skipped_before_start == 1


def test_ids_that_cannot_be_partition_keys_are_reported_not_dropped_silently():
    source = FakeSource([ref("a,b", 1), ref("ok", 2)])
    found = discover(source)
    assert found.new_invoice_ids == ["ok"]
    assert found.rejected_keys == ["a,b"]
    assert not is_valid_partition_key("x...y") and not is_valid_partition_key("a\nb")


def test_batches_are_bounded():
    assert batches([str(i) for i in range(5)], 2) == [["0", "1"], ["2", "3"], ["4"]]


# -- credit notes and voids ------------------------------------------------------------------------------


def note(note_id, invoice_id, minutes, state="READY", issued=date(2026, 11, 1)):
    zero = Decimal("0.00")
    return CreditNote(
        id=str(note_id),
        number=f"CN-{note_id}",
        state=state,
        kind="REFUND",
        entity_id="1",
        account_id="9",
        credited_invoice_id=str(invoice_id),
        currency_code="EUR",
        issued_at=issued,
        subtotal=zero,
        tax_amount=zero,
        amount=zero,
        updated_at=T0 + timedelta(minutes=minutes),
        items=(),
    )


def partitions(known=(), posted=(), failed=()):
    return InvoicePartitions(frozenset(map(str, known)), frozenset(map(str, posted)), frozenset(map(str, failed)))


def test_a_credit_note_waits_in_the_cursor_while_its_invoice_is_being_posted_then_is_added():
    busy = partitions(known=[1, 2], posted=[2])
    first = discover_credit_notes(
        [note(10, 1, 1), note(11, 2, 2), note(12, 3, 3)], [], known_keys=(), invoices=busy, cursor=CreditCursor()
    )
    # 11's invoice is posted, 12's has no partition (it posts or waits visibly); 10's invoice is still in flight.
    assert first.new_keys == ["CN-11", "CN-12"]
    assert first.cursor.deferred_notes == {"10": "1"} and first.waiting == 1
    done = partitions(known=[1, 2], posted=[1, 2])
    later = discover_credit_notes([], [], known_keys=["CN-11", "CN-12"], invoices=done, cursor=first.cursor)
    assert later.new_keys == ["CN-10"] and later.waiting == 0


def test_drafts_and_notes_issued_before_the_start_date_are_left_alone():
    found = discover_credit_notes(
        [note(1, 5, 1, state="DRAFT"), note(2, 5, 2, issued=date(2026, 10, 31)), note(3, 5, 3)],
        [],
        known_keys=(),
        invoices=partitions(),
        cursor=CreditCursor(),
        start_date=date(2026, 11, 1),
    )
    assert found.new_keys == ["CN-3"]


def test_a_void_is_added_once_its_invoice_finished_posting_and_never_without_a_partition():
    voided = [ref(1, 1, state="VOIDED"), ref(2, 2, state="VOIDED"), ref(3, 3, state="VOIDED")]
    found = discover_credit_notes(
        [], voided, known_keys=(), invoices=partitions(known=[1, 2], posted=[1]), cursor=CreditCursor()
    )
    assert found.new_keys == ["VOID-1"]  # 2 is still posting; 3 was voided before the sync saw it
    assert found.cursor.deferred_voids == ["2"]
    assert CreditCursor.parse(found.cursor.serialize()) == found.cursor
