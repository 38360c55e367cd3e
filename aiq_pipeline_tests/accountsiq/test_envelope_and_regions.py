"""Region endpoints, value formats, the Customer element list and safe parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from aiq_emulators.accountsiq.contract import service_schema
from aiq_pipeline.accountsiq import AccountsIQClient, AiqConfigurationError, AiqTransportError
from aiq_pipeline.accountsiq.customer_record import CUSTOMER_ELEMENTS, NAMED_FIELDS
from aiq_pipeline.accountsiq.envelope import (
    build_request,
    format_value,
    parse_response,
    serialize,
    text,
    to_date,
    to_datetime,
)
from aiq_pipeline.accountsiq.models import Customer
from aiq_pipeline.accountsiq.regions import endpoint_url

PATH = "/system/dashboard/integration/integration_2_0.asmx"


@pytest.mark.parametrize("region", ["us1", "EU1", "Eu2", " uk1 "])
def test_region_is_case_insensitive(region: str) -> None:
    assert endpoint_url(region=region) == f"https://{region.strip().lower()}.accountsiq.com{PATH}"


@pytest.mark.parametrize("region", ["eu3", "ireland", "us-1"])
def test_bad_region_names_the_four(region: str) -> None:
    with pytest.raises(AiqConfigurationError) as raised:
        AccountsIQClient(entity_id="E", client_id="c", client_secret="s", region=region)
    for code in ("US1", "EU1", "EU2", "UK1"):
        assert code in str(raised.value)


def test_base_url_overrides_region_and_appends_path() -> None:
    assert endpoint_url(region="EU1", base_url="http://127.0.0.1:8123") == f"http://127.0.0.1:8123{PATH}"
    assert endpoint_url(base_url="http://127.0.0.1:8123/") == f"http://127.0.0.1:8123{PATH}"
    assert endpoint_url(base_url=f"http://127.0.0.1:8123{PATH}") == f"http://127.0.0.1:8123{PATH}"
    with pytest.raises(AiqConfigurationError):
        endpoint_url(base_url="127.0.0.1:8123")
    with pytest.raises(AiqConfigurationError, match="AIQ_REGION"):
        endpoint_url()


def test_empty_settings_are_configuration_errors() -> None:
    with pytest.raises(AiqConfigurationError, match="AIQ_CLIENT_SECRET"):
        AccountsIQClient(entity_id="E", client_id="c", client_secret=" ", region="EU1")


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (Decimal("1E+2"), "100"),
        (Decimal("0.0000001"), "0.0000001"),
        (Decimal("-12.50"), "-12.50"),
        (date(2025, 1, 2), "2025-01-02T00:00:00"),
        (datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=UTC), "2025-01-02T03:04:05"),
        (True, "true"),
        (7, "7"),
    ],
)
def test_format_value(value: object, wire: str) -> None:
    assert format_value(value) == wire  # type: ignore[arg-type]


def test_non_finite_decimal_refused() -> None:
    with pytest.raises(ValueError):
        format_value(Decimal("NaN"))


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2025-01-31T00:00:00", datetime(2025, 1, 31)),
        ("2025-01-31T10:11:12.1234567", datetime(2025, 1, 31, 10, 11, 12, 123456)),
        ("2025-01-31T10:11:12Z", datetime(2025, 1, 31, 10, 11, 12, tzinfo=UTC)),
        ("2025-01-31T10:11:12.5+01:00", datetime(2025, 1, 31, 10, 11, 12, 500000, tzinfo=timezone(timedelta(hours=1)))),
        ("2025-01-31", datetime(2025, 1, 31)),
        ("0001-01-01T00:00:00", None),
        (None, None),
    ],
)
def test_parse_datetime_tolerant(wire: str | None, expected: datetime | None) -> None:
    assert to_datetime(wire) == expected


def test_business_date_ignores_offset() -> None:
    assert to_date("2025-01-31T00:00:00-05:00") == date(2025, 1, 31)


def test_customer_elements_match_the_wsdl() -> None:
    wsdl = [(e.local_name, e.type.local_name, e.min_occurs == 1, e.nillable)
            for e in service_schema().types["Customer"].content.iter_elements()]  # fmt: skip
    assert [tuple(slot) for slot in CUSTOMER_ELEMENTS] == wsdl
    assert set(NAMED_FIELDS.values()) <= {slot.name for slot in CUSTOMER_ELEMENTS}
    assert set(NAMED_FIELDS) <= set(Customer.__dataclass_fields__)


def test_escaping_round_trip() -> None:
    nasty = "Smith & <Sons> \"quoted\" 'x' ]]> \u00e9"
    envelope, op = build_request("GetCustomer", header=("E", "T"))
    from aiq_pipeline.accountsiq.envelope import add

    add(op, "customerCode", nasty)
    wire = serialize(envelope)
    assert b"&amp;" in wire and b"&lt;Sons&gt;" in wire
    # Read it back as a response would be read (rename the body element to a response).
    response = wire.replace(b"GetCustomer", b"GetCustomerResponse").replace(b"customerCode", b"GetCustomerResult")
    parsed = parse_response(response, "GetCustomer")
    assert text(parsed, "GetCustomerResult") == nasty


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:1/evil.dtd"><x/>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    ],
    ids=["entity", "external-dtd", "external-entity"],
)
def test_unsafe_xml_is_refused(payload: bytes) -> None:
    with pytest.raises(AiqTransportError, match="unsafe"):
        parse_response(payload, "GetCustomer")


def test_not_xml_and_wrong_element_are_transport_errors() -> None:
    with pytest.raises(AiqTransportError, match="not well-formed"):
        parse_response(b"<html>oops", "GetCustomer")
    with pytest.raises(AiqTransportError, match="unexpected response element"):
        parse_response(
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><Other/></s:Body></s:Envelope>',
            "GetCustomer",
        )
