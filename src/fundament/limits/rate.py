"""Per-tenant request rates, by plan, with the `limits` library.

Two windows per tenant: ``requests_per_minute`` over a sliding minute (the sustained
rate) and ``burst`` over a sliding second (how sharp a spike may be). Counters live in
process memory, or in Redis when ``FUNDAMENT_REDIS_URL`` is set so every instance counts
against the same budget. If Redis stops answering, each instance falls back to its own
counters (logged and counted), and tries Redis again a few seconds later: a Redis outage
degrades fairness across instances, never availability.

A request costs units of both windows, not one: one per started :data:`UNIT_BYTES` of
body, or one per started :data:`UNIT_DB_SECONDS` of database time, whichever is more. A
rate limit that counted requests alone would let a tenant spend its budget on 1 MiB
writes or maximal filter scans, each a hundred times the work of a read, and take the
database from every other tenant. The body's units are known from Content-Length and paid
at admission (a request the budget cannot pay is refused); database time is known only
once the request is done, so what it costs beyond that is charged afterwards (as much as
the budget still holds): the tenant's next requests pay for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from prometheus_client import Counter

from fundament.platform import Exchange, Principal, TooManyRequests, current_exchange
from fundament.tenancy import PlanLookup

log = logging.getLogger("fundament.limits")

REJECTED = Counter("fundament_rate_limited", "Requests refused by a rate limit.", ["window"])
REDIS_FALLBACK = Counter(
    "fundament_redis_fallback", "Times Redis failed and in-process state was used instead.", ["use"]
)

_RETRY_REDIS_AFTER = 5.0

#: Database time one request unit covers: ordinary requests (a read, a write, an indexed
#: list) take 1–3 ms, so they cost one unit; a scan of 100 ms costs ten.
UNIT_DB_SECONDS = 0.010
#: Body size one unit covers: every JSON request but bulk data fits in one.
UNIT_BYTES = 65_536


def _byte_units(size: int) -> int:
    return 1 + max(0, size - 1) // UNIT_BYTES


class _Windows:
    """A plan's two windows and the response headers that do not change per request."""

    __slots__ = ("minute", "policy", "second", "static_headers")

    def __init__(self, rpm: int, burst: int) -> None:
        self.minute: RateLimitItem = RateLimitItemPerMinute(rpm)
        self.second: RateLimitItem = RateLimitItemPerSecond(burst)
        self.policy = f'{rpm};w=60, {burst};w=1;name="burst"'
        self.static_headers = [
            (b"ratelimit-limit", str(rpm).encode()),
            (b"ratelimit-policy", self.policy.encode()),
        ]


class RateLimiter:
    """The :class:`fundament.platform.Admission` installed on the app."""

    def __init__(self, plans: PlanLookup, *, redis_url: str | None = None, prefix: str = "fundament") -> None:
        self._plans = plans
        # The async in-memory storage, not the sync one: that one expires keys from a
        # threading.Timer re-armed every 10 ms, whose thread competes for the GIL
        # (GET-by-id fell from 59% to 50% of the floor, docs/benchmarks.md).
        self._memory = SlidingWindowCounterRateLimiter(storage_from_string("async+memory://"))
        self._shared: SlidingWindowCounterRateLimiter | None = None
        if redis_url is not None:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = storage_from_string(
                uri,
                implementation="redispy",
                key_prefix=prefix,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            self._shared = SlidingWindowCounterRateLimiter(storage)
        self._redis_down_until = 0.0
        self._windows: dict[tuple[int, int], _Windows] = {}
        self._charges: set[asyncio.Task[None]] = set()

    def _counters(self) -> SlidingWindowCounterRateLimiter:
        if self._shared is not None and time.monotonic() >= self._redis_down_until:
            return self._shared
        return self._memory

    def _windows_of(self, rpm: int, burst: int) -> _Windows:
        key = (rpm, burst)
        windows = self._windows.get(key)
        if windows is None:
            windows = self._windows[key] = _Windows(rpm, burst)
        return windows

    async def admit(self, principal: Principal) -> None:
        tenant_id = principal.tenant_id
        if tenant_id is None:
            return
        plan = await self._plans.plan_of(tenant_id)
        if plan is None:
            return  # unknown tenant: authorization answers that
        windows = self._windows_of(plan.requests_per_minute, plan.burst)
        minute, second = windows.minute, windows.second
        exchange = current_exchange.get()
        # Never more than the burst: a request no budget can pay would be refused forever.
        units = 1 if exchange is None else min(_byte_units(exchange.declared_bytes), second.amount)
        counters = self._counters()
        try:
            allowed, stats_item = await self._hit(counters, minute, second, tenant_id, units)
            stats = await counters.get_window_stats(minute, tenant_id)
        except Exception as exc:
            if counters is self._memory:
                raise
            self._redis_failed(exc)
            counters = self._memory
            allowed, stats_item = await self._hit(counters, minute, second, tenant_id, units)
            stats = await counters.get_window_stats(minute, tenant_id)
        now = time.time()
        remaining = str(max(0, stats.remaining))
        reset = str(max(0, math.ceil(stats.reset_time - now)))
        if allowed:
            if exchange is not None:
                exchange.units = units
                exchange.headers += windows.static_headers
                exchange.headers.append((b"ratelimit-remaining", remaining.encode()))
                exchange.headers.append((b"ratelimit-reset", reset.encode()))
            return
        headers = {
            "RateLimit-Limit": str(minute.amount),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": reset,
            "RateLimit-Policy": windows.policy,
        }
        window_stats = await counters.get_window_stats(stats_item, tenant_id)
        retry = max(1, math.ceil(window_stats.reset_time - now))
        which = "burst" if stats_item is second else "minute"
        REJECTED.labels(which).inc()
        headers["Retry-After"] = str(retry)
        raise TooManyRequests(
            f"This tenant's plan '{plan.name}' allows {plan.requests_per_minute} requests per minute "
            f"and {plan.burst} per second (a request counts once per started 64 KiB of body and "
            f"10 ms of database time); retry after {retry} s.",
            headers=headers,
            extra={"limit": which, "plan": plan.name},
        )

    @staticmethod
    async def _hit(
        counters: SlidingWindowCounterRateLimiter,
        minute: RateLimitItem,
        second: RateLimitItem,
        ident: str,
        units: int,
    ) -> tuple[bool, RateLimitItem]:
        # The burst window first: a spike is refused without using up the minute's budget.
        if not await counters.hit(second, ident, cost=units):
            return False, second
        if not await counters.hit(minute, ident, cost=units):
            return False, minute
        return True, minute

    def observe(self, exchange: Exchange) -> None:
        """Edge observer: charge what a finished request cost beyond what it paid."""
        if exchange.units == 0:  # not admitted by a rate limit (operators, refusals)
            return
        cost = max(1 + int(exchange.db_seconds / UNIT_DB_SECONDS), _byte_units(exchange.bytes_in))
        extra = cost - exchange.units
        tenant_id = exchange.tenant_id
        if extra < 1 or tenant_id is None:
            return
        task = asyncio.get_running_loop().create_task(self._charge(tenant_id, extra))
        self._charges.add(task)
        task.add_done_callback(self._charges.discard)

    async def _charge(self, tenant_id: str, units: int) -> None:
        try:
            plan = await self._plans.plan_of(tenant_id)
            if plan is None:
                return
            windows = self._windows_of(plan.requests_per_minute, plan.burst)
            counters = self._counters()
            for window in (windows.second, windows.minute):
                # `limits` refuses (and does not count) a hit beyond the limit: take what is left.
                left = (await counters.get_window_stats(window, tenant_id)).remaining
                if left > 0:
                    await counters.hit(window, tenant_id, cost=min(units, left))
        except Exception as exc:  # the answer is sent; a lost charge only makes the limit milder
            log.debug("database-time charge for %s failed: %s", tenant_id, exc)

    def _redis_failed(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + _RETRY_REDIS_AFTER
        REDIS_FALLBACK.labels("rate_limits").inc()
        log.warning(
            "Redis unavailable for rate limits (%s); using in-process counters for %.0f s",
            type(exc).__name__,
            _RETRY_REDIS_AFTER,
        )
