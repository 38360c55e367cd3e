"""Customer reads and UpdateCustomer create/update semantics."""

from __future__ import annotations

import pytest

from aiq_emulators.accountsiq import start_emulator
from aiq_emulators.accountsiq.fixtures import CustomerFixture, demo_fixture
from aiq_pipeline_tests.emulators.accountsiq.conftest import Answer, Soap, invoice_xml


def _customer_xml(
    code: str, *, name: str = "Acme Ltd", currency: str | None = "EUR", row_version: str | None = None
) -> str:
    """The Customer sequence with every required value type, as a strict client sends it."""
    cur = f"<CurrencyCode>{currency}</CurrencyCode>" if currency is not None else ""
    rv = f"<RowVersionNumber>{row_version}</RowVersionNumber>" if row_version is not None else ""
    return (
        "<customer><AccountID>0</AccountID><ExternalApproverID xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'"
        " xsi:nil='true'/><LedgerType>Sales</LedgerType>"
        f"<Code>{code}</Code><Name>{name}</Name>{cur}<CreationDate>0001-01-01T00:00:00</CreationDate>"
        "<Email>billing@acme.example</Email><DiscountRate>0</DiscountRate><UseAccountTaxCode>false</UseAccountTaxCode>"
        "<IsActive>true</IsActive><Hold>0</Hold><HeadOfficeAccountID xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'"
        " xsi:nil='true'/><UseHeadOffice>false</UseHeadOffice><IsHeadOffice>false</IsHeadOffice>"
        f"<CreditLimit>0</CreditLimit><IsFranchise>false</IsFranchise>{rv}"
        "<SalesRepresentativeID xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:nil='true'/></customer>"
    )


def update(soap: Soap, code: str, create: bool = True, **kw: str | None) -> Answer:
    return soap.call("UpdateCustomer", _customer_xml(code, **kw) + f"<create>{str(create).lower()}</create>")


def test_get_customer_and_list(soap: Soap) -> None:
    answer = soap.call("GetCustomer", "<customerCode>EXISTING-002</customerCode>")
    assert (answer.status, answer.text("Code"), answer.text("CurrencyCode")) == ("Success", "EXISTING-002", "GBP")
    listing = soap.call("GetCustomerList")
    assert listing.texts("Code") == ["EXISTING-001", "EXISTING-002", "EXISTING-003"]


def test_get_unknown_customer_fails_without_result(soap: Soap) -> None:
    answer = soap.call("GetCustomer", "<customerCode>NOPE</customerCode>")
    assert (answer.status, answer.error_code, answer.text("Result")) == (
        "Failure",
        "CUSTOMER_CODE_DOES_NOT_EXIST",
        None,
    )


def test_new_customer_from_defaults(soap: Soap) -> None:
    answer = soap.call("GetNewCustomerFromDefaults")
    assert answer.text("AccountID") == "0" and answer.text("Code") is None
    assert (answer.text("CurrencyCode"), answer.text("DefaultTaxCode"), answer.text("ControlGLAccountCode")) == (
        "EUR",
        "V01",
        "1100",
    )


def test_create_then_update_with_row_version(soap: Soap) -> None:
    created = update(soap, "BUNNY-ACME")
    assert (created.status, created.error_code, created.text("Result")) == ("Created", "SUCCESS", "true")
    first = soap.call("GetCustomer", "<customerCode>BUNNY-ACME</customerCode>")
    account_id, version = first.text("AccountID"), first.text("RowVersionNumber")
    assert int(account_id) > 0 and version
    updated = update(soap, "BUNNY-ACME", name="Acme Renamed", row_version=version)
    assert (updated.status, updated.text("Result")) == ("Success", "true")
    second = soap.call("GetCustomer", "<customerCode>BUNNY-ACME</customerCode>")
    assert second.text("Name") == "Acme Renamed" and second.text("AccountID") == account_id
    assert second.text("RowVersionNumber") != version


@pytest.mark.parametrize("row_version", [None, "0000000000000001"])
def test_stale_or_missing_row_version_conflicts(soap: Soap, row_version: str | None) -> None:
    update(soap, "BUNNY-ACME")
    answer = update(soap, "BUNNY-ACME", name="Other", row_version=row_version)
    assert (answer.status, answer.error_code, answer.text("Result")) == ("Conflicted", "OUTDATED_RECORD", "false")
    assert soap.call("GetCustomer", "<customerCode>BUNNY-ACME</customerCode>").text("Name") == "Acme Ltd"


def test_update_without_create_on_new_code_is_not_created(soap: Soap) -> None:
    answer = update(soap, "BUNNY-NEW", create=False)
    assert (answer.status, answer.text("Result")) == ("NotCreated", "false")
    assert soap.call("GetCustomer", "<customerCode>BUNNY-NEW</customerCode>").status == "Failure"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("", "ACCOUNT_CODE_IS_EMPTY"),
        ("bunny-lower", "ACCOUNT_CODE_MUST_BE_UPPER_CASE"),
        ("X" * 51, "ACCOUNT_CODE_IS_TOO_LONG"),
    ],
)
def test_customer_code_rules(soap: Soap, code: str, error: str) -> None:
    answer = update(soap, code)
    assert (answer.status, answer.error_code) == ("Failure", error)


def test_customer_code_of_exactly_50_is_accepted(soap: Soap) -> None:
    assert update(soap, "X" * 50).status == "Created"


def test_unknown_currency_is_rejected(soap: Soap) -> None:
    assert update(soap, "BUNNY-JPY", currency="JPY").error_code == "CURRENCY_CODE_DOES_NOT_EXIST"


def test_currency_fixed_once_customer_has_transactions(soap: Soap) -> None:
    update(soap, "BUNNY-FX", currency="EUR")
    version = soap.call("GetCustomer", "<customerCode>BUNNY-FX</customerCode>").text("RowVersionNumber")
    # no transactions yet: changing currency is allowed
    assert update(soap, "BUNNY-FX", currency="GBP", row_version=version).status == "Success"
    posted = soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(customer="BUNNY-FX", rate="1.17"))
    assert posted.status == "Success"
    version = soap.call("GetCustomer", "<customerCode>BUNNY-FX</customerCode>").text("RowVersionNumber")
    answer = update(soap, "BUNNY-FX", currency="USD", row_version=version)
    assert (answer.status, answer.error_code) == ("Failure", "CANNOT_MODIFY_CURRENCY_CODE_ACCOUNT_IS_IN_USE")
    # same currency is still a normal update
    assert update(soap, "BUNNY-FX", currency="GBP", name="Kept", row_version=version).status == "Success"


def test_active_customer_list_leaves_inactive_customers_out(soap: Soap) -> None:
    assert soap.call("GetActiveCustomerList").texts("Code") == ["EXISTING-001", "EXISTING-002", "EXISTING-003"]
    current = soap.call("GetCustomer", "<customerCode>EXISTING-003</customerCode>").text("RowVersionNumber")
    body = _customer_xml("EXISTING-003", currency="USD", row_version=current).replace(
        "<IsActive>true</IsActive>", "<IsActive>false</IsActive>"
    )
    assert soap.call("UpdateCustomer", body + "<create>false</create>").status == "Success"
    assert soap.call("GetActiveCustomerList").texts("Code") == ["EXISTING-001", "EXISTING-002"]
    assert soap.call("GetCustomerList").texts("Code") == ["EXISTING-001", "EXISTING-002", "EXISTING-003"]


def test_fixture_customers_carry_vat_number_and_country() -> None:
    demo = demo_fixture()
    entity = demo.entities[0]
    matched = CustomerFixture(code="EXISTING-009", name="Matched Ltd", vat_registration_number="IE1234567T",
                              country_code="IE", country="Ireland", email="ap@matched.example")  # fmt: skip
    fixture = demo.model_copy(update={"entities": [entity.model_copy(update={"customers": [matched]}),
                                                   *demo.entities[1:]]})  # fmt: skip
    with start_emulator(fixture=fixture) as (url, _):
        soap = Soap(url)
        answer = soap.call("GetCustomerList")
        soap.close()
    assert (answer.text("Code"), answer.text("VATRegistrationNumber"), answer.text("CountryCode")) == (
        "EXISTING-009",
        "IE1234567T",
        "IE",
    )
    assert (answer.text("Country"), answer.text("Email")) == ("Ireland", "ap@matched.example")
