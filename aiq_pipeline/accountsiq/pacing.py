"""Slowing down when AIQ says so: after its throttle code every call of the client (every thread) waits a pause
that doubles while AIQ keeps throttling and halves with each answer, so a burst slows down instead of failing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    def __init__(self, first: float = 0.5, ceiling: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.first, self.ceiling, self._sleep = first, ceiling, sleep
        self._pause = 0.0
        self.throttled_calls = 0
        self._lock = threading.Lock()

    @property
    def pause(self) -> float:
        return self._pause

    def wait(self) -> None:
        """Before a call: wait the current pause (none unless AIQ throttled lately)."""
        with self._lock:
            pause = self._pause
        if pause > 0:
            self._sleep(pause)

    def throttled(self) -> None:
        with self._lock:
            self.throttled_calls += 1
            self._pause = min(max(self._pause * 2, self.first), self.ceiling)

    def answered(self) -> None:
        with self._lock:
            self._pause = self._pause / 2 if self._pause > self.first / 8 else 0.0
