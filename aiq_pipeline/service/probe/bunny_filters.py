"""Which of the client's `filter:` strings the tenant accepts, tried with harmless reads (one page of invoice refs).

The client (aiq_pipeline/bunny/client.py) sends, most selective first, `entityId = '…' and updatedAt is on or after
'…' and state in […]`, then fewer clauses, then no filter; and `id in […]` for reads in bulk, else one by one. A
refused filter only costs time (the client falls back and filters the rest itself). A filter that is accepted but
*misses* invoices it should select is the danger: the client trusts it, and those invoices would never be seen.

Each form is tried once, with values taken from the invoices just read, so the answer can be checked: the entity's
filter must find some, `id in [a, b]` exactly those two, the date and state filters the newest invoice's kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from aiq_pipeline.bunny import BunnyClient, filters
from aiq_pipeline.bunny.filter_trial import invoice_refs_under
from aiq_pipeline.bunny.models import POSTABLE_INVOICE_STATES, Invoice, InvoiceRef
from aiq_pipeline.service.probe.findings import Finding, Verdict

READING = "Bunny filter grammar"
SETTING = "none: the client tries these filters and falls back to simpler ones"
DOCUMENTED, SINGLE_EQUALS, NO_FILTERS, PARTIAL = "documented", "single_equals", "no filters", "partial"
ENTITY, STATE, UPDATED, IDS, ALL_OF = "entityId =", "state in", "updatedAt is on or after", "id in", "and"


@dataclass(frozen=True)
class Trial:
    form: str
    text: str
    keeps: Callable[[InvoiceRef], bool]  # what every invoice it selects must satisfy
    must_find: frozenset[str]  # ids it must select (all of them)
    finds_some: bool  # whether it must select at least one


@dataclass(frozen=True)
class TrialResult:
    form: str
    accepted: bool
    misses: bool = False  # selected too little: invoices it should select are not there
    ignored: bool = False  # selected invoices it should not (harmless: the client filters itself too)


def trials(entity_id: str, invoices: Sequence[Invoice], margin: timedelta) -> list[Trial]:
    newest = max(invoices, key=lambda i: i.updated_at)
    since = newest.updated_at - margin
    postable = sorted(POSTABLE_INVOICE_STATES)
    two = frozenset(i.id for i in invoices[:2])
    entity = filters.equals("entityId", entity_id)
    state = filters.one_of("state", postable)
    updated = filters.on_or_after("updatedAt", since)
    floor = since.replace(microsecond=0) - timedelta(seconds=1)

    def of_entity(ref: InvoiceRef) -> bool:
        return ref.entity_id == entity_id

    def in_state(ref: InvoiceRef) -> bool:
        return ref.state in POSTABLE_INVOICE_STATES

    def recent(ref: InvoiceRef) -> bool:
        return ref.updated_at >= floor

    newest_postable = newest.state in POSTABLE_INVOICE_STATES
    return [
        Trial(ENTITY, entity, of_entity, frozenset(), True),
        Trial(STATE, state, in_state, frozenset(), any(i.state in POSTABLE_INVOICE_STATES for i in invoices)),
        Trial(UPDATED, updated, recent, frozenset(), True),
        Trial(IDS, filters.one_of("id", two), lambda ref: ref.id in two, two, True),
        Trial(
            ALL_OF,
            filters.all_of(entity, updated, state) or "",
            lambda ref: of_entity(ref) and recent(ref) and in_state(ref),
            frozenset({newest.id}) if newest_postable else frozenset(),
            newest_postable,
        ),
    ]


def run_trial(client: BunnyClient, trial: Trial) -> TrialResult:
    found = invoice_refs_under(client, trial.text)
    if found is None:
        return TrialResult(trial.form, accepted=False)
    ids = {ref.id for ref in found}
    misses = bool(trial.must_find - ids) or (trial.finds_some and not found)
    ignored = any(not trial.keeps(ref) for ref in found)
    return TrialResult(trial.form, accepted=True, misses=misses, ignored=ignored)


def filter_finding(client: BunnyClient, entity_id: str, invoices: Sequence[Invoice]) -> Finding:
    if not invoices:
        return Finding(READING, "cannot tell", "no released invoice to try filters on", SETTING, Verdict.UNDETERMINED)
    results = [run_trial(client, t) for t in trials(entity_id, invoices, client.filter_time_margin)]
    accepted = [r.form for r in results if r.accepted]
    refused = [r.form for r in results if not r.accepted]
    missing = [r.form for r in results if r.misses]
    ignoring = [r.form for r in results if r.ignored and not r.misses]
    if not refused:
        shows = DOCUMENTED
    elif accepted == [ENTITY]:
        shows = SINGLE_EQUALS
    elif not accepted:
        shows = NO_FILTERS
    else:
        shows = PARTIAL
    evidence = f"tried {len(results)} forms on invoices: accepted {_forms(accepted)}; refused {_forms(refused)}"
    if refused:
        evidence += " (the client falls back to a simpler filter and filters itself)"
    if ignoring:
        evidence += f"; accepted but not applied: {_forms(ignoring)} (harmless)"
    if missing:
        evidence += f"; accepted but missed invoices it should find: {_forms(missing)}"
        fix = (
            f"Bunny accepts {_forms(missing)} but leaves out invoices it should select, and the client trusts an "
            "accepted filter: do not switch the sensor on; report it to the maintainers"
        )
        return Finding(READING, shows, evidence, SETTING, Verdict.CONTRADICTS, fix=fix)
    return Finding(READING, shows, evidence, SETTING, Verdict.AGREES)


def _forms(forms: Sequence[str]) -> str:
    return ", ".join(f"`{f}`" for f in forms) if forms else "none"
