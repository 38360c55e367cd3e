"""A posting run's reference lists (currencies, the entity's financial accounts, price-list charges) in one request,
a longer list continued with its own query, and the separate reads when Bunny refuses several root fields in one
query (the UNVERIFIED `combined_reads` reading), remembered per process; a missing scope or an outage is raised."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from aiq_emulators.bunny.app import OPTIONS_ENV, options_from_env
from aiq_pipeline.bunny import (
    BunnyClient,
    BunnyConfigurationError,
    BunnyPermissionError,
    BunnyQueryError,
    BunnyTransientError,
    ReferenceLists,
)
from aiq_pipeline.bunny.documents import REFERENCE_LISTS
from aiq_pipeline.defs.resources import PROCESS_COMBINED_REFUSED, BunnyResource
from aiq_pipeline.service.probe.bunny_reads import combined_reads_finding
from aiq_pipeline.service.probe.findings import Verdict
from aiq_pipeline_tests.bunny.fake_bunny import CURRENCIES, FakeBunny, connection, currencies_handler

CLIENT_ID = "demo-bunny-client"
CLIENT_SECRET = "demo-bunny-secret"
SEPARATE = ("Currencies", "FinancialAccounts", "PriceListCharges")


@pytest.fixture(autouse=True)
def fresh_tenant(base_url: str) -> None:
    httpx.post(f"{base_url}/_emulator/reset").raise_for_status()
    httpx.post(f"{base_url}/_emulator/options", json={"combined_reads": "accepted"}).raise_for_status()


def _client(base_url: str, **kwargs: Any) -> BunnyClient:
    options: dict[str, Any] = {"backoff_base": 0.0, "timeout": 10.0}
    options.update(kwargs)
    return BunnyClient(base_url=base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **options)


def _operations(base_url: str) -> Counter[str]:
    """GraphQL requests so far by operation name (the emulator counts each request's operationName once)."""
    counters: dict[str, int] = httpx.get(f"{base_url}/_emulator/stats").json()["counters"]
    names = (*SEPARATE, "ReferenceLists", "Invoices", "Invoice")
    return Counter({name: counters.get(f"graphql.field.{name}", 0) for name in names})


def _separately(base_url: str) -> ReferenceLists:
    with _client(base_url) as client:
        return ReferenceLists(
            tuple(client.iter_currencies()),
            tuple(client.iter_financial_accounts("1")),
            tuple(client.iter_price_list_charges()),
        )


def _refuse_combined_reads(base_url: str) -> None:
    httpx.post(f"{base_url}/_emulator/options", json={"combined_reads": "refused"}).raise_for_status()


def test_one_request_reads_the_three_lists_and_decoding_then_asks_no_currencies(base_url: str) -> None:
    expected = _separately(base_url)
    before = _operations(base_url)
    with _client(base_url) as client:
        lists = client.reference_lists("1")
        requests = client.request_count
        invoices = client.get_invoices(["1", "2", "5"])
    assert requests == 2  # the token and one GraphQL request
    assert _operations(base_url) - before == Counter({"ReferenceLists": 1, "Invoices": 1})  # no Currencies
    assert lists == expected
    assert {c.iso_code for c in lists.currencies} == {"EUR", "GBP", "USD"}
    assert {a.entity_id for a in lists.financial_accounts} == {"1"} and len(lists.financial_accounts) == 11
    assert {c.code for c in lists.price_list_charges} == {"SUB-MONTHLY", "PRO-SERVICES", "API-USAGE", "LEGACY-ADDON"}
    assert invoices and {i.currency_code for i in invoices.values()} <= {"EUR", "GBP", "USD"}


def test_a_list_longer_than_a_page_goes_on_with_its_own_query_and_only_that_list(base_url: str) -> None:
    expected = _separately(base_url)
    before = _operations(base_url)
    # Pages of 4: 3 currencies and 4 charges fit, entity 1's 11 accounts (among entity 2's 8) take 3 pages.
    with _client(base_url, page_size=4) as client:
        lists = client.reference_lists("1")
    assert _operations(base_url) - before == Counter({"ReferenceLists": 1, "FinancialAccounts": 2})
    assert lists == expected


def test_a_continued_list_starts_from_its_end_cursor_under_the_same_filter() -> None:
    accounts = [_account(str(n), "1") for n in range(1, 6)]
    fake = FakeBunny()
    fake.handlers["ReferenceLists"] = lambda v: {
        "currencies": connection(CURRENCIES, v),
        "financialAccounts": connection(accounts, v),
        "priceListCharges": connection([], v),
    }
    fake.handlers["FinancialAccounts"] = lambda v: {"financialAccounts": connection(accounts, v)}
    with fake.client(page_size=2) as client:
        lists = client.reference_lists("1")
    assert [a.id for a in lists.financial_accounts] == ["1", "2", "3", "4", "5"]
    assert [c.variables for c in fake.calls("ReferenceLists")] == [{"first": 2, "accountFilter": "entityId = '1'"}]
    assert [c.variables for c in fake.calls("FinancialAccounts")] == [
        {"filter": "entityId = '1'", "first": 2, "after": "2"},
        {"filter": "entityId = '1'", "first": 2, "after": "4"},
    ]
    assert fake.calls("Currencies") == [] and fake.calls("PriceListCharges") == []


def test_refused_combined_reads_fall_back_to_the_same_lists_and_the_process_then_asks_separately(
    base_url: str,
) -> None:
    expected = _separately(base_url)
    _refuse_combined_reads(base_url)
    resource = BunnyResource(base_url=base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, entity_id="1")
    before = _operations(base_url)
    with resource.open() as client:
        first = client.reference_lists("1")
        client.get_invoices(["1", "2"])
    after_first = _operations(base_url)
    with resource.open() as client:
        second = client.reference_lists("1")
    separate = Counter(dict.fromkeys(SEPARATE, 1))
    assert first == second == expected
    assert after_first - before == separate + Counter({"ReferenceLists": 1, "Invoices": 1})  # decoding: no Currencies
    assert _operations(base_url) - after_first == separate  # the next client does not try the combined read
    assert base_url in PROCESS_COMBINED_REFUSED


def test_the_emulator_refuses_several_root_fields_like_graphql_ruby_and_one_root_field_still_runs(
    base_url: str,
) -> None:
    _refuse_combined_reads(base_url)
    with _client(base_url) as client:
        with pytest.raises(BunnyQueryError, match=r"Query has complexity of \d+, which exceeds max complexity of \d+"):
            client._query(REFERENCE_LISTS, {"first": 10, "accountFilter": None})
        assert len(list(client.iter_currencies())) == 3
    started = options_from_env({OPTIONS_ENV: '{"combined_reads": "refused"}'})  # `aiq-pipeline emulate`
    assert started is not None and started.combined_reads == "refused"


def test_a_missing_scope_on_the_combined_read_is_raised_not_taken_for_a_refusal(base_url: str) -> None:
    refused: set[str] = set()
    before = _operations(base_url)
    with (
        _client(base_url, scopes="standard:read billing:read", combined_refused=refused) as client,
        pytest.raises(BunnyPermissionError, match="product:read"),
    ):
        client.reference_lists("1")
    assert _operations(base_url) - before == Counter({"ReferenceLists": 1})  # no separate read tried
    assert refused == set()


@pytest.mark.parametrize(
    ("status", "error"), [(500, BunnyTransientError), (403, BunnyConfigurationError)], ids=["outage", "forbidden"]
)
def test_an_outage_or_a_refused_client_on_the_combined_read_is_raised(
    base_url: str, status: int, error: type[Exception]
) -> None:
    fault = {"kind": "status", "status": status, "operation": "ReferenceLists", "count": 10}
    httpx.post(f"{base_url}/_emulator/faults", json=fault).raise_for_status()
    refused: set[str] = set()
    before = _operations(base_url)
    with _client(base_url, max_attempts=2, combined_refused=refused) as client:
        with pytest.raises(error):
            client.reference_lists("1")
        requests = client.request_count
    assert requests == 1 + (2 if status == 500 else 1)  # the token, then the combined read (a 500 retried once)
    assert _operations(base_url) - before == Counter()  # nothing ran, and no separate read was tried
    assert refused == set()


def test_an_error_the_separate_reads_meet_too_is_theirs_to_raise_and_nothing_is_remembered() -> None:
    fake = FakeBunny()
    fake.handlers["ReferenceLists"] = lambda _: httpx.Response(200, json={"errors": [{"message": "Internal error"}]})
    fake.handlers["Currencies"] = lambda _: httpx.Response(200, json={"errors": [{"message": "Internal error"}]})
    refused: set[str] = set()
    with fake.client(combined_refused=refused) as client, pytest.raises(BunnyQueryError) as raised:
        client.reference_lists("1")
    assert raised.value.operation == "Currencies"
    assert refused == set()


def test_an_error_that_is_no_limit_reads_one_by_one_this_time_and_the_next_read_tries_combined_again() -> None:
    """Only a limit on the query (graphql-ruby's complexity or depth) is remembered as a refusal: a passing error
    body on the combined read ("Internal error") is read around once, and the next read asks the combined query."""
    fake = FakeBunny()
    answers = iter([httpx.Response(200, json={"errors": [{"message": "Internal error"}]})])

    def combined(variables: dict[str, Any]) -> Any:
        return next(answers, None) or {
            "currencies": connection(CURRENCIES, variables),
            "financialAccounts": connection([], variables),
            "priceListCharges": connection([], variables),
        }

    fake.handlers["ReferenceLists"] = combined
    fake.handlers["Currencies"] = currencies_handler
    fake.handlers["FinancialAccounts"] = lambda v: {"financialAccounts": connection([], v)}
    fake.handlers["PriceListCharges"] = lambda v: {"priceListCharges": connection([], v)}
    refused: set[str] = set()
    with fake.client(combined_refused=refused) as client:  # one client: the error is of that read only
        finding = combined_reads_finding(client, "1")  # `doctor --probe`'s row reads what the run reads
        assert not client.combined_reads_refused
        again = combined_reads_finding(client, "1")
    assert (finding.shows, finding.verdict) == ("cannot tell", Verdict.UNDETERMINED)
    assert "Internal error" in finding.evidence and "2 currencies" in finding.evidence
    assert (again.shows, again.verdict) == ("accepted", Verdict.AGREES)
    assert len(fake.calls("ReferenceLists")) == 2 and len(fake.calls("Currencies")) == 1
    assert refused == set()


def test_a_refused_account_filter_falls_back_once_and_the_next_combined_read_starts_there() -> None:
    accounts = [_account("1", "1"), _account("2", "2")]
    malformed = httpx.Response(200, json={"data": None, "errors": [{"message": "Malformed filter"}]})

    def combined(variables: dict[str, Any]) -> Any:
        if variables["accountFilter"] is not None:
            return malformed
        return {
            "currencies": connection(CURRENCIES, variables),
            "financialAccounts": connection(accounts, variables),
            "priceListCharges": connection([], variables),
        }

    fake = FakeBunny()
    fake.handlers["ReferenceLists"] = combined
    fake.handlers["Currencies"] = currencies_handler
    fake.handlers["FinancialAccounts"] = lambda v: (
        malformed if v["filter"] else {"financialAccounts": connection(accounts, v)}
    )
    fake.handlers["PriceListCharges"] = lambda v: {"priceListCharges": connection([], v)}
    refused: set[str] = set()
    with fake.client(combined_refused=refused) as client:
        first = client.reference_lists("1")
        second = client.reference_lists("1")
    assert first == second and [a.id for a in first.financial_accounts] == ["1"]  # entity 2's left out client-side
    assert [c.variables["accountFilter"] for c in fake.calls("ReferenceLists")] == ["entityId = '1'", None]
    assert [c.variables["filter"] for c in fake.calls("FinancialAccounts")] == ["entityId = '1'", None]
    assert refused == set()  # a filter refused is not a refusal of the combined read


def _account(account_id: str, entity_id: str) -> dict[str, Any]:
    return {
        "id": account_id,
        "code": f"40{account_id}",
        "name": f"Account {account_id}",
        "accountType": "earned_revenue",
        "active": True,
        "defaultAccount": False,
        "entityId": entity_id,
    }
