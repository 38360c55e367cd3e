"""The audit log read from the store, on DuckDB and PostgreSQL: one entry per document with its AIQ ids, references,
when it was posted and by which run, its outcome and reason, money exact; filtered by AIQ entity, day and document."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from aiq_pipeline.service.audit_log import (
    AuditQuery,
    UnknownBunnyEntity,
    aiq_entities_of,
    audit_counts,
    audit_log,
    latest_writes,
)
from aiq_pipeline.settings import AiqConnection, BunnyConnection, PairSettings
from aiq_pipeline.store import Store
from aiq_pipeline.store.journal import FoundBy, OutcomeRecord, PlannedWrite
from aiq_pipeline_tests.audit_log.conftest import BIG, Writer, history


def read(store: Store, **query: object) -> list:
    with store.session() as session:
        return audit_log(session, AuditQuery(**query))  # type: ignore[arg-type]


def keys(store: Store, **query: object) -> list[str]:
    return [e.key for e in read(store, **query)]


def test_each_document_with_its_aiq_ids_references_run_and_outcome(writer: Writer) -> None:
    refs = history(writer)
    entries = {(e.entity_id, e.key): e for e in read(writer.store)}
    # Oldest first; invoice 8 stays where it was posted, though a later run looked at it again.
    assert [(e.entity_id, e.key) for e in read(writer.store)] == [
        ("DEMO01", "8"),
        ("DEMO01", "CUSTOMER:C001"),
        ("DEMO01", "CN-3"),
        ("OTHER", "8"),
        ("DEMO01", "9"),
    ]
    eight = entries[("DEMO01", "8")]
    assert (eight.kind, eight.bunny_id, eight.number, eight.outcome) == ("invoice", "8", "INV-1007", "already_posted")
    assert eight.aiq_transaction_ids == (501,) and eight.references == (refs["8"],)
    assert eight.posted_at == datetime(2026, 1, 5, 9, 0) == eight.at  # when AIQ's id was recorded, not re-checked
    assert (eight.posted_by, eight.run_id) == ("run-a", "run-d")  # who wrote it; who looked last
    assert eight.gross == BIG and isinstance(eight.gross, Decimal)
    assert eight.as_json()["gross"] == "1234567890123456.78" and eight.as_json()["posted_at"] == "2026-01-05T09:00:00Z"

    credit = entries[("DEMO01", "CN-3")]
    assert credit.references == (refs["CN-3"], "ALLOC-CN-3-8")  # the allocation written for it too
    assert credit.aiq_transaction_ids == (502,)  # an allocation is no AIQ transaction
    assert [(w.target, w.state) for w in credit.writes] == [("SN", "posted"), ("ALLOCATION", "posted")]

    nine = entries[("DEMO01", "9")]  # refused once, then posted by another run: the journal row says so
    assert (nine.outcome, nine.posted_by, nine.aiq_transaction_id, nine.attempts) == ("posted", "run-c", 503, 2)
    (write,) = nine.writes
    assert (write.attempts, write.sent_by, write.last_error) == (2, "run-c", None)

    customer = entries[("DEMO01", "CUSTOMER:C001")]  # a write of no document: listed, with no outcome
    assert (customer.kind, customer.outcome, customer.references) == ("customer", None, ("CUSTOMER:C001",))
    assert customer.aiq_transaction_ids == () and customer.writes[0].aiq_id == 77


def test_a_failed_document_says_why(writer: Writer) -> None:
    writer.write("DEMO01", "9", "BUNNY-9", run="run-b", aiq_id=None, error="AIQ refused: period closed")
    writer.outcome(
        "DEMO01",
        OutcomeRecord("9", "invoice", "failed", source_id="9", number="INV-1008", reason_code="CLOSED_PERIOD",
                      reason="The period is closed.", fix="Open it.", run_id="run-b"),
    )  # fmt: skip
    (entry,) = read(writer.store)
    assert (entry.outcome, entry.reason_code, entry.reason, entry.fix) == (
        "failed",
        "CLOSED_PERIOD",
        "The period is closed.",
        "Open it.",
    )
    assert (entry.posted_at, entry.posted_by, entry.run_id, entry.aiq_transaction_ids) == (None, None, "run-b", ())
    assert entry.references == ("BUNNY-9",) and entry.writes[0].state == "rejected"
    assert entry.writes[0].last_error == "AIQ refused: period closed"


def test_filter_by_aiq_entity(writer: Writer) -> None:
    history(writer)
    assert keys(writer.store, entities=("OTHER",)) == ["8"]
    assert {e.entity_id for e in read(writer.store, entities=("DEMO01",))} == {"DEMO01"}
    assert len(read(writer.store, entities=("DEMO01", "OTHER"))) == 5
    assert read(writer.store, entities=("NOPE",)) == []


def test_filter_by_days_of_any_activity_inclusive(writer: Writer) -> None:
    history(writer)
    demo = ("DEMO01",)
    assert keys(writer.store, entities=demo, since=date(2026, 1, 5), until=date(2026, 1, 5)) == ["8", "CUSTOMER:C001"]
    # Invoice 9 was attempted on the 9th (refused) and posted on the 12th: both days find it.
    assert keys(writer.store, entities=demo, since=date(2026, 1, 9), until=date(2026, 1, 9)) == ["CN-3", "9"]
    assert keys(writer.store, entities=demo, since=date(2026, 1, 12), until=date(2026, 1, 31)) == ["9"]
    # Re-checked on 1 February: found for that day, listed at the moment it was posted.
    (eight,) = read(writer.store, entities=demo, since=date(2026, 2, 1))
    assert (eight.key, eight.at) == ("8", datetime(2026, 1, 5, 9, 0))
    assert keys(writer.store, entities=demo, until=date(2026, 1, 4)) == []
    with pytest.raises(ValueError, match="ends"):
        AuditQuery(since=date(2026, 1, 2), until=date(2026, 1, 1))


def test_filter_by_document_key_bunny_id_number_or_aiq_reference(writer: Writer) -> None:
    history(writer)
    demo = ("DEMO01",)
    assert keys(writer.store, entities=demo, documents=("CN-3",)) == ["CN-3"]  # partition key
    assert keys(writer.store, entities=demo, documents=("3",)) == ["CN-3"]  # Bunny id
    assert keys(writer.store, entities=demo, documents=("inv-1008",)) == ["9"]  # number, any case
    assert keys(writer.store, entities=demo, documents=("ALLOC-CN-3-8",)) == ["CN-3"]  # a reference written for it
    assert keys(writer.store, entities=demo, documents=("BUNNY-9", "INV-1007")) == ["8", "9"]
    assert keys(writer.store, entities=demo, documents=("customer:c001",)) == ["CUSTOMER:C001"]
    assert [(e.entity_id, e.key) for e in read(writer.store, documents=("INV-1007",))] == [
        ("DEMO01", "8"),
        ("OTHER", "8"),
    ]
    both = read(writer.store, entities=demo, documents=("INV-1008",), since=date(2026, 1, 5), until=date(2026, 1, 5))
    assert both == []  # every filter holds: invoice 9 had nothing on the 5th
    assert keys(writer.store, documents=("INV-9999",)) == []


def test_latest_keeps_the_newest_documents_oldest_first(writer: Writer) -> None:
    history(writer)
    assert keys(writer.store, entities=("DEMO01",), latest=2) == ["CN-3", "9"]
    assert [e.entity_id for e in read(writer.store, latest=2)] == ["OTHER", "DEMO01"]
    with pytest.raises(ValueError, match="at least 1"):
        AuditQuery(latest=0)


def test_counts_per_outcome_and_per_write_state(writer: Writer) -> None:
    history(writer)
    writer.clock.at(datetime(2026, 2, 2, 0, 0))
    writer.write("DEMO01", "10", "BUNNY-10", run="run-e", aiq_id=None)  # sent, no answer yet
    with writer.store.session() as session:
        counts = audit_counts(session, ["DEMO01"])
        everything = audit_counts(session)
        newest = latest_writes(session, ["DEMO01"], limit=2)
    assert counts.by_outcome == {"already_posted": 1, "posted": 2} and counts.documents == 3
    assert counts.by_state == {"posted": 5, "sending": 1} and counts.writes == 6
    assert everything.documents == 4 and everything.writes == 7
    assert [r["reference"] for r in newest] == ["BUNNY-10", "BUNNY-9"]


def test_a_document_found_by_looking_names_no_sender(writer: Writer) -> None:
    # AIQ held it before the journal did (found by its reference, nothing sent): posted, but by no run of ours.
    with writer.store.session() as session:
        writer.journal(session, "DEMO01").record_posted(
            PlannedWrite("BUNNY-8", "8", "invoice", "SI"), 501, found_by=FoundBy.LOOKUP
        )
    writer.outcome(
        "DEMO01",
        OutcomeRecord("8", "invoice", "already_posted", source_id="8", external_reference="BUNNY-8",
                      aiq_transaction_id=501, posted_at=writer.clock(), run_id="run-a"),
    )  # fmt: skip
    (entry,) = read(writer.store)
    assert (entry.outcome, entry.posted_by, entry.run_id, entry.writes[0].found_by) == (
        "already_posted",
        None,
        "run-a",
        "lookup",
    )
    assert entry.aiq_transaction_ids == (501,)


def _pair(name: str, aiq: str, bunny: str) -> PairSettings:
    return PairSettings(
        name=name,
        aiq=AiqConnection(base_url="http://aiq", entity_id=aiq, client_id="c", client_secret="s", default_tax_code="V"),
        bunny=BunnyConnection(base_url="http://bunny", client_id="c", client_secret="s", entity_id=bunny),
    )


def test_a_bunny_entity_names_its_pairs_aiq_entity() -> None:
    pairs = [_pair("uk", "DEMO01", "1"), _pair("ie", "DEMO02", "2")]
    assert aiq_entities_of(pairs, ["2"]) == ("DEMO02",)
    assert aiq_entities_of(pairs, ["1", "2", "1"]) == ("DEMO01", "DEMO02")
    with pytest.raises(UnknownBunnyEntity, match=r"Bunny entity 3: the pairs sync 1 \(AIQ DEMO01\), 2 \(AIQ DEMO02\)"):
        aiq_entities_of(pairs, ["3"])
    with pytest.raises(UnknownBunnyEntity, match="set BUNNY_ENTITY_ID and AIQ_ENTITY_ID"):
        aiq_entities_of([PairSettings()], ["1"])
