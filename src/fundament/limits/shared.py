"""Rate-limit windows shared by every instance through Redis, without a round trip per request.

The `limits` library keeps shared counters in Redis and asks Redis on every hit: three round
trips per request, which halved an instance's GET throughput (issue #16: 669 against 1,253
requests/s). It has no mode that admits locally and reconciles later, as API gateways do
(Kong's ``sync_rate``), so this module is that mode, over the same algorithm (the sliding
window counter: this window's count plus the previous one's, weighted by how much of it
still overlaps the sliding window).

How an instance admits, from memory only:
- Every ``interval`` (50 ms) a background task pushes this instance's admissions since the
  last sync to Redis (``INCRBY`` of the window's key) and reads back the windows' global
  counts, and the number of instances that synced in the last two seconds (a sorted set
  of heartbeats).
- Between syncs, an instance admits at most **its share** of what was left at the last
  sync: ``(limit − count at sync) / instances`` (the remainder of the division goes to the
  first instances by name, so a budget is never stranded by rounding). The instances'
  shares add up to what was left, so together they cannot pass the limit, however the
  load is spread; a busy instance gets a new share every sync.
- A tenant an instance has not seen yet (or not for two windows) is read from Redis once,
  before its first admission: the only round trip on the request path, once per tenant
  and instance.

Tolerance (tested with three instances): the admitted total stays within the limit plus
what instances joining or leaving within one sync can add, about 10%; it can fall short
of the limit by fewer units than there are instances. A burst on one instance can be
refused before the budget is spent, for up to one sync, when it has used its share: that
refusal says ``Retry-After: 1``, not the window's end. If Redis fails, the caller falls
back to per-instance counters: fairness degrades, availability does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from dataclasses import dataclass, field

import redis.asyncio as aioredis

log = logging.getLogger("fundament.limits")

#: How often each instance reconciles with Redis.
SYNC_SECONDS = 0.05
#: An instance that has not synced for this long no longer counts in the shares.
_INSTANCE_TTL = 2.0


@dataclass(slots=True)
class _Window:
    limit: int
    seconds: int
    key: str  # the tenant and window; the window index is appended per window
    #: Window index and global counts (this window, the previous one) at the last sync.
    index: int = -1
    current: float = 0.0
    previous: float = 0.0
    #: This instance's admissions not yet pushed, by window index.
    pending: dict[int, int] = field(default_factory=dict)
    #: What this instance admitted since the last sync (its share is checked against it).
    taken: int = 0
    synced: bool = False
    used_at: float = 0.0

    def counted(self, now: float) -> float:
        """The sliding window's count at ``now`` as of the last sync (this instance's own
        admissions since then not included)."""
        index, offset = divmod(now, self.seconds)
        weight = 1.0 - offset / self.seconds
        if index == self.index:
            return self.previous * weight + self.current
        if index == self.index + 1:
            return self.current * weight
        return 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    #: Which window refused (0: the first given, ...), None when allowed.
    refused: int | None
    #: The last window's remaining units and seconds until it has room again.
    remaining: int
    reset: int


class SharedWindows:
    def __init__(self, url: str, *, prefix: str = "fundament", interval: float = SYNC_SECONDS) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = f"{prefix}:rl"
        self._interval = interval
        self._instance = uuid.uuid4().hex
        self._instances = 1
        self._rank = 0
        self._windows: dict[tuple[str, int, int], _Window] = {}
        self._task: asyncio.Task[None] | None = None
        #: Set when a sync failed; the caller reads it and falls back for a while.
        self.failed: Exception | None = None

    async def admit(self, tenant: str, windows: tuple[tuple[int, int], ...], units: int) -> Verdict:
        """Admit ``units`` for ``tenant`` against ``windows`` ((limit, seconds), ...), taking
        them from every window, or refuse and take nothing. Raises a Redis error only on a
        tenant's first sight (the caller falls back)."""
        self.start()
        now = time.time()
        states = [self._window(tenant, limit, seconds, now) for limit, seconds in windows]
        unseen = [w for w in states if not w.synced]
        if unseen:
            await self._sync(unseen)
        for i, w in enumerate(states):
            if w.taken + units > self._share(w, now):
                # This instance's share is used up; if the window as known still has room,
                # the next sync gives a new share: "retry in a second", not at the window's end.
                spent = w.counted(now) + w.taken + units > w.limit
                return Verdict(False, i, 0, self._reset(w, now) if spent else 1)
        for w in states:
            self._take(w, units, now)
        last = states[-1]
        used = last.counted(now) + last.taken * self._instances
        return Verdict(True, None, max(0, int(last.limit - used)), self._reset(last, now))

    def start(self) -> None:
        """Sync in the background from now on (idempotent; needs a running loop)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sync_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self._sync(list(self._windows.values()))
        await self._redis.aclose()

    # --- local state ---------------------------------------------------------------------

    def _window(self, tenant: str, limit: int, seconds: int, now: float) -> _Window:
        ident = (tenant, limit, seconds)
        w = self._windows.get(ident)
        if w is None:
            w = self._windows[ident] = _Window(limit, seconds, f"{self._prefix}:{tenant}:{limit}:{seconds}")
        w.used_at = now
        return w

    def _share(self, w: _Window, now: float) -> float:
        left = max(0.0, w.limit - w.counted(now))
        n = self._instances
        share = math.floor(left) // n + (1 if self._rank < math.floor(left) % n else 0)
        return float(share)

    @staticmethod
    def _take(w: _Window, units: int, now: float) -> None:
        index = int(now // w.seconds)
        w.pending[index] = w.pending.get(index, 0) + units
        w.taken += units

    @staticmethod
    def _reset(w: _Window, now: float) -> int:
        return max(1, math.ceil(w.seconds - now % w.seconds))

    # --- reconciling ---------------------------------------------------------------------

    async def _sync_forever(self) -> None:
        while True:
            # On the wall clock's ticks, so every instance pushes at about the same moment,
            # and reads a little later, when the others' pushes are in: then all take their
            # shares of the same remainder (instances reading at different moments would
            # each count the others' latest admissions as still free).
            now = time.time()
            await asyncio.sleep(self._interval - now % self._interval)
            now = time.time()
            for ident, w in list(self._windows.items()):
                if not w.pending and now - w.used_at > 2 * w.seconds:
                    del self._windows[ident]  # idle: read again if used
            try:
                await self._sync(list(self._windows.values()), heartbeat=True, settle=self._interval / 5)
            except Exception as exc:  # noted for the caller, which falls back for a while
                self.failed = exc

    async def _sync(self, windows: list[_Window], *, heartbeat: bool = False, settle: float = 0.0) -> None:
        """Push this instance's pending admissions, then (``settle`` seconds later) read the
        global counts and the instances."""
        now = time.time()
        # Decided once: another sync may change the instance count while this one waits.
        heartbeat = heartbeat or self._instances == 1
        members = f"{self._prefix}:instances"
        push = self._redis.pipeline(transaction=False)
        if heartbeat:
            push.zadd(members, {self._instance: now})
            push.zremrangebyscore(members, "-inf", now - _INSTANCE_TTL)
        pushed: list[tuple[_Window, dict[int, int]]] = []
        for w in windows:
            pending, w.pending = w.pending, {}
            for i, count in pending.items():
                push.incrby(f"{w.key}:{i}", count)
                push.expire(f"{w.key}:{i}", 2 * w.seconds + 1)
            pushed.append((w, pending))
        try:
            await push.execute()
        except Exception:
            for w, pending in pushed:  # not lost: pushed with the next sync that works
                for i, count in pending.items():
                    w.pending[i] = w.pending.get(i, 0) + count
            raise
        if settle:
            await asyncio.sleep(settle)
        now = time.time()
        read = self._redis.pipeline(transaction=False)
        if heartbeat:
            read.zrange(members, 0, -1)
        indexes = [int(now // w.seconds) for w in windows]
        for w, index in zip(windows, indexes, strict=True):
            read.mget(f"{w.key}:{index}", f"{w.key}:{index - 1}")
        results = await read.execute()
        self.failed = None
        if heartbeat:
            names = sorted(m.decode() for m in results[0])
            self._instances = max(1, len(names))
            self._rank = names.index(self._instance) if self._instance in names else 0
            results = results[1:]
        for w, index, (current, previous) in zip(windows, indexes, results, strict=True):
            w.index = index
            w.current = float(current or 0)
            w.previous = float(previous or 0)
            w.taken = sum(w.pending.values())  # admitted since the push: not in the counts
            w.synced = True
