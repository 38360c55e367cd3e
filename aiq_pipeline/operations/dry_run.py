"""Dry runs beside the command line: `preview`, `preflight` and `backfill --dry-run`.

Each builds the posting service from the code location's resources exactly as a posting run does (the planners'
settings from `posting_settings`, the same options, the batch size of posting) and plans documents through
`service.dry_run`, which writes nothing: no AIQ write, no journal row, no partition, no run. The Dagster instance is
only read (which documents a person dismissed, which invoices already have a partition).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import dagster as dg

from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.defs.invoices.history import invoices_issued_between
from aiq_pipeline.defs.names import PairNames, names_of
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.factory import posting_options, posting_settings
from aiq_pipeline.defs.posting.status import dismissal_marks
from aiq_pipeline.defs.resources import (
    AccountsIQResource,
    BunnyResource,
    PostingRulesResource,
    StoreResource,
    SyncSettings,
)
from aiq_pipeline.operations.runs import load_definitions
from aiq_pipeline.operations.sync import UnknownBunnyEntity
from aiq_pipeline.service.discovery import (
    CreditCursor,
    InvoicePartitions,
    discover_credit_notes,
    is_valid_partition_key,
    issued_in_scope,
)
from aiq_pipeline.service.dry_run import DryRun, DryRunJournal, Planned
from aiq_pipeline.service.dry_run_report import DryRunSummary
from aiq_pipeline.service.payment_discovery import PaymentCursor, discover_payments
from aiq_pipeline.service.problems import bunny_entity_unknown_problem
from aiq_pipeline.sync.documents.context import PostingSettings
from aiq_pipeline.sync.documents.invoice import SYNCED_INVOICE_STATES
from aiq_pipeline.sync.documents.payment import applications
from aiq_pipeline.sync.identity import (
    ACCOUNT_CREDIT_KEY_PREFIX,
    credit_note_key,
    invoice_reference,
    payment_key,
    void_key,
)
from aiq_pipeline.sync.tax import TaxMappingError

Echo = Callable[[str], None]
NO_PARTITIONS = InvoicePartitions(frozenset(), frozenset(), frozenset())


class _Dismissals:
    """Which of a batch's keys a person dismissed, from the partitions' marks in the instance (read once per batch)."""

    def __init__(self, instance: dg.DagsterInstance, assets: Sequence[DocumentAsset]) -> None:
        self.instance = instance
        self.known = {asset: set(instance.get_dynamic_partitions(asset.partitions_name)) for asset in assets}

    def __call__(self, keys: Sequence[str]) -> Collection[str]:
        found: set[str] = set()
        for asset, known in self.known.items():
            mine = [k for k in keys if k in known]
            if mine:
                found |= {k for k, mark in dismissal_marks(self.instance, asset, mine).items() if mark.dismissed}
        return found


RESOURCES = ("accountsiq", "bunny", "store", "sync_settings", "posting_rules")
_R = TypeVar("_R")


def _typed(value: object, kind: type[_R]) -> _R:
    if not isinstance(value, kind):
        raise TypeError(f"a {type(value).__name__} where a {kind.__name__} was configured")
    return value


@dataclass(frozen=True)
class Opened:
    """An open dry run, and the Bunny client and entity it reads (to find the documents to plan)."""

    dry_run: DryRun
    bunny: BunnyClient
    bunny_entity_id: str
    names: PairNames


@contextmanager
def open_dry_run(instance: dg.DagsterInstance, defs: dg.Definitions | None = None) -> Iterator[Opened]:
    """A dry run over the resources the code location configures (read from the environment now, resolved as a
    run's start resolves them), with the clients and a read-only store session open until the block ends."""
    defs = load_definitions(defs)
    names = names_of(defs)
    configured = defs.resources or {}
    with dg.build_resources({key: configured[key] for key in RESOURCES}, instance=instance) as resources:
        accountsiq = _typed(resources.accountsiq, AccountsIQResource)
        bunny = _typed(resources.bunny, BunnyResource)
        store = _typed(resources.store, StoreResource)
        sync = _typed(resources.sync_settings, SyncSettings)
        rules = _typed(resources.posting_rules, PostingRulesResource)
    settings: PostingSettings | Exception
    try:
        settings = posting_settings(accountsiq, bunny, sync, rules)
    except TaxMappingError as exc:  # every document is refused with the file's problem, as posting does
        settings = exc
    options = posting_options(sync, rules)
    with accountsiq.open() as aiq, bunny.open() as client, store.store().session() as session:
        if client.get_entity(bunny.entity_id) is None:
            raise UnknownBunnyEntity(bunny_entity_unknown_problem(bunny.entity_id))
        dry_run = DryRun(
            aiq,
            client,
            DryRunJournal(session, accountsiq.entity_id),
            settings=settings,
            groups=[asset.kinds for asset in names.documents],
            batch_size=sync.batch_size,
            options=options,
            customer_rules=rules.customer_match,
            dismissed=_Dismissals(instance, names.documents),
        )
        yield Opened(dry_run, client, bunny.entity_id, names)


# -- preview ---------------------------------------------------------------------------------------------------------


def preview(instance: dg.DagsterInstance, keys: Sequence[str], defs: dg.Definitions | None = None) -> list[Planned]:
    """Each document planned as posting would plan it now, in the order given (planned in posting order: a credit note
    or payment of an invoice named too is planned as if that invoice were posted first)."""
    with open_dry_run(instance, defs) as opened:
        planned = {p.key: p for p in opened.dry_run.plan(keys)}
    return [planned[key] for key in dict.fromkeys(keys)]


# -- preflight -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryKeys:
    """The documents issued (or received) in a range, as the sync would pick them up, by posting order."""

    invoices: list[str]
    credit_notes: list[str]  # CN-<id> and VOID-<invoice id>
    payments: list[str]  # PAY-<id> and CREDIT-<invoice id>
    needed: frozenset[str]  # AIQ references of the invoices the credit notes and payments settle

    @property
    def keys(self) -> list[str]:
        return [*self.invoices, *self.credit_notes, *self.payments]

    def describe(self) -> str:
        return (
            f"{len(self.invoices)} invoice(s), {len(self.credit_notes)} credit note(s) and void(s), "
            f"{len(self.payments)} payment(s) and account credit(s)"
        )


def history_keys(client: BunnyClient, entity: str, since: date) -> HistoryKeys:
    """Every released invoice issued on or after `since`, every issued credit note and voided invoice issued since,
    every payment received since and the account credit applied to invoices issued since: what the sensors pick up
    from a sync start date of `since` (nothing is deferred: a dry run plans invoices before what depends on them)."""
    invoices = invoices_issued_between(
        client.iter_invoice_refs(entity, updated_since=None, states=SYNCED_INVOICE_STATES), since, date.max
    )
    notes = list(client.iter_credit_notes(entity))
    every_invoice = list(client.iter_invoice_refs(entity, updated_since=None))
    payments = list(client.iter_payments(entity))
    found = discover_credit_notes(
        notes, [], known_keys=(), invoices=NO_PARTITIONS, cursor=CreditCursor(), start_date=since
    ).new_keys
    voids = [
        void_key(r.id)
        for r in sorted(every_invoice, key=lambda r: (r.issued_at or date.min, r.id))
        if r.state == "VOIDED" and issued_in_scope(r.issued_at, since) and is_valid_partition_key(void_key(r.id))
    ]
    paid = discover_payments(
        payments,
        known_keys=(),
        invoices=NO_PARTITIONS,
        cursor=PaymentCursor(),
        start_date=since,
        credited=every_invoice,
    ).new_keys
    taken = {credit_note_key(n.id): n for n in notes}
    by_payment = {payment_key(p.id): p for p in payments}
    settled = [taken[k].credited_invoice_id for k in found if k in taken]
    settled += [i for k in paid if k in by_payment for i in applications(by_payment[k])]
    settled += [k.removeprefix(ACCOUNT_CREDIT_KEY_PREFIX) for k in paid if k.startswith(ACCOUNT_CREDIT_KEY_PREFIX)]
    return HistoryKeys(
        invoices=invoices,
        credit_notes=[*found, *voids],
        payments=paid,
        needed=frozenset(invoice_reference(i) for i in settled if i),
    )


def preflight(
    instance: dg.DagsterInstance, since: date, echo: Echo = print, defs: dg.Definitions | None = None
) -> DryRunSummary:
    """Every released invoice, credit note and payment since `since`, planned with today's mappings and settings,
    summed up: counts per outcome, problems with their fixes, the money per month and currency."""
    summary = DryRunSummary()
    with open_dry_run(instance, defs) as opened:
        keys = history_keys(opened.bunny, opened.bunny_entity_id, since)
        echo(f"Planning {keys.describe()} issued or received since {since} (nothing is written)")
        for planned in opened.dry_run.plan(keys.keys, wanted=keys.needed):
            summary.add(planned)
    return summary


# -- backfill --dry-run ----------------------------------------------------------------------------------------------


def backfill_dry_run(
    instance: dg.DagsterInstance, first: date, last: date, echo: Echo = print, defs: dg.Definitions | None = None
) -> DryRunSummary:
    """What `backfill` would post for [first, last]: the postable invoices issued in the range (those a person
    dismissed are counted apart, as the backfill leaves them alone), planned; no partition is added."""
    summary = DryRunSummary()
    with open_dry_run(instance, defs) as opened:
        ids = invoices_issued_between(
            opened.bunny.iter_invoice_refs(opened.bunny_entity_id, updated_since=None, states=SYNCED_INVOICE_STATES),
            first,
            last,
        )
        known = set(instance.get_dynamic_partitions(opened.names.invoices.partitions_name))
        new = sum(1 for i in ids if i not in known)
        echo(
            f"{len(ids)} postable invoice(s) issued in the range; {new} without a partition yet (dry run: none added, "
            "nothing posted)"
        )
        for planned in opened.dry_run.plan(ids, wanted=frozenset()):
            summary.add(planned)
    return summary
