"""Adding a cell, through admin connections (the CLI): checked, then registered."""

from __future__ import annotations

import re
from collections.abc import Sequence

import asyncpg

from fundament.platform import CELLS_CHANGED, CONTROL_CELL, REGION_PATTERN, notify_invalidation, set_scope

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_IDENTITY = "SELECT pg_postmaster_start_time()::text, inet_server_port(), current_database()"


class AddCellError(Exception):
    """Why a cell was not added, said for the operator."""


async def _connect(dsn: str, what: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise AddCellError(f"{what} does not answer: {exc}") from None


async def check_new_cell(control_dsn: str, name: str, dsn: str, region: str) -> None:
    """Refuse a bad name or region, a taken name, a DSN that does not answer, and a database
    that is already the control one or another cell."""
    if not NAME.match(name):
        raise AddCellError(f"a cell's name is [a-z0-9][a-z0-9-]{{0,39}}, not {name!r}")
    if name == CONTROL_CELL:
        raise AddCellError(f"{CONTROL_CELL!r} is the control database's cell; choose another name")
    if not re.match(REGION_PATTERN, region):
        raise AddCellError(f"{region!r} is not a region (like eu-central-1)")
    cell = await _connect(dsn, "the cell's DSN")
    try:
        cell_identity = tuple(await cell.fetchrow(_IDENTITY))
    finally:
        await cell.close()
    control = await asyncpg.connect(control_dsn)
    try:
        if tuple(await control.fetchrow(_IDENTITY)) == cell_identity:
            raise AddCellError("that DSN is the control database (FUNDAMENT_DATABASE_URL), cell 'main'")
        if await control.fetchval("SELECT 1 FROM cells WHERE name = $1", name):
            raise AddCellError(f"a cell named {name!r} exists already (`fundament cells list`)")
        for other, other_dsn in await control.fetch("SELECT name, dsn FROM cells"):
            if other_dsn == dsn:
                raise AddCellError(f"that DSN is the cell {other!r} already")
    finally:
        await control.close()


async def register_cell(
    control_dsn: str, *, name: str, region: str, dsn: str, app_dsn: str, replica_dsns: Sequence[str]
) -> None:
    """Add the (migrated) cell to the control database and tell every instance."""
    control = await asyncpg.connect(control_dsn)
    try:
        async with control.transaction():
            try:
                await control.execute(
                    "INSERT INTO cells (name, region, dsn, app_dsn, replica_dsns)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    name,
                    region,
                    dsn,
                    app_dsn,
                    list(replica_dsns),
                )
            except asyncpg.UniqueViolationError:
                raise AddCellError(f"a cell named {name!r} exists already (`fundament cells list`)") from None
            await notify_invalidation(control, CELLS_CHANGED)
    finally:
        await control.close()


async def tenant_cell_dsn(control: asyncpg.Connection, tenant_id: str) -> str | None:
    """The admin DSN of the cell the tenant is on, None for the control cell (``control``
    an admin connection to the control database)."""
    async with control.transaction():
        await set_scope(control, operator=True)  # the registry's policy binds its owner too
        dsn: str | None = await control.fetchval(
            "SELECT c.dsn FROM tenants t JOIN cells c ON c.name = t.cell WHERE t.id = $1", tenant_id
        )
    return dsn


async def cell_dsns(control_dsn: str) -> list[tuple[str, str]]:
    """Each added cell's name and admin DSN (for the migrations), by name."""
    control = await asyncpg.connect(control_dsn)
    try:
        exists = await control.fetchval("SELECT to_regclass('public.cells')")
        if exists is None:
            return []
        rows = await control.fetch("SELECT name, dsn FROM cells ORDER BY name")
        return [(r["name"], r["dsn"]) for r in rows]
    finally:
        await control.close()
