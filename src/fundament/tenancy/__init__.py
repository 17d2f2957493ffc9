"""Tenants: creation, plan, status, region (fixed), offboarding; the plan catalogue."""

from typing import Protocol

from fundament.tenancy.cache import TenantCache
from fundament.tenancy.lookup import PlanLookup
from fundament.tenancy.plans import (
    BUILTIN,
    MAX_INDEXES_PER_COLLECTION,
    Catalogue,
    Plan,
    PlansError,
    load_plans,
)
from fundament.tenancy.service import (
    TenantRow,
    all_tenant_ids,
    find_tenant,
    find_tenant_id,
    get_tenant,
    hold_tenants,
    tenants_created_before,
)

__all__ = [
    "BUILTIN",
    "MAX_INDEXES_PER_COLLECTION",
    "Catalogue",
    "Needs",
    "Plan",
    "PlanLookup",
    "PlansError",
    "TenantCache",
    "TenantRow",
    "all_tenant_ids",
    "find_tenant",
    "find_tenant_id",
    "get_tenant",
    "hold_tenants",
    "install",
    "load_plans",
    "tenants_created_before",
]


class Needs(Protocol):
    """What the tenant routes read from the services object."""

    @property
    def plans(self) -> Catalogue:
        """The catalogue tenants choose from; one created without a plan gets ``plans.default``."""
        ...

    @property
    def default_region(self) -> str:
        """The region of a tenant created without one."""
        ...


def install(app: "object") -> None:
    """Mount the tenant routes on ``app``."""
    from fundament.tenancy.api import router

    app.include_router(router)  # type: ignore[attr-defined]
