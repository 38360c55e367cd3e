"""The alert service against a real SMTP server and a real webhook receiver on 127.0.0.1, on DuckDB and PostgreSQL:
one message per batch with the content people need, nothing sent twice (a restart included), a channel that is
down retried later (and only that channel), cleared notes, and no secret anywhere."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from aiq_pipeline.service.alerts import (
    SETTLED_DISMISSED,
    SETTLED_POSTED,
    AlertContext,
    AlertService,
    FailingDocument,
    parse_channels,
)
from aiq_pipeline.store import Store
from aiq_pipeline.store.alerts import AlertLog, DeliveryState, DocumentRef, MessageKind
from aiq_pipeline_tests.alerts.receivers import SMTP_PASSWORD, WEBHOOK_TOKEN, SmtpServer, Webhook

CONTEXT = AlertContext(
    pair="default",
    aiq_entity="DEMO01",
    bunny_entity="1",
    where=("All failed invoices: http://dagster.example/assets/aiq/posted_invoices?view=partitions&status=FAILED",),
)


def doc(key: str, code: str, *, kind: str = "invoice", number: str | None = None, fix: str | None = None):
    return FailingDocument(
        ref=DocumentRef("bunny_invoices" if kind == "invoice" else "bunny_credit_notes", key),
        kind=kind,
        reason_code=code,
        reason=f"{key} failed because of {code}",
        fix=fix or f"fix {key} in AIQ",
        number=number,
        link=f"http://dagster.example/assets/aiq/posted_invoices?view=partitions&partition={key}",
    )


def service(store: Store, *urls: str) -> AlertService:
    channels, problems = parse_channels(" ".join(urls))
    assert not problems
    return AlertService(store, channels, CONTEXT)


def messages(store: Store) -> list:
    with store.session() as session:
        return AlertLog(session, CONTEXT.pair).messages()


def deliveries(store: Store) -> list:
    with store.session() as session:
        return AlertLog(session, CONTEXT.pair).deliveries()


BATCH = [
    doc("7", "CLOSED_PERIOD", number="INV-1007", fix="Open May 2026 in AIQ, then retry."),
    doc("8", "UNKNOWN_TAX_CODE", number="INV-1008"),
    doc("9", "UNKNOWN_TAX_CODE", number="INV-1009"),
    doc("10", "UNMAPPED_CHARGE"),
    doc("11", "UNKNOWN_TAX_CODE"),
    doc("12", "UNKNOWN_TAX_CODE"),
    doc("CN-3", "AIQ_VALIDATION", kind="credit_note"),
]


def test_one_digest_per_batch_with_what_people_need(store: Store, smtp: SmtpServer, hook: Webhook) -> None:
    report = service(store, smtp.url, hook.url).tick(BATCH, {})

    assert len(report.written) == 1 and len(report.sent) == 2 and not report.failed
    (mail,) = smtp.received
    (posted,) = hook.received
    assert (
        mail.subject
        == posted["title"]
        == "[aiq-pipeline] 7 new exception(s): pair default (Bunny entity 1 -> AIQ entity DEMO01)"
    )
    assert mail.recipients == ["finance@example.com"]
    text = mail.text.strip()
    assert text == posted["message"].strip()
    assert posted["path"] == f"/hooks/{WEBHOOK_TOKEN}"
    # How many, reason codes with their counts (most first), the first few documents with their fix, and a link.
    assert "7 document(s) could not be posted (pair default (Bunny entity 1 -> AIQ entity DEMO01))." in text
    assert "  UNKNOWN_TAX_CODE: 4\n  AIQ_VALIDATION: 1\n  CLOSED_PERIOD: 1\n  UNMAPPED_CHARGE: 1" in text
    assert "The first 5 of 7:" in text and "... and 2 more." in text
    assert (
        "- invoice 7 (INV-1007) [CLOSED_PERIOD] 7 failed because of CLOSED_PERIOD\n  Fix: Open May 2026 in AIQ" in text
    )
    assert "http://dagster.example/assets/aiq/posted_invoices?view=partitions&partition=7" in text
    assert "invoice 12" not in text and "CN-3" not in text  # beyond the first five
    assert "status=FAILED" in text and "aiq-pipeline retry --all" in text


def test_nothing_is_sent_twice_a_restart_included(store: Store, smtp: SmtpServer, hook: Webhook) -> None:
    first = service(store, smtp.url, hook.url)
    first.tick(BATCH[:3], {})
    assert first.tick(BATCH[:3], {}).written == []

    # A restart: a new service (as a new daemon process would build) on the same store says nothing new ...
    restarted = service(store, smtp.url, hook.url)
    assert restarted.tick(BATCH[:3], {}).written == []
    # ... and a document retried that fails again, even for another reason, is still the same exception.
    again = [doc("7", "TRANSIENT"), *BATCH[1:3]]
    assert restarted.tick(again, {}).written == []
    assert len(smtp.received) == len(hook.received) == 1

    # Only what is new makes the next message: one message for the next batch.
    restarted.tick(BATCH[:5], {})
    assert len(smtp.received) == len(hook.received) == 2
    assert smtp.received[1].subject.startswith("[aiq-pipeline] 2 new exception(s)")
    assert "invoice 10" in smtp.received[1].text and "invoice 7 " not in smtp.received[1].text


def test_a_channel_that_is_down_is_retried_later_alone(store: Store, smtp: SmtpServer, hook: Webhook, caplog) -> None:
    hook.answering = 503
    with caplog.at_level(logging.WARNING):
        report = service(store, smtp.url, hook.url).tick(BATCH[:2], {})
    assert len(report.sent) == 1 and len(report.failed) == 1
    assert len(smtp.received) == 1 and hook.received == []
    assert "not delivered to channel 2 (JSON)" in caplog.text
    (pending,) = [d for d in deliveries(store) if d.state == DeliveryState.PENDING]
    assert pending.attempts == 1 and pending.last_error

    hook.stop()  # down altogether now: connection refused
    report = service(store, smtp.url, hook.url).tick(BATCH[:2], {})
    assert report.written == [] and report.sent == [] and len(report.failed) == 1

    hook.answering = 200
    hook.start()
    report = service(store, smtp.url, hook.url).tick(BATCH[:2], {})
    assert report.written == [] and len(report.sent) == 1
    # The webhook gets the very message the mail got, once; the mail is not sent again.
    (posted,) = hook.received
    assert posted["title"] == smtp.received[0].subject and len(smtp.received) == 1
    assert {d.state for d in deliveries(store)} == {DeliveryState.SENT}
    assert service(store, smtp.url, hook.url).tick(BATCH[:2], {}).sent == []


def test_cleared_note_when_alerted_documents_are_posted_or_dismissed(store: Store, smtp: SmtpServer) -> None:
    alerts = service(store, smtp.url)
    alerts.tick(BATCH[:3], {})
    # 7 posted, 8 dismissed, 9 still failing: one short note for the two.
    ref = {d.ref.key: d.ref for d in BATCH}
    report = alerts.tick([BATCH[2]], {ref["7"]: SETTLED_POSTED, ref["8"]: SETTLED_DISMISSED})
    assert [m.kind for m in report.written] == [MessageKind.CLEARED]
    note = smtp.received[1]
    assert note.subject == "[aiq-pipeline] 2 exception(s) cleared: pair default (Bunny entity 1 -> AIQ entity DEMO01)"
    assert "- invoice 7 (INV-1007): posted" in note.text and "- invoice 8 (INV-1008): dismissed" in note.text
    assert alerts.tick([BATCH[2]], {ref["7"]: SETTLED_POSTED, ref["8"]: SETTLED_DISMISSED}).written == []
    # A cleared document that fails again later is a new exception.
    alerts.tick([BATCH[0], BATCH[2]], {})
    assert (
        smtp.received[2].subject.startswith("[aiq-pipeline] 1 new exception(s)")
        and "invoice 7" in smtp.received[2].text
    )
    assert len(smtp.received) == 3


def test_in_progress_documents_are_neither_new_nor_cleared(store: Store, smtp: SmtpServer) -> None:
    alerts = service(store, smtp.url)
    alerts.tick(BATCH[:2], {})
    # A retry in flight: 7 is neither failing nor settled for a moment. Nothing is said, and when it fails again
    # nothing new is said either.
    assert alerts.tick(BATCH[1:2], {}).written == []
    assert alerts.tick(BATCH[:2], {}).written == []
    assert len(smtp.received) == 1


def test_failures_that_heal_by_themselves_are_not_alerted(store: Store, smtp: SmtpServer) -> None:
    alerts = service(store, smtp.url)
    report = alerts.tick([doc("20", "INTERRUPTED"), doc("21", "BEING_POSTED")], {})
    assert report.written == [] and smtp.received == []
    alerts.tick([doc("20", "INTERRUPTED"), doc("22", "CLOSED_PERIOD")], {})
    (mail,) = smtp.received
    assert "1 new exception(s)" in mail.subject and "invoice 22" in mail.text and "invoice 20" not in mail.text


def test_a_batch_still_posting_is_held_then_sent_whole(store: Store, smtp: SmtpServer) -> None:
    alerts = service(store, smtp.url)
    now = datetime(2026, 6, 1, 12, 0)
    first = [FailingDocument(**{**doc("7", "CLOSED_PERIOD").__dict__, "last_attempt_at": now})]
    report = alerts.tick(first, {}, busy=True, now=now + timedelta(minutes=1))
    assert report.held == 1 and smtp.received == []
    second = [*first, FailingDocument(**{**doc("8", "CLOSED_PERIOD").__dict__, "last_attempt_at": now})]
    alerts.tick(second, {}, busy=False, now=now + timedelta(minutes=2))
    (mail,) = smtp.received
    assert "2 new exception(s)" in mail.subject
    # Held no longer than HOLD_AT_MOST while runs keep going.
    third = [*second, FailingDocument(**{**doc("9", "CLOSED_PERIOD").__dict__, "last_attempt_at": now})]
    assert alerts.tick(third, {}, busy=True, now=now + timedelta(minutes=11)).written


def test_no_channel_configured_records_nothing(store: Store, smtp: SmtpServer) -> None:
    report = AlertService(store, [], CONTEXT).tick(BATCH, {})
    assert report.written == [] and "AIQ_PIPELINE_ALERT_URLS" in report.summary()
    # Configured later: the whole list is told once.
    service(store, smtp.url).tick(BATCH, {})
    assert len(smtp.received) == 1 and "7 new exception(s)" in smtp.received[0].subject


def test_a_channel_removed_from_the_settings_is_not_waited_for(store: Store, smtp: SmtpServer, hook: Webhook) -> None:
    hook.answering = 503
    service(store, smtp.url, hook.url).tick(BATCH[:1], {})
    service(store, smtp.url).tick(BATCH[:1], {})
    assert {d.channel_name: d.state for d in deliveries(store)} == {
        "channel 1 (E-Mail)": DeliveryState.SENT,
        "channel 2 (JSON)": DeliveryState.DROPPED,
    }


def test_urls_apprise_does_not_know_are_named_by_position_only() -> None:
    channels, problems = parse_channels("nonsense://secret-token-123 json://127.0.0.1:9/x")
    assert [c.name for c in channels] == ["channel 2 (JSON)"]
    assert problems == ["alert channel 1 of AIQ_PIPELINE_ALERT_URLS is not a URL apprise knows"]
    assert "127.0.0.1" not in repr(channels[0])


def test_no_secret_reaches_the_store_logs_or_reports(store: Store, smtp: SmtpServer, hook: Webhook, caplog) -> None:
    hook.answering = 500
    with caplog.at_level(logging.DEBUG, logger="aiq_pipeline"):
        report = service(store, smtp.url, hook.url).tick(BATCH, {})
    hook.stop()
    report2 = service(store, smtp.url, hook.url).tick(BATCH, {})
    everything = " ".join(
        [
            caplog.text,
            repr(report),
            repr(report2),
            *(
                repr(row)
                for table in ("alert_messages", "alert_deliveries", "alerted_exceptions")
                for row in store.query(f"SELECT * FROM {table}")
            ),
        ]
    )
    assert report.failed and report2.failed
    for secret in (SMTP_PASSWORD, WEBHOOK_TOKEN, smtp.url, hook.url):
        assert secret not in everything


def test_a_pairs_digest_names_the_pair_in_its_command_lines() -> None:
    from dataclasses import replace

    from aiq_pipeline.service.alerts import digest

    _, text = digest(replace(CONTEXT, pair="trading"), BATCH)
    assert "pair trading" in text
    assert "`aiq-pipeline --pair trading exceptions` lists them" in text
    assert "`aiq-pipeline --pair trading retry --all`" in text
    _, default = digest(CONTEXT, BATCH)
    assert "`aiq-pipeline exceptions` lists them" in default and "--pair" not in default
