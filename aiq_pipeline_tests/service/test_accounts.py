"""The accounts service: the ledger's rows, Sync financial accounts through a Bunny client, the GL mapping's rows,
and the chart read back from the store."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from aiq_pipeline.bunny.models import FinancialAccount, FinancialAccountAttributes, PriceListCharge
from aiq_pipeline.service.accounts import (
    GL_ACCOUNTS_TABLE,
    FinancialAccountsSync,
    Ledger,
    NoLedgerSnapshot,
    chart_from_store,
    mapping_rows,
    read_gl_mapping,
    read_ledger,
    sync_financial_accounts,
)
from aiq_pipeline.store import Store
from aiq_pipeline_tests.sync.builders import BUNNY_ACCOUNTS, CHARGES, CHART, PERIODS, TAX_CODES


class FakeBunny:
    """The financial-account calls of `BunnyClient` on an in-memory entity, recording every write and listing."""

    def __init__(self, accounts: tuple[FinancialAccount, ...] = (), charges: tuple[PriceListCharge, ...] = ()):
        self.accounts = {a.id: a for a in accounts}
        self.charges = charges
        self.writes: list[tuple[str, str | None, FinancialAccountAttributes]] = []
        self.listings = 0
        self._ids = itertools.count(1000)

    def iter_financial_accounts(self, entity_id: str) -> Iterator[FinancialAccount]:
        self.listings += 1
        return iter([a for a in self.accounts.values() if a.entity_id == entity_id])

    def iter_price_list_charges(self) -> Iterator[PriceListCharge]:
        return iter(self.charges)

    def create_financial_account(self, attrs: FinancialAccountAttributes) -> FinancialAccount:
        self.writes.append(("create", None, attrs))
        new = FinancialAccount(
            f"n{next(self._ids)}",
            attrs.code,
            attrs.name,
            attrs.account_type,
            bool(attrs.active),
            False,
            attrs.entity_id or "",
            external_id=attrs.external_id,
            source=attrs.source,
            description=attrs.description,
        )
        self.accounts[new.id] = new
        return new

    def update_financial_account(self, id: str, attrs: FinancialAccountAttributes) -> FinancialAccount:
        self.writes.append(("update", id, attrs))
        sent = {k: v for k, v in vars(attrs).items() if v is not None and k != "extra"}
        self.accounts[id] = replace(self.accounts[id], **sent)
        return self.accounts[id]


def sync(bunny: FakeBunny, chart=CHART) -> FinancialAccountsSync:  # type: ignore[no-untyped-def]
    return sync_financial_accounts(bunny, chart, bunny_entity_id="1", aiq_entity_id="DEMO01")  # type: ignore[arg-type]


def test_sync_sends_typed_creates_reads_back_and_a_second_run_sends_nothing() -> None:
    bunny = FakeBunny(BUNNY_ACCOUNTS)
    first = sync(bunny)
    creates = [attrs for kind, _, attrs in bunny.writes if kind == "create"]
    assert creates and first.mutations == len(bunny.writes) == len(first.plan.creates) + len(first.plan.updates)
    assert all(a.entity_id == "1" and a.source == "accountsiq" and a.active is True for a in creates)
    assert {a.code for a in creates} == {c.code for c in first.plan.creates}
    assert bunny.listings == 2  # before and after the writes
    assert {r["code"] for r in first.rows()} >= {a.code for a in creates}  # the rows are Bunny's state afterwards
    assert {r["code"] for r in first.skipped_rows()} == {"4099", "8000"}  # inactive in AIQ; no Bunny type

    bunny.writes.clear()
    second = sync(bunny)
    assert bunny.writes == [] and second.mutations == 0
    assert bunny.listings == 3  # nothing sent, nothing re-read
    assert sorted(r["id"] for r in second.rows()) == sorted(r["id"] for r in first.rows())


def test_updates_send_only_what_follows_aiq_and_deactivations_only_active_false() -> None:
    bunny = FakeBunny(BUNNY_ACCOUNTS)
    sync(bunny)
    renamed = next(a for a in bunny.accounts.values() if a.code == "4010")
    bunny.accounts[renamed.id] = replace(renamed, name="Renamed by hand", account_type="deferred_revenue")
    bunny.writes.clear()

    done = sync(bunny, [a for a in CHART if a.code != "4020"])
    updates = {id_: attrs for kind, id_, attrs in bunny.writes if kind == "update"}
    assert updates[renamed.id] == FinancialAccountAttributes(
        name=next(a.description for a in CHART if a.code == "4010")
    )
    left = next(a for a in bunny.accounts.values() if a.code == "4020")
    assert updates[left.id] == FinancialAccountAttributes(active=False)
    assert bunny.accounts[renamed.id].account_type == "deferred_revenue"  # the user's type stays
    assert (len(done.plan.updates), len(done.plan.deactivations)) == (1, 1)


def test_gl_mapping_is_resolved_validated_and_its_rows_name_the_problem() -> None:
    mapping = read_gl_mapping(FakeBunny(BUNNY_ACCOUNTS, CHARGES), CHART, bunny_entity_id="1")  # type: ignore[arg-type]
    rows = {r["charge_code"]: r for r in mapping_rows(mapping)}
    assert (rows["SUB-MONTHLY"]["account_code"], rows["SUB-MONTHLY"]["resolved_from"]) == ("4000", "default")
    assert rows["LEGACY-ADDON"]["problem_code"] == "NOT_POSTING_ACCOUNT"
    assert "4900" in rows["LEGACY-ADDON"]["problem"]
    assert rows["PRO-SERVICES"]["problem"] is None and rows["PRO-SERVICES"]["resolved_from"] == "charge"


class FakeAccountsIQ:
    def get_chart_of_accounts(self):  # type: ignore[no-untyped-def]
        return list(CHART)

    def get_tax_codes(self):  # type: ignore[no-untyped-def]
        return list(TAX_CODES)

    def get_periods(self):  # type: ignore[no-untyped-def]
        return list(PERIODS)


def test_ledger_rows_and_counts() -> None:
    ledger = read_ledger(FakeAccountsIQ())  # type: ignore[arg-type]
    rows = {r["code"]: r for r in ledger.account_rows()}
    assert rows["4000"]["is_posting"] is True and rows["4900"]["is_posting"] is False
    assert ledger.posting_accounts == sum(1 for a in CHART if a.is_posting and a.is_active)
    assert ledger.open_sales_periods == sum(1 for p in PERIODS if not p.sales_ledger_closed)
    assert [r["rate"] for r in ledger.tax_code_rows()] == [t.rate for t in TAX_CODES]  # Decimal, as read


def test_chart_read_back_from_the_store_equals_what_was_written(tmp_path: Path) -> None:
    store = Store(tmp_path / "aiq.duckdb")
    with pytest.raises(NoLedgerSnapshot, match="no ledger snapshot of AIQ entity DEMO01 yet"):
        chart_from_store(store, "DEMO01")
    store.write_snapshot(GL_ACCOUNTS_TABLE, "DEMO01", Ledger(CHART, (), ()).account_rows())
    store.write_snapshot(GL_ACCOUNTS_TABLE, "DEMO02", [])  # another pair's entity, later, in a shared store
    back = {a.code: a for a in chart_from_store(store, "DEMO01")}
    # default_tax_id and gl_group are not kept in the snapshot
    assert back == {a.code: replace(a, default_tax_id=None, gl_group=None) for a in CHART}
