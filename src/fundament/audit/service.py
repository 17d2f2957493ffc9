"""Appending, listing and verifying audit events.

:func:`append_events` is a before-commit hook of the kernel's transaction: every write
that a service records with ``tx.emit`` becomes an event in the same transaction, so a
write without its event (or the reverse) cannot commit. Per tenant, the chain head row is
locked for the rest of the transaction: writers in one tenant queue on it (the chain needs
an order), writers in different tenants never wait on each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from fundament.audit.chain import Verification, event_hash, genesis, verify
from fundament.platform import (
    BadRequest,
    Page,
    Tx,
    WriteEvent,
    decode_id_cursor,
    encode_id_cursor,
    new_id,
    rfc3339,
    utcnow,
)

#: Events about a tenant that must outlive it go to the platform log instead.
PLATFORM_ACTIONS = frozenset({"tenant.offboarded"})
_COLUMNS = (
    "seq, id, at, actor_type, actor_id, action, target_type, target_id, request_id,"
    " details::text AS details, prev_hash, hash"
)


def _actor(tx: Tx) -> tuple[str, str | None]:
    principal = tx.ctx.principal
    if principal is None:
        return "system", None
    return ("operator" if principal.is_operator else "api_key"), principal.key_id


def safe_details(event: WriteEvent) -> dict[str, Any]:
    """What the trail keeps of a write: names, never values.

    Record writes carry their data for other hooks; the trail stores only which fields
    changed, so no personal value enters the append-only log in clear text.
    """
    details = {k: v for k, v in event.details.items() if k not in ("data", "before")}
    if "data" in event.details or "before" in event.details:
        after = event.details.get("data") or {}
        before = event.details.get("before") or {}
        keys = set(after) | set(before) if isinstance(after, dict) and isinstance(before, dict) else set()
        details["fields"] = sorted(k for k in keys if after.get(k) != before.get(k))
    return details


async def append_events(tx: Tx) -> None:
    """Before-commit hook: chain this transaction's writes onto the tenant's trail."""
    if not tx.events:
        return
    actor_type, actor_id = _actor(tx)
    now = utcnow()
    platform = [e for e in tx.events if e.action in PLATFORM_ACTIONS]
    tenant_events = [e for e in tx.events if e.action not in PLATFORM_ACTIONS]
    if platform:
        await tx.conn.executemany(
            "INSERT INTO platform_events (id, at, actor_type, actor_id, action, target_type,"
            " target_id, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (
                    new_id("evt"),
                    now,
                    actor_type,
                    actor_id,
                    e.action,
                    e.target_type,
                    e.target_id,
                    tx.ctx.request_id,
                )
                for e in platform
            ],
        )
    if not tenant_events or tx.tenant_id is None:
        return
    tenant_id = tx.tenant_id
    head = await tx.conn.fetchrow(
        "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)"
        " ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_heads.seq RETURNING seq, hash",
        tenant_id,
        genesis(tenant_id),
    )
    seq, prev = int(head["seq"]), bytes(head["hash"])
    rows: list[tuple[Any, ...]] = []
    for event in tenant_events:
        seq += 1
        body = {
            "id": new_id("evt"),
            "seq": seq,
            "at": rfc3339(now),
            "actor": {"type": actor_type, "id": actor_id},
            "action": event.action,
            "target": {"type": event.target_type, "id": event.target_id},
            "request_id": tx.ctx.request_id,
            "details": safe_details(event),
            "prev_hash": prev.hex(),
        }
        digest = event_hash(body)
        rows.append(
            (
                seq,
                body["id"],
                now,
                actor_type,
                actor_id,
                event.action,
                event.target_type,
                event.target_id,
                tx.ctx.request_id,
                orjson.dumps(body["details"]).decode(),
                prev,
                digest,
            )
        )
        prev = digest
    columns = list(zip(*rows, strict=True))
    await tx.conn.execute(
        "WITH ev AS (INSERT INTO audit_events (tenant_id, seq, id, at, actor_type, actor_id,"
        " action, target_type, target_id, request_id, details, prev_hash, hash)"
        " SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::timestamptz[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[],"
        " $12::bytea[], $13::bytea[]))"
        " UPDATE audit_heads SET seq = $14, hash = $15 WHERE tenant_id = $1",
        tenant_id,
        *columns,
        seq,
        prev,
    )


def _render(rec: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "seq": rec["seq"],
        "at": rfc3339(rec["at"]),
        "actor": {"type": rec["actor_type"], "id": rec["actor_id"]},
        "action": rec["action"],
        "target": {"type": rec["target_type"], "id": rec["target_id"]},
        "request_id": rec["request_id"],
        "details": orjson.loads(rec["details"]),
        "prev_hash": bytes(rec["prev_hash"]).hex(),
        "hash": bytes(rec["hash"]).hex(),
    }


async def list_events(
    tx: Tx,
    *,
    limit: int,
    cursor: str | None,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[dict[str, Any]]:
    """Events in chain order (ascending ``seq``), optionally filtered."""
    after = decode_id_cursor(cursor)
    try:
        after_seq = int(after) if after is not None else 0
    except ValueError as exc:
        raise BadRequest("The cursor is not valid.") from exc
    rows = await tx.conn.fetch(
        f"SELECT {_COLUMNS} FROM audit_events WHERE tenant_id = $1 AND seq > $2"
        " AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR actor_id = $4)"
        " AND ($5::text IS NULL OR target_id = $5) AND ($6::timestamptz IS NULL OR at >= $6)"
        " AND ($7::timestamptz IS NULL OR at < $7) ORDER BY seq LIMIT $8",
        tx.tenant_id,
        after_seq,
        action,
        actor,
        target,
        since,
        until,
        limit + 1,
    )
    items = [_render(r) for r in rows[:limit]]
    nxt = encode_id_cursor(str(items[-1]["seq"])) if len(rows) > limit else None
    return Page(items, nxt)


async def iter_events(conn: asyncpg.Connection, tenant_id: str) -> AsyncIterator[dict[str, Any]]:
    """Every event of a tenant in ascending seq (inside a transaction), for verify/export."""
    async for rec in conn.cursor(
        f"SELECT {_COLUMNS} FROM audit_events WHERE tenant_id = $1 ORDER BY seq",
        tenant_id,
        prefetch=1000,
    ):
        yield _render(rec)


async def verify_tenant(conn: asyncpg.Connection, tenant_id: str) -> Verification:
    events = [e async for e in iter_events(conn, tenant_id)]
    return verify(tenant_id, events)
