"""A dry run: what posting would do for a set of documents, planned by the posting service's own planners (its
`preview_many`), with nothing written to AIQ, the posting journal or anything else in the store.

- **Read-only.** The journal a dry run reads through sits on a session that answers SELECTs and refuses every other
  statement (`DryRunWrite`): a path that would write fails loudly instead of writing.
- **In batches, in posting order.** Documents are planned a batch at a time (the posting batch size), invoices
  first, then credit notes and voids, then payments: the order the sync posts them in. Each batch gets a fresh
  posting service, as each posting run does, so memory stays bounded by the batch.
- **What earlier batches would post.** A credit note, void or payment of an invoice this dry run would post first is
  planned as if that invoice were posted, exactly as planned (its lines, customer and rate, which is what the journal
  would then hold): that is what the sync does, posting invoices before the documents that depend on them. Each
  such document names the invoices it assumes (`Planned.assumes`). An invoice AIQ does not hold and this dry run
  does not post leaves its credit notes and payments waiting (INVOICE_NOT_POSTED), as posting would.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.service.aiq_documents import planned_write
from aiq_pipeline.service.kinds import KINDS
from aiq_pipeline.service.outcome import Outcome, Reason, Status
from aiq_pipeline.service.posting import PostingOptions, PostingService, Preview
from aiq_pipeline.store.database import Session, utcnow
from aiq_pipeline.store.journal import JournalEntry, PlannedWrite, PostingJournal, WriteState
from aiq_pipeline.sync.documents.context import PostingSettings
from aiq_pipeline.sync.identity import parse_key
from aiq_pipeline.sync.problems import ProblemCode

DRY_RUN_OWNER = "dry-run"  # the posting service's owner: it never claims or writes anything under it
PLANNED_NOT_POSTED = 0  # the AIQ id of a document this dry run would post first: not an AIQ id (AIQ's start at 1)

Dismissed = Callable[[Sequence[str]], Collection[str]]


class DryRunWrite(RuntimeError):
    """A dry run reached a statement that would change the store: refused, never run."""


class ReadOnlySession(Session):
    """A store session that answers SELECTs over `inner` and refuses everything else."""

    def __init__(self, inner: Session) -> None:
        super().__init__(None, is_postgres=inner.is_postgres)
        self._inner = inner

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if not sql.lstrip().upper().startswith("SELECT") or " FOR UPDATE" in sql.upper():
            raise DryRunWrite(f"a dry run writes nothing, and refused: {sql.split()[0]} ...")
        return self._inner.query(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        raise DryRunWrite("a dry run writes nothing, and refused a transaction on the store")
        yield  # pragma: no cover  (never reached: makes this a generator, as the base's)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise DryRunWrite(f"a dry run writes nothing, and refused: {sql.split()[0]} ...")

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise DryRunWrite(f"a dry run writes nothing, and refused: {sql.split()[0]} ...")

    def close(self) -> None:  # the inner session belongs to whoever opened it
        return None


class DryRunJournal(PostingJournal):
    """The posting journal as it stands (read-only), plus what this dry run would post before the documents that
    depend on it: `entry()` answers those as the journal would once they were posted."""

    def __init__(self, session: Session, entity_id: str) -> None:
        super().__init__(ReadOnlySession(session), entity_id)
        self._planned: dict[str, JournalEntry] = {}

    def entry(self, reference: str) -> JournalEntry | None:
        planned = self._planned.get(reference)
        return planned if planned is not None else super().entry(reference)

    def entries_by_reference(self, references: Sequence[str]) -> dict[str, JournalEntry]:
        planned = {r: self._planned[r] for r in references if r in self._planned}
        return super().entries_by_reference([r for r in references if r not in planned]) | planned

    def is_planned(self, reference: str) -> bool:
        """True when `reference` is a document this dry run would post first (not one AIQ holds)."""
        return reference in self._planned

    def plan(self, preview: Preview, wanted: Container[str] | None = None) -> None:
        """Keep what `preview` would post (the documents AIQ does not hold yet) as posted, for the documents planned
        after it; only the references in `wanted` (None: all)."""
        if preview.outcome.status != Status.POSTED or preview.plan is None:
            return
        for doc in preview.plan.documents:
            if doc.reference in preview.already_in_aiq or (wanted is not None and doc.reference not in wanted):
                continue
            write = planned_write(doc, claim_key=preview.outcome.key, kind=preview.outcome.kind)
            self._planned[doc.reference] = _as_posted(write)


def _as_posted(write: PlannedWrite) -> JournalEntry:
    return JournalEntry(
        reference=write.reference,
        claim_key=write.claim_key,
        kind=write.kind,
        target=write.target,
        state=WriteState.POSTED,
        aiq_id=PLANNED_NOT_POSTED,
        found_by=None,
        attempts=0,
        sent_at=None,
        sent_by=None,
        recorded_at=None,
        lookup_lag_seconds=None,
        currency=write.currency,
        net=write.net,
        tax=write.tax,
        gross=write.gross,
        sent_summary=write.summary,
        document=write.document,
        last_error=None,
        updated_at=utcnow(),
    )


@dataclass(frozen=True)
class Planned:
    """One document of a dry run: its preview, whether a person dismissed it (then nothing posts it), and the
    invoices it was planned against that this dry run would post first."""

    key: str
    preview: Preview
    dismissed: bool = False
    assumes: tuple[str, ...] = ()  # AIQ references of invoices planned as posted (not in AIQ yet)
    customer_created_by: str | None = None  # the document planned earlier whose posting would create its customer


def bad_key(key: str, kinds: Iterable[str] = KINDS) -> Preview:
    return Preview(
        Outcome(
            key,
            "unknown",
            Status.FAILED,
            reason_code=Reason.BAD_KEY,
            reason=f"{key!r} is not a document key (kinds: {', '.join(kinds)}).",
            fix="Name an invoice by its Bunny id, a credit note CN-<id>, a void VOID-<invoice id>, a payment "
            "PAY-<id>, account credit CREDIT-<invoice id>.",
        )
    )


def refused(key: str, error: Exception) -> Preview:
    """What every document comes to when the tax mapping file is wrong (posting refuses them all the same way)."""
    kind = _kind(key) or "unknown"
    return Preview(
        Outcome(
            key,
            kind,
            Status.FAILED,
            reason_code=str(ProblemCode.TAX_MAPPING_INVALID),
            reason=str(error),
            fix="Correct the tax mapping file (AIQ_PIPELINE_TAX_MAPPING), then retry.",
        )
    )


def _kind(key: str) -> str | None:
    try:
        return parse_key(key)[0]
    except ValueError:
        return None


class DryRun:
    """Plans documents as posting would, a batch at a time, in posting order, writing nothing."""

    def __init__(
        self,
        aiq: AccountsIQClient,
        bunny: BunnyClient,
        journal: DryRunJournal,
        *,
        settings: PostingSettings | Exception,  # the planners' settings, or why they could not be read
        groups: Sequence[tuple[str, ...]],  # the kinds of each document asset, in posting order
        batch_size: int,
        options: PostingOptions | None = None,
        customer_rules: Sequence[str] = (),
        dismissed: Dismissed | None = None,
    ) -> None:
        self.aiq, self.bunny, self.journal = aiq, bunny, journal
        self.settings, self.groups, self.batch_size = settings, groups, batch_size
        self.options, self.customer_rules = options or PostingOptions(), customer_rules
        self.dismissed = dismissed
        self._creating: dict[str, str] = {}  # AIQ customer code -> the key planned first that would create it

    def plan(self, keys: Iterable[str], *, wanted: Container[str] | None = None) -> Iterator[Planned]:
        """Each key planned, group by group in posting order and a batch at a time within a group (not in the order
        given). `wanted`: the references later documents depend on, kept as posted once planned (None: all)."""
        keys = list(dict.fromkeys(keys))
        for key in keys:
            if self._group(key) is None:
                yield Planned(key, bad_key(key))
        for group in self.groups:
            mine = [k for k in keys if self._group(k) == group]
            for start in range(0, len(mine), self.batch_size):
                yield from self._batch(group, mine[start : start + self.batch_size], wanted)

    def _group(self, key: str) -> tuple[str, ...] | None:
        kind = _kind(key)
        return next((g for g in self.groups if kind in g), None)

    def _batch(self, group: tuple[str, ...], batch: list[str], wanted: Container[str] | None) -> Iterator[Planned]:
        left = set(self.dismissed(batch)) if self.dismissed else set()
        previews = self._previews(group, batch)
        for key, preview in zip(batch, previews, strict=True):
            assumes = tuple(r for r in _depends_on(preview) if self.journal.is_planned(r))
            creates = preview.plan.customer_code if preview.plan is not None and preview.customer == "create" else None
            by = self._creating.get(creates) if creates else None
            dismissed = key in left
            if not dismissed and preview.outcome.status == Status.POSTED:  # a dismissed one is never posted
                self.journal.plan(preview, wanted)
                if creates:  # posting creates it once, for the first document; the next ones find it
                    self._creating.setdefault(creates, key)
            yield Planned(key, preview, dismissed=dismissed, assumes=assumes, customer_created_by=by)

    def _previews(self, group: tuple[str, ...], batch: list[str]) -> list[Preview]:
        if isinstance(self.settings, Exception):
            return [refused(key, self.settings) for key in batch]
        service = PostingService(
            self.aiq,
            self.bunny,
            self.journal,
            settings=self.settings,
            owner=DRY_RUN_OWNER,
            kinds={name: KINDS[name] for name in group},
            options=self.options,
            customer_rules=self.customer_rules,
        )
        return service.preview_many(batch)


def _depends_on(preview: Preview) -> list[str]:
    """The AIQ documents outside its own plan that the preview's allocations settle against."""
    if preview.plan is None:
        return []
    own = {doc.reference for doc in preview.plan.documents}
    return list(dict.fromkeys(a.target for a in preview.plan.allocations if a.target not in own))
