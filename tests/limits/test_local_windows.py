"""The in-process sliding window counter, on a clock the test moves."""

from __future__ import annotations

import pytest

from fundament.limits import local
from fundament.limits.local import LocalWindows

WINDOWS = ((2, 1), (5, 60))  # a burst of 2 per second, 5 per minute


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [6000.0]  # the start of a minute
    monkeypatch.setattr(local.time, "time", lambda: now[0])
    return now


def test_burst_then_minute_and_a_refusal_takes_nothing(clock: list[float]) -> None:
    w = LocalWindows()
    assert [w.admit("t", WINDOWS, 1).allowed for _ in range(3)] == [True, True, False]
    refused = w.admit("t", WINDOWS, 1)
    assert (refused.allowed, refused.refused) == (False, 0)  # the burst window said no
    clock[0] += 2.0
    assert [w.admit("t", WINDOWS, 1).allowed for _ in range(3)] == [True, True, False]
    clock[0] += 2.0
    v = w.admit("t", WINDOWS, 1)
    assert (v.allowed, v.remaining) == (True, 0)  # the fifth of the minute
    clock[0] += 2.0
    v = w.admit("t", WINDOWS, 1)
    assert (v.allowed, v.refused) == (False, 1)  # the minute window said no
    assert v.reset >= 1
    assert w.admit("other", WINDOWS, 1).allowed  # tenants do not share windows


def test_the_previous_window_counts_by_its_overlap(clock: list[float]) -> None:
    w = LocalWindows()
    for _ in range(5):
        clock[0] += 1.0
        assert w.admit("t", WINDOWS, 1).allowed
    clock[0] = 6060.0 + 30.0  # half into the next minute: 5 × 0.5 = 2.5 still count
    assert [w.admit("t", WINDOWS, 1).allowed for _ in range(3)] == [True, True, False]
    clock[0] = 6060.0 + 60.0 * 2 + 1  # two windows on: nothing counts
    assert w.admit("t", WINDOWS, 2).allowed


def test_units_are_taken_from_every_window(clock: list[float]) -> None:
    w = LocalWindows()
    assert w.admit("t", WINDOWS, 2).allowed
    assert not w.admit("t", WINDOWS, 1).allowed
    clock[0] += 1.0  # the last second's 2 still overlap the sliding second in full
    assert not w.admit("t", WINDOWS, 1).allowed
    clock[0] += 1.0
    v = w.admit("t", WINDOWS, 2)
    assert (v.allowed, v.remaining) == (True, 1)
