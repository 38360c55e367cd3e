"""How an argument is read as a document, against a store's recorded numbers and a Bunny stand-in: what the
command-line tests (dismiss/test_document_numbers.py) cannot set up cheaply."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from aiq_pipeline.bunny.models import NumberedDocument
from aiq_pipeline.service.document_numbers import BunnyNumbers, DocumentNamesRefused, resolve
from aiq_pipeline.store import Store
from aiq_pipeline.store.journal import OutcomeRecord, PostingJournal

ENTITY = "E1"


class Bunny:
    """Invoice 8 numbered INV-1007, and credit note 5 numbered INV-1007 too (numbers are the tenant's to choose)."""

    def __init__(self, notes: list[NumberedDocument]) -> None:
        self.notes = notes

    def invoices_numbered(self, entity_id: str, numbers: Iterable[str]) -> list[NumberedDocument]:
        wanted = {n.upper() for n in numbers}
        return [d for d in [NumberedDocument("8", "INV-1007", "FINALIZED", "1")] if d.number.upper() in wanted]

    def credit_notes_numbered(self, entity_id: str, numbers: Iterable[str]) -> list[NumberedDocument]:
        wanted = {n.upper() for n in numbers}
        return [d for d in self.notes if d.number.upper() in wanted]

    def get_invoices(self, invoice_ids: Iterable[str]) -> Mapping[str, Any]:
        return {}

    def get_credit_notes(self, credit_note_ids: Iterable[str]) -> Mapping[str, Any]:
        return {}

    def get_payments(self, payment_ids: Iterable[str]) -> Mapping[str, Any]:
        return {}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store.duckdb")
    with store.session() as session:
        PostingJournal(session, ENTITY).record_outcomes([OutcomeRecord("8", "invoice", "failed", "8", "INV-1007")])
        PostingJournal(session, "OTHER").record_outcomes([OutcomeRecord("3", "invoice", "failed", "3", "INV-2000")])
    return store


def test_a_recorded_number_does_not_hide_an_unrecorded_document_of_the_same_number(store: Store) -> None:
    bunny = BunnyNumbers(Bunny([NumberedDocument("5", "INV-1007", "ISSUED", "1")]), "1")
    with pytest.raises(DocumentNamesRefused, match="INV-1007 is the number of several documents"):
        resolve(["INV-1007"], partitions=["8"], store=store, aiq_entity_id=ENTITY, bunny=bunny)

    alone = BunnyNumbers(Bunny([]), "1")
    (named,) = resolve(["INV-1007"], partitions=["8"], store=store, aiq_entity_id=ENTITY, bunny=alone)
    assert (named.key, named.by_number) == ("8", True)


def test_numbers_recorded_for_another_aiq_entity_name_nothing(store: Store) -> None:
    with pytest.raises(DocumentNamesRefused):
        resolve(["number:INV-2000"], partitions=["3"], store=store, aiq_entity_id=ENTITY)
    with pytest.raises(DocumentNamesRefused):  # no entity configured: recorded numbers are not read at all
        resolve(["number:INV-2000"], partitions=["3"], store=store, aiq_entity_id=None)
