"""Dismissing an exception (handled outside the product: booked by hand, a test invoice) and bringing it back.

Both write two things, in this order: the audit row in the store (who, when, why: `store.dismissals`), then the
mark on the partition in the Dagster instance (`status.dismissal_observation`), which takes the document off the
exceptions list, shows in the partition's history, and keeps every automatic path from posting it. Doing it again
finishes what a crash between the two left undone, and adds no second audit row.

The command line (`aiq-pipeline exceptions dismiss` / `undismiss`) and the UI's jobs (`dismiss_exceptions`,
`undismiss_exceptions`) both come here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import dagster as dg

from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.status import DocumentException, dismissal_observation, document_exceptions
from aiq_pipeline.store import Store
from aiq_pipeline.store.dismissals import DismissalAction, DismissalEntry, DismissalLog

VIA_CLI = "cli"
VIA_UI = "ui"


class DismissRefused(ValueError):
    """Nothing was dismissed or undismissed; the message says why and what to do."""


@dataclass
class DismissResult:
    changed: list[str] = field(default_factory=list)  # dismissed (or undismissed) now
    unchanged: list[str] = field(default_factory=list)  # already so: nothing to do

    def render(self, verb: str) -> str:
        lines = []
        if self.changed:
            lines.append(f"{verb}: {' '.join(self.changed)}")
        if self.unchanged:
            lines.append(f"already {verb}: {' '.join(self.unchanged)}")
        return "\n".join(lines)


def _unique(keys: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(k.strip() for k in keys if k.strip()))


def _exceptions(
    instance: dg.DagsterInstance, assets: Sequence[DocumentAsset], *, dismissed: bool
) -> dict[str, tuple[DocumentAsset, DocumentException]]:
    return {e.key: (asset, e) for asset in assets for e in document_exceptions(instance, asset, dismissed=dismissed)}


def dismiss(
    instance: dg.DagsterInstance,
    store: Store,
    keys: Iterable[str],
    *,
    reason: str,
    by: str,
    via: str = VIA_CLI,
    assets: Sequence[DocumentAsset],
) -> DismissResult:
    """Take documents off the exceptions list for good (until undismissed). Only documents on the list (or already
    dismissed) can be dismissed; any other key refuses the whole request."""
    wanted, reason, by = _unique(keys), reason.strip(), by.strip()
    if not wanted:
        raise DismissRefused("name at least one document (its key, as `aiq-pipeline exceptions` lists it)")
    if not reason:
        raise DismissRefused("say why (--reason): the audit trail keeps it, e.g. 'booked by hand in AIQ'")
    if not by:
        raise DismissRefused("say who dismisses them (--by)")
    listed = _exceptions(instance, assets, dismissed=False)
    marked = _exceptions(instance, assets, dismissed=True)
    unknown = [k for k in wanted if k not in listed and k not in marked]
    if unknown:
        raise DismissRefused(
            f"not on the exceptions list, nothing dismissed: {' '.join(unknown)} "
            "(only a document that could not be posted can be dismissed; see `aiq-pipeline exceptions`)"
        )
    with store.session() as session:
        log = DismissalLog(session)
        in_store = {(d.scope, d.document_key) for d in log.current()}
        entries = []
        for key in wanted:
            asset, e = listed.get(key) or marked[key]
            if (asset.partitions_name, key) not in in_store:
                entries.append(_entry(asset.partitions_name, key, DismissalAction.DISMISSED, e, reason, by, via))
        log.record(entries)
    _mark(instance, listed, wanted, dismissed=True, by=by, reason=reason)
    return DismissResult(changed=[k for k in wanted if k in listed], unchanged=[k for k in wanted if k not in listed])


def undismiss(
    instance: dg.DagsterInstance,
    store: Store,
    keys: Iterable[str],
    *,
    by: str,
    reason: str | None = None,
    via: str = VIA_CLI,
    assets: Sequence[DocumentAsset],
) -> DismissResult:
    """Bring dismissed documents back onto the exceptions list (the audit trail keeps both rows). Any key that is
    not dismissed refuses the whole request."""
    wanted, by = _unique(keys), by.strip()
    if not wanted:
        raise DismissRefused("name at least one document (its key, as `aiq-pipeline exceptions --dismissed` lists it)")
    if not by:
        raise DismissRefused("say who brings them back (--by)")
    marked = _exceptions(instance, assets, dismissed=True)
    by_scope = {a.partitions_name: a for a in assets}
    with store.session() as session:
        log = DismissalLog(session)
        in_store = {d.document_key: d for d in log.current() if d.scope in by_scope}
        unknown = [k for k in wanted if k not in marked and k not in in_store]
        if unknown:
            raise DismissRefused(
                f"not dismissed, nothing undismissed: {' '.join(unknown)} (see `aiq-pipeline exceptions --dismissed`)"
            )
        why = (reason or "").strip() or None
        log.record(
            [
                _entry(in_store[k].scope, k, DismissalAction.UNDISMISSED, in_store[k], why, by, via)
                for k in wanted
                if k in in_store
            ]
        )
    _mark(instance, marked, wanted, dismissed=False, by=by, reason=reason)
    return DismissResult(changed=wanted)


class _Described(Protocol):
    """What the audit trail copies from the document: an exception, or its dismissal."""

    @property
    def kind(self) -> str | None: ...
    @property
    def number(self) -> str | None: ...
    @property
    def reason_code(self) -> str | None: ...


def _entry(
    scope: str, key: str, action: DismissalAction, of: _Described, reason: str | None, by: str, via: str
) -> DismissalEntry:
    return DismissalEntry(
        scope=scope,
        document_key=key,
        action=action,
        reason=reason,
        actor=by,
        via=via,
        kind=of.kind,
        number=of.number,
        reason_code=of.reason_code,
    )


def _mark(
    instance: dg.DagsterInstance,
    found: Mapping[str, tuple[DocumentAsset, DocumentException]],
    wanted: Iterable[str],
    *,
    dismissed: bool,
    by: str,
    reason: str | None,
) -> None:
    """Each document's partition history shows the change (only documents on the list they leave or join)."""
    for key in wanted:
        if key in found:
            asset, _ = found[key]
            instance.report_runless_asset_event(
                dismissal_observation(asset, key, dismissed=dismissed, by=by, reason=reason)
            )
