"""The vendor's Integration 2.0 WSDL (a byte-for-byte copy of shared/reference/accountsiq) and its schema.

`service_schema()` loads the WSDL's embedded `<s:schema>` as an `xmlschema.XMLSchema` so that every
SOAP body the emulator receives or sends, and every request the client builds in tests, can be validated
against the vendor's own types and enumerations (the ~2,400 ErrorCode values included).
"""

from __future__ import annotations

import functools
from pathlib import Path

import xmlschema

WSDL_PATH = Path(__file__).with_name("integration_2_0.wsdl")
SERVICE_NS = "http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_XSD_NS = "http://www.w3.org/2001/XMLSchema"


@functools.cache
def service_schema() -> xmlschema.XMLSchema:
    """The WSDL's `<s:schema>` alone; xmlschema's WSDL reader stops at the SOAP 1.2 binding."""
    text = WSDL_PATH.read_text(encoding="utf-8")
    start = text.index("<s:schema ")
    end = text.index("</s:schema>", start) + len("</s:schema>")
    # The schema uses the `s:` and `tns:` prefixes declared on <wsdl:definitions>; declare them on it.
    schema_text = text[start:end].replace("<s:schema ", f'<s:schema xmlns:s="{_XSD_NS}" xmlns:tns="{SERVICE_NS}" ', 1)
    return xmlschema.XMLSchema(schema_text)
