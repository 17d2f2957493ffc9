"""Moving a tenant between cells online: copy, catch up, freeze ≤ 1 s, switch, clean up.

docs/adr/0016-tenant-moves.md says why this is a copy plus catch-up keyed by each row's
version (``ctid`` and ``xmin``, which every PostgreSQL table has) and not logical
replication. In short, a move:

1. **copying**: copies every row of the tenant's tables (``MOVED``) from the source cell to
   the target, read in one REPEATABLE READ snapshot, written in one transaction;
2. **catching_up**: copies again what changed since (rows whose version is not the one
   copied, and deletes what is gone), until a pass finds little, so that the frozen pass
   is short;
3. **switching**: freezes the tenant's writes (the advisory lock every write transaction
   of the tenant takes shared, taken exclusively: writers on every instance wait), makes
   the last pass, verifies the target (row counts per table, the audit chain and its
   head), records the departure on the source, switches the directory (``tenants.cell``,
   notified as ``tenant:<id>``), and lets the writers go: they find the departure and run
   on the target;
4. **done**: after a moment for every instance to see the switch, deletes the tenant's
   rows on the source.

A failure before the switch rolls back to the source: the target's copy is deleted, no
departure is recorded, the writers go on where they were. The move is a durable job: a
process that dies mid-move leaves the job's lease to run out; the next run finds where it
was (the directory says whether the switch happened) and finishes or starts over.

The mover works through admin connections (the tables' owner, scoped to the tenant for
row-level security): it deletes audit events, which the request role may not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import asyncpg

from fundament import audit, jobs, tenancy
from fundament.platform import (
    CONTROL_CELL,
    Cells,
    Conflict,
    FieldError,
    NotFound,
    RequestContext,
    Tx,
    ValidationFailed,
    new_id,
    set_scope,
)

log = logging.getLogger("fundament.cells.moves")
Conn: TypeAlias = asyncpg.Connection

JOB_KIND = "tenant.move"
STATUSES = ("pending", "copying", "catching_up", "switching", "done", "failed")
#: Migration 0014's lock space for the tenant write gate; this one's for the mover itself.
GATE_SPACE = 1179995716
MOVER_SPACE = 1179995717


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    key: tuple[str, ...]
    tenant_column: str = "tenant_id"
    #: Rows never change once written (the audit trail's trigger refuses an UPDATE).
    append_only: bool = False


#: Every table of a tenant's rows on its cell, parents before children (foreign keys).
#: ``jobs`` is not here: its ids are one sequence per cell, so open jobs are copied under
#: the freeze with new ids (``_copy_jobs``). tests/cells/test_moves.py checks that every
#: table with a ``tenant_id`` is either here, ``jobs``, or in ``STAYS``.
MOVED: tuple[Table, ...] = (
    Table("tenants", ("id",), tenant_column="id"),
    Table("api_keys", ("tenant_id", "id")),
    Table("users", ("tenant_id", "id")),
    Table("collections", ("tenant_id", "name")),
    Table("records", ("tenant_id", "collection", "id")),
    Table("idempotency_keys", ("tenant_id", "key")),
    Table("audit_heads", ("tenant_id",)),
    Table("audit_events", ("tenant_id", "seq"), append_only=True),
    Table("audit_pending", ("tenant_id", "id")),
    Table("subject_keys", ("tenant_id", "subject_hash")),
    Table("privacy_requests", ("tenant_id", "id")),
    Table("event_pending", ("tenant_id", "n")),
    Table("event_heads", ("tenant_id",)),
    Table("events", ("tenant_id", "seq")),
    Table("webhooks", ("tenant_id", "id")),
    Table("webhook_deliveries", ("tenant_id", "id")),
)
#: The control plane's tables that name a tenant: they stay in the control database
#: whatever the tenant's cell (ADR 0015), so a move does not touch them.
STAYS = frozenset(
    {
        "usage_hourly",
        "usage_keys",
        "usage_collections_hourly",
        "storage_hourly",
        "tenant_moves",
        "tenant_departures",
    }
)
#: The copy writes rows in chunks of this many (one JSON document each).
_CHUNK = 2000
#: The mover's connections say what they are (pg_stat_activity; tests end them there).
_SESSION = {"application_name": "fundament-mover"}


async def _connect(dsn: str) -> Conn:
    return await asyncpg.connect(dsn, timeout=5, server_settings=_SESSION)


class MoveFailed(Exception):
    """Why a move stopped, said for the operator (the move's ``error``)."""


@dataclass(frozen=True, slots=True)
class MoveRow:
    id: str
    tenant: str
    from_cell: str
    to_cell: str
    status: str
    error: str | None
    freeze_ms: float | None
    rows_copied: int
    created_at: datetime
    finished_at: datetime | None


_MOVE_COLUMNS = (
    "id, tenant_id AS tenant, from_cell, to_cell, status, error, freeze_ms, rows_copied,"
    " created_at, finished_at"
)


# --- the API's side: starting a move, reading one ----------------------------------------------
async def start_move(tx: Tx, regions: Mapping[str, str], tenant_id: str, to_cell: str) -> MoveRow:
    """Record a move of the tenant to ``to_cell`` and enqueue its job, in ``tx`` (the control
    database, scoped to the tenant, in the operator scope); ``regions`` is every cell's
    region by name. 404 no such tenant; 422 an unknown cell, the cell it is on, or a cell of
    another region; 409 a move of it running."""
    tenant = await tenancy.find_tenant(tx, tenant_id)
    if tenant is None:
        raise NotFound("No such tenant.")
    known = dict(regions)
    region = known.get(to_cell)
    if region is None:
        raise ValidationFailed(
            f"There is no cell {to_cell!r}. Cells: {', '.join(known)} (`fundament cells list`).",
            errors=[FieldError("/to", "no such cell")],
        )
    if to_cell == tenant.cell:
        raise ValidationFailed(
            f"The tenant is on the cell {to_cell!r} already.",
            errors=[FieldError("/to", "the tenant's cell already")],
        )
    if region != tenant.region:
        raise ValidationFailed(
            f"The cell {to_cell!r} is in {region}, the tenant's data stays in its region "
            f"{tenant.region}: move it to a cell of that region.",
            errors=[FieldError("/to", f"not a cell of the tenant's region {tenant.region}")],
        )
    move_id = new_id("mov")
    try:
        async with tx.conn.transaction():  # a savepoint: the 409 below leaves tx usable
            rec = await tx.conn.fetchrow(
                "INSERT INTO tenant_moves (id, tenant_id, from_cell, to_cell, status)"
                f" VALUES ($1, $2, $3, $4, 'pending') RETURNING {_MOVE_COLUMNS}",
                move_id,
                tenant_id,
                tenant.cell,
                to_cell,
            )
    except asyncpg.UniqueViolationError:
        running = await tx.conn.fetchval(
            "SELECT id FROM tenant_moves WHERE tenant_id = $1 AND status NOT IN ('done', 'failed')",
            tenant_id,
        )
        raise Conflict(
            f"A move of this tenant is running already ({running}); poll it at "
            f"/v1/tenants/{tenant_id}/moves/{running}."
        ) from None
    await jobs.enqueue(tx, JOB_KIND, move_id)
    return MoveRow(**dict(rec))


def regions_of(cells: Cells) -> dict[str, str]:
    """Every cell's region by name, as :func:`start_move` takes them."""
    return {c.name: c.region for c in cells.cells()}


async def get_move(tx: Tx, tenant_id: str, move_id: str) -> MoveRow:
    rec = await tx.conn.fetchrow(
        f"SELECT {_MOVE_COLUMNS} FROM tenant_moves WHERE id = $1 AND tenant_id = $2", move_id, tenant_id
    )
    if rec is None:
        raise NotFound("No such move of this tenant.")
    return MoveRow(**dict(rec))


# --- the CLI's side: through an admin connection to the control database ----------------------
async def request_move(control_dsn: str, tenant_ref: str, to_cell: str, *, control_region: str) -> MoveRow:
    """:func:`start_move` for the tenant whose id or slug is ``tenant_ref``; a running
    instance's job worker does the move. NotFound if there is no such tenant."""
    conn = await asyncpg.connect(control_dsn)
    try:
        tenant_id = await tenancy.find_tenant_id(conn, tenant_ref)
        if tenant_id is None:
            raise NotFound(f"No tenant has the id or slug {tenant_ref!r}.")
        regions = {CONTROL_CELL: control_region}
        regions |= {r["name"]: r["region"] for r in await conn.fetch("SELECT name, region FROM cells")}
        async with conn.transaction():
            await set_scope(conn, tenant_id=tenant_id, operator=True)
            tx = Tx(conn, RequestContext(request_id="cli-tenants-move"), tenant_id)
            return await start_move(tx, regions, tenant_id, to_cell)
    finally:
        await conn.close()


async def watch_move(
    control_dsn: str, move_id: str, *, seconds: float, seen: Callable[[MoveRow], None]
) -> MoveRow:
    """Poll the move until it is done or failed (or ``seconds`` pass: the last state seen);
    ``seen`` is called with each new status."""
    conn = await asyncpg.connect(control_dsn)
    try:
        deadline = time.monotonic() + seconds
        status = None
        while True:
            async with conn.transaction():
                await set_scope(conn, operator=True)
                rec = await conn.fetchrow(f"SELECT {_MOVE_COLUMNS} FROM tenant_moves WHERE id = $1", move_id)
            move = MoveRow(**dict(rec))
            if move.status != status:
                status = move.status
                seen(move)
            if move.status in ("done", "failed") or time.monotonic() > deadline:
                return move
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


# --- the mover ---------------------------------------------------------------------------------
#: Called with each step's name as the move reaches it (``copying``, ``catching_up``,
#: ``freezing``, ``verifying``, ``switching``, ``departed``, ``cleaning``) and the target's
#: connection (the source's for ``cleaning``):
#: tests fail a move there, or tamper with the target before it is verified.
Interrupt = Callable[[str, asyncpg.Connection], Awaitable[None]]


@dataclass
class _Copy:
    """What the target holds of each table: each key's row version on the source."""

    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    rows: int = 0
    #: The versions are in the source session's ``move_versions`` too (:meth:`Mover._ship`).
    shipped: bool = False


class Mover:
    """Runs moves: the job handler of ``tenant.move`` (:meth:`handler`)."""

    def __init__(
        self,
        control_dsn: str,
        cells: Cells,
        *,
        freeze_lock_wait_ms: int = 200,
        freeze_attempts: int = 10,
        catch_up_passes: int = 5,
        catch_up_enough: int = 200,
        settle_seconds: float = 1.0,
        interrupt: Interrupt | None = None,
    ) -> None:
        self._control_dsn = control_dsn
        self._cells = cells
        self._lock_wait_ms = freeze_lock_wait_ms
        self._freeze_attempts = freeze_attempts
        self._passes = catch_up_passes
        self._enough = catch_up_enough
        self._settle = settle_seconds
        self.interrupt = interrupt

    def handler(self) -> jobs.Detached:
        return jobs.Detached(self.run)

    async def run(self, job: jobs.Job, now: datetime) -> datetime | None:
        control = await _connect(self._control_dsn)
        try:
            # One mover per move, whichever worker claims its job: a second claim while the
            # first still runs (its lease ran out on a long copy) looks again later.
            mine = await control.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", MOVER_SPACE, job.ref
            )
            if not mine:
                return now + timedelta(seconds=30)
            move = await self._load(control, job.ref)
            if move is None or move.status in ("done", "failed"):
                return None
            await self._move(control, move)
            return None
        finally:
            await control.close()

    # --- state ---------------------------------------------------------------------------
    async def _load(self, control: asyncpg.Connection, move_id: str) -> MoveRow | None:
        async with control.transaction():
            await set_scope(control, operator=True)
            rec = await control.fetchrow(f"SELECT {_MOVE_COLUMNS} FROM tenant_moves WHERE id = $1", move_id)
        return None if rec is None else MoveRow(**dict(rec))

    async def _status(self, control: asyncpg.Connection, move: MoveRow, status: str, **extra: Any) -> None:
        sets = ["status = $2", "updated_at = now()"]
        args: list[Any] = [move.id, status]
        for column, value in extra.items():
            args.append(value)
            sets.append(f"{column} = ${len(args)}")
        if status in ("done", "failed"):
            sets.append("finished_at = now()")
        async with control.transaction():
            await set_scope(control, operator=True)
            await control.execute(f"UPDATE tenant_moves SET {', '.join(sets)} WHERE id = $1", *args)

    async def _dsn(self, control: asyncpg.Connection, cell: str) -> str:
        if cell == CONTROL_CELL:
            return self._control_dsn
        dsn: str | None = await control.fetchval("SELECT dsn FROM cells WHERE name = $1", cell)
        if dsn is None:
            raise MoveFailed(f"there is no cell {cell!r}")
        return dsn

    async def _placed(self, control: asyncpg.Connection, tenant_id: str) -> str | None:
        async with control.transaction():
            await set_scope(control, operator=True)
            placed: str | None = await control.fetchval(
                f"SELECT coalesce(cell, '{CONTROL_CELL}') FROM tenants WHERE id = $1", tenant_id
            )
        return placed

    async def _step(self, name: str, target: asyncpg.Connection) -> None:
        if self.interrupt is not None:
            await self.interrupt(name, target)

    # --- the move ----------------------------------------------------------------------------
    async def _move(self, control: asyncpg.Connection, move: MoveRow) -> None:
        placed = await self._placed(control, move.tenant)
        if placed is None:
            await self._status(control, move, "failed", error="the tenant was offboarded during the move")
            return
        if placed == move.to_cell:
            # Switched by a mover that died before it finished: only the clean-up is left.
            await self._finish(control, move)
            return
        try:
            async with self._connections(control, move) as (source, target):
                await self._forget_leftovers(source, target, move)
                copy = _Copy()
                await self._status(control, move, "copying")
                await self._step("copying", target)
                await self._pass(source, target, move, copy)
                await self._status(control, move, "catching_up", rows_copied=copy.rows)
                for _ in range(self._passes):
                    await self._step("catching_up", target)
                    if await self._pass(source, target, move, copy) <= self._enough:
                        break
                await self._status(control, move, "switching", rows_copied=copy.rows)
                # The bulk of the chain before the freeze (copied events never change: the
                # trail is append-only); the freeze verifies the events since.
                chain = await self._chain(target, move)
                freeze_ms = await self._switch(control, source, target, move, copy, chain)
        except Exception as exc:
            await self._fail(control, move, exc)
            return
        await self._status(control, move, "switching", freeze_ms=freeze_ms, rows_copied=copy.rows)
        await self._finish(control, move)

    @contextlib.asynccontextmanager
    async def _connections(
        self, control: asyncpg.Connection, move: MoveRow
    ) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
        opened: list[asyncpg.Connection] = []
        try:
            for cell, what in ((move.from_cell, "source"), (move.to_cell, "target")):
                dsn = await self._dsn(control, cell)
                try:
                    opened.append(await _connect(dsn))
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    raise MoveFailed(f"the {what} cell {cell!r} does not answer: {exc}") from None
            yield opened[0], opened[1]
        finally:
            for conn in opened:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=5)

    async def _pass(self, source: Conn, target: Conn, move: MoveRow, copy: _Copy) -> int:
        """Copy what changed on the source since the last pass; how many rows that was."""
        tables = _tables_for(move.to_cell)
        plan: list[tuple[Table, list[str], list[str]]] = []
        async with source.transaction(isolation="repeatable_read", readonly=True):
            await set_scope(source, tenant_id=move.tenant)
            for table in tables:
                changed, gone = await (self._diff_there if copy.shipped else self._diff_here)(
                    source, table, move, copy
                )
                documents = []
                for i in range(0, len(changed), _CHUNK):
                    documents.append(
                        await source.fetchval(
                            f"SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]')::text FROM {table.name} t"
                            f" WHERE ctid = ANY($1::text[]::tid[]) AND {table.tenant_column} = $2",
                            changed[i : i + _CHUNK],
                            move.tenant,
                        )
                    )
                plan.append((table, documents, gone))
                copy.rows += len(changed) + len(gone)
        moved = 0
        async with target.transaction():
            await set_scope(target, tenant_id=move.tenant)
            await target.execute("SELECT set_config('fundament.move_cleanup', $1, true)", move.tenant)
            for table, _, gone in reversed(plan):
                if gone:
                    await target.execute(
                        f"DELETE FROM {table.name}"
                        f" WHERE {table.tenant_column} = $1 AND {_key(table)} = ANY($2::text[])",
                        move.tenant,
                        gone,
                    )
                    moved += len(gone)
            for table, documents, _ in plan:
                statement = await _upsert(target, table)
                for document in documents:
                    status = await target.execute(statement, document)
                    moved += int(status.split()[-1])
        return moved

    async def _diff_here(self, source: Conn, table: Table, move: MoveRow, copy: _Copy) -> _Diff:
        """The rows whose version changed (their ctids) and the keys gone, compared here
        with the versions copied before; ``copy.versions`` becomes what the source has now."""
        rows = await source.fetch(
            f"SELECT {_key(table)} AS k, ctid::text || '/' || xmin::text AS v"
            f" FROM {table.name} WHERE {table.tenant_column} = $1",
            move.tenant,
        )
        now = {r["k"]: r["v"] for r in rows}
        before = copy.versions.get(table.name, {})
        changed = [v.split("/")[0] for k, v in now.items() if before.get(k) != v]
        gone = [k for k in before if k not in now]
        copy.versions[table.name] = now
        return changed, gone

    async def _diff_there(self, source: Conn, table: Table, move: MoveRow, copy: _Copy) -> _Diff:
        """:meth:`_diff_here`, compared on the source against the versions shipped there
        (:meth:`_ship`): under the freeze only the differences cross the network."""
        versions = copy.versions.setdefault(table.name, {})
        changed = await source.fetch(
            f"SELECT s.k, s.v FROM (SELECT {_key(table)} AS k, ctid::text || '/' || xmin::text AS v"
            f" FROM {table.name} WHERE {table.tenant_column} = $1) s"
            " WHERE NOT EXISTS (SELECT 1 FROM pg_temp.move_versions m"
            " WHERE m.t = $2 AND m.k = s.k AND m.v = s.v)",
            move.tenant,
            table.name,
        )
        gone = await source.fetch(
            "SELECT m.k FROM pg_temp.move_versions m WHERE m.t = $2 AND NOT EXISTS"
            f" (SELECT 1 FROM {table.name} s"
            f" WHERE s.{table.tenant_column} = $1 AND {_key(table, 's')} = m.k)",
            move.tenant,
            table.name,
        )
        for r in changed:
            versions[r["k"]] = r["v"]
        for r in gone:
            versions.pop(r["k"], None)
        return [r["v"].split("/")[0] for r in changed], [r["k"] for r in gone]

    async def _ship(self, source: Conn, copy: _Copy) -> None:
        """Put the versions copied so far in a temporary table of the source's session, before
        the freeze, so the frozen pass compares there instead of reading every version here."""
        await source.execute(
            "CREATE TEMP TABLE IF NOT EXISTS move_versions (t text, k text, v text);"
            " CREATE INDEX IF NOT EXISTS move_versions_tkv ON pg_temp.move_versions (t, k, v);"
            " TRUNCATE pg_temp.move_versions"
        )
        await source.copy_records_to_table(
            "move_versions",
            schema_name="pg_temp",
            records=[(t, k, v) for t, versions in copy.versions.items() for k, v in versions.items()],
        )
        await source.execute("ANALYZE pg_temp.move_versions")
        copy.shipped = True

    async def _switch(
        self,
        control: asyncpg.Connection,
        source: asyncpg.Connection,
        target: asyncpg.Connection,
        move: MoveRow,
        copy: _Copy,
        chain: Any,
    ) -> float:
        """Freeze, copy the rest, verify, switch; the freeze's length in ms."""
        await self._step("freezing", target)
        await self._ship(source, copy)
        frozen_at = await self._freeze(source, target, move, copy)
        departed = False
        spent: dict[str, float] = {}

        def lap(what: str) -> None:
            spent[what] = round((time.monotonic() - frozen_at) * 1000 - sum(spent.values()), 1)

        try:
            await self._pass(source, target, move, copy)
            lap("last pass")
            await self._copy_jobs(source, target, move)
            await self._align(control, target, move)
            await self._step("verifying", target)
            lap("jobs")
            await self._verify(source, target, move, chain)
            lap("verify")
            await self._step("switching", target)
            async with target.transaction():
                await target.execute("DELETE FROM tenant_departures WHERE tenant_id = $1", move.tenant)
            # The departure before the directory: a crash between the two leaves writers
            # refused (503) until the job runs again, never writing where nothing reads.
            async with source.transaction():
                await source.execute(
                    "INSERT INTO tenant_departures (tenant_id, to_cell, move_id) VALUES ($1, $2, $3)"
                    " ON CONFLICT (tenant_id) DO UPDATE SET to_cell = $2, move_id = $3, at = now()",
                    move.tenant,
                    move.to_cell,
                    move.id,
                )
            departed = True
            await self._step("departed", target)
            async with control.transaction():
                if not await tenancy.switch_cell(
                    control, move.tenant, from_cell=move.from_cell, to_cell=move.to_cell
                ):
                    raise MoveFailed("the tenant's placement changed during the move")
        except BaseException:
            if departed:
                with contextlib.suppress(Exception):
                    await source.execute("DELETE FROM tenant_departures WHERE tenant_id = $1", move.tenant)
            raise
        finally:
            with contextlib.suppress(Exception):
                await source.execute("SELECT pg_advisory_unlock($1, hashtext($2))", GATE_SPACE, move.tenant)
            freeze_ms = (time.monotonic() - frozen_at) * 1000
            lap("switch")
            log.info("tenant %s frozen %.1f ms for move %s (ms: %s)", move.tenant, freeze_ms, move.id, spent)
        return freeze_ms

    async def _freeze(self, source: Conn, target: Conn, move: MoveRow, copy: _Copy) -> float:
        """Take the tenant's write gate exclusively on the source; when it was taken. The
        request waits behind writes in flight for at most ``freeze_lock_wait_ms`` (new writes
        wait behind it meanwhile); if they are not done then, it lets go, catches up once
        more and tries again, up to ``freeze_attempts`` times."""
        await source.execute(f"SET lock_timeout = {int(self._lock_wait_ms)}")
        try:
            for _ in range(self._freeze_attempts):
                try:
                    await source.execute("SELECT pg_advisory_lock($1, hashtext($2))", GATE_SPACE, move.tenant)
                    return time.monotonic()
                except asyncpg.LockNotAvailableError:
                    await self._pass(source, target, move, copy)
                    await self._ship(source, copy)  # what the frozen pass compares with
            raise MoveFailed(
                f"the tenant's writes did not pause within {self._lock_wait_ms} ms in "
                f"{self._freeze_attempts} attempts (a long transaction of it, such as a job, held them)"
            )
        finally:
            await source.execute("SET lock_timeout = 0")

    async def _copy_jobs(self, source: asyncpg.Connection, target: asyncpg.Connection, move: MoveRow) -> None:
        """The tenant's open jobs, with the target's ids (the queue is numbered per cell),
        unclaimed: one claimed on the source meets the departure at its gate there."""
        jobs_open = await source.fetch(
            "SELECT kind, ref, run_at, attempts, last_error FROM jobs"
            " WHERE tenant_id = $1 AND done_at IS NULL AND kind <> $2",
            move.tenant,
            JOB_KIND,
        )
        async with target.transaction():
            await target.execute(
                "DELETE FROM jobs WHERE tenant_id = $1 AND kind <> $2", move.tenant, JOB_KIND
            )
            await target.executemany(
                "INSERT INTO jobs (tenant_id, kind, ref, run_at, attempts, last_error)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                [(move.tenant, *tuple(j)) for j in jobs_open],
            )

    async def _align(self, control: asyncpg.Connection, target: asyncpg.Connection, move: MoveRow) -> None:
        """What the copied rows need besides themselves: the change sequence past the
        tenant's pending numbers, and the tenant's copy in step with the registry."""
        async with target.transaction():
            await set_scope(target, tenant_id=move.tenant)
            await target.execute(
                "SELECT setval('event_pending_n', greatest((SELECT last_value FROM event_pending_n),"
                " (SELECT coalesce(max(n), 1) FROM event_pending WHERE tenant_id = $1)))",
                move.tenant,
            )
            if move.to_cell != CONTROL_CELL:  # there, the registry's row is the tenant's row
                async with control.transaction():
                    await set_scope(control, operator=True)
                    registry = await control.fetchrow(
                        "SELECT name, plan, status FROM tenants WHERE id = $1", move.tenant
                    )
                if registry is not None:
                    await target.execute(
                        "UPDATE tenants SET name = $2, plan = $3, status = $4 WHERE id = $1",
                        move.tenant,
                        *tuple(registry),
                    )

    async def _chain(self, target: Conn, move: MoveRow, after: audit.ChainVerification | None = None) -> Any:
        """The audit chain recomputed on the target (only the events since ``after``)."""
        async with target.transaction(isolation="repeatable_read", readonly=True):
            await set_scope(target, tenant_id=move.tenant)
            chain = await audit.verify_tenant(target, move.tenant, after=after)
        if not chain.valid:
            raise MoveFailed(f"the audit chain does not verify on the target: {chain.reason}")
        return chain

    async def _verify(self, source: Conn, target: Conn, move: MoveRow, chain: Any) -> None:
        """Row counts of every table alike on both sides, and the audit chain intact on the
        target (its start was verified before the freeze: ``chain``) and ending where the
        source's does. One query a side, under the freeze."""
        tables = _tables_for(move.to_cell)
        counts = ", ".join(
            f"(SELECT count(*) FROM {t.name} WHERE {t.tenant_column} = $1)" for t in tables
        )
        query = (
            f"SELECT {counts}, (SELECT count(*) FROM jobs WHERE tenant_id = $1 AND done_at IS NULL"
            " AND kind <> $2), (SELECT encode(hash, 'hex') FROM audit_events WHERE tenant_id = $1"
            " ORDER BY seq DESC LIMIT 1)"
        )
        seen: list[dict[str, Any]] = []
        for conn in (source, target):
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await set_scope(conn, tenant_id=move.tenant)
                row = await conn.fetchrow(query, move.tenant, JOB_KIND)
            seen.append(dict(zip([*(t.name for t in tables), "jobs", "head"], row, strict=True)))
        differ = [t for t in seen[0] if t != "head" and seen[0][t] != seen[1][t]]
        if differ:
            detail = ", ".join(f"{t}: {seen[0][t]} on the source, {seen[1][t]} on the target" for t in differ)
            raise MoveFailed(f"the copy does not match: {detail}")
        chain = await self._chain(target, move, after=chain)
        if not seen[0]["head"] == seen[1]["head"] == chain.head:
            raise MoveFailed("the audit chain on the target does not end where the source's does")

    async def _finish(self, control: asyncpg.Connection, move: MoveRow) -> None:
        """Switched: delete the tenant's rows on the source, once every instance had a
        moment to see the switch (a read there until then finds them still)."""
        await asyncio.sleep(self._settle)
        source = await _connect(await self._dsn(control, move.from_cell))
        try:
            await self._step("cleaning", source)
            await _delete_tenant_rows(source, move.tenant, keep_registry=move.from_cell == CONTROL_CELL)
        finally:
            await source.close()
        await self._status(control, move, "done")

    async def _forget_leftovers(self, source: Conn, target: Conn, move: MoveRow) -> None:
        """A move that started over (its mover died) finds the source as it was and the
        target with a partial copy: the departure, if one was written, goes; so does the copy."""
        async with source.transaction():
            await source.execute(
                "DELETE FROM tenant_departures WHERE tenant_id = $1 AND move_id = $2", move.tenant, move.id
            )
        await _delete_tenant_rows(target, move.tenant, keep_registry=move.to_cell == CONTROL_CELL)

    async def _fail(self, control: asyncpg.Connection, move: MoveRow, exc: BaseException) -> None:
        """The tenant stays on the source, whole and serving; the target's copy goes."""
        reason = str(exc) if isinstance(exc, MoveFailed) else f"{type(exc).__name__}: {exc}"
        log.warning("move %s of tenant %s to %s failed: %s", move.id, move.tenant, move.to_cell, reason)
        # A target that does not answer keeps its copy until the next move starts by deleting it.
        with contextlib.suppress(Exception):
            target = await _connect(await self._dsn(control, move.to_cell))
            try:
                await _delete_tenant_rows(target, move.tenant, keep_registry=move.to_cell == CONTROL_CELL)
            finally:
                await target.close()
        await self._status(control, move, "failed", error=reason[:1000])


def _tables_for(to_cell: str) -> tuple[Table, ...]:
    # On the control database the registry's row is the tenant's row: it is neither
    # copied onto nor deleted from there.
    return MOVED[1:] if to_cell == CONTROL_CELL else MOVED


def _key(table: Table, alias: str = "") -> str:
    columns = ", ".join(f"{alias}.{c}" if alias else c for c in table.key)
    return f"jsonb_build_array({columns})::text"


#: What changed in a table since the last pass: the ctids of the rows to copy, the keys gone.
_Diff = tuple[list[str], list[str]]
_COLUMNS: dict[str, list[str]] = {}


async def _upsert(conn: asyncpg.Connection, table: Table) -> str:
    """INSERT … ON CONFLICT of a JSON array of rows (``to_jsonb`` of the source's rows, so
    PostgreSQL converts every type both ways)."""
    columns = _COLUMNS.get(table.name)
    if columns is None:
        columns = [
            r["attname"]
            for r in await conn.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0"
                " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                table.name,
            )
        ]
        _COLUMNS[table.name] = columns
    names = ", ".join(columns)
    rest = [c for c in columns if c not in table.key]
    if table.append_only or not rest:
        conflict = "DO NOTHING"
    else:
        conflict = "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
    return (
        f"INSERT INTO {table.name} ({names}) SELECT {names}"
        f" FROM jsonb_populate_recordset(NULL::{table.name}, $1::jsonb)"
        f" ON CONFLICT ({', '.join(table.key)}) {conflict}"
    )


async def _delete_tenant_rows(conn: asyncpg.Connection, tenant_id: str, *, keep_registry: bool) -> None:
    """Every row of the tenant in ``MOVED`` and its jobs but a move's, children first; on
    the control database the registry's row stays (and with it usage, which is there)."""
    async with conn.transaction():
        await set_scope(conn, tenant_id=tenant_id)
        await conn.execute("SELECT set_config('fundament.move_cleanup', $1, true)", tenant_id)
        await conn.execute("DELETE FROM jobs WHERE tenant_id = $1 AND kind <> $2", tenant_id, JOB_KIND)
        for table in reversed(MOVED[1:] if keep_registry else MOVED):
            await conn.execute(f"DELETE FROM {table.name} WHERE {table.tenant_column} = $1", tenant_id)
