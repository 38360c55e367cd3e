"""Shared helpers: a running emulator and a raw SOAP caller that checks every answer against the WSDL schema."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as DET
import httpx
import pytest

from aiq_emulators.accountsiq import SERVICE_PATH, EmulatorHandle, start_emulator
from aiq_emulators.accountsiq.contract import SERVICE_NS, SOAP_ENV_NS, service_schema

NS = SERVICE_NS
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NIL = f'xmlns:xsi="{XSI}" xsi:nil="true"'
CLIENT_ID, CLIENT_SECRET = "demo-aiq-client", "demo-aiq-secret"


class Clock:
    """A settable naive-UTC clock so tests can move time past token expiry."""

    def __init__(self) -> None:
        self.now = datetime(2026, 7, 1, 9, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def envelope(operation: str, inner: str, header: str = "") -> str:
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_ENV_NS}">{head}'
        f'<soap:Body><{operation} xmlns="{NS}">{inner}</{operation}></soap:Body></soap:Envelope>'
    )


def aiq_header(token: str, entity: str | None = "DEMO01") -> str:
    entity_el = f"<Entity>{entity}</Entity>" if entity is not None else ""
    return f'<AiqSoapHeader xmlns="{NS}">{entity_el}<AccessToken>{token}</AccessToken></AiqSoapHeader>'


@dataclass
class Answer:
    status_code: int
    root: ET.Element  # the <Op>Response element (or soap:Fault for HTTP 500)

    def text(self, local: str) -> str | None:
        found = self.root.find(f".//{{{NS}}}{local}")
        return None if found is None else (found.text or "")

    def texts(self, local: str) -> list[str]:
        return [el.text or "" for el in self.root.iter(f"{{{NS}}}{local}")]

    @property
    def status(self) -> str | None:
        return self.text("Status")

    @property
    def error_code(self) -> str | None:
        return self.text("ErrorCode")


def check_response(response: httpx.Response) -> Answer:
    """Every 200 answer validates against the WSDL schema; every 500 is a well-formed soap:Fault."""
    root = DET.fromstring(response.content)
    assert root.tag == f"{{{SOAP_ENV_NS}}}Envelope"
    body_child = root.find(f"{{{SOAP_ENV_NS}}}Body")[0]
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("text/xml")
        service_schema().validate(body_child)
    else:
        assert response.status_code == 500
        assert body_child.tag == f"{{{SOAP_ENV_NS}}}Fault"
    return Answer(response.status_code, body_child)


class Soap:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.token: str | None = None
        self.refresh_token: str | None = None

    def raw(self, body: str | bytes, action: str | None) -> httpx.Response:
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if action is not None:
            headers["SOAPAction"] = action
        return self.http.post(SERVICE_PATH, content=body, headers=headers)

    def call(
        self, operation: str, inner: str = "", *, header: str | None = None, entity: str | None = "DEMO01"
    ) -> Answer:
        if header is None and operation not in ("TokenGet", "TokenRefresh"):
            header = aiq_header(self.login(), entity)
        return check_response(self.raw(envelope(operation, inner, header or ""), f'"{NS}{operation}"'))

    def login(self) -> str:
        if self.token is None:
            answer = self.call(
                "TokenGet", f"<clientId>{CLIENT_ID}</clientId><clientSecret>{CLIENT_SECRET}</clientSecret>"
            )
            assert answer.status == "Success", answer.error_code
            self.token, self.refresh_token = answer.text("AccessToken"), answer.text("RefreshToken")
        return self.token

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def _shared_emulator() -> Iterator[tuple[str, EmulatorHandle, Clock]]:
    # One server for the session; every test gets it reset (data, tokens, faults, stats, options, clock).
    clock = Clock()
    with start_emulator(clock=clock, validate_responses=True) as (base_url, handle):
        yield base_url, handle, clock


@pytest.fixture
def clock(_shared_emulator: tuple[str, EmulatorHandle, Clock]) -> Clock:
    shared = _shared_emulator[2]
    shared.now = Clock().now
    return shared


@pytest.fixture
def emulator(_shared_emulator: tuple[str, EmulatorHandle, Clock], clock: Clock) -> tuple[str, EmulatorHandle]:
    base_url, handle, _ = _shared_emulator
    handle.reset_options()
    handle.reset()
    return base_url, handle


@pytest.fixture
def soap(emulator: tuple[str, EmulatorHandle]) -> Iterator[Soap]:
    client = Soap(emulator[0])
    yield client
    client.close()


def invoice_xml(
    *,
    customer: str = "EXISTING-001",
    date: str = "2026-07-01T00:00:00",
    reference: str | None = "BUNNY-INV-1",
    description: str = "Invoice",
    lines: str | None = None,
    rate: str = "1",
    element: str = "inv",
) -> str:
    if lines is None:
        lines = line_xml()
    ref = f"<ExternalReference>{reference}</ExternalReference>" if reference is not None else ""
    return (
        f"<{element}><CustomerCode>{customer}</CustomerCode><InvoiceDate>{date}</InvoiceDate>{ref}"
        f"<Description>{description}</Description><Lines>{lines}</Lines><ExchangeRate>{rate}</ExchangeRate></{element}>"
    )


def line_xml(
    *,
    gl: str | None = "4000",
    tax: str | None = "V01",
    description: str | None = "Subscription",
    department: str | None = None,
    net: str = "100.00",
    tax_rate: str = "0.23",
    tax_amount: str | None = None,
    element: str = "BatchSalesInvoiceLine",
) -> str:
    parts = [
        f"<GLAccountCode>{gl}</GLAccountCode>" if gl is not None else "",
        f"<TaxCode>{tax}</TaxCode>" if tax is not None else "",
        f"<Description>{description}</Description>" if description is not None else "",
        f"<DepartmentID>{department}</DepartmentID>" if department is not None else "",
        f"<NetAmount>{net}</NetAmount><TaxRate>{tax_rate}</TaxRate>",
        f"<TaxAmount>{tax_amount}</TaxAmount>" if tax_amount is not None else f"<TaxAmount {NIL}/>",
    ]
    return f"<{element}>{''.join(parts)}</{element}>"


def credit_note_xml(*, reference: str = "BUNNY-CN-1", net: str = "50.00", date: str = "2026-07-02T00:00:00") -> str:
    line = line_xml(net=net, element="BatchSalesCreditNoteLine")
    return (
        "<creditNote><ExchangeRate>1</ExchangeRate><CustomerCode>EXISTING-001</CustomerCode>"
        f"<CreditNoteDate>{date}</CreditNoteDate><ExternalReference>{reference}</ExternalReference>"
        f"<Description>Credit</Description><Lines>{line}</Lines></creditNote>"
    )


def lookup_xml(reference: str) -> str:
    return (
        f"<query><ExternalReference>{reference}</ExternalReference><FromDate>2000-01-01T00:00:00</FromDate>"
        "<ToDate>2100-01-01T00:00:00</ToDate></query>"
    )
