"""The document assets: one per Bunny document family, one partition per document, posted to AIQ by the service.

The partitions definitions' names are storage keys: never rename them.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from aiq_pipeline.sync.identity import KIND_CREDIT_NOTE, KIND_INVOICE, KIND_VOID


@dataclass(frozen=True)
class DocumentAsset:
    key: dg.AssetKey
    partitions: dg.DynamicPartitionsDefinition
    kinds: tuple[str, ...]  # the posting service's document kinds this asset's partitions hold
    noun: str  # what one partition is, for people: "invoice", "credit note"
    check_name: str  # the per-run check that AIQ's totals equal Bunny's
    sensor_name: str
    description: str

    @property
    def partitions_name(self) -> str:
        name = self.partitions.name
        assert name is not None
        return name


INVOICES = DocumentAsset(
    key=dg.AssetKey(["aiq", "posted_invoices"]),
    partitions=dg.DynamicPartitionsDefinition(name="bunny_invoices"),
    kinds=(KIND_INVOICE,),
    noun="invoice",
    check_name="aiq_totals_match_bunny",
    sensor_name="released_invoices_sensor",
    description="Each Bunny invoice of the entity, posted to AIQ as a sales invoice (with its customer) exactly once.",
)

CREDIT_NOTES = DocumentAsset(
    key=dg.AssetKey(["aiq", "posted_credit_notes"]),
    partitions=dg.DynamicPartitionsDefinition(name="bunny_credit_notes"),
    kinds=(KIND_CREDIT_NOTE, KIND_VOID),
    noun="credit note",
    check_name="aiq_credit_totals_match_bunny",
    sensor_name="released_credit_notes_sensor",
    description="Each Bunny credit note, and each reversal of an invoice voided after posting, posted to AIQ as a "
    "sales credit note exactly once and allocated against the credited invoice.",
)

# In the order a retry runs them: invoices first, so credit notes find their invoices posted.
DOCUMENT_ASSETS: tuple[DocumentAsset, ...] = (INVOICES, CREDIT_NOTES)
