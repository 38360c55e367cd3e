"""Run-time fault injection and call statistics for the AccountsIQ emulator.

A `FaultRule` (JSON on `POST /_emulator/faults`, or `handle.faults.add(...)`) says what to do to matching calls:

- `latency`: sleep `latency_ms` before answering (every matching call unless `count`/`fraction` limit it);
- `throttle`: answer in-band `Status=Failure`, `OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS`, nothing applied;
- `http_500`: answer HTTP 500 with a `soap:Server` fault, nothing applied;
- `drop_after_commit`: on write operations only, apply the write, then send the response headers with the full
  Content-Length and only part of the body and break the connection, so the client never sees the answer;
- `slow_commit`: on write operations only, apply the write, then wait `latency_ms` before answering (a client
  whose timeout is shorter sees a timeout after the commit). The option `slow_commit_seconds` does the same for
  every write; the longer of the two wins.

`operations` limits a rule to those operation names (all when omitted). `count` makes it fire for the next N
matching calls and then retire; `fraction` makes it fire with that probability, drawn from `random.Random(seed)`
so a benchmark is repeatable. Without either, it fires on every matching call.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

FaultKind = Literal["latency", "throttle", "http_500", "drop_after_commit", "slow_commit"]


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    operations: list[str] | None = None
    count: int | None = Field(default=None, ge=1)
    fraction: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    latency_ms: int = Field(default=0, ge=0)

    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    @model_validator(mode="after")
    def _setup(self) -> FaultRule:
        if self.kind in ("latency", "slow_commit") and self.latency_ms == 0:
            raise ValueError(f"latency_ms must be set for a {self.kind} rule")
        self._rng = random.Random(self.seed)
        return self

    def matches(self, operation: str) -> bool:
        return self.operations is None or operation in self.operations


class FaultPlan:
    """The active rules; `decide` consumes them call by call (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule | dict) -> FaultRule:
        rule = rule if isinstance(rule, FaultRule) else FaultRule.model_validate(rule)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict]:
        with self._lock:
            return [rule.model_dump() for rule in self._rules]

    def decide(self, operation: str, kind: FaultKind) -> FaultRule | None:
        """The first rule of `kind` that fires for this call, consuming one of its `count`."""
        with self._lock:
            for rule in self._rules:
                if rule.kind != kind or not rule.matches(operation):
                    continue
                if rule.fraction is not None and rule._rng.random() >= rule.fraction:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
                return rule
        return None


class CallStats:
    """Calls received per operation (including failed and faulted ones) and faults injected per kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def count_call(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"calls": dict(self.calls), "total_calls": sum(self.calls.values()), "faults": dict(self.faults)}

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.faults.clear()
