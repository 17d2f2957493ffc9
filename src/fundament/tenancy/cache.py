"""Tenants by id, cached per process for the request path (status for authorization,
plan for rate limits and quotas, CORS origins for the edge), dropped on every
``tenant:<id>`` notification."""

from __future__ import annotations

import time

from fundament.platform import Database, RequestContext
from fundament.tenancy.service import TenantRow, find_tenant

_CTX = RequestContext(request_id="tenant-cache")


class TenantCache:
    def __init__(self, db: Database, *, ttl_seconds: float = 30.0, max_entries: int = 100_000) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._max = max_entries
        self._rows: dict[str, tuple[TenantRow, float]] = {}
        # Bumped by every invalidation: a lookup that started before a change committed
        # must not put its (stale) row into the cache afterwards.
        self._generation = 0
        db.on_invalidate(self.invalidate)

    def invalidate(self, message: str) -> None:
        self._generation += 1
        if message == "*":
            self._rows.clear()
        elif message.startswith("tenant:"):
            self._rows.pop(message[7:], None)

    async def get(self, tenant_id: str) -> TenantRow | None:
        """The tenant, or None if there is none (absence is never cached)."""
        now = time.monotonic()
        cached = self._rows.get(tenant_id)
        if cached is not None and now - cached[1] <= self._ttl:
            return cached[0]
        generation = self._generation
        async with self._db.transaction(_CTX, tenant_id=tenant_id) as tx:
            row = await find_tenant(tx, tenant_id)
        if row is not None and generation == self._generation:
            if len(self._rows) >= self._max:
                self._rows.clear()
            self._rows[tenant_id] = (row, now)
        return row

    def held_origins(self, tenant_id: str) -> tuple[str, ...] | None:
        """The browser origins the tenant allows if this process holds the tenant, else None
        (the edge's CORS policy asks first, without a lookup)."""
        cached = self._rows.get(tenant_id)
        if cached is not None and time.monotonic() - cached[1] <= self._ttl:
            return cached[0].cors_origins
        return None

    async def cors_origins(self, tenant_id: str) -> tuple[str, ...] | None:
        """The browser origins the tenant allows, looked up if need be; None if there is no
        such tenant."""
        row = await self.get(tenant_id)
        return None if row is None else row.cors_origins
