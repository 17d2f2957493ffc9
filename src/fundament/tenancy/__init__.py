"""Tenants: creation, plan, status, region (fixed), offboarding; the plan catalogue."""

from typing import Protocol

from fundament.platform import Cells
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
    cell_of_tenant,
    cells_of,
    count_by_cell,
    find_tenant,
    find_tenant_id,
    get_tenant,
    hold_tenants,
    switch_cell,
    tenants_created_before,
)

__all__ = [
    "BUILTIN",
    "MAX_INDEXES_PER_COLLECTION",
    "Catalogue",
    "Needs",
    "Placement",
    "Plan",
    "PlanLookup",
    "PlansError",
    "TenantCache",
    "TenantRow",
    "all_tenant_ids",
    "cell_of_tenant",
    "cells_of",
    "count_by_cell",
    "find_tenant",
    "find_tenant_id",
    "get_tenant",
    "hold_tenants",
    "install",
    "load_plans",
    "switch_cell",
    "tenants_created_before",
]


class Placement(Protocol):
    """Where a new tenant goes (the cells module decides)."""

    async def choose(self, region: str) -> str:
        """The name of the cell a new tenant of ``region`` goes to; 422 if none serves it."""
        ...


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

    @property
    def cells(self) -> Cells:
        """The cells and their databases (a new tenant's row is copied into its cell)."""
        ...

    @property
    def placement(self) -> Placement: ...


def install(app: "object") -> None:
    """Mount the tenant routes on ``app``."""
    from fundament.tenancy.api import router

    app.include_router(router)  # type: ignore[attr-defined]
