"""Which plan each tenant is on, through the shared tenant cache.

A plan change commits a ``tenant:<id>`` notification (tenancy does that for every tenant
update); every instance drops the cached tenant at once, so a new plan applies everywhere
within the notification's delay (under a second, tested), and the TTL bounds it if one is
missed.
"""

from __future__ import annotations

from fundament.tenancy.cache import TenantCache
from fundament.tenancy.plans import Catalogue, Plan


class PlanLookup:
    """The plan a tenant is on now (None for no such tenant); used by limits and records."""

    def __init__(self, tenants: TenantCache, catalogue: Catalogue) -> None:
        self._tenants = tenants
        self._catalogue = catalogue
        # A plan missing from the catalogue (the plans file lost it) gets what a new tenant
        # would get: the default plan.
        self._fallback = catalogue[catalogue.default]

    async def plan_of(self, tenant_id: str) -> Plan | None:
        tenant = await self._tenants.get(tenant_id)
        if tenant is None:
            return None
        return self._catalogue.get(tenant.plan) or self._fallback
