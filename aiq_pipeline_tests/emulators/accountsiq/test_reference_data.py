"""Reference data of the demo tenant (docs/demo-tenant.md) as the emulator serves it."""

from __future__ import annotations

from aiq_emulators.accountsiq import start_emulator
from aiq_emulators.accountsiq.fixtures import payments_demo_fixture
from aiq_pipeline_tests.emulators.accountsiq.conftest import NIL, Soap


def test_chart_of_accounts_matches_demo_tenant(soap: Soap) -> None:
    answer = soap.call("GetChartOfAccounts")
    lines = {
        code: (kind, departmental, active)
        for code, kind, departmental, active in zip(
            answer.texts("Code"),
            answer.texts("AccountType"),
            answer.texts("IsDepartmental"),
            answer.texts("IsActive"),
            strict=True,
        )
    }
    assert lines == {
        "4000": ("Posting", "false", "true"),
        "4010": ("Posting", "false", "true"),
        "4020": ("Posting", "false", "true"),
        "4030": ("Posting", "true", "true"),
        "4099": ("Posting", "false", "false"),
        "4900": ("Control", "false", "true"),
        "1100": ("Control", "false", "true"),
        "1200": ("Bank", "false", "true"),
        "2200": ("VAT", "false", "true"),
        "8000": ("Posting", "false", "true"),
    }


def test_tax_codes_are_percentages_with_one_default(soap: Soap) -> None:
    answer = soap.call("GetTaxCodeList")
    rates = dict(zip(answer.texts("Code"), answer.texts("Rate"), strict=True))
    assert rates == {"V01": "23", "V02": "13.5", "V00": "0", "EX": "0"}
    assert answer.texts("IsDefault") == ["true", "false", "false", "false"]


def test_period_list_has_36_months_and_sales_closed_before_june_2026(soap: Soap) -> None:
    answer = soap.call("GetPeriodList", f"<pointInTime {NIL}/>")
    names = answer.texts("PeriodName")
    closed = answer.texts("SalesLedgerClosed")
    assert len(names) == 36 and names[0] == "Jan 2025" and names[-1] == "Dec 2027"
    by_name = dict(zip(names, closed, strict=True))
    assert by_name["May 2026"] == "true" and by_name["Jun 2026"] == "false" and by_name["Jan 2025"] == "true"
    # the underscore-prefixed duplicate field set is filled too
    assert answer.texts("_PeriodName") == names


def test_period_list_point_in_time_selects_its_financial_year(soap: Soap) -> None:
    answer = soap.call("GetPeriodList", "<pointInTime>2026-03-15T00:00:00</pointInTime>")
    assert set(answer.texts("FinancialYear")) == {"2026"} and len(answer.texts("PeriodName")) == 12


def test_company_information_and_entities(soap: Soap) -> None:
    info = soap.call("GetCompanyInformation")
    assert (info.text("CompanyName"), info.text("BaseCurrencyCode"), info.text("PricePrecisionDecimals")) == (
        "Demo Trading Ltd",
        "EUR",
        "2",
    )


def test_currency_exchange_rate_is_base_units_per_currency_unit(soap: Soap) -> None:
    gbp = soap.call("GetCurrencyExchangeRate", "<currencyCode>GBP</currencyCode>")
    assert (gbp.status, gbp.text("Result")) == ("Success", "1.17")
    assert soap.call("GetCurrencyExchangeRate", "<currencyCode>USD</currencyCode>").text("Result") == "0.92"
    assert soap.call("GetCurrencyExchangeRate", "<currencyCode>EUR</currencyCode>").text("Result") == "1"


def test_currency_exchange_rate_follows_the_divide_direction(soap: Soap, emulator) -> None:
    emulator[1].state.options.exchange_rate_direction = "divide"
    assert soap.call("GetCurrencyExchangeRate", "<currencyCode>GBP</currencyCode>").text("Result") == "0.854701"


def test_currency_exchange_rate_failures_use_real_error_codes(soap: Soap, emulator) -> None:
    unknown = soap.call("GetCurrencyExchangeRate", "<currencyCode>JPY</currencyCode>")
    assert (unknown.status, unknown.error_code) == ("Failure", "CURRENCY_CODE_DOES_NOT_EXIST")
    lower = soap.call("GetCurrencyExchangeRate", "<currencyCode>gbp</currencyCode>")
    assert lower.error_code == "CURRENCY_CODE_IS_NOT_UPPERCASE"
    assert soap.call("GetCurrencyExchangeRate", "").error_code == "CURRENCY_CODE_IS_NULL"
    with emulator[1].state.writing() as data:
        del data.entities["DEMO01"].exchange_rates["USD"]
    no_rate = soap.call("GetCurrencyExchangeRate", "<currencyCode>USD</currencyCode>")
    assert (no_rate.status, no_rate.error_code) == ("Failure", "CURRENCYHISTORY_EXCHANGE_RATE_IS_INVALID")


def test_bank_list_currencies_and_chart_currency_reading() -> None:
    """The payments tenant: a Bank per Bank-type GL account with its own currency; the chart's CurrencyCode is the
    base currency unless `chart_bank_currency="bank"`."""
    with start_emulator(fixture=payments_demo_fixture(), validate_responses=True) as (url, handle):
        soap = Soap(url)
        banks = soap.call("GetBankList")
        assert banks.status == "Success"
        assert list(zip(banks.texts("Code"), banks.texts("BankAccountCode"), banks.texts("CurrencyCode"),
                        banks.texts("BankID"), strict=True)) == [
            ("1200", "1200", "EUR", "1"),
            ("1210", "1210", "GBP", "2"),
            ("1220", "1220", "USD", "3"),
            ("1230", "1230", "EUR", "4"),
        ]  # fmt: skip
        chart = soap.call("GetChartOfAccounts")
        assert dict(zip(chart.texts("Code"), chart.texts("CurrencyCode"), strict=True))["1210"] == "EUR"
        handle.set_options(chart_bank_currency="bank")
        chart = soap.call("GetChartOfAccounts")
        assert dict(zip(chart.texts("Code"), chart.texts("CurrencyCode"), strict=True))["1210"] == "GBP"
        soap.close()


def test_currency_list_and_currencies(soap: Soap, emulator) -> None:
    assert soap.call("GetCurrencyList").texts("string") == ["EUR", "GBP", "USD"]
    answer = soap.call("GetCurrencies")
    rows = list(zip(answer.texts("CurrencyCode"), answer.texts("IsBaseCurrency"), answer.texts("ExchangeRate"),
                    strict=True))  # fmt: skip
    assert rows == [("EUR", "true", "1"), ("GBP", "false", "1.17"), ("USD", "false", "0.92")]
    emulator[1].set_options(exchange_rate_direction="divide")
    rates = soap.call("GetCurrencies").texts("ExchangeRate")
    assert rates[1] == soap.call("GetCurrencyExchangeRate", "<currencyCode>GBP</currencyCode>").text("Result")
