"""What `doctor` checks payments settings against, through the production client over real HTTP: the chart's Bank
accounts (under every AccountType spelling), the bank list with each bank's currency, and the currencies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aiq_pipeline_tests.accountsiq.conftest import Money


@pytest.mark.parametrize("spelling", ["word", "upper", "letter"])
def test_bank_accounts_are_known_from_the_chart_under_every_spelling(money: Money, spelling: str) -> None:
    money.handle.set_options(account_type_spelling=spelling)
    chart = money.client().get_chart_of_accounts()
    banks = sorted(a.code for a in chart if a.is_bank)
    assert banks == ["1200", "1210", "1220", "1230"]
    posting = {a.code for a in chart if a.is_posting}
    assert "6900" in posting and "1200" not in posting and "1100" not in posting


def test_the_bank_list_gives_each_banks_currency(money: Money) -> None:
    client = money.client()
    banks = {b.gl_account_code: b for b in client.get_bank_list()}
    assert {code: b.currency_code for code, b in banks.items()} == {
        "1200": "EUR",
        "1210": "GBP",
        "1220": "USD",
        "1230": "EUR",
    }
    assert banks["1230"].name == "Card processor clearing" and banks["1230"].bank_id > 0
    chart = {a.code: a for a in client.get_chart_of_accounts()}
    assert all(chart[code].is_bank and chart[code].is_active for code in banks)
    assert not chart["6900"].is_bank and chart["6900"].is_posting  # the bank-charges account


def test_currencies(money: Money) -> None:
    client = money.client()
    assert client.get_currency_list() == ["EUR", "GBP", "USD"]
    currencies = {c.code: c for c in client.get_currencies()}
    assert [c.code for c in currencies.values() if c.is_base_currency] == ["EUR"]
    assert currencies["GBP"].exchange_rate == Decimal("1.17") == client.get_currency_exchange_rate("GBP")
    assert currencies["EUR"].exchange_rate == Decimal(1) and currencies["EUR"].symbol == "€"
