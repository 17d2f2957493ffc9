"""Cells: which PostgreSQL cluster a tenant's rows live on, and one :class:`Database` each.

The control database (``FUNDAMENT_DATABASE_URL``) is the first cell, ``main``, of the
region ``FUNDAMENT_DEFAULT_REGION``; an operator adds others (``fundament cells add``),
listed in its ``cells`` table. Which cell a tenant is on is the placement directory, kept
by the tenant registry's owner (tenancy) and read here through ``locate``, so the kernel
routes without knowing the tenants table.

Routing sits in :meth:`Database.transaction`: a transaction scoped to a tenant runs on the
tenant's cell. With no cell added the control database has no router at all and pays
nothing; with cells, a hit is one dict lookup (the placement cache holds the cell's
:class:`Database` itself). A placement changes only by a move, which switches the one row
and notifies ``tenant:<id>``: every instance drops the entry and looks it up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from fundament.platform.cache import LoadingCache
from fundament.platform.context import RequestContext
from fundament.platform.errors import ServiceUnavailable

if TYPE_CHECKING:
    from fundament.platform.db import Database, Tx

log = logging.getLogger("fundament.cells")

#: The control database's name as a cell; a tenant placed nowhere else is on it.
CONTROL_CELL = "main"
#: The notification that says the list of cells changed (``fundament cells add``).
CELLS_CHANGED = "cells"

_CTX = RequestContext(request_id="cells")
Locate = Callable[["Tx", str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Cell:
    name: str
    region: str
    replicas: int
    #: None for the control cell, which exists before any row does.
    created_at: datetime | None


async def _has_gate(db: Database) -> bool:
    async with db.pool.acquire() as conn:
        found = await conn.fetchval("SELECT to_regprocedure('fundament_write_gate(text)') IS NOT NULL")
    return bool(found)


class Cells:
    """The cells this instance knows, a Database per cell, and the placement cache."""

    def __init__(
        self,
        control: Database,
        *,
        region: str,
        locate: Locate,
        ttl_seconds: float = 30.0,
        max_entries: int = 100_000,
    ) -> None:
        self.control = control
        self._locate = locate
        self._known: dict[str, Cell] = {CONTROL_CELL: Cell(CONTROL_CELL, region, 0, None)}
        self._dbs: dict[str, Database] = {CONTROL_CELL: control}
        self._placement: LoadingCache[str, Database] = LoadingCache(
            ttl_seconds=ttl_seconds, max_entries=max_entries
        )
        self._refresh: asyncio.Task[None] | None = None
        self._again = False
        # One refresh at a time: two at once (the start's, and the one the control
        # database's first "*" sets off) would each open a cell not open yet, and the
        # Database the second replaced would never be closed.
        self._refreshing = asyncio.Lock()
        self._closed = False
        control.on_invalidate(self._invalidate)

    # --- what routing reads ----------------------------------------------------------------
    def cached(self, tenant_id: str) -> Database | None:
        """The tenant's cell's Database if this instance holds its placement."""
        return self._placement.peek(tenant_id)

    async def database_of(self, tenant_id: str) -> Database:
        """The Database of the tenant's cell (the control one for a tenant placed nowhere
        else, or none at all); 503 if its cell is not reachable from here."""
        return (
            self._placement.peek(tenant_id)
            or await self._placement.get(tenant_id, functools.partial(self._load, tenant_id))
            or self.control
        )

    async def _load(self, tenant_id: str) -> Database:
        # On the control primary, as every cache fill: a replica's older state could undo a move.
        async with self.control.transaction(
            _CTX, tenant_id=tenant_id, read_only=True, primary=True, routed=False
        ) as tx:
            name = await self._locate(tx, tenant_id)
        if name is None:
            return self.control
        db = self._dbs.get(name)
        if db is None:
            await self.refresh()  # added a moment ago, before our notification arrived
            db = self._dbs.get(name)
        if db is None:
            raise ServiceUnavailable(f"The tenant's cell {name!r} is not reachable from this instance.")
        return db

    def forget(self, tenant_id: str) -> None:
        """Drop the tenant's placement here (its write found it gone from the cell)."""
        self._placement.invalidate(tenant_id)

    def remember(self, tenant_id: str, db: Database) -> None:
        """Hold a placement decided here before it commits (a new tenant): what runs for the
        tenant meanwhile (its first audit seal) must not look it up and find none."""
        self._placement.put(tenant_id, db)

    # --- the cells ---------------------------------------------------------------------------
    def cells(self) -> list[Cell]:
        """Every cell this instance knows, the control cell first, then by name."""
        added = sorted((c for n, c in self._known.items() if n != CONTROL_CELL), key=lambda c: c.name)
        return [self._known[CONTROL_CELL], *added]

    def database(self, name: str) -> Database:
        """The Database of the cell ``name`` (KeyError if there is none)."""
        return self._dbs[name]

    def is_open(self, name: str) -> bool:
        """Whether this instance has the cell's Database open (it answered)."""
        return name in self._dbs

    def databases(self) -> list[Database]:
        return [self._dbs[c.name] for c in self.cells() if c.name in self._dbs]

    async def open(self) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """Read the cells table; open a Database for each cell not open yet. The control
        database routes once there is a cell besides it."""
        async with self._refreshing:
            if not self._closed:
                await self._read_cells()

    async def _read_cells(self) -> None:
        try:
            async with self.control.transaction(_CTX, read_only=True, primary=True, routed=False) as tx:
                rows = await tx.conn.fetch(
                    "SELECT name, region, app_dsn, replica_dsns, created_at FROM cells ORDER BY name"
                )
        except Exception as exc:
            # Pods start before the migration in a rollout (healthy, not ready): without
            # the cells table there are no cells yet, and the first `cells add` notifies
            # every instance. Any other failure propagates (at start it stops the start):
            # serving without the cells known would send their tenants to the control cell.
            if not any(isinstance(e, asyncpg.UndefinedTableError) for e in (exc, exc.__cause__)):
                raise
            log.info("no cells table yet: serving the control cell only")
            return
        for row in rows:
            name = row["name"]
            self._known[name] = Cell(name, row["region"], len(row["replica_dsns"]), row["created_at"])
            if name in self._dbs:
                continue
            db = self.control.sibling(row["app_dsn"], replica_dsns=list(row["replica_dsns"]))
            try:
                await db.open()
            except Exception as exc:  # its tenants get 503 until a later refresh opens it
                log.warning("cell %s does not answer: %s", name, exc)
                with contextlib.suppress(Exception):
                    await db.close()
                continue
            self._dbs[name] = db
        self.control.router = self if len(self._dbs) > 1 else None
        # With cells a tenant can move: its writes on every cell pass its write gate (once
        # each cell has the migration that makes it; until then there is nothing to gate).
        for db in self._dbs.values():
            db.gated = self.control.router is not None and await _has_gate(db)

    def _invalidate(self, message: str) -> None:
        if message.startswith("tenant:"):
            self._placement.invalidate(message[7:])
        elif message == "*":
            self._placement.clear()
            self._schedule_refresh()
        elif message == CELLS_CHANGED:
            self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        if self._closed:
            return
        if self._refresh is not None and not self._refresh.done():
            self._again = True  # a notification during a refresh may postdate its read
            return
        with contextlib.suppress(RuntimeError):  # no loop: nothing is serving yet
            self._refresh = asyncio.get_running_loop().create_task(self._refresh_soon())

    async def _refresh_soon(self) -> None:
        for _ in range(10):
            self._again = False
            try:
                await self.refresh()
            except Exception:
                log.warning("reading the cells failed", exc_info=True)
            if not self._again:
                return

    async def close(self) -> None:
        self._closed = True
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresh
        async with self._refreshing:  # a refresh opening a cell finishes first
            self.control.router = None
            for name, db in list(self._dbs.items()):
                if db is not self.control:
                    await db.close()
                    del self._dbs[name]

    def terminate(self) -> None:
        for db in self._dbs.values():
            if db is not self.control:
                db.terminate()
