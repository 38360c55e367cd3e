"""Fault injection and request statistics for the Bunny emulator (test hooks, outside Bunny's contract).

A fault is posted to `POST /_emulator/faults` as JSON::

    {"kind": "status", "status": 429, "retry_after": 2, "count": 3}      # next 3 matching requests -> 429
    {"kind": "status", "status": 500, "fraction": 0.2, "seed": 7}        # ~20 % of matching requests -> 500
    {"kind": "latency", "latency_ms": 300, "count": 5}                   # delay 5 matching requests
    {"kind": "expire_token", "count": 1}                                 # next request's token dies -> 401

Optional filters: `"path": "/graphql"` (default; or "/oauth/token"), `"operation": "invoices"` (a root field
name or the request's operationName). Without `count` or `fraction` a fault applies to every match.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["status", "latency", "expire_token"]
    status: int = Field(default=500, ge=400, le=599)
    retry_after: float | None = None
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    count: int | None = Field(default=None, ge=1)
    fraction: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    path: str = "/graphql"
    operation: str | None = None


class _Fault:
    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.remaining = spec.count
        self.random = random.Random(spec.seed)

    def matches(self, path: str, operations: set[str]) -> bool:
        if self.spec.path != path:
            return False
        return self.spec.operation is None or self.spec.operation in operations


class FaultBoard:
    """Armed faults plus counters; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self.stats: Counter[str] = Counter()

    def add(self, spec: FaultSpec) -> None:
        with self._lock:
            self._faults.append(_Fault(spec))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats.clear()

    def count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[key] += amount

    def draw(self, path: str, operations: set[str]) -> list[FaultSpec]:
        """The faults that fire for this request (consuming their counts)."""
        fired: list[FaultSpec] = []
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(path, operations):
                    continue
                if fault.spec.fraction is not None and fault.random.random() >= fault.spec.fraction:
                    continue
                fired.append(fault.spec)
                self.stats[f"faults.{fault.spec.kind}"] += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
        return fired

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "counters": dict(self.stats),
                "armed_faults": [
                    {**f.spec.model_dump(exclude_none=True), "remaining": f.remaining} for f in self._faults
                ],
            }
