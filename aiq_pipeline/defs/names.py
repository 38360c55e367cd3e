"""What one pair's definitions are called in the Dagster instance.

Asset keys, dynamic partitions and pools are instance-wide, while each pair is a code location of its own: so every
pair but the one named `default` (the one-pair deployment, configured by environment variables) prefixes them with
its name: `uk/aiq/posted_invoices`, partitions `uk__bunny_invoices`, pool `aiq_pipeline_store_uk`. The `default`
pair keeps the unprefixed names that existing instances store. These names are storage keys: never rename them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import dagster as dg

from aiq_pipeline.defs.posting.documents import DocumentAsset, credit_notes_asset, invoices_asset, payments_asset
from aiq_pipeline.settings import DEFAULT_PAIR_NAME

STORE_POOL = "aiq_pipeline_store"


@dataclass(frozen=True)
class PairNames:
    """One pair's asset keys, partitions and pool (`PairNames("uk")`); `PairNames()` is the default pair's."""

    pair: str = DEFAULT_PAIR_NAME

    @property
    def prefixed(self) -> bool:
        return self.pair != DEFAULT_PAIR_NAME

    def key(self, *path: str) -> dg.AssetKey:
        return dg.AssetKey([self.pair, *path] if self.prefixed else list(path))

    def partitions(self, name: str) -> dg.DynamicPartitionsDefinition:
        return dg.DynamicPartitionsDefinition(name=f"{self.pair}__{name}" if self.prefixed else name)

    @property
    def store_pool(self) -> str:
        """Every asset that writes the pair's store (and posts to AIQ) holds a slot of this pool.

        The local profile gives it two slots, as many as its runs (DuckDB's file is opened for one transaction at
        a time, so runs take turns at it); production four (deploy/dagster.production.yaml). Exactly-once does not
        depend on it: the journal's claims do that.
        """
        return f"{STORE_POOL}_{self.pair}" if self.prefixed else STORE_POOL

    @property
    def command(self) -> str:
        """How a person calls the command line on this pair (the hints the commands print)."""
        return f"aiq-pipeline --pair {self.pair}" if self.prefixed else "aiq-pipeline"

    @property
    def first_start_key(self) -> str:
        """Where the instance keeps the moment the pair's sync was first switched on (`posting.first_start`)."""
        key = "aiq_pipeline/sync_first_switched_on"
        return f"{key}/{self.pair}" if self.prefixed else key

    # -- the AIQ ledger snapshot and the accounts ------------------------------------------------------------

    @property
    def chart_of_accounts(self) -> dg.AssetKey:
        return self.key("aiq", "chart_of_accounts")

    @property
    def tax_codes(self) -> dg.AssetKey:
        return self.key("aiq", "tax_codes")

    @property
    def periods(self) -> dg.AssetKey:
        return self.key("aiq", "periods")

    @property
    def financial_accounts(self) -> dg.AssetKey:
        return self.key("bunny", "financial_accounts")

    @property
    def gl_mapping(self) -> dg.AssetKey:
        return self.key("bunny", "gl_mapping")

    @property
    def setup_assets(self) -> tuple[dg.AssetKey, ...]:
        """What posting needs in place, in the order the refresh job builds it."""
        return (self.chart_of_accounts, self.tax_codes, self.periods, self.financial_accounts, self.gl_mapping)

    # -- the documents, the journal and the reconciliation ---------------------------------------------------

    @cached_property
    def invoices(self) -> DocumentAsset:
        return invoices_asset(self.key, self.partitions)

    @cached_property
    def credit_notes(self) -> DocumentAsset:
        return credit_notes_asset(self.key, self.partitions)

    @cached_property
    def payments(self) -> DocumentAsset:
        return payments_asset(self.key, self.partitions)

    @property
    def documents(self) -> tuple[DocumentAsset, ...]:
        """In the order a retry runs them: invoices first, so credit notes and payments find their invoices posted."""
        return (self.invoices, self.credit_notes, self.payments)

    @property
    def posting_journal(self) -> dg.AssetKey:
        return self.key("aiq", "posting_journal")

    @property
    def monthly_reconciliation(self) -> dg.AssetKey:
        return self.key("aiq", "monthly_reconciliation")


DEFAULT_NAMES = PairNames()

PAIR_METADATA = "aiq_pipeline/pair"  # the code location's metadata entry naming its pair


def names_of(defs: dg.Definitions) -> PairNames:
    """The names of the pair whose code location `defs` is (the default pair's when it does not say)."""
    entry = (defs.metadata or {}).get(PAIR_METADATA)
    return PairNames(str(getattr(entry, "value", entry))) if entry is not None else DEFAULT_NAMES
