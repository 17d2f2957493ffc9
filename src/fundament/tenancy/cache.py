"""Tenants by id, cached per process for the request path (status for authorization,
plan for rate limits and quotas, CORS origins for the edge), dropped on every
``tenant:<id>`` notification."""

from __future__ import annotations

import functools

from fundament.platform import Database, LoadingCache, RequestContext
from fundament.tenancy.service import TenantRow, find_tenant

_CTX = RequestContext(request_id="tenant-cache")


class TenantCache:
    def __init__(self, db: Database, *, ttl_seconds: float = 30.0, max_entries: int = 100_000) -> None:
        self._db = db
        self._rows: LoadingCache[str, TenantRow] = LoadingCache(
            ttl_seconds=ttl_seconds, max_entries=max_entries
        )
        db.on_invalidate(self.invalidate)

    def invalidate(self, message: str) -> None:
        if message == "*":
            self._rows.clear()
        elif message.startswith("tenant:"):
            self._rows.invalidate(message[7:])

    async def get(self, tenant_id: str) -> TenantRow | None:
        """The tenant, or None if there is none (absence is never cached)."""
        return self._rows.peek(tenant_id) or await self._rows.get(
            tenant_id, functools.partial(self._load, tenant_id)
        )

    async def _load(self, tenant_id: str) -> TenantRow | None:
        # On the primary, as every cache fill: a replica's older state would undo an
        # invalidation (a suspension, say) that has just passed.
        # In the control database, where the registry is, whatever the tenant's cell.
        async with self._db.transaction(
            _CTX, tenant_id=tenant_id, read_only=True, primary=True, routed=False
        ) as tx:
            return await find_tenant(tx, tenant_id)

    def held_origins(self, tenant_id: str) -> tuple[str, ...] | None:
        """The browser origins the tenant allows if this process holds the tenant, else None
        (the edge's CORS policy asks first, without a lookup)."""
        held = self._rows.peek(tenant_id)
        return None if held is None else held.cors_origins

    async def cors_origins(self, tenant_id: str) -> tuple[str, ...] | None:
        """The browser origins the tenant allows, looked up if need be; None if there is no
        such tenant."""
        row = await self.get(tenant_id)
        return None if row is None else row.cors_origins
