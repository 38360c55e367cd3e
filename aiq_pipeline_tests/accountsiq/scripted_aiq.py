"""A scripted stand-in for AccountsIQ on `httpx.MockTransport`, strict about the WSDL both ways.

Every request the client sends is checked against the vendor schema (the soap:Body child and, when
present, the AiqSoapHeader element) before it is answered, and every scripted response is checked too,
so a test can only pass with XML the real service would accept and could send.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import httpx

from aiq_emulators.accountsiq.contract import SERVICE_NS, SOAP_ENV_NS, service_schema

SOAP_ACTION_PREFIX = "http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/"
ENTITY = "ACME01"
CLIENT_ID = "client-id-123"
CLIENT_SECRET = "s3cret-Client-Secret-value"


@dataclass
class Seen:
    """One request as the fake received it."""

    operation: str
    soap_action: str
    content_type: str
    body: ET.Element  # the operation element
    header: ET.Element | None  # AiqSoapHeader
    raw: bytes

    def param(self, name: str) -> str | None:
        found = self.body.find(f"{{{SERVICE_NS}}}{name}")
        return None if found is None else (found.text or "")

    @property
    def access_token(self) -> str | None:
        if self.header is None:
            return None
        found = self.header.find(f"{{{SERVICE_NS}}}AccessToken")
        return None if found is None else found.text


Responder = Callable[[Seen], httpx.Response]


def validate(element: ET.Element) -> None:
    """Raise AssertionError listing schema violations of a global element."""
    errors = list(service_schema().iter_errors(element))
    if errors:
        tag = element.tag.rpartition("}")[2]
        raise AssertionError(f"{tag} violates the WSDL schema: " + "; ".join(str(e.reason) for e in errors[:5]))


def envelope(payload: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<soap:Body>{payload}</soap:Body></soap:Envelope>"
    )


def soap_response(payload: str, status_code: int = 200) -> httpx.Response:
    text = envelope(payload)
    root = ET.fromstring(text)
    body_child = root.find(f"{{{SOAP_ENV_NS}}}Body")[0]  # type: ignore[index]
    if body_child.tag != f"{{{SOAP_ENV_NS}}}Fault":
        validate(body_child)
    return httpx.Response(status_code, content=text.encode(), headers={"Content-Type": "text/xml; charset=utf-8"})


def result(
    operation: str,
    *,
    status: str = "Success",
    code: str = "SUCCESS",
    message: str | None = None,
    has_expired: bool = False,
    result_xml: str | None = None,
    out_params: str = "",
) -> httpx.Response:
    """A WSResult2/WSResultStatus answer: Status, ErrorCode, ErrorMessage, HasExpired, Result, out-params."""
    msg = f"<ErrorMessage>{escape(message)}</ErrorMessage>" if message is not None else ""
    res = f"<Result>{result_xml}</Result>" if result_xml is not None else ""
    return soap_response(
        f'<{operation}Response xmlns="{SERVICE_NS}"><{operation}Result>'
        f"<Status>{status}</Status><ErrorCode>{code}</ErrorCode>{msg}"
        f"<HasExpired>{'true' if has_expired else 'false'}</HasExpired>{res}"
        f"</{operation}Result>{out_params}</{operation}Response>"
    )


def failure(
    operation: str, code: str, *, has_expired: bool = False, message: str = "failed", **kw: str
) -> httpx.Response:
    return result(operation, status="Failure", code=code, message=message, has_expired=has_expired, **kw)


def token_result(
    operation: str,
    access: str | None,
    refresh: str | None,
    *,
    status: str = "Success",
    code: str = "SUCCESS",
    message: str | None = None,
) -> httpx.Response:
    """WSResult3: Result first, then Status/ErrorCode/ErrorMessage (free strings), no HasExpired."""
    res = ""
    if access is not None:
        res = f"<Result><AccessToken>{access}</AccessToken><RefreshToken>{refresh}</RefreshToken></Result>"
    msg = f"<ErrorMessage>{escape(message)}</ErrorMessage>" if message else ""
    return soap_response(
        f'<{operation}Response xmlns="{SERVICE_NS}"><{operation}Result>{res}'
        f"<Status>{status}</Status><ErrorCode>{code}</ErrorCode>{msg}</{operation}Result></{operation}Response>"
    )


def fault(text: str = "Server was unable to process request.", status_code: int = 500) -> httpx.Response:
    return soap_response(
        f"<soap:Fault><faultcode>soap:Server</faultcode><faultstring>{escape(text)}</faultstring></soap:Fault>",
        status_code,
    )


@dataclass
class ScriptedAiq:
    """Answers per operation from a queue of scripted responders, else from `defaults`.

    TokenGet issues `access-N`/`refresh-N` pairs and TokenRefresh rotates them, unless scripted otherwise.
    """

    seen: list[Seen] = field(default_factory=list)
    scripts: dict[str, deque[Responder | httpx.Response | Exception]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    defaults: dict[str, Responder] = field(default_factory=dict)
    issued: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def script(self, operation: str, *answers: Responder | httpx.Response | Exception) -> None:
        self.scripts[operation].extend(answers)

    def ops(self) -> list[str]:
        return [s.operation for s in self.seen]

    def calls(self, operation: str) -> list[Seen]:
        return [s for s in self.seen if s.operation == operation]

    def handle(self, request: httpx.Request) -> httpx.Response:
        raw = request.read()
        root = ET.fromstring(raw)
        assert root.tag == f"{{{SOAP_ENV_NS}}}Envelope"
        body = root.find(f"{{{SOAP_ENV_NS}}}Body")
        assert body is not None and len(body) == 1, "exactly one operation element in soap:Body"
        operation_element = body[0]
        validate(operation_element)
        header = root.find(f"{{{SOAP_ENV_NS}}}Header/{{{SERVICE_NS}}}AiqSoapHeader")
        if header is not None:
            validate(header)
        operation = operation_element.tag.rpartition("}")[2]
        assert operation_element.tag == f"{{{SERVICE_NS}}}{operation}"
        seen = Seen(
            operation=operation,
            soap_action=request.headers.get("SOAPAction", ""),
            content_type=request.headers.get("Content-Type", ""),
            body=operation_element,
            header=header,
            raw=raw,
        )
        self.seen.append(seen)
        queue = self.scripts.get(operation)
        if queue:
            answer = queue.popleft()
            if isinstance(answer, Exception):
                raise answer
            return answer if isinstance(answer, httpx.Response) else answer(seen)
        if operation in self.defaults:
            return self.defaults[operation](seen)
        if operation in ("TokenGet", "TokenRefresh"):
            self.issued += 1
            return token_result(operation, f"access-{self.issued}", f"refresh-{self.issued}")
        raise AssertionError(f"unscripted operation {operation}")
