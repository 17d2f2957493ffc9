"""Rate-limit windows of one process: the sliding window counter, in plain memory.

The same algorithm as the shared windows (limits/shared.py) and as the `limits` library's
``SlidingWindowCounterRateLimiter``: a window's count is this fixed window's hits plus the
previous one's, weighted by how much of it still overlaps the sliding window. It replaces
the library on the hot path because the library's async in-memory storage costs three
awaited calls per request (burst hit, minute hit, window stats), each through a lock and
an expiry schedule — about 20 µs of a 350 µs GET-by-id (bench/hooks.py) — for what is a
few arithmetic operations on two numbers here.
"""

from __future__ import annotations

import math
import time

from fundament.limits.shared import Verdict

#: A tenant not seen for this long is forgotten (its windows are empty by then).
_IDLE_SECONDS = 120.0
_SWEEP_EVERY = 4096


class _Counter:
    __slots__ = ("current", "index", "previous")

    def __init__(self) -> None:
        self.index = -1
        self.current = 0
        self.previous = 0

    def count(self, now: float, seconds: int) -> float:
        index, offset = divmod(now, seconds)
        if index != self.index:
            self.previous = self.current if index == self.index + 1 else 0
            self.current = 0
            self.index = int(index)
        return self.previous * (1.0 - offset / seconds) + self.current


class LocalWindows:
    """Every tenant's windows in this process."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, int, int], _Counter] = {}
        self._seen: dict[str, float] = {}
        self._admissions = 0

    def admit(self, tenant: str, windows: tuple[tuple[int, int], ...], units: int) -> Verdict:
        """Take ``units`` from every window ((limit, seconds), ...) of ``tenant``, or refuse
        (naming the first window without room) and take nothing."""
        now = time.time()
        self._seen[tenant] = now
        self._admissions += 1
        if self._admissions % _SWEEP_EVERY == 0:
            self._sweep(now)
        counters = []
        for i, (limit, seconds) in enumerate(windows):
            ident = (tenant, limit, seconds)
            counter = self._counters.get(ident)
            if counter is None:
                counter = self._counters[ident] = _Counter()
            used = counter.count(now, seconds)
            if used + units > limit:
                return Verdict(False, i, 0, self._reset(counter, limit, seconds, now, units))
            counters.append((counter, used))
        for counter, _ in counters:
            counter.current += units
        counter, used = counters[-1]
        limit, seconds = windows[-1]
        return Verdict(True, None, max(0, math.floor(limit - used - units)), _window_end(seconds, now))

    @staticmethod
    def _reset(counter: _Counter, limit: int, seconds: int, now: float, units: int) -> int:
        """Seconds until the window has room for ``units``: the previous window's weight
        falls linearly, so that moment can be computed; if this window alone is full, the
        window's end."""
        over = counter.previous * (1.0 - (now % seconds) / seconds) + counter.current + units - limit
        if counter.previous and counter.current + units <= limit:
            # previous × (1 − t/seconds) must fall by ``over``: t grows by over × seconds / previous.
            return max(1, math.ceil(over * seconds / counter.previous))
        return max(1, _window_end(seconds, now))

    def _sweep(self, now: float) -> None:
        idle = {t for t, at in self._seen.items() if now - at > _IDLE_SECONDS}
        if not idle:
            return
        for tenant in idle:
            del self._seen[tenant]
        for ident in [i for i in self._counters if i[0] in idle]:
            del self._counters[ident]


def _window_end(seconds: int, now: float) -> int:
    return max(1, math.ceil(seconds - now % seconds))
