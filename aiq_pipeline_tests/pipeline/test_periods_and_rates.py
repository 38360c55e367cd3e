"""Through both emulators: the closed-period option (demo invoice 7, dated 2026-05-15 in AIQ's closed May) and
AIQ's rate as the last resort for a foreign-currency invoice (demo invoice 5, GBP)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dagster as dg
import pytest

from aiq_pipeline.defs.code_location import build_definitions
from aiq_pipeline.defs.posting.status import list_exceptions
from aiq_pipeline.defs.resources import SyncSettings
from aiq_pipeline.operations.runs import post_in_process
from aiq_pipeline.service.reconciliation import reconcile_month
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS, INVOICES
from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY, BUNNY_ENTITY, HISTORY_START, make_resources

pytestmark = pytest.mark.slow


def _defs(stack, **settings: str) -> dg.Definitions:
    resources = make_resources(stack.emulators, stack.tmp / "store.duckdb")
    resources["sync_settings"] = SyncSettings(batch_size=5, sync_start_date=HISTORY_START, **settings)
    return build_definitions(resources)


def _post(stack, defs: dg.Definitions, *ids: str) -> None:
    stack.instance.add_dynamic_partitions(INVOICES.partitions_name, list(ids))
    post_in_process(stack.instance, list(ids), trigger="retry", defs=defs)


def _metadata(stack, invoice_id: str) -> dict[str, object]:
    records = stack.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=INVOICES.key, asset_partitions=[invoice_id]), limit=1
    ).records
    assert records, f"invoice {invoice_id} was not materialized"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}  # type: ignore[union-attr]


def _aiq_invoice(stack, invoice_id: str):
    entity = stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY]
    found = [t for t in entity.transactions.values() if t.external_reference == f"BUNNY-INV-{invoice_id}"]
    return found


def test_invoice_in_a_closed_period_fails_by_default(stack) -> None:
    _post(stack, _defs(stack), "7")
    assert not _aiq_invoice(stack, "7")
    (exception,) = [e for e in list_exceptions(stack.instance, DOCUMENT_ASSETS) if e.key == "7"]
    assert exception.reason_code == "CLOSED_PERIOD" and "2026-05-15" in exception.reason
    assert "first_open_day" in (exception.fix or "")


def test_invoice_in_a_closed_period_posts_on_the_first_open_day_with_the_policy(stack) -> None:
    defs = _defs(stack, closed_period_policy="first_open_day")
    _post(stack, defs, "7")
    (posted,) = _aiq_invoice(stack, "7")
    assert posted.transaction_date.date() == date(2026, 6, 1)
    assert "issued 2026-05-15 in Bunny" in posted.description
    meta = _metadata(stack, "7")
    assert (meta["posting_date"], meta["bunny_issue_date"], meta["posting_date_moved"]) == (
        "2026-06-01",
        "2026-05-15",
        True,
    )

    # The monthly reconciliation puts it in AIQ's posting month: June matches it, May neither misses nor counts it.
    resources = defs.resources
    with resources["accountsiq"].open() as aiq, resources["bunny"].open() as bunny:
        june = reconcile_month(aiq, bunny, bunny_entity_id=BUNNY_ENTITY, month="2026-06")
        may = reconcile_month(aiq, bunny, bunny_entity_id=BUNNY_ENTITY, month="2026-05")
    assert not [d for d in june.differences if d.external_reference == "BUNNY-INV-7"]
    assert not [d for d in may.differences if d.external_reference == "BUNNY-INV-7"]
    assert may.passed, may.describe()
    assert june.matched_documents == 1  # invoice 7, the only one posted here; June's own were not synced
    assert may.matched_documents == 0


def test_foreign_invoice_without_bunnys_conversion_posts_with_aiqs_rate_and_says_so(stack) -> None:
    # Bunny's entity reports in GBP here, so its conversion of a GBP invoice is no EUR rate for AIQ.
    tenant = stack.emulators.bunny.store.tenant
    next(e for e in tenant.entities if e.id == BUNNY_ENTITY).base_currency_id = "2"
    _post(stack, _defs(stack), "5")
    (posted,) = _aiq_invoice(stack, "5")
    assert posted.exchange_rate == Decimal("1.17")  # the AIQ fixture's GBP rate (base EUR per 1 GBP)
    assert posted.control_bc_amount == (posted.control_amount * Decimal("1.17")).quantize(Decimal("0.01"))
    meta = _metadata(stack, "5")
    assert (meta["exchange_rate"], meta["exchange_rate_source"]) == ("1.17", "aiq")


def test_foreign_invoice_with_no_rate_anywhere_still_fails(stack) -> None:
    tenant = stack.emulators.bunny.store.tenant
    next(e for e in tenant.entities if e.id == BUNNY_ENTITY).base_currency_id = "2"
    with stack.emulators.accountsiq.state.writing() as data:
        del data.entities[AIQ_ENTITY].exchange_rates["GBP"]
    _post(stack, _defs(stack), "5")
    assert not _aiq_invoice(stack, "5")
    (exception,) = [e for e in list_exceptions(stack.instance, DOCUMENT_ASSETS) if e.key == "5"]
    assert exception.reason_code == "NO_EXCHANGE_RATE"
