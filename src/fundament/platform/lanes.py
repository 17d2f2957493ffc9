"""A lane per tenant for expensive work: one at a time, and a bounded share of the time.

A rate limit bounds how often a tenant asks, not what each request costs: maximal filter
scans, each a hundred times the database work of a read, can keep PostgreSQL's cores busy
while a neighbour's one-millisecond reads queue behind them. Expensive work of one tenant
therefore runs in that tenant's lane: one at a time per process, and after work that took
``d`` seconds, the lane stays closed for ``d × (1 − share) / share``, so a tenant's
expensive work occupies at most ``share`` of one core of the database over any stretch of
time, whatever it sends. Waiting (not refusing) keeps legitimate use working, only slower;
the waiter holds no database connection, the request deadline bounds the wait and the rate
limit the queue.

asyncio has the lock; what is ours is the duty cycle, and one lane per tenant that exists
only while in use, so the table is as small as the set of tenants busy with such work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class LaneFull(Exception):
    """A tenant's lane already has as many waiting as it takes; ``retry_after`` seconds
    is how long the queue ahead should take."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(f"{waiting} waiting")
        self.waiting = waiting
        self.retry_after = retry_after


class TenantLane:
    def __init__(self, share: float, *, max_waiting: int = 4) -> None:
        if not 0 < share <= 1:
            raise ValueError("a lane's share of time is above 0 and at most 1")
        self._rest = (1 - share) / share  # seconds closed per second of work
        #: More than this many waiting are refused (LaneFull): a bounded queue answers
        #: "later" at once instead of holding requests until their deadline.
        self.max_waiting = max_waiting
        self._last: dict[str, float] = {}  # the last piece of work's length, per tenant
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._opens: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, tenant: str) -> AsyncIterator[None]:
        """Run the block in ``tenant``'s lane, waiting for its turn."""
        waiting = self._users.get(tenant, 0)
        if waiting > self.max_waiting:
            took = self._last.get(tenant, 1.0) * (1 + self._rest)
            raise LaneFull(waiting, max(1, round(waiting * took + 0.5)))
        lock = self._locks.get(tenant)
        if lock is None:
            lock = self._locks[tenant] = asyncio.Lock()
        self._users[tenant] = self._users.get(tenant, 0) + 1
        try:
            async with lock:
                wait = self._opens.get(tenant, 0.0) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                began = time.monotonic()
                try:
                    yield
                finally:
                    ended = time.monotonic()
                    self._opens[tenant] = ended + (ended - began) * self._rest
                    self._last[tenant] = ended - began
        finally:
            users = self._users[tenant] - 1
            if users:
                self._users[tenant] = users
            else:
                del self._users[tenant], self._locks[tenant]
                self._last.pop(tenant, None)
                if self._opens.get(tenant, 0.0) <= time.monotonic():
                    self._opens.pop(tenant, None)

    def in_use(self, tenant: str) -> int:
        """Tasks of ``tenant`` in or waiting for its lane now."""
        return self._users.get(tenant, 0)
