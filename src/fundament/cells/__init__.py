"""Cells: the PostgreSQL clusters tenants are placed on, by region, and where a new one goes.

Routing a tenant's transactions to its cell is the kernel's (:class:`fundament.platform.Cells`);
the placement directory is the tenants table's ``cell`` (tenancy owns it). This module is
the operator's side: placement, the cell list, adding a cell.
"""

from typing import Protocol

from fundament.cells.admin import AddCellError, cell_dsns, check_new_cell, register_cell, tenant_cell_dsn
from fundament.cells.moves import JOB_KIND as MOVE_JOB
from fundament.cells.moves import (
    MOVED,
    STAYS,
    MoveFailed,
    Mover,
    MoveRow,
    get_move,
    request_move,
    start_move,
    watch_move,
)
from fundament.cells.service import Placement, holdings, summaries
from fundament.platform import Cells

__all__ = [
    "MOVED",
    "MOVE_JOB",
    "STAYS",
    "AddCellError",
    "MoveFailed",
    "MoveRow",
    "Mover",
    "Needs",
    "Placement",
    "cell_dsns",
    "check_new_cell",
    "get_move",
    "holdings",
    "install",
    "register_cell",
    "request_move",
    "start_move",
    "summaries",
    "tenant_cell_dsn",
    "watch_move",
]


class Needs(Protocol):
    """What the cell routes read from the services object."""

    @property
    def cells(self) -> Cells: ...


def install(app: "object") -> None:
    """Mount the cell routes on ``app``."""
    from fundament.cells.api import moves, router

    app.include_router(router)  # type: ignore[attr-defined]
    app.include_router(moves)  # type: ignore[attr-defined]
