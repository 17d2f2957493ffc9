"""Placement (which cell a new tenant goes to) and what each cell holds."""

from __future__ import annotations

from collections import Counter

from fundament import metering, tenancy
from fundament.cells.schemas import CellSummary
from fundament.platform import CONTROL_CELL, Cell, Cells, FieldError, ValidationFailed


class Placement:
    """A new tenant goes to a cell of its region, the emptiest by stored bytes; never to
    another region's. With no cell added the control cell takes every region, as before
    cells existed: residency is enforced from the first added cell on."""

    def __init__(self, cells: Cells) -> None:
        self._cells = cells

    async def choose(self, region: str) -> str:
        known = self._cells.cells()
        if len(known) == 1:
            return CONTROL_CELL
        candidates = [c for c in known if c.region == region and self._cells.is_open(c.name)]
        if not candidates:
            serving = sorted({c.region for c in known})
            raise ValidationFailed(
                f"No cell serves the region {region!r}, so a tenant of it cannot be placed (its data "
                f"stays in its region). Cells serve: {', '.join(serving)}. An operator adds a cell of "
                f"that region with `fundament cells add NAME --dsn DSN --region {region}`.",
                errors=[FieldError("/region", "no cell of this region")],
            )
        if len(candidates) == 1:
            return candidates[0].name
        held = await holdings(self._cells)
        return min(candidates, key=lambda c: (held[c.name][1], held[c.name][0], c.name)).name


async def holdings(cells: Cells) -> dict[str, tuple[int, int]]:
    """Tenants and stored bytes (as last sampled) per cell, every known cell included."""
    async with cells.control.operator_transaction("cells.holdings") as tx:
        placed = await tenancy.cells_of(tx)
        stored = await metering.latest_stored_bytes(tx)
    tenants = Counter(placed.values())
    size: Counter[str] = Counter()
    for tenant_id, cell in placed.items():
        size[cell] += stored.get(tenant_id, 0)
    return {c.name: (tenants[c.name], size[c.name]) for c in cells.cells()}


async def summaries(cells: Cells) -> list[CellSummary]:
    held = await holdings(cells)
    return [_summary(c, held[c.name], cells.is_open(c.name)) for c in cells.cells()]


def _summary(cell: Cell, held: tuple[int, int], reachable: bool) -> CellSummary:
    return CellSummary(
        name=cell.name,
        region=cell.region,
        tenants=held[0],
        stored_bytes=held[1],
        status="available" if reachable else "unreachable",
    )
