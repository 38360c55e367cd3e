"""Serve an emulator's ASGI app with uvicorn, in the foreground or on a background thread.

Tests and benchmarks use `serve_in_thread` so every client talks real HTTP to a real socket;
the CLI's `emulate` command uses `serve_forever`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    # One worker, no reload, no access log: emulators are quiet and deterministic.
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")


def serve_forever(app: ASGIApp, port: int, host: str = LOOPBACK) -> None:
    uvicorn.Server(_config(app, host, port)).run()


@contextmanager
def serve_in_thread(app: ASGIApp, port: int = 0, host: str = LOOPBACK) -> Iterator[str]:
    """Run `app` on a daemon thread; yields its base URL (``http://127.0.0.1:PORT``)."""
    port = port or free_port(host)
    server = uvicorn.Server(_config(app, host, port))
    thread = threading.Thread(target=server.run, name=f"emulator:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"emulator did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
