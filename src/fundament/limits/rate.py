"""Per-tenant request rates, by plan.

Two windows per tenant: ``requests_per_minute`` over a sliding minute (the sustained
rate) and ``burst`` over a sliding second (how sharp a spike may be), each a sliding
window counter. Counters live in process memory (limits/local.py), or, when
``FUNDAMENT_REDIS_URL`` is set, are shared by every instance through Redis
(limits/shared.py: admitted from memory, reconciled every 50 ms). If Redis stops
answering, each instance falls back to its own counters (logged and counted), and tries
Redis again a few seconds later: a Redis outage degrades fairness across instances, never
availability.

A request costs one unit of both windows per started :data:`UNIT_BYTES` of body (ordinary
requests: one): a rate limit that counted requests alone would let a tenant spend its
budget on 1 MiB writes, each a hundred times the work of a read. The units are known from
Content-Length, so they are paid at admission, and a request the budget cannot pay is
refused. Expensive reads are bounded differently: a list that scans a collection runs in
its tenant's lane (records, ADR 0011).
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter

from fundament.limits.local import LocalWindows
from fundament.limits.shared import SharedWindows
from fundament.platform import Principal, TooManyRequests, current_exchange
from fundament.tenancy import PlanLookup

log = logging.getLogger("fundament.limits")

REJECTED = Counter("fundament_rate_limited", "Requests refused by a rate limit.", ["window"])
REDIS_FALLBACK = Counter(
    "fundament_redis_fallback", "Times Redis failed and in-process state was used instead.", ["use"]
)

_RETRY_REDIS_AFTER = 5.0

#: Body size one unit covers: every JSON request but bulk data fits in one.
UNIT_BYTES = 65_536


def _byte_units(size: int) -> int:
    return 1 + max(0, size - 1) // UNIT_BYTES


class _Windows:
    """A plan's two windows and the response headers that do not change per request."""

    __slots__ = ("burst", "limits", "policy", "rpm", "static_headers")

    def __init__(self, rpm: int, burst: int) -> None:
        self.rpm = rpm
        self.burst = burst
        #: (limit, seconds): the burst window first, so a spike is refused without using up
        #: the minute's budget.
        self.limits = ((burst, 1), (rpm, 60))
        self.policy = f'{rpm};w=60, {burst};w=1;name="burst"'
        self.static_headers = [
            (b"ratelimit-limit", str(rpm).encode()),
            (b"ratelimit-policy", self.policy.encode()),
        ]


class RateLimiter:
    """The :class:`fundament.platform.Admission` installed on the app."""

    def __init__(self, plans: PlanLookup, *, redis_url: str | None = None, prefix: str = "fundament") -> None:
        self._plans = plans
        self._local = LocalWindows()
        # With Redis, admission is from memory and reconciled in the background
        # (limits/shared.py): no Redis round trip per request.
        self._shared = SharedWindows(redis_url, prefix=prefix) if redis_url is not None else None
        self._redis_down_until = 0.0
        self._windows: dict[tuple[int, int], _Windows] = {}

    def start(self) -> None:
        """With Redis, join the shared windows now (heartbeat and sync every 50 ms), not at
        the first request: an instance's shares count every instance from the start."""
        if self._shared is not None:
            self._shared.start()

    async def close(self) -> None:
        """Push this instance's last admissions to Redis and stop reconciling."""
        if self._shared is not None:
            await self._shared.close()

    def _use_shared(self) -> SharedWindows | None:
        shared = self._shared
        if shared is None:
            return None
        if shared.failed is not None:
            self._redis_failed(shared.failed)
            shared.failed = None
        return shared if time.monotonic() >= self._redis_down_until else None

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
        exchange = current_exchange.get()
        # Never more than the burst: a request no budget can pay would be refused forever.
        units = 1 if exchange is None else min(_byte_units(exchange.declared_bytes), windows.burst)
        shared = self._use_shared()
        verdict = None
        if shared is not None:
            try:
                verdict = await shared.admit(tenant_id, windows.limits, units)
            except Exception as exc:
                self._redis_failed(exc)
        if verdict is None:
            verdict = self._local.admit(tenant_id, windows.limits, units)
        if verdict.allowed:
            if exchange is not None:
                exchange.headers += windows.static_headers
                exchange.headers.append((b"ratelimit-remaining", str(verdict.remaining).encode()))
                exchange.headers.append((b"ratelimit-reset", str(verdict.reset).encode()))
            return
        which = "burst" if verdict.refused == 0 else "minute"
        retry = verdict.reset
        REJECTED.labels(which).inc()
        raise TooManyRequests(
            f"This tenant's plan '{plan.name}' allows {plan.requests_per_minute} requests per minute "
            f"and {plan.burst} per second (a request counts once per started 64 KiB of body); "
            f"retry after {retry} s.",
            headers={
                "RateLimit-Limit": str(windows.rpm),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(retry),
                "RateLimit-Policy": windows.policy,
                "Retry-After": str(retry),
            },
            extra={"limit": which, "plan": plan.name},
        )

    def _redis_failed(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + _RETRY_REDIS_AFTER
        REDIS_FALLBACK.labels("rate_limits").inc()
        log.warning(
            "Redis unavailable for rate limits (%s); using in-process counters for %.0f s",
            type(exc).__name__,
            _RETRY_REDIS_AFTER,
        )
