"""Tenant use cases. Functions take an open :class:`Tx`; they never commit themselves."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from fundament.platform import (
    CONTROL_CELL,
    Conflict,
    FieldError,
    NotFound,
    Page,
    Tx,
    ValidationFailed,
    keyset_page,
    looks_like_id,
    new_id,
    notify_invalidation,
    refuse_removal,
    set_scope,
    utcnow,
)
from fundament.tenancy.plans import BUILTIN

_COLUMNS = (
    f"id, slug, name, region, plan, status, created_at, cors_origins,"
    f" coalesce(cell, '{CONTROL_CELL}') AS cell"
)


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: str
    slug: str
    name: str
    region: str
    plan: str
    status: str
    created_at: datetime
    #: Browser origins allowed to call the tenant's paths (CORS), normalised as browsers
    #: send them; read by the edge through the tenant cache, shown at ``…/cors`` only.
    #: Answered as the shape ``Tenant``, which leaves them out.
    cors_origins: tuple[str, ...] = ()
    #: The cell the tenant's rows live on (the placement directory: NULL in the table is
    #: the control cell).
    cell: str = CONTROL_CELL


def _row(rec: asyncpg.Record) -> TenantRow:
    fields = dict(rec)
    fields["cors_origins"] = tuple(fields["cors_origins"])
    return TenantRow(**fields)


def _check_plan(plan: str, plans: Collection[str]) -> None:
    if plan not in plans:
        raise ValidationFailed(
            f"Unknown plan {plan!r}.",
            errors=[FieldError("/plan", f"must be one of: {', '.join(plans)}")],
        )


async def create_tenant(
    tx: Tx,
    *,
    name: str,
    slug: str,
    region: str,
    plan: str,
    plans: Collection[str] = BUILTIN,
    cell: str = CONTROL_CELL,
) -> TenantRow:
    """Create a tenant placed on ``cell``; 409 if the slug is taken. ``tx`` must be scoped
    to the new id, in the control database."""
    _check_plan(plan, plans)
    assert tx.tenant_id is not None and looks_like_id(tx.tenant_id, "tnt")
    now = utcnow()
    try:
        rec = await tx.conn.fetchrow(
            f"INSERT INTO tenants (id, slug, name, region, plan, status, created_at, updated_at, cell)"
            f" VALUES ($1, $2, $3, $4, $5, 'active', $6, $6, $7) RETURNING {_COLUMNS}",
            tx.tenant_id,
            slug,
            name,
            region,
            plan,
            now,
            None if cell == CONTROL_CELL else cell,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"The slug {slug!r} is already taken.") from exc
    tx.emit("tenant.created", "tenant", tx.tenant_id, slug=slug, region=region, plan=plan)
    return _row(rec)


def new_tenant_id() -> str:
    return new_id("tnt")


async def anchor_tenant(tx: Tx, tenant: TenantRow) -> None:
    """Copy the tenant's row into its cell (``tx`` runs there), where every table of the
    tenant's rows refers to it and offboarding's cascade starts. The registry stays in the
    control database: the copy is read by nothing but those foreign keys."""
    await tx.conn.execute(
        "INSERT INTO tenants (id, slug, name, region, plan, status, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING",
        tenant.id,
        tenant.slug,
        tenant.name,
        tenant.region,
        tenant.plan,
        tenant.status,
        tenant.created_at,
    )


async def refresh_anchor(tx: Tx, tenant: TenantRow) -> None:
    """Bring the tenant's copy in its cell (``tx`` runs there) in step with the registry, for
    what reads it there (the privacy register names the tenant)."""
    await tx.conn.execute(
        "UPDATE tenants SET name = $2, plan = $3, status = $4, updated_at = now() WHERE id = $1",
        tenant.id,
        tenant.name,
        tenant.plan,
        tenant.status,
    )


async def drop_anchor(tx: Tx, tenant_id: str) -> None:
    """Delete the tenant's copy in its cell (``tx`` runs there) and, by cascade, every row
    the tenant has on it; nothing if it is gone already (an offboarding retried)."""
    await tx.conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)


async def cell_of_tenant(tx: Tx, tenant_id: str) -> str | None:
    """The cell the tenant is placed on, None for the control cell or no such tenant: the
    placement directory as routing reads it (``tx`` in the control database)."""
    if not looks_like_id(tenant_id, "tnt"):
        return None
    cell: str | None = await tx.conn.fetchval("SELECT cell FROM tenants WHERE id = $1", tenant_id)
    return cell


async def switch_cell(conn: asyncpg.Connection, tenant_id: str, *, from_cell: str, to_cell: str) -> bool:
    """Move the tenant's placement from ``from_cell`` to ``to_cell`` in the directory, in
    ``conn``'s open transaction (an admin connection to the control database), and tell
    every instance when it commits; False if the tenant is not on ``from_cell`` (any more)."""
    await set_scope(conn, operator=True)
    status = await conn.execute(
        f"UPDATE tenants SET cell = $2, updated_at = now()"
        f" WHERE id = $1 AND coalesce(cell, '{CONTROL_CELL}') = $3",
        tenant_id,
        None if to_cell == CONTROL_CELL else to_cell,
        from_cell,
    )
    if status != "UPDATE 1":
        return False
    await notify_invalidation(conn, f"tenant:{tenant_id}")
    return True


async def count_by_cell(tx: Tx) -> dict[str, int]:
    """How many tenants each cell holds; ``tx`` in the operator scope."""
    rows = await tx.conn.fetch(
        f"SELECT coalesce(cell, '{CONTROL_CELL}') AS cell, count(*) AS n FROM tenants GROUP BY 1"
    )
    return {r["cell"]: r["n"] for r in rows}


async def cells_of(tx: Tx) -> dict[str, str]:
    """Every tenant's cell by tenant id; ``tx`` in the operator scope."""
    rows = await tx.conn.fetch(f"SELECT id, coalesce(cell, '{CONTROL_CELL}') AS cell FROM tenants")
    return {r["id"]: r["cell"] for r in rows}


async def find_tenant(tx: Tx, tenant_id: str) -> TenantRow | None:
    if not looks_like_id(tenant_id, "tnt"):
        return None
    rec = await tx.conn.fetchrow(f"SELECT {_COLUMNS} FROM tenants WHERE id = $1", tenant_id)
    return None if rec is None else _row(rec)


async def find_tenant_id(conn: asyncpg.Connection, ref: str) -> str | None:
    """The id of the tenant whose id or slug is ``ref``, through an admin connection (the
    CLI), or None: commands that name a tenant refuse one that does not exist."""
    async with conn.transaction():
        await set_scope(conn, operator=True)
        found: str | None = await conn.fetchval("SELECT id FROM tenants WHERE id = $1 OR slug = $1", ref)
    return found


async def get_tenant(tx: Tx, tenant_id: str) -> TenantRow:
    found = await find_tenant(tx, tenant_id)
    if found is None:
        raise NotFound("No such tenant.")
    return found


async def list_tenants(tx: Tx, *, limit: int, cursor: str | None) -> Page[TenantRow]:
    return await keyset_page(
        tx.conn,
        select=f"SELECT {_COLUMNS} FROM tenants",
        where=[],
        args=[],
        key="id",
        cursor=cursor,
        limit=limit,
        build=_row,
        key_of=lambda tenant: tenant.id,
    )


async def tenants_created_before(tx: Tx, when: datetime) -> list[TenantRow]:
    """Every tenant created before ``when``, by id; ``tx`` must be in the operator scope
    (any other sees at most its own tenant)."""
    rows = await tx.conn.fetch(f"SELECT {_COLUMNS} FROM tenants WHERE created_at < $1 ORDER BY id", when)
    return [_row(r) for r in rows]


async def all_tenant_ids(tx: Tx) -> list[str]:
    """Every tenant's id, in order; ``tx`` must be in the operator scope."""
    return [r["id"] for r in await tx.conn.fetch("SELECT id FROM tenants ORDER BY id")]


async def hold_tenants(conn: asyncpg.Connection, tenant_ids: Collection[str]) -> set[str]:
    """Those of ``tenant_ids`` that exist, each held against offboarding until ``conn``'s
    transaction ends; ``conn`` sees the tenants its scope allows (its own tenant, or every
    one in the operator scope).

    For another module's rows that name a tenant (usage, the audit chain): written after
    this, they never meet a foreign-key error from a tenant offboarded meanwhile, and an
    offboarding waits for the transaction instead of deadlocking with it. ``FOR KEY
    SHARE`` is the lock a foreign key takes anyway: plan and status changes do not wait.
    """
    rows = await conn.fetch(
        "SELECT id FROM tenants WHERE id = ANY($1::text[]) ORDER BY id FOR KEY SHARE", list(tenant_ids)
    )
    return {r["id"] for r in rows}


async def update_tenant(
    tx: Tx, tenant_id: str, *, changes: dict[str, Any], plans: Collection[str] = BUILTIN
) -> TenantRow:
    """Apply a merge patch. The region is fixed at creation (residency): changing it is a 422."""
    current = await get_tenant(tx, tenant_id)
    if "region" in changes and changes["region"] != current.region:
        raise ValidationFailed(
            "A tenant's region is fixed at creation; move the tenant instead of renaming it.",
            errors=[FieldError("/region", "cannot be changed")],
        )
    if "cell" in changes and changes["cell"] != current.cell:
        raise ValidationFailed(
            "A tenant changes cell by a move, not a patch.",
            errors=[FieldError("/cell", "cannot be changed")],
        )
    refuse_removal(changes, ("name", "plan", "status"))
    if "plan" in changes:
        _check_plan(changes["plan"], plans)
    fields = {k: changes[k] for k in ("name", "plan", "status") if k in changes}
    if not fields:
        return current
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(fields, start=2))
    rec = await tx.conn.fetchrow(
        f"UPDATE tenants SET {sets}, updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        tenant_id,
        *fields.values(),
    )
    if rec is None:
        raise NotFound("No such tenant.")
    tx.emit("tenant.updated", "tenant", tenant_id, changed=sorted(fields))
    tx.invalidate(f"tenant:{tenant_id}")
    return _row(rec)


async def set_cors_origins(tx: Tx, tenant_id: str, origins: Sequence[str]) -> TenantRow:
    """Replace the tenant's allowed CORS origins (already normalised by the schema); every
    instance's edge sees the change when the notification drops its cached tenant."""
    current = await get_tenant(tx, tenant_id)
    wanted = tuple(dict.fromkeys(origins))
    if wanted == current.cors_origins:
        return current
    rec = await tx.conn.fetchrow(
        f"UPDATE tenants SET cors_origins = $2, updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        tenant_id,
        list(wanted),
    )
    if rec is None:
        raise NotFound("No such tenant.")
    tx.emit("tenant.cors_updated", "tenant", tenant_id, allowed_origins=list(wanted))
    tx.invalidate(f"tenant:{tenant_id}")
    return _row(rec)


async def offboard_tenant(tx: Tx, tenant_id: str) -> None:
    """Delete the tenant and, by cascade, every row it owns; its keys stop working at once."""
    await get_tenant(tx, tenant_id)
    await tx.conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
    tx.emit("tenant.offboarded", "tenant", tenant_id)
    tx.invalidate(f"tenant:{tenant_id}")
