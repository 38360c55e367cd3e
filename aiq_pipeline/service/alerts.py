"""Alerts on new exceptions: one message per new batch, through apprise, never sent twice.

Every tick (the alerts sensor calls `AlertService.tick`) the service is told which documents are failing now and
which were posted or dismissed. It then:

1. **Digests what is new.** Failing documents that no earlier message named (and that are not about to heal on
   their own: a run that died, a document another run holds) become ONE message: which pair and entity, how many,
   the reason codes with their counts, the first few documents with their fix, and where to look. The message, a
   pending delivery per channel and the documents it names are written to the store together.
2. **Notes what cleared.** Documents named earlier and now posted or dismissed get one short "cleared" note. A
   document that is retried and fails again is still the same exception: nothing new is said about it.
3. **Delivers.** Every pending delivery goes to its channel. A channel that is down (or answers with an error) is
   logged and keeps its delivery pending, so a later tick sends the same message to it alone; the channels that
   took it are not sent it again. Nothing here ever raises into posting: the sensor only reads.

Sending happens outside any store session (a DuckDB file is not held while a channel times out). A process killed
between sending and recording sends that message again on the next tick: an alert may at worst repeat after a
crash, never be lost.

Channels are apprise URLs (e-mail, Slack, Microsoft Teams, webhooks ...), one setting, secret: a URL is never
logged, stored or shown; a channel is "channel 2 (JSON)" and a fingerprint of its URL in the store.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, unquote, urlsplit

from aiq_pipeline.service.outcome import Reason
from aiq_pipeline.settings import DEFAULT_PAIR_NAME
from aiq_pipeline.store.alerts import (
    AlertedDocument,
    AlertLog,
    ChannelRef,
    Delivery,
    DocumentRef,
    Message,
    MessageKind,
)
from aiq_pipeline.store.database import Store, utcnow

logger = logging.getLogger(__name__)

# Failures the product clears by itself (the sensors run these documents again): no one needs to hear about them.
SELF_HEALING = frozenset({str(Reason.INTERRUPTED), str(Reason.BEING_POSTED)})
FIRST_DOCUMENTS = 5
# While posting runs are in flight, new exceptions wait for the rest of their batch, but never longer than this.
HOLD_AT_MOST = timedelta(minutes=10)
SETTLED_POSTED = "posted"
SETTLED_DISMISSED = "dismissed"


@dataclass(frozen=True)
class FailingDocument:
    """A document on the exceptions list, as an alert shows it."""

    ref: DocumentRef
    kind: str
    reason_code: str
    reason: str
    fix: str | None = None
    number: str | None = None
    link: str | None = None  # where the UI shows it
    last_attempt_at: datetime | None = None  # naive UTC

    @property
    def alerted(self) -> AlertedDocument:
        return AlertedDocument(self.ref, self.kind, self.number, self.reason_code)


@dataclass(frozen=True)
class AlertContext:
    """Which pair the alerts are about, and where people look."""

    pair: str
    aiq_entity: str | None = None
    bunny_entity: str | None = None
    where: tuple[str, ...] = ()  # lines saying where the exceptions are shown (UI links, or how to get there)

    def describe(self) -> str:
        ends = []
        if self.bunny_entity:
            ends.append(f"Bunny entity {self.bunny_entity}")
        if self.aiq_entity:
            ends.append(f"AIQ entity {self.aiq_entity}")
        route = " -> ".join(ends)
        return f"pair {self.pair}" + (f" ({route})" if route else "")


# -- channels ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """One apprise URL. The URL is a secret: never in a repr, a log line or the store."""

    url: str = field(repr=False)
    name: str  # "channel 2 (JSON)"
    fingerprint: str

    @property
    def ref(self) -> ChannelRef:
        return ChannelRef(self.fingerprint, self.name)


def fingerprint(url: str) -> str:
    return hashlib.sha256(f"aiq-pipeline alert channel\0{url}".encode()).hexdigest()[:16]


def parse_channels(urls: str | None) -> tuple[list[Channel], list[str]]:
    """The channels of AIQ_PIPELINE_ALERT_URLS (apprise URLs separated by spaces or commas), and a problem line for
    each URL apprise does not know (named by its position only)."""
    if not urls or not urls.strip():
        return [], []
    import apprise
    from apprise.utils.parse import parse_urls

    channels: list[Channel] = []
    problems: list[str] = []
    # apprise's own splitting: a comma inside a URL's query (mailto://...?to=a@x,b@y) stays in that URL
    found: list[str] = parse_urls(urls)  # type: ignore[no-untyped-call]  # apprise's parse helpers are untyped
    for number, url in enumerate(found, start=1):
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            problems.append(f"alert channel {number} of AIQ_PIPELINE_ALERT_URLS is not a URL apprise knows")
            continue
        service = str(getattr(plugin, "service_name", None) or type(plugin).__name__)
        channels.append(Channel(url=url, name=f"channel {number} ({service})", fingerprint=fingerprint(url)))
    return channels, problems


def _secrets_of(url: str) -> list[str]:
    """The parts of a URL that may be secret (password, user, path segments, query values), longest first."""
    parts = urlsplit(url)
    found = [parts.password or "", parts.username or "", *parts.path.split("/")]
    found += [value for _, value in parse_qsl(parts.query)]
    if parts.hostname and "." not in parts.hostname:  # slack://TokenA/... keeps a token where a host would be
        found.append(parts.hostname)
    texts = {t for raw in found for t in (raw, unquote(raw)) if len(t) >= 4}
    return sorted(texts, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    for secret in [url, *_secrets_of(url)]:
        text = text.replace(secret, "***")
    return text


def send(channel: Channel, title: str, body: str, *, cleared: bool = False) -> str | None:
    """Send one message to one channel: None when it took it, else why not (secrets removed)."""
    import apprise

    app = apprise.Apprise()
    if not app.add(channel.url):
        return "not a URL apprise knows"
    try:
        capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
        with capture as captured:
            ok = app.notify(
                title=title,
                body=body,
                body_format=apprise.NotifyFormat.TEXT,
                notify_type=apprise.NotifyType.SUCCESS if cleared else apprise.NotifyType.WARNING,
            )
            said = captured.getvalue()
    except Exception as exc:  # a channel's failure must never reach posting
        return scrub(f"{type(exc).__name__}: {exc}", channel.url)
    if ok:
        return None
    said = " ".join(line.strip() for line in str(said).splitlines() if line.strip())
    return scrub(said, channel.url) or "the channel did not take the message"


# -- messages ----------------------------------------------------------------------------------------


def _label(kind: str | None, key: str, number: str | None) -> str:
    noun = (kind or "document").replace("_", " ")
    return f"{noun} {key}" + (f" ({number})" if number and number != key else "")


def digest(
    context: AlertContext, documents: Sequence[FailingDocument], first: int = FIRST_DOCUMENTS
) -> tuple[str, str]:
    """The title and text of one message about new exceptions."""
    count = len(documents)
    title = f"[aiq-pipeline] {count} new exception(s): {context.describe()}"
    lines = [f"{count} document(s) could not be posted ({context.describe()}).", "", "By reason:"]
    for code, n in sorted(Counter(d.reason_code for d in documents).items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {code}: {n}")
    shown = documents[:first]
    lines += ["", f"The first {len(shown)} of {count}:" if len(shown) < count else "The documents:"]
    for d in shown:
        lines.append(f"- {_label(d.kind, d.ref.key, d.number)} [{d.reason_code}] {d.reason}")
        if d.fix:
            lines.append(f"  Fix: {d.fix}")
        if d.link:
            lines.append(f"  {d.link}")
    if count > len(shown):
        lines.append(f"... and {count - len(shown)} more.")
    lines += ["", *context.where]
    cli = "aiq-pipeline" if context.pair == DEFAULT_PAIR_NAME else f"aiq-pipeline --pair {context.pair}"
    lines += [
        f"On the command line: `{cli} exceptions` lists them; once fixed, `{cli} retry --all` posts them; "
        f"`{cli} exceptions dismiss KEY --reason ...` for one handled outside.",
    ]
    return title, "\n".join(lines)


def cleared_note(context: AlertContext, cleared: Sequence[tuple[AlertedDocument, str]]) -> tuple[str, str]:
    """The title and text of a short note that exceptions named earlier are gone (posted or dismissed)."""
    count = len(cleared)
    title = f"[aiq-pipeline] {count} exception(s) cleared: {context.describe()}"
    lines = [f"{count} exception(s) reported earlier are cleared ({context.describe()}):"]
    for doc, how in cleared[: FIRST_DOCUMENTS * 4]:
        lines.append(f"- {_label(doc.kind, doc.ref.key, doc.number)}: {how}")
    if count > FIRST_DOCUMENTS * 4:
        lines.append(f"... and {count - FIRST_DOCUMENTS * 4} more.")
    return title, "\n".join(lines)


# -- the service -------------------------------------------------------------------------------------


@dataclass
class AlertReport:
    """What one tick did (for the sensor's log line and its tests)."""

    written: list[Message] = field(default_factory=list)
    sent: list[tuple[str, str]] = field(default_factory=list)  # (message id, channel name)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (message id, channel name, why)
    held: int = 0  # new exceptions waiting for their batch to finish
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.written)} alert(s) written", f"{len(self.sent)} delivered"]
        if self.failed:
            parts.append(f"{len(self.failed)} delivery(ies) failed, tried again next tick")
        if self.held:
            parts.append(f"{self.held} new exception(s) held while posting runs are in flight")
        return "; ".join(parts + self.problems)


class AlertService:
    """The alerts of one pair, on the project's store."""

    def __init__(
        self, store: Store, channels: Sequence[Channel], context: AlertContext, *, notify_cleared: bool = True
    ) -> None:
        self.store = store
        self.channels = list(channels)
        self.context = context
        self.notify_cleared = notify_cleared

    def tick(
        self,
        failing: Sequence[FailingDocument],
        settled: Mapping[DocumentRef, str],
        *,
        busy: bool = False,
        now: datetime | None = None,
    ) -> AlertReport:
        """`failing`: the exceptions list now; `settled`: documents posted or dismissed (ref -> "posted" or
        "dismissed"); `busy`: posting runs are in flight (a batch may still be failing documents)."""
        report = AlertReport()
        if not self.channels:
            report.problems.append("no alert channel is configured (AIQ_PIPELINE_ALERT_URLS)")
            return report
        with self.store.session() as session:
            log = AlertLog(session, self.context.pair)
            self._write(log, failing, settled, busy, now or utcnow(), report)
            pending = log.pending()
        results = self._deliver(pending, report)
        if results:
            with self.store.session() as session:
                log = AlertLog(session, self.context.pair)
                for delivery, channel_known, error in results:
                    if not channel_known:
                        log.mark_dropped(delivery)
                    elif error is None:
                        log.mark_sent(delivery)
                    else:
                        log.mark_failed(delivery, error)
        return report

    def _write(
        self,
        log: AlertLog,
        failing: Sequence[FailingDocument],
        settled: Mapping[DocumentRef, str],
        busy: bool,
        now: datetime,
        report: AlertReport,
    ) -> None:
        open_alerts = log.open_alerts()
        new = [d for d in failing if d.ref not in open_alerts and d.reason_code not in SELF_HEALING]
        if new and busy and not _waited_too_long(new, now):
            report.held = len(new)
        elif new:
            title, body = digest(self.context, new)
            refs = [c.ref for c in self.channels]
            report.written.append(log.write(MessageKind.EXCEPTIONS, title, body, refs, covers=[d.alerted for d in new]))
        cleared = [(alert.document, settled[ref]) for ref, alert in open_alerts.items() if ref in settled]
        if cleared:
            title, body = cleared_note(self.context, cleared)
            refs = [c.ref for c in self.channels] if self.notify_cleared else []
            clears = [(doc.ref, how) for doc, how in cleared]
            report.written.append(log.write(MessageKind.CLEARED, title, body, refs, clears=clears))

    def _deliver(self, pending: Sequence[Delivery], report: AlertReport) -> list[tuple[Delivery, bool, str | None]]:
        """Each pending delivery sent: (delivery, whether its channel is still configured, why it failed or None)."""
        by_fingerprint = {c.fingerprint: c for c in self.channels}
        results: list[tuple[Delivery, bool, str | None]] = []
        down: dict[str, str] = {}  # a channel that failed once this tick is not tried again until the next
        for delivery in pending:
            message = delivery.message
            channel = by_fingerprint.get(delivery.channel)
            if channel is None:  # removed from the settings since the message was written
                results.append((delivery, False, None))
                continue
            error = down.get(channel.fingerprint) or send(
                channel, message.title, message.body, cleared=message.kind == MessageKind.CLEARED
            )
            if error is None:
                report.sent.append((message.message_id, channel.name))
            else:
                down[channel.fingerprint] = error
                report.failed.append((message.message_id, channel.name, error))
                logger.warning(
                    "alert %s not delivered to %s (tried again next tick): %s", message.message_id, channel.name, error
                )
            results.append((delivery, True, error))
        return results


def _waited_too_long(new: Sequence[FailingDocument], now: datetime) -> bool:
    times = [d.last_attempt_at for d in new if d.last_attempt_at is not None]
    return not times or now - min(times) >= HOLD_AT_MOST
