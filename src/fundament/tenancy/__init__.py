"""Tenants: creation, plan, status, region (fixed), offboarding."""

from fundament.tenancy.service import TenantRow, find_tenant, get_tenant, tenant_status

__all__ = ["TenantRow", "find_tenant", "get_tenant", "install", "tenant_status"]


def install(app: "object") -> None:
    """Mount the tenant routes on ``app``."""
    from fundament.tenancy.api import router

    app.include_router(router)  # type: ignore[attr-defined]
