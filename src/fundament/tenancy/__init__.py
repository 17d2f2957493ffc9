"""Tenants: creation, plan, status, region (fixed), offboarding; the plan catalogue."""

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


def install(app: "object", *, plans: Catalogue, default_region: str = "eu-central-1") -> None:
    """Mount the tenant routes on ``app``; ``plans`` is the catalogue tenants choose from
    (a tenant created without a plan gets ``plans.default``), ``default_region`` the region
    of one created without a region."""
    from fundament.tenancy.api import router

    app.state.plans = plans  # type: ignore[attr-defined]
    app.state.default_region = default_region  # type: ignore[attr-defined]
    app.include_router(router)  # type: ignore[attr-defined]
