"""Bounded retries with backoff (tenacity), honouring the server's Retry-After.

Which failures are retried is decided by the caller through `should_retry`:
queries retry every `BunnyTransientError`; mutations only those with `not_applied` (see `graphql_http`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from aiq_pipeline.bunny.errors import BunnyTransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Longest pause we accept from Retry-After or backoff; a longer Retry-After is capped, not ignored.
MAX_WAIT_SECONDS = 60.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base: float = 0.5
    sleep: Callable[[float], None] | None = None  # injectable for tests; None = time.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base < 0:
            raise ValueError("backoff_base must not be negative")

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, BunnyTransientError) and error.retry_after is not None:
            return min(error.retry_after, MAX_WAIT_SECONDS)
        # Exponential backoff with jitter (base, 2*base, 4*base, ... plus up to one base at random).
        backoff = self.backoff_base * 2.0 ** (state.attempt_number - 1) + random.uniform(0, self.backoff_base)
        return min(backoff, MAX_WAIT_SECONDS)

    def call(self, fn: Callable[[], T], *, should_retry: Callable[[BunnyTransientError], bool], what: str) -> T:
        """Run `fn`, retrying the transient failures `should_retry` accepts; re-raise the last one."""

        def retryable(error: BaseException) -> bool:
            return isinstance(error, BunnyTransientError) and should_retry(error)

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "Bunny %s failed (%s); retrying in %.1fs (attempt %d of %d)",
                what,
                error,
                wait,
                state.attempt_number + 1,
                self.max_attempts,
            )

        retrying = Retrying(
            sleep=self.sleep if self.sleep is not None else time.sleep,
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)
