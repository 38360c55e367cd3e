"""Finding documents in AIQ by their reference: for a whole batch in one listing, or one by one.

A batch's documents are looked for together, once, before anything is planned: one GetTransactionsBy listing per
document type and cluster of dates (the dates they would carry in AIQ, a week either side), instead of one look-up
per document. Only references the journal has never tried to write are looked for that way: a document this
product wrote is in the journal, and one whose write is in doubt is looked for by its reference alone, over all
dates, until the deadline. So a document with one of our references that someone booked by hand on another date
would not be seen by the listing; the one-by-one look-up answers any reference the batch did not cover.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.models import TransactionSummary
from aiq_pipeline.sync.documents.plan import AiqTarget

MARGIN = timedelta(days=7)  # either side of a document's expected AIQ date
GAP = timedelta(days=14)  # dates further apart than this are listed separately (a listing returns every document)


class DuplicateInAiq(Exception):
    """AIQ holds more than one live document with one of our references: exactly once was broken somewhere (by
    hand, or by AIQ), and only a person can say which to keep."""

    def __init__(self, reference: str, found: list[TransactionSummary]) -> None:
        self.reference = reference
        self.transaction_ids = [t.transaction_id for t in found]
        super().__init__(f"AIQ holds {len(found)} documents with reference {reference}")


def one(reference: str, found: list[TransactionSummary]) -> TransactionSummary | None:
    """The one document AIQ holds under `reference` (None: none); more than one raises DuplicateInAiq."""
    if len(found) > 1:
        raise DuplicateInAiq(reference, found)
    return found[0] if found else None


@dataclass(frozen=True)
class Wanted:
    reference: str
    target: AiqTarget | str
    around: date  # the date the document would carry in AIQ


def live(found: Iterable[TransactionSummary]) -> list[TransactionSummary]:
    """AIQ's live (not reversed) documents, oldest first."""
    return sorted((t for t in found if not t.is_reversed), key=lambda t: t.transaction_id)


class Lookups:
    """One batch's look-ups: what a batch listing found (or did not find) is answered without another call."""

    def __init__(self, aiq: AccountsIQClient) -> None:
        self.aiq = aiq
        self._known: dict[tuple[str, str], list[TransactionSummary]] = {}

    def prefetch(self, wanted: Collection[Wanted]) -> None:
        """Look for all of `wanted` in one listing per document type (nothing is fetched for an empty list)."""
        by_type: dict[str, list[Wanted]] = {}
        for item in wanted:
            by_type.setdefault(str(item.target), []).append(item)
        for target, items in by_type.items():
            for cluster in _clusters(items):
                found = self.aiq.get_transactions_by_external_references(
                    [i.reference for i in cluster],
                    types=[target],
                    from_date=cluster[0].around - MARGIN,
                    to_date=cluster[-1].around + MARGIN,
                )
                for reference, rows in found.items():
                    self._known[(reference.rstrip().casefold(), target)] = live(rows)

    def find(self, reference: str, target: AiqTarget | str) -> list[TransactionSummary]:
        """AIQ's live documents of this type with exactly this reference: from the batch listing when it covered
        the reference, else by one look-up."""
        cached = self._known.get((reference.rstrip().casefold(), str(target)))
        if cached is not None:
            return cached
        return self.fresh(reference, target)

    def fresh(self, reference: str, target: AiqTarget | str) -> list[TransactionSummary]:
        """One look-up now, whatever the batch listing said (after a write, or while one is in doubt)."""
        found = live(self.aiq.get_transactions_by_external_reference(reference, types=[str(target)]))
        self._known.pop((reference.rstrip().casefold(), str(target)), None)
        return found

    def shows(self, reference: str, target: AiqTarget | str, transaction_id: int) -> bool:
        """Whether AIQ's reference look-up shows transaction `transaction_id` under `reference` now (one look-up, the
        one a write in doubt is looked for with; reversed or not: only whether the look-up has caught up is asked)."""
        found = self.aiq.get_transactions_by_external_reference(reference, types=[str(target)])
        return any(t.transaction_id == transaction_id for t in found)

    def forget(self, references: Iterable[str]) -> None:
        """What the batch listing said of these no longer holds (they were written since)."""
        for reference in references:
            key = reference.rstrip().casefold()
            for known in [k for k in self._known if k[0] == key]:
                del self._known[known]


def _clusters(items: list[Wanted]) -> list[list[Wanted]]:
    ordered = sorted(items, key=lambda i: i.around)
    clusters: list[list[Wanted]] = []
    for item in ordered:
        if clusters and item.around - clusters[-1][-1].around <= GAP:
            clusters[-1].append(item)
        else:
            clusters.append([item])
    return clusters


LAG_FACTOR = 3  # the deadline is three times the slowest look-up seen lately ...
DEADLINE_CEILING = timedelta(hours=1)  # ... within [the configured deadline, an hour]


def following_lag(configured: timedelta, lags: Iterable[Decimal]) -> timedelta:
    """How long to look for a document whose write is in doubt: the configured deadline, longer when AIQ's look-up
    has lately taken longer to show new documents (the 95th percentile of the measured lags, times three)."""
    ordered = sorted(float(lag) for lag in lags)
    if not ordered:
        return configured
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return min(max(configured, timedelta(seconds=LAG_FACTOR * p95)), max(configured, DEADLINE_CEILING))
