"""Which plan each tenant is on, cached per instance and invalidated on change.

A plan change commits a ``tenant:<id>`` notification (tenancy does that for every tenant
update); every instance drops its entry at once, so a new plan applies everywhere within
the notification's delay (under a second, tested), and the TTL bounds it if one is missed.
"""

from __future__ import annotations

import time

from fundament import tenancy
from fundament.platform import Database, RequestContext

_CTX = RequestContext(request_id="limits")


class PlanLookup:
    def __init__(self, db: Database, catalogue: tenancy.Catalogue, *, ttl_seconds: float = 30.0) -> None:
        self._db = db
        self.catalogue = catalogue
        self._ttl = ttl_seconds
        self._plans: dict[str, tuple[str, float]] = {}
        self._generation = 0
        db.on_invalidate(self.invalidate)

    def invalidate(self, message: str) -> None:
        self._generation += 1
        if message == "*":
            self._plans.clear()
        elif message.startswith("tenant:"):
            self._plans.pop(message[7:], None)

    async def plan_of(self, tenant_id: str) -> tenancy.Plan | None:
        now = time.monotonic()
        cached = self._plans.get(tenant_id)
        if cached is None or now - cached[1] > self._ttl:
            generation = self._generation
            async with self._db.transaction(_CTX, tenant_id=tenant_id) as tx:
                row = await tenancy.find_tenant(tx, tenant_id)
            if row is None:
                return None
            cached = (row.plan, now)
            if generation == self._generation:
                if len(self._plans) > 100_000:
                    self._plans.clear()
                self._plans[tenant_id] = cached
        # A plan missing from the catalogue (the plans file lost it) gets the most
        # restrictive behaviour we can name: the free plan, else the first one.
        fallback = self.catalogue.get("free") or next(iter(self.catalogue.values()))
        return self.catalogue.get(cached[0]) or fallback
