"""The document assets: one per Bunny document family, one partition per document, posted to AIQ by the service.

Each pair has its own (`defs.names.PairNames.invoices` and the others): the names are storage keys, never rename them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from aiq_pipeline.sync.identity import KIND_ACCOUNT_CREDIT, KIND_CREDIT_NOTE, KIND_INVOICE, KIND_PAYMENT, KIND_VOID


@dataclass(frozen=True)
class DocumentAsset:
    key: dg.AssetKey
    partitions: dg.DynamicPartitionsDefinition
    kinds: tuple[str, ...]  # the posting service's document kinds this asset's partitions hold
    noun: str  # what one partition is, for people: "invoice", "credit note"
    check_name: str  # the per-run check that AIQ's totals equal Bunny's
    sensor_name: str
    description: str
    group: str = "invoices"  # the UI's asset group (lineage view)

    @property
    def partitions_name(self) -> str:
        name = self.partitions.name
        assert name is not None
        return name


Key = Callable[..., dg.AssetKey]  # the pair's `PairNames.key`
Partitions = Callable[[str], dg.DynamicPartitionsDefinition]  # the pair's `PairNames.partitions`


def invoices_asset(key: Key, partitions: Partitions) -> DocumentAsset:
    return DocumentAsset(
        key=key("aiq", "posted_invoices"),
        partitions=partitions("bunny_invoices"),
        kinds=(KIND_INVOICE,),
        noun="invoice",
        check_name="aiq_totals_match_bunny",
        sensor_name="released_invoices_sensor",
        description="Each Bunny invoice of the entity, posted to AIQ as a sales invoice (with its customer) exactly "
        "once.",
    )


def credit_notes_asset(key: Key, partitions: Partitions) -> DocumentAsset:
    return DocumentAsset(
        key=key("aiq", "posted_credit_notes"),
        partitions=partitions("bunny_credit_notes"),
        kinds=(KIND_CREDIT_NOTE, KIND_VOID),
        noun="credit note",
        check_name="aiq_credit_totals_match_bunny",
        sensor_name="released_credit_notes_sensor",
        description="Each Bunny credit note, and each reversal of an invoice voided after posting, posted to AIQ as a "
        "sales credit note exactly once and allocated against the credited invoice.",
    )


def payments_asset(key: Key, partitions: Partitions) -> DocumentAsset:
    return DocumentAsset(
        key=key("aiq", "posted_payments"),
        partitions=partitions("bunny_payments"),
        kinds=(KIND_PAYMENT, KIND_ACCOUNT_CREDIT),
        noun="payment",
        check_name="aiq_receipts_match_bunny",
        sensor_name="received_payments_sensor",
        group="payments",
        description="Each Bunny payment received, posted to AIQ as a sales receipt into the bank account mapped for "
        "its processor and currency (its fees to the fees account) exactly once, and allocated to the invoices it "
        "paid; and the account credit Bunny applied to an invoice (CREDIT-<invoice id>), settling it in AIQ.",
    )
