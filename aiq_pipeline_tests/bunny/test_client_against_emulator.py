"""The production client over real HTTP (127.0.0.1) against the Bunny emulator's sample tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aiq_pipeline.bunny import (
    DEFAULT_SCOPES,
    BunnyClient,
    BunnyConfigurationError,
    BunnyMutationError,
    BunnyOutcomeUnknownError,
    FinancialAccountAttributes,
)

CLIENT_ID = "demo-bunny-client"
CLIENT_SECRET = "demo-bunny-secret"


@pytest.fixture(autouse=True)
def fresh_tenant(base_url: str) -> None:
    httpx.post(f"{base_url}/_emulator/reset").raise_for_status()


def _arm(base_url: str, **fault: Any) -> None:
    httpx.post(f"{base_url}/_emulator/faults", json=fault).raise_for_status()


def _counters(base_url: str) -> dict[str, int]:
    return httpx.get(f"{base_url}/_emulator/stats").json()["counters"]


def _client(base_url: str, **kwargs: Any) -> BunnyClient:
    options: dict[str, Any] = {"backoff_base": 0.0, "timeout": 10.0}
    options.update(kwargs)
    return BunnyClient(base_url=base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **options)


def test_scopes_entity_and_currencies(base_url: str) -> None:
    with _client(base_url) as client:
        assert client.current_scopes() == frozenset(DEFAULT_SCOPES.split())
        entity = client.get_entity("1")
        assert client.get_entity("999") is None
        codes = {c.id: c.iso_code for c in client.iter_currencies()}
    assert entity is not None and (entity.name, entity.base_currency_code) == ("Demo Trading Ltd", "EUR")
    assert codes == {"1": "EUR", "2": "GBP", "3": "USD"}


def test_invoice_refs_are_filtered_server_side_and_never_cross_entities(base_url: str) -> None:
    with _client(base_url, page_size=3) as client:
        refs = list(client.iter_invoice_refs("1", updated_since=None))
        other = list(client.iter_invoice_refs("2", updated_since=None))
        assert client._filter_level == {"InvoiceRefs": 0}  # the emulator accepted the full filter
    assert refs and other
    assert {r.entity_id for r in refs} == {"1"} and {r.entity_id for r in other} == {"2"}
    assert len({r.id for r in refs}) == len(refs)
    assert not {r.id for r in refs} & {r.id for r in other}


def test_pagination_over_three_pages(base_url: str) -> None:
    with _client(base_url, page_size=1) as client:
        everything = list(client.iter_invoice_refs("1", updated_since=None))
        assert len(everything) >= 3
        before = client.request_count
        again = list(client.iter_invoice_refs("1", updated_since=None))
        pages = client.request_count - before
    assert [r.id for r in again] == [r.id for r in everything]
    assert pages == len(everything)  # one request per page of one, none wasted


def test_updated_since_and_states(base_url: str) -> None:
    with _client(base_url) as client:
        refs = list(client.iter_invoice_refs("1", updated_since=None))
        cut = sorted(r.updated_at for r in refs)[len(refs) // 2]
        recent = list(client.iter_invoice_refs("1", updated_since=cut))
        paid = list(client.iter_invoice_refs("1", updated_since=None, states={"PAID"}))
        assert list(client.iter_invoice_refs("1", updated_since=datetime(2100, 1, 1, tzinfo=UTC))) == []
    assert {r.id for r in recent} == {r.id for r in refs if r.updated_at >= cut}
    assert {r.id for r in paid} == {r.id for r in refs if r.state == "PAID"}


def test_full_invoice_money_is_exact_decimal(base_url: str) -> None:
    with _client(base_url) as client:
        invoices = list(client.iter_invoices("1"))
        single = client.get_invoice(invoices[0].id)
    assert single == invoices[0]
    assert invoices
    for invoice in invoices:
        assert invoice.currency_code in {"EUR", "GBP", "USD"}
        assert all(isinstance(v, Decimal) for v in (invoice.subtotal, invoice.tax_amount, invoice.amount))
        # The demo tenant's money semantics (docs/demo-tenant.md), to the cent.
        assert invoice.subtotal == sum((i.amount for i in invoice.items), Decimal(0))
        assert invoice.tax_amount == sum((i.tax_amount for i in invoice.items), Decimal(0))
        assert invoice.amount == invoice.subtotal + invoice.tax_amount
        for item in invoice.items:
            assert item.charge_type in {"SubscriptionCharge", "QuoteCharge"}
            assert item.price_list_charge_code
    first = invoices[0]
    assert first.account is not None and first.account.billing_contact is not None


def test_gl_reads_and_financial_account_writes(base_url: str) -> None:
    with _client(base_url) as client:
        codes = {fa.code for fa in client.iter_financial_accounts("1")}
        charges = {c.code: c.financial_account_code for c in client.iter_price_list_charges()}
        created = client.create_financial_account(
            FinancialAccountAttributes(
                code="8000", name="Sundry", account_type="earned_revenue", entity_id="1", source="accountsiq",
                external_id="8000", active=False,
            )
        )  # fmt: skip
        updated = client.update_financial_account(created.id, FinancialAccountAttributes(name="Sundry expenses"))
        with pytest.raises(BunnyMutationError):
            client.create_financial_account(
                FinancialAccountAttributes(code="8000", name="Again", account_type="earned_revenue", entity_id="1")
            )
        after = {fa.code: fa for fa in client.iter_financial_accounts("1")}
    assert {"4000", "4010", "4900"} <= codes
    assert charges["PRO-SERVICES"] == "4010" and charges["SUB-MONTHLY"] is None
    assert (created.code, created.active, created.entity_id) == ("8000", False, "1")
    assert updated.id == created.id and updated.name == "Sundry expenses"
    assert after["8000"].name == "Sundry expenses"


def test_expired_token_is_renewed_once(base_url: str) -> None:
    with _client(base_url) as client:
        client.current_scopes()
        _arm(base_url, kind="expire_token", count=1)
        assert client.current_scopes()
        assert client.token_request_count == 2


def test_429_with_retry_after_is_honoured(base_url: str) -> None:
    sleeps: list[float] = []
    with _client(base_url, sleep=sleeps.append) as client:
        client.current_scopes()
        _arm(base_url, kind="status", status=429, retry_after=2, count=2, operation="currentUser")
        assert client.current_scopes()
    assert sleeps == [2.0, 2.0]


def test_5xx_on_a_mutation_is_not_retried(base_url: str) -> None:
    with _client(base_url) as client:
        client.current_scopes()
        _arm(base_url, kind="status", status=500, count=1, operation="financialAccountCreate")
        with pytest.raises(BunnyOutcomeUnknownError):
            client.create_financial_account(
                FinancialAccountAttributes(code="8000", name="Sundry", account_type="earned_revenue", entity_id="1")
            )
        assert "8000" not in {fa.code for fa in client.iter_financial_accounts("1")}
    assert _counters(base_url).get("faults.status") == 1


def test_wrong_secret_and_scope_are_configuration_errors(base_url: str) -> None:
    wrong = BunnyClient(base_url=base_url, client_id=CLIENT_ID, client_secret="not-the-secret", backoff_base=0)
    with wrong, pytest.raises(BunnyConfigurationError, match="BUNNY_CLIENT_SECRET") as caught:
        wrong.current_scopes()
    assert "not-the-secret" not in str(caught.value)
    with (
        _client(base_url, scopes="admin:read") as client,
        pytest.raises(BunnyConfigurationError, match="invalid_scope"),
    ):
        client.current_scopes()
