"""Telling a live claim holder from a dead one, with real processes."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from aiq_pipeline.service.processes import is_dead, this_process


def _fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _identity(pid: int) -> str:
    return f"{socket.gethostname()}/{pid}/{_fields(pid)[19]}"


def _state(pid: int) -> str:
    return _fields(pid)[0]


def test_this_process_is_alive() -> None:
    assert not is_dead(this_process())


def test_a_running_child_is_alive_and_once_reaped_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = _identity(child.pid)
        assert not is_dead(identity)
    finally:
        child.kill()
        child.wait()
    assert is_dead(identity)


def test_a_killed_child_its_parent_has_not_reaped_yet_is_dead() -> None:
    """A run worker SIGKILLed under the code server stays a zombie until the code server waits for it."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = _identity(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _state(child.pid) != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        assert is_dead(identity)  # still in /proc, with its own start time: a zombie
    finally:
        child.wait()


def test_a_reused_pid_is_another_process_so_the_holder_is_dead() -> None:
    pid, start = this_process().split("/")[-2:]
    assert is_dead(f"{socket.gethostname()}/{pid}/{int(start) + 1}")


def test_a_holder_on_another_host_is_never_judged_dead_from_here() -> None:
    """Only its lease frees its claims (the journal's rule): this host cannot see another host's processes."""
    assert not is_dead(f"{socket.gethostname()}-elsewhere/999999/1")
