"""Customers for matching (issue 11) through the production client over real HTTP: one list call per batch with
the fields matching needs, and updating an existing customer's details with its row version."""

from __future__ import annotations

import dataclasses

from aiq_pipeline.accountsiq import (
    AiqNotFoundError,
    AiqOutdatedRecord,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
    Customer,
)
from aiq_pipeline_tests.accountsiq.conftest import Money


def by_code(customers: list[Customer]) -> dict[str | None, Customer]:
    return {c.code: c for c in customers}


def test_one_list_call_gives_every_customer_with_matching_fields(money: Money) -> None:
    client = money.client()
    customers = by_code(client.get_customer_list())
    assert money.calls("GetCustomerList") == 1
    assert list(customers) == ["EXISTING-001", "EXISTING-002", "EXISTING-003"]
    one = customers["EXISTING-001"]
    assert (one.name, one.email, one.currency_code, one.is_active) == (
        "Existing Customer One",
        "accounts@existing-one.example",
        "EUR",
        True,
    )
    assert one.account_id > 0 and one.row_version_number
    assert customers["EXISTING-002"].currency_code == "GBP"


def test_an_existing_customer_is_updated_with_its_row_version(money: Money) -> None:
    client = money.client()
    listed = by_code(client.get_customer_list())["EXISTING-001"]
    changed = dataclasses.replace(
        listed,
        name="Existing Customer One Ltd",
        email="billing@existing-one.example",
        vat_registration_number="IE9876543W",
        country_code="IE",
        country="Ireland",
        address1="1 Main Street",
        city="Dublin",
    )
    assert client.update_customer(changed, create=False) is True
    again = client.get_customer("EXISTING-001")
    assert again is not None
    assert (again.name, again.email, again.vat_registration_number, again.country_code, again.country) == (
        "Existing Customer One Ltd",
        "billing@existing-one.example",
        "IE9876543W",
        "IE",
        "Ireland",
    )
    assert (again.address1, again.city, again.account_id) == ("1 Main Street", "Dublin", listed.account_id)
    assert again.row_version_number != listed.row_version_number
    # The list shows the change too (what the next batch matches against).
    assert by_code(client.get_customer_list())["EXISTING-001"].vat_registration_number == "IE9876543W"


def test_a_stale_row_version_is_an_outdated_record_and_changes_nothing(money: Money) -> None:
    client = money.client()
    stale = by_code(client.get_customer_list())["EXISTING-002"]
    client.update_customer(dataclasses.replace(stale, email="first@example.com"), create=False)
    with money.raises(AiqOutdatedRecord) as raised:
        client.update_customer(dataclasses.replace(stale, email="second@example.com"), create=False)
    assert raised.value.code == "OUTDATED_RECORD"
    assert isinstance(raised.value, AiqValidationError)  # callers catching AiqValidationError still see it
    current = client.get_customer("EXISTING-002")
    assert current is not None and current.email == "first@example.com"


def test_updating_a_customer_that_does_not_exist_is_not_found(money: Money) -> None:
    client = money.client()
    template = client.get_new_customer_from_defaults()
    template.code, template.name = "NOT-THERE", "Nobody"
    with money.raises(AiqNotFoundError):
        client.update_customer(template, create=False)
    assert client.get_customer("NOT-THERE") is None


def test_active_list_leaves_out_inactive_customers(money: Money) -> None:
    client = money.client()
    three = by_code(client.get_customer_list())["EXISTING-003"]
    client.update_customer(dataclasses.replace(three, is_active=False), create=False)
    assert list(by_code(client.get_active_customer_list())) == ["EXISTING-001", "EXISTING-002"]
    assert by_code(client.get_customer_list())["EXISTING-003"].is_active is False


def test_a_lost_update_answer_is_unknown_and_was_applied_once(money: Money) -> None:
    client = money.client()
    client.get_entities_by_token()
    listed = by_code(client.get_customer_list())["EXISTING-001"]
    money.handle.faults.add({"kind": "drop_after_commit", "operations": ["UpdateCustomer"], "count": 1})
    with money.raises(AiqWriteOutcomeUnknown):
        client.update_customer(dataclasses.replace(listed, email="new@example.com"), create=False)
    assert money.calls("UpdateCustomer") == 1
    current = client.get_customer("EXISTING-001")
    assert current is not None and current.email == "new@example.com"
