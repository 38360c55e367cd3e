"""SOAP 1.1 envelopes for Integration 2.0: building requests and reading responses.

Requests are built with ElementTree so every text is escaped by the XML library, children sit in the
service namespace (the WSDL says elementFormDefault="qualified") and absent values are either omitted
or sent as `xsi:nil="true"`, exactly as the caller's WSDL-ordered builder says. Responses are parsed with
defusedxml: a DTD, an entity declaration or an external reference makes the response unreadable, never
expanded.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Final

import defusedxml
import defusedxml.ElementTree as SafeET

from aiq_pipeline.accountsiq.errors import AiqTransportError

SERVICE_NS: Final = "http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/"
SOAP_ENV_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
SOAP_ACTION_PREFIX: Final = SERVICE_NS
NIL_ATTR: Final = f"{{{XSI_NS}}}nil"
# .NET's "no date" for required dateTime elements.
MIN_DATETIME_TEXT: Final = "0001-01-01T00:00:00"

ET.register_namespace("soap", SOAP_ENV_NS)
ET.register_namespace("xsi", XSI_NS)

XmlValue = str | int | bool | Decimal | date | datetime


def q(name: str) -> str:
    """A name in the service namespace."""
    return f"{{{SERVICE_NS}}}{name}"


# --- building -------------------------------------------------------------------------------------------


def format_value(value: XmlValue) -> str:
    """The XML Schema lexical form: `true`/`false`, plain decimals (never an exponent), local dateTimes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send a non-finite decimal {value!r} to AccountsIQ")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        # Business dates carry no offset: AIQ reads them as the entity's local date.
        return value.replace(tzinfo=None, microsecond=0).isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    return value


def add(parent: ET.Element, name: str, value: XmlValue | None, *, nillable: bool = False) -> ET.Element | None:
    """Append `<name>value</name>`; None becomes `xsi:nil="true"` when the WSDL allows it, else is omitted."""
    if value is None:
        if not nillable:
            return None
        return ET.SubElement(parent, q(name), {NIL_ATTR: "true"})
    element = ET.SubElement(parent, q(name))
    element.text = format_value(value)
    return element


def add_group(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, q(name))


def build_request(operation: str, *, header: tuple[str, str] | None) -> tuple[ET.Element, ET.Element]:
    """An envelope and its (still empty) operation element. `header` is (entity, access token) or None."""
    envelope = ET.Element(f"{{{SOAP_ENV_NS}}}Envelope")
    if header is not None:
        soap_header = ET.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Header")
        aiq_header = add_group(soap_header, "AiqSoapHeader")
        add(aiq_header, "Entity", header[0])
        add(aiq_header, "AccessToken", header[1])
    body = ET.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body")
    return envelope, add_group(body, operation)


def serialize(envelope: ET.Element) -> bytes:
    body: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return body


# --- reading --------------------------------------------------------------------------------------------


def parse_response(content: bytes, operation: str) -> ET.Element:
    """The `<Op>Response` element of a SOAP response; a fault or anything unexpected is a transport error."""
    try:
        root: ET.Element = SafeET.fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise AiqTransportError(
            f"refused an unsafe response ({type(exc).__name__}): DTDs and entities are not allowed",
            operation=operation,
        ) from None
    except ET.ParseError as exc:
        raise AiqTransportError(f"response is not well-formed XML ({exc})", operation=operation) from None
    body = root.find(f"{{{SOAP_ENV_NS}}}Body") if root.tag == f"{{{SOAP_ENV_NS}}}Envelope" else None
    if body is None or len(body) == 0:
        raise AiqTransportError("response is not a SOAP 1.1 envelope with a body", operation=operation)
    payload = body[0]
    if payload.tag == f"{{{SOAP_ENV_NS}}}Fault":
        raise AiqTransportError(f"SOAP fault: {fault_text(payload)}", operation=operation)
    if payload.tag != q(f"{operation}Response"):
        raise AiqTransportError(f"unexpected response element {payload.tag!r}", operation=operation)
    return payload


def fault_text(fault: ET.Element) -> str:
    code = (fault.findtext("faultcode") or "").strip()
    text = (fault.findtext("faultstring") or "").strip()
    return f"{code} {text}".strip() or "no fault string"


def child(element: ET.Element | None, name: str) -> ET.Element | None:
    return None if element is None else element.find(q(name))


def children(element: ET.Element | None, name: str) -> list[ET.Element]:
    """Items of an ArrayOfX wrapper (a nil item is skipped)."""
    if element is None:
        return []
    return [item for item in element.findall(q(name)) if item.get(NIL_ATTR) != "true"]


def text(element: ET.Element | None, name: str) -> str | None:
    """A child's text: None when absent or nil, "" when present and empty."""
    found = child(element, name)
    if found is None or found.get(NIL_ATTR) == "true":
        return None
    return found.text or ""


def text_or_nil(element: ET.Element) -> str | None:
    return None if element.get(NIL_ATTR) == "true" else (element.text or "")


def to_bool(value: str | None, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("true", "1")


def to_int(value: str | None, default: int = 0) -> int:
    return int(value.strip()) if value is not None and value.strip() else default


def to_decimal(value: str | None, default: Decimal = Decimal(0)) -> Decimal:
    if value is None or value.strip() == "":
        return default
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None


_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:T(?P<time>\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<frac>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)


def to_datetime(value: str | None) -> datetime | None:
    """xs:dateTime, tolerant of 7-digit .NET fractions and an optional Z/offset; .NET's min value is None."""
    if value is None or not value.strip():
        return None
    match = _DATETIME.match(value.strip())
    if match is None:
        raise ValueError(f"not an xs:dateTime: {value!r}")
    if match["date"] == "0001-01-01":
        return None
    parsed = datetime.fromisoformat(f"{match['date']}T{match['time'] or '00:00:00'}")
    if match["frac"]:
        parsed = parsed.replace(microsecond=int(match["frac"][:6].ljust(6, "0")))
    tz = match["tz"]
    if tz == "Z":
        parsed = parsed.replace(tzinfo=UTC)
    elif tz:
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        parsed = parsed.replace(tzinfo=timezone(sign * offset))
    return parsed


def to_date(value: str | None) -> date | None:
    """A business date: the calendar date AIQ wrote, whatever offset came with it."""
    parsed = to_datetime(value)
    return None if parsed is None else parsed.date()


@dataclass(frozen=True)
class ResultStatus:
    """The OperationResult/WSResultStatus part of a result (WSResult3 has no HasExpired)."""

    status: str
    code: str | None
    message: str | None
    has_expired: bool

    @property
    def ok(self) -> bool:
        return self.status in ("Success", "Created")


def read_status(result: ET.Element | None) -> ResultStatus:
    if result is None:
        return ResultStatus(status="Unknown", code=None, message="response has no result element", has_expired=False)
    return ResultStatus(
        status=(text(result, "Status") or "Unknown").strip(),
        code=(text(result, "ErrorCode") or "").strip() or None,
        message=text(result, "ErrorMessage"),
        has_expired=to_bool(text(result, "HasExpired")),
    )
