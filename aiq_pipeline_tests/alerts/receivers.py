"""Real receivers for the alert tests, on 127.0.0.1: an SMTP server (aiosmtpd, with a login) and an HTTP webhook
receiver (the standard library's server). Each keeps what it received and can be taken down and brought back."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-s3cret-pw"
WEBHOOK_TOKEN = "hook-t0ken-9f8e7d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mail:
    subject: str
    sender: str
    recipients: list[str]
    text: str


@dataclass
class SmtpServer:
    port: int
    received: list[Mail] = field(default_factory=list)
    _controller: Controller | None = None

    @property
    def url(self) -> str:
        """An apprise URL with a login: the password must never show anywhere."""
        return (
            f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.port}"
            "?from=alerts@example.com&to=finance@example.com&cto=2"
        )

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd handler hook
        message: Message = email.message_from_bytes(envelope.original_content)
        text = "".join(
            part.get_payload(decode=True).decode() for part in message.walk() if part.get_content_type() == "text/plain"
        )
        subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
        self.received.append(Mail(subject, envelope.mail_from, list(envelope.rcpt_tos), text.replace("\r\n", "\n")))
        return "250 OK"

    def start(self) -> None:
        def login(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> AuthResult:
            return AuthResult(success=auth.login == SMTP_USER.encode() and auth.password == SMTP_PASSWORD.encode())

        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, authenticator=login, auth_require_tls=False
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Webhook:
    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    answering: int = 200  # the status the receiver answers with (503: the channel is down)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Apprise's JSON webhook; the token in the path must never show anywhere."""
        return f"json://127.0.0.1:{self.port}/hooks/{WEBHOOK_TOKEN}?cto=2&rto=5"

    def start(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hook.answering == 200:
                    hook.received.append({"path": self.path, **json.loads(body)})
                self.send_response(hook.answering)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def webhook() -> Iterator[Webhook]:
    hook = Webhook(free_port())
    hook.start()
    try:
        yield hook
    finally:
        hook.stop()
