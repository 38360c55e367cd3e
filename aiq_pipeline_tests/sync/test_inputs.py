"""The Protocols of `sync.inputs` are satisfied by the clients' real dataclasses, attribute for attribute."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import aiq_pipeline.sync
from aiq_pipeline.accountsiq import models as aiq
from aiq_pipeline.bunny import models as bunny
from aiq_pipeline.sync import inputs
from aiq_pipeline_tests.sync.builders import ACCOUNT, CHARGES, CHART, PERIODS, TAX_CODES, invoice, item


def protocol_members(proto: type) -> set[str]:
    """What `proto` declares, with what the protocols it extends declare."""
    members: set[str] = set()
    for cls in proto.__mro__:
        if cls is object or cls.__module__ != inputs.__name__:
            continue
        members |= set(vars(cls).get("__annotations__", {}))
        members |= {name for name, value in vars(cls).items() if isinstance(value, property)}
    return members


def _transaction_detail() -> aiq.TransactionDetail:
    return aiq.TransactionDetail("4000", False, False, Decimal("-49.00"), Decimal("-49.00"))


def _application() -> bunny.PaymentApplication:
    return bunny.PaymentApplication("1", "7", "3", Decimal("10.00"), "EUR", "card", datetime(2026, 6, 1))


def _payment() -> bunny.Payment:
    return bunny.Payment(
        "7",
        "1",
        "1",
        "EUR",
        Decimal("10.00"),
        Decimal("0.30"),
        Decimal(0),
        "APPLIED",
        "SUCCEEDED",
        "stripe",
        datetime(2026, 6, 1),
        datetime(2026, 6, 1),
        datetime(2026, 6, 1),
        applications=(_application(),),
    )


CASES = [
    (inputs.BunnyContact, ACCOUNT.billing_contact),
    (inputs.BunnyAccount, ACCOUNT),
    (inputs.BunnyInvoiceItem, item()),
    (inputs.BunnyInvoice, invoice()),
    (inputs.BunnyFinancialAccount, bunny.FinancialAccount("1", "4000", "x", "earned_revenue", True, False, "1")),
    (inputs.BunnyPriceListCharge, CHARGES[0]),
    (inputs.AiqGLAccount, CHART[0]),
    (inputs.AiqTaxCode, TAX_CODES[0]),
    (inputs.AiqPeriod, PERIODS[0]),
    (inputs.BunnyCreditNoteItem, bunny.CreditNoteItem("1", "line", Decimal(1), Decimal(1), Decimal(0))),
    (
        inputs.BunnyCreditNote,
        bunny.CreditNote(
            "1",
            "CN-1",
            "READY",
            "REFUND",
            "1",
            "1",
            "1",
            "EUR",
            date(2026, 6, 1),
            Decimal(1),
            Decimal(0),
            Decimal(1),
            datetime(2026, 6, 1),
        ),
    ),
    (inputs.AiqCustomer, aiq.Customer(code="X", name="X")),
    (inputs.BunnyPaymentApplication, _application()),
    (inputs.BunnyPayment, _payment()),
    (inputs.AiqTransactionLine, _transaction_detail()),
    (
        inputs.AiqTransactionRow,
        aiq.TransactionSummary(1, "BNY-1", "SI", "BUNNY-INV-1", Decimal(1), "EUR", date(2026, 6, 1)),
    ),
    (
        inputs.AiqTransactionSummary,
        aiq.TransactionSummary(1, "BNY-1", "SI", "BUNNY-INV-1", Decimal(1), "EUR", date(2026, 6, 1)),
    ),
    (
        inputs.AiqTransaction,
        aiq.Transaction(1, "SI", "BNY-1", "BUNNY-INV-1", date(2026, 6, 1), "EUR", Decimal(1), Decimal(0), Decimal(1)),
    ),
]


@pytest.mark.parametrize(("proto", "instance"), CASES, ids=[p.__name__ for p, _ in CASES])
def test_client_dataclass_has_every_protocol_member_under_the_same_name(proto: type, instance: object) -> None:
    members = protocol_members(proto)
    assert members, f"{proto.__name__} declares nothing"
    cls = type(instance)
    declared = {f.name for f in dataclasses.fields(cls)} | {
        name for name, value in inspect.getmembers(cls) if isinstance(value, property)
    }
    assert members <= declared, f"{cls.__name__} lacks {sorted(members - declared)}"
    for name in members:
        getattr(instance, name)


def test_every_protocol_is_covered() -> None:
    protocols = {obj for obj in vars(inputs).values() if inspect.isclass(obj) and obj.__module__ == inputs.__name__}
    assert protocols == {proto for proto, _ in CASES}


def test_sync_package_imports_no_client_dagster_or_io() -> None:
    forbidden = (
        "aiq_pipeline.accountsiq",
        "aiq_pipeline.bunny",
        "aiq_emulators",
        "dagster",
        "httpx",
        "duckdb",
        "aiq_pipeline.store",
        "aiq_pipeline.defs",
        "socket",
        "requests",
    )
    for path in Path(aiq_pipeline.sync.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"


def test_dates_and_money_types_of_the_models_are_what_the_domain_expects() -> None:
    inv = invoice()
    assert isinstance(inv.subtotal, Decimal) and isinstance(inv.items[0].amount, Decimal)
    assert isinstance(inv.issued_at, date) and isinstance(inv.updated_at, datetime)
