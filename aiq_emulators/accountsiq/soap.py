"""SOAP 1.1 envelopes for the emulator, driven by the vendor's own schema.

Requests are parsed with defusedxml, validated against `service_schema()` and decoded into plain Python values
(`Decimal` for xs:decimal and xs:double, `int`, `bool`, naive `datetime`, `str`; `None` for xsi:nil; repeated
elements as lists) keyed by the WSDL's local element names. Responses are encoded by walking the same schema, so
element order is always the WSDL's, nillable values become ``xsi:nil="true"``, null optional elements are omitted
(as .NET does for null strings) and required value types that a handler left unset get .NET's default (``0``,
``false``, ``0001-01-01T00:00:00``, the first enumeration value).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException
from xmlschema.validators import XsdElement, XsdType

from aiq_emulators.accountsiq.contract import SERVICE_NS, SOAP_ENV_NS, service_schema

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_XSI_NIL = f"{{{XSI_NS}}}nil"
_MIN_DATETIME = datetime(1, 1, 1)
_INT_TYPES = frozenset({"int", "short", "long", "unsignedByte", "byte", "integer", "unsignedInt", "unsignedShort"})
_DECIMAL_TYPES = frozenset({"decimal", "double", "float"})
_KNOWN_SIMPLE = _INT_TYPES | _DECIMAL_TYPES | {"boolean", "dateTime", "string", "base64Binary"}

ET.register_namespace("soap", SOAP_ENV_NS)
ET.register_namespace("xsi", XSI_NS)


class SoapClientFault(Exception):
    """The request cannot be processed at all: ASMX answers HTTP 500 with a soap:Client fault."""


@dataclass(frozen=True)
class SoapRequest:
    operation: str
    header: dict[str, Any] | None  # decoded AiqSoapHeader, None when absent
    params: dict[str, Any]


def _q(local: str) -> str:
    return f"{{{SERVICE_NS}}}{local}"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _simple_kind(xsd_type: Any) -> str:  # an XsdType; xmlschema's own types do not follow base types
    """The builtin type a (possibly restricted) simple type is made of: 'int', 'decimal', 'string', ..."""
    t = xsd_type
    while t is not None and t.local_name not in _KNOWN_SIMPLE:
        t = t.base_type
    return "string" if t is None else t.local_name


@functools.cache
def _children(xsd_type: Any) -> tuple[XsdElement, ...]:  # an XsdType with complex content
    return tuple(xsd_type.content.iter_elements()) if xsd_type.has_complex_content() else ()


def _is_repeated(el: XsdElement) -> bool:
    return el.max_occurs is None or el.max_occurs > 1


# ---------------------------------------------------------------- decoding


def _decode_simple(kind: str, text: str) -> Any:
    text = text.strip() if kind != "string" else text
    if kind in _INT_TYPES:
        return int(text)
    if kind in _DECIMAL_TYPES:
        return Decimal(text)
    if kind == "boolean":
        return text in ("true", "1")
    if kind == "dateTime":
        # Business dates: keep the wall-clock date and time as sent, drop any offset (see protocol notes 5.5).
        return datetime.fromisoformat(text).replace(tzinfo=None)
    return text


def decode(elem: ET.Element, xsd_element: XsdElement) -> Any:
    if elem.get(_XSI_NIL) in ("true", "1"):
        return None
    xsd_type = xsd_element.type
    if xsd_type.is_simple() or not xsd_type.has_complex_content():
        return _decode_simple(_simple_kind(xsd_type), elem.text or "")
    out: dict[str, Any] = {}
    by_name = {c.local_name: c for c in _children(xsd_type)}
    for child in elem:
        local = _local(child.tag)
        child_el = by_name[local]  # the body already validated, so every child is known
        value = decode(child, child_el)
        if _is_repeated(child_el):
            out.setdefault(local, []).append(value)
        else:
            out[local] = value
    return out


def parse_request(body: bytes, soap_action: str | None) -> SoapRequest:
    """Parse, validate and decode a SOAP 1.1 request; raises SoapClientFault for anything ASMX would reject."""
    try:
        root = DET.fromstring(body)
    except (ET.ParseError, DefusedXmlException) as exc:
        message = f"Server was unable to read request. ---> There is an error in XML document: {exc}"
        raise SoapClientFault(message) from None
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise SoapClientFault("Server was unable to read request: the root element is not a SOAP 1.1 Envelope.")
    body_el = root.find(f"{{{SOAP_ENV_NS}}}Body")
    if body_el is None or len(body_el) == 0:
        raise SoapClientFault("Server was unable to read request: the SOAP Body is missing or empty.")
    op_el = body_el[0]
    body_local = _local(op_el.tag)
    action = (soap_action or "").strip().strip('"')
    if action:
        if not action.startswith(SERVICE_NS):
            raise SoapClientFault(f"Server did not recognize the value of HTTP Header SOAPAction: {action}.")
        operation = action[len(SERVICE_NS) :]
    else:
        operation = body_local
    schema = service_schema()
    if operation not in schema.elements or f"{operation}Response" not in schema.elements:
        raise SoapClientFault(f"Server did not recognize the value of HTTP Header SOAPAction: {action or operation}.")
    if op_el.tag != _q(operation):
        raise SoapClientFault(f"Server did not recognize the request element {op_el.tag} for operation {operation}.")
    _fill_absent_nillable_params(op_el, schema.elements[operation])
    _validate(op_el)
    header: dict[str, Any] | None = None
    header_el = root.find(f"{{{SOAP_ENV_NS}}}Header/{_q('AiqSoapHeader')}")
    if header_el is not None:
        _validate(header_el)
        header = decode(header_el, schema.elements["AiqSoapHeader"])
    params = decode(op_el, schema.elements[operation])
    return SoapRequest(operation=operation, header=header, params=params)


def _fill_absent_nillable_params(op_el: ET.Element, xsd_element: XsdElement) -> None:
    """An absent nillable parameter reads as nil, as ASMX's XmlSerializer does.

    The vendor's own Postman sample for GetPeriodList omits the required-but-nillable `pointInTime`, and the real
    service answers it; everything else still has to validate.
    """
    present = {_local(child.tag) for child in op_el}
    for position, param in enumerate(_children(xsd_element.type)):
        if param.nillable and param.min_occurs >= 1 and param.local_name not in present:
            op_el.insert(min(position, len(op_el)), ET.Element(_q(param.local_name), {_XSI_NIL: "true"}))


def _validate(elem: ET.Element) -> None:
    error = next(service_schema().iter_errors(elem), None)
    if error is not None:
        reason = error.reason or str(error.message)
        raise SoapClientFault(f"Server was unable to read request. ---> {reason} (at {error.path})")


# ---------------------------------------------------------------- encoding


def _default(xsd_type: XsdType) -> Any:
    if not xsd_type.is_simple() and xsd_type.has_complex_content():
        return {}
    enum = getattr(xsd_type, "enumeration", None)
    if enum:
        return enum[0]
    kind = _simple_kind(xsd_type)
    if kind in _INT_TYPES:
        return 0
    if kind in _DECIMAL_TYPES:
        return Decimal(0)
    if kind == "boolean":
        return False
    if kind == "dateTime":
        return _MIN_DATETIME
    return ""


def _format_simple(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    return str(value)


def _encode_into(parent: ET.Element, el: XsdElement, value: Any) -> None:
    if value is None:
        if el.nillable:
            ET.SubElement(parent, el.name, {_XSI_NIL: "true"})
            return
        if el.min_occurs == 0:
            return
        value = _default(el.type)
    node = ET.SubElement(parent, el.name)
    if el.type.is_simple() or not el.type.has_complex_content():
        node.text = _format_simple(value)
        return
    if not isinstance(value, dict):
        raise TypeError(f"{el.local_name} needs a dict, got {type(value).__name__}")
    children = _children(el.type)
    unknown = set(value) - {c.local_name for c in children}
    if unknown:
        raise KeyError(f"{el.local_name} has no elements {sorted(unknown)}")
    for child in children:
        child_value = value.get(child.local_name)
        if _is_repeated(child):
            for item in child_value or ():
                _encode_into(node, child, item)
        else:
            _encode_into(node, child, child_value)


def encode_body(element_name: str, value: dict[str, Any]) -> ET.Element:
    """The body element `element_name` (a global element of the service schema) built from `value`."""
    holder = ET.Element("holder")
    _encode_into(holder, service_schema().elements[element_name], value)
    return holder[0]


def envelope(body_child: ET.Element) -> bytes:
    env = ET.Element(f"{{{SOAP_ENV_NS}}}Envelope")
    ET.SubElement(env, f"{{{SOAP_ENV_NS}}}Body").append(body_child)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(env, encoding="utf-8", xml_declaration=False)


def response_envelope(operation: str, value: dict[str, Any]) -> bytes:
    return envelope(encode_body(f"{operation}Response", value))


def fault_envelope(message: str, code: str = "soap:Client") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring><detail />"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()
