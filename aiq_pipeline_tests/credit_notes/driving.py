"""Driving both sensors as the daemon would, and reading each side's ground truth from the emulators."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

import dagster as dg

from aiq_pipeline.bunny.models import POSTABLE_INVOICE_STATES
from aiq_pipeline.defs.posting.status import failed_keys, partition_status
from aiq_pipeline.sync.identity import customer_code
from aiq_pipeline_tests.pair_names import CREDIT_NOTES, DOCUMENT_ASSETS
from aiq_pipeline_tests.pipeline.helpers import apply_tick, sensor_tick, sweep_due

if TYPE_CHECKING:
    from aiq_pipeline_tests.pipeline.conftest import Stack

AIQ_ENTITY = "DEMO01"


def credit_tick(stack: Stack, cursor: str | None = None) -> dg.SensorResult | dg.SkipReason:
    sensor = stack.defs.get_sensor_def(CREDIT_NOTES.sensor_name)
    context = dg.build_sensor_context(
        instance=stack.instance,
        cursor=cursor,
        resources={"bunny": stack.defs.resources["bunny"], "sync_settings": stack.defs.resources["sync_settings"]},
    )
    return sensor(context)


class Daemon:
    """Both sensors with their cursors, ticking and launching runs in process."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.invoice_cursor: str | None = None
        self.credit_cursor: str | None = None

    def tick_invoices(self, *, sweep: bool = False) -> None:
        result = sensor_tick(self.stack, sweep_due(self.invoice_cursor) if sweep else self.invoice_cursor)
        self.invoice_cursor = result.cursor
        apply_tick(self.stack, result)

    def tick_credits(self, *, sweep: bool = False) -> dg.SensorResult:
        result = credit_tick(self.stack, sweep_due(self.credit_cursor) if sweep else self.credit_cursor)
        assert isinstance(result, dg.SensorResult), result
        self.credit_cursor = result.cursor
        apply_tick(self.stack, result)
        return result

    def tick(self, *, sweep: bool = False) -> None:
        """Both sensors; `sweep`: as if their last sweep were long ago (what a quick tick leaves waits for one)."""
        self.tick_invoices(sweep=sweep)
        self.tick_credits(sweep=sweep)


def credit_statuses(stack: Stack) -> dict[str, dg.AssetPartitionStatus | None]:
    return partition_status(stack.instance, CREDIT_NOTES)


def all_failed_keys(instance: dg.DagsterInstance) -> list[str]:
    """Every FAILED document partition, invoices first (what `retry --all` retries)."""
    return [key for asset in DOCUMENT_ASSETS for key in failed_keys(instance, asset)]


def aiq_transactions(stack: Stack) -> list:
    return list(stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.values())


def aiq_references(stack: Stack) -> Counter[str]:
    """External reference -> number of AIQ documents (any type) carrying it."""
    return Counter(t.external_reference for t in aiq_transactions(stack))


def aiq_balances(stack: Stack) -> dict[tuple[str, str], Decimal]:
    """(customer code, YYYY-MM) -> sum of SI control amounts minus SN control amounts (SN's are negative)."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for t in aiq_transactions(stack):
        out[(t.customer_code, t.transaction_date.strftime("%Y-%m"))] += t.control_amount
    return {k: v for k, v in out.items() if v}


def bunny_balances(stack: Stack, entity_id: str = "1") -> dict[tuple[str, str], Decimal]:
    """(customer code, YYYY-MM) -> posted invoices not voided minus credit notes, as Bunny holds them."""
    tenant = stack.emulators.bunny.store.tenant
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for invoice in tenant.invoices:
        if invoice.entity_id == entity_id and invoice.state in POSTABLE_INVOICE_STATES:
            out[(customer_code(invoice.account_id), invoice.issued_at.strftime("%Y-%m"))] += invoice.amount
    for note in tenant.credit_notes:
        if note.entity_id == entity_id and note.state in ("READY", "PARTIALLY_APPLIED", "APPLIED"):
            out[(customer_code(note.account_id), note.issued_at.strftime("%Y-%m"))] -= note.amount
    return {k: v for k, v in out.items() if v}
