"""Cells: the PostgreSQL clusters tenants are placed on, by region, and where a new one goes.

Routing a tenant's transactions to its cell is the kernel's (:class:`fundament.platform.Cells`);
the placement directory is the tenants table's ``cell`` (tenancy owns it). This module is
the operator's side: placement, the cell list, adding a cell.
"""

from typing import Protocol

from fundament.cells.admin import AddCellError, cell_dsns, check_new_cell, register_cell, tenant_cell_dsn
from fundament.cells.service import Placement, holdings, summaries
from fundament.platform import Cells

__all__ = [
    "AddCellError",
    "Needs",
    "Placement",
    "cell_dsns",
    "check_new_cell",
    "holdings",
    "install",
    "register_cell",
    "summaries",
    "tenant_cell_dsn",
]


class Needs(Protocol):
    """What the cell routes read from the services object."""

    @property
    def cells(self) -> Cells: ...


def install(app: "object") -> None:
    """Mount the cell routes on ``app``."""
    from fundament.cells.api import router

    app.include_router(router)  # type: ignore[attr-defined]
