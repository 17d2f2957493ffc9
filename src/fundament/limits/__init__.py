"""Rate limits and quotas per tenant, by plan.

All attach to the kernel's lifecycle, never to routes: the rate limiter is the app's
:class:`~fundament.platform.Admission` (asked once per authenticated request); the cap
guard (collections, keys, users, privacy jobs) and the quota guard (records, stored bytes)
are before-commit hooks, so they see every write of every route and job.
"""

from __future__ import annotations

from typing import Any

from fundament import tenancy
from fundament.limits.caps import Cap, CapGuard, Counter, caps
from fundament.limits.quota import QuotaGuard
from fundament.limits.rate import REDIS_FALLBACK, RateLimiter
from fundament.platform import Database
from fundament.tenancy import PlanLookup

__all__ = [
    "REDIS_FALLBACK",
    "Cap",
    "CapGuard",
    "Counter",
    "PlanLookup",
    "QuotaGuard",
    "RateLimiter",
    "install",
]


def install(
    app: Any,
    *,
    db: Database,
    tenants: tenancy.TenantCache,
    catalogue: tenancy.Catalogue,
    redis_url: str | None,
    count_open_privacy_jobs: Counter,
    count_webhooks: Counter,
    prefix: str = "fundament",
    quota_refresh_seconds: float = 30.0,
) -> RateLimiter:
    """Install rate limits, caps and quotas; return the rate limiter (the services object's
    ``admission``). Install after audit: the quota guard counts the audit bytes a
    transaction added, which the audit hook records before it runs."""
    plans = PlanLookup(tenants, catalogue)
    limiter = RateLimiter(plans, redis_url=redis_url, prefix=prefix)
    capped = CapGuard(
        plans, caps(count_open_privacy_jobs=count_open_privacy_jobs, count_webhooks=count_webhooks)
    )
    guard = QuotaGuard(plans, refresh_seconds=quota_refresh_seconds)
    db.before_commit.append(capped.before_commit)
    db.before_commit.append(guard.before_commit)
    db.after_commit.append(guard.after_commit)
    return limiter
