"""Acting in Bunny as its customers and processors would, ticking the sensors as the daemon does, and reading each
side's ground truth (balances, receipts) straight from the emulators' state."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import dagster as dg
import httpx

from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.status import partition_status
from aiq_pipeline.sync.identity import customer_code
from aiq_pipeline_tests.pair_names import CREDIT_NOTES, DOCUMENT_ASSETS, INVOICES, PAYMENTS
from aiq_pipeline_tests.payments.conftest import START
from aiq_pipeline_tests.pipeline.helpers import apply_tick, sweep_due

if TYPE_CHECKING:
    from aiq_pipeline_tests.pipeline.conftest import Stack

AIQ_ENTITY = "DEMO01"
ZERO = Decimal(0)


def bunny_post(stack: Stack, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = httpx.post(f"{stack.emulators.bunny_url}{path}", json=body or {}, timeout=30)
    assert answer.status_code < 300, answer.text
    return answer.json()


def new_invoice(stack: Stack, account: str = "1", **spec: Any) -> str:
    """A released invoice of `account` (the emulator's default lines unless `items` are given)."""
    created = bunny_post(stack, "/_emulator/invoices", {"account": account, "release": True, **spec})
    (invoice_id,) = created["ids"]
    return str(invoice_id)


def take_payment(stack: Stack, account: str, invoices: list[str], **spec: Any) -> dict[str, Any]:
    """A payment through a processor (`processor`, default stripe): `amount` defaults to what the invoices owe."""
    body = {
        "account": account,
        "invoices": invoices,
        **{k: str(v) if isinstance(v, Decimal) else v for k, v in spec.items()},
    }
    return dict(bunny_post(stack, "/_emulator/payments", body))


class Daemon:
    """The document sensors with their cursors, ticking and launching runs in process, as the daemon would."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.cursors: dict[str, str | None] = {}
        self.last: dict[str, str | None] = {}  # each sensor's last tick message (its skip reason)

    def tick(self, *assets: DocumentAsset, sweep: bool = False) -> list[dg.ExecuteInProcessResult]:
        """One tick of each sensor (all three by default); `sweep`: as if its last sweep were long ago."""
        runs = []
        for asset in assets or (INVOICES, CREDIT_NOTES, PAYMENTS):
            sensor = self.stack.defs.get_sensor_def(asset.sensor_name)
            cursor = self.cursors.get(asset.sensor_name)
            context = dg.build_sensor_context(
                instance=self.stack.instance,
                cursor=sweep_due(cursor) if sweep else cursor,
                resources={
                    "bunny": self.stack.defs.resources["bunny"],
                    "sync_settings": self.stack.defs.resources["sync_settings"],
                },
            )
            result = sensor(context)
            assert isinstance(result, dg.SensorResult), result
            self.cursors[asset.sensor_name] = result.cursor
            self.last[asset.sensor_name] = result.skip_reason.skip_message if result.skip_reason else None
            runs += apply_tick(self.stack, result)
        return runs


def statuses(stack: Stack, asset: DocumentAsset = PAYMENTS) -> dict[str, dg.AssetPartitionStatus | None]:
    return partition_status(stack.instance, asset)


def aiq_transactions(stack: Stack, type_code: str | None = None) -> list[Any]:
    found = stack.emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions.values()
    return [t for t in found if type_code is None or t.type_code == type_code]


def aiq_by_reference(stack: Stack, reference: str) -> list[Any]:
    return [t for t in aiq_transactions(stack) if t.external_reference == reference]


def aiq_customer_balances(stack: Stack) -> dict[str, Decimal]:
    """Customer code -> what the customer owes in AIQ (the sum of its transactions' control amounts, signed)."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for t in aiq_transactions(stack):
        out[t.customer_code] += t.control_amount
    return {code: amount for code, amount in out.items() if amount}


def bunny_customer_balances(stack: Stack, entity_id: str = "1") -> dict[str, Decimal]:
    """Customer code -> what the customer owes Bunny: invoices' amount due less payments' unapplied money."""
    store = stack.emulators.bunny.store
    out: dict[str, Decimal] = defaultdict(Decimal)
    start = date.fromisoformat(START)
    for invoice in store.tenant.invoices:
        if invoice.entity_id == entity_id and invoice.issued_at is not None and invoice.issued_at >= start:
            out[customer_code(invoice.account_id)] += store.figures(invoice).amount_due
    for payment in store.tenant.payments:
        if payment.entity_id == entity_id and payment.processing_state == "SUCCEEDED":
            out[customer_code(payment.account_id)] -= store.unapplied(payment)
    return {code: amount for code, amount in out.items() if amount}


def document_keys(stack: Stack) -> dict[str, list[str]]:
    return {asset.noun: stack.instance.get_dynamic_partitions(asset.partitions_name) for asset in DOCUMENT_ASSETS}
