"""After AIQ's throttle code the client slows every call down, more while AIQ keeps throttling and less with each
answer; a burst then slows down instead of failing."""

from __future__ import annotations

from aiq_pipeline.accountsiq.pacing import Pacer


def test_the_pause_doubles_while_throttled_up_to_a_ceiling_and_halves_away_with_answers() -> None:
    slept: list[float] = []
    pacer = Pacer(first=0.5, ceiling=2.0, sleep=slept.append)
    pacer.wait()
    assert slept == []  # no pause until AIQ throttles
    for _ in range(4):
        pacer.throttled()
    assert pacer.pause == 2.0
    pacer.wait()
    assert slept == [2.0]
    pauses = []
    for _ in range(6):
        pacer.answered()
        pauses.append(pacer.pause)
    assert pauses[:3] == [1.0, 0.5, 0.25] and pauses[-1] == 0.0
