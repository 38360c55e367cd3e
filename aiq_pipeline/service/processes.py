"""Which process holds a claim, and whether it is still alive.

A claim records `host/pid/start`: the process start time (from /proc, in clock ticks since boot) tells a live
process from a later one that reused the pid. Liveness can only be judged on the same host; a claim held on
another host is trusted until its lease runs out.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path


def _stat(pid: int) -> tuple[str, str] | None:
    """The process's state letter and start time (None when /proc does not show it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after its closing one.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], fields[19]


@cache
def this_process() -> str:
    pid = os.getpid()
    stat = _stat(pid)
    return f"{socket.gethostname()}/{pid}/{stat[1] if stat else '?'}"


def is_dead(process: str) -> bool:
    """True only when `process` (from `this_process`) ran on this host and is gone.

    A zombie is gone: a killed run worker stays one until its parent (the code server) reaps it, and its claims
    must not wait for that."""
    parts = process.split("/")
    if len(parts) < 3:
        return False
    host, pid_text, started = "/".join(parts[:-2]), parts[-2], parts[-1]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    stat = _stat(int(pid_text))
    if stat is None:
        return not _pid_exists(int(pid_text))
    state, now = stat
    return state in ("Z", "X") or (started != "?" and now != started)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
