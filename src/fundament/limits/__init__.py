"""Rate limits and quotas per tenant, by plan.

Both attach to the kernel's lifecycle, never to routes: the rate limiter is the app's
:class:`~fundament.platform.Admission` (asked once per authenticated request), the quota
guard a before-commit hook (it sees every record write of every route and job).
"""

from __future__ import annotations

from typing import Any

from fundament import tenancy
from fundament.limits.plans import PlanLookup
from fundament.limits.quota import QuotaGuard
from fundament.limits.rate import REDIS_FALLBACK, RateLimiter
from fundament.platform import Database

__all__ = ["REDIS_FALLBACK", "PlanLookup", "QuotaGuard", "RateLimiter", "install"]


def install(
    app: Any,
    *,
    db: Database,
    tenants: tenancy.TenantCache,
    catalogue: tenancy.Catalogue,
    redis_url: str | None,
    prefix: str = "fundament",
) -> RateLimiter:
    plans = PlanLookup(tenants, catalogue)
    limiter = RateLimiter(plans, redis_url=redis_url, prefix=prefix)
    guard = QuotaGuard(plans)
    app.state.admission = limiter
    db.before_commit.append(guard.before_commit)
    db.after_commit.append(guard.after_commit)
    return limiter
