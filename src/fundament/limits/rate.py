"""Per-tenant request rates, by plan, with the `limits` library.

Two windows per tenant: ``requests_per_minute`` over a sliding minute (the sustained
rate) and ``burst`` over a sliding second (how sharp a spike may be). Counters live in
process memory, or in Redis when ``FUNDAMENT_REDIS_URL`` is set so every instance counts
against the same budget. If Redis stops answering, each instance falls back to its own
counters (logged and counted), and tries Redis again a few seconds later: a Redis outage
degrades fairness across instances, never availability.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from prometheus_client import Counter

from fundament.platform import Principal, TooManyRequests, current_exchange
from fundament.tenancy import PlanLookup

log = logging.getLogger("fundament.limits")

REJECTED = Counter("fundament_rate_limited", "Requests refused by a rate limit.", ["window"])
REDIS_FALLBACK = Counter(
    "fundament_redis_fallback", "Times Redis failed and in-process state was used instead.", ["use"]
)

_RETRY_REDIS_AFTER = 5.0


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
        counters = self._counters()
        try:
            allowed, stats_item = await self._hit(counters, minute, second, tenant_id)
            stats = await counters.get_window_stats(minute, tenant_id)
        except Exception as exc:
            if counters is self._memory:
                raise
            self._redis_failed(exc)
            counters = self._memory
            allowed, stats_item = await self._hit(counters, minute, second, tenant_id)
            stats = await counters.get_window_stats(minute, tenant_id)
        now = time.time()
        remaining = str(max(0, stats.remaining))
        reset = str(max(0, math.ceil(stats.reset_time - now)))
        if allowed:
            exchange = current_exchange.get()
            if exchange is not None:
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
            f"and {plan.burst} per second; retry after {retry} s.",
            headers=headers,
            extra={"limit": which, "plan": plan.name},
        )

    @staticmethod
    async def _hit(
        counters: SlidingWindowCounterRateLimiter, minute: RateLimitItem, second: RateLimitItem, ident: str
    ) -> tuple[bool, RateLimitItem]:
        # The burst window first: a spike is refused without using up the minute's budget.
        if not await counters.hit(second, ident):
            return False, second
        if not await counters.hit(minute, ident):
            return False, minute
        return True, minute

    def _redis_failed(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + _RETRY_REDIS_AFTER
        REDIS_FALLBACK.labels("rate_limits").inc()
        log.warning(
            "Redis unavailable for rate limits (%s); using in-process counters for %.0f s",
            type(exc).__name__,
            _RETRY_REDIS_AFTER,
        )
