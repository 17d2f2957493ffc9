"""Recording, sealing, listing and verifying audit events.

Two steps, so that one tenant's writers do not queue on its chain:

1. :func:`record_pending`, a before-commit hook of the kernel's transaction, inserts every
   write's event into ``audit_pending`` *in the write's own transaction*: a write without
   its event (or the reverse) cannot commit.
2. :func:`seal_pending` moves a tenant's pending events into ``audit_events`` in id order,
   numbering them gap-free and chaining their hashes. It holds the tenant's chain head row
   locked, so sealers of one tenant (on any instance) take turns and sealers of different
   tenants never wait on each other. The :class:`Sealer` runs it after each commit, batching
   whatever has arrived; every read of the trail seals first, so readers see every
   committed write.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import orjson

from fundament import tenancy
from fundament.audit.chain import event_hash, genesis, verify
from fundament.audit.schemas import AuditEvent, ChainVerification, Ref
from fundament.platform import (
    Database,
    Page,
    RequestContext,
    TenantBatches,
    Tx,
    WriteEvent,
    b64,
    keyset_page,
    new_data_key,
    new_id,
    open_sealed,
    rfc3339,
    seal,
    subject_hash,
    unb64,
    unwrap_key,
    utcnow,
    wrap_key,
)

log = logging.getLogger("fundament.audit")

_NOTE = "audit.bytes"
_PENDING_COLUMNS = {
    "id": "text",
    "at": "timestamptz",
    "actor_type": "text",
    "actor_id": "text",
    "action": "text",
    "target_type": "text",
    "target_id": "text",
    "request_id": "text",
    "details": "jsonb",
}

#: Events about a tenant that must outlive it, and those of no tenant (operator keys), go
#: to the platform log instead.
PLATFORM_ACTIONS = frozenset({"tenant.offboarded", "operator_key.created", "operator_key.revoked"})
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
    details = {
        k: v
        for k, v in event.details.items()
        if k not in ("data", "before", "personal_fields", "subject_field")
    }
    if "data" in event.details or "before" in event.details:
        after = event.details.get("data") or {}
        before = event.details.get("before") or {}
        if isinstance(after, dict) and isinstance(before, dict):
            keys = set(after) | set(before)
            details["fields"] = sorted(k for k in keys if after.get(k) != before.get(k))
    return details


def _at_path(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


async def subject_key(conn: asyncpg.Connection, master: bytes, tenant_id: str, shash: bytes) -> bytes:
    """The subject's data key, created on first use (and anew after a shredding)."""
    context = tenant_id.encode() + shash
    fresh = wrap_key(master, new_data_key(), context=context)
    wrapped = await conn.fetchval(
        "INSERT INTO subject_keys (tenant_id, subject_hash, wrapped_key, created_at)"
        " VALUES ($1, $2, $3, now()) ON CONFLICT (tenant_id, subject_hash) DO UPDATE"
        " SET wrapped_key = coalesce(subject_keys.wrapped_key, EXCLUDED.wrapped_key),"
        " shredded_at = CASE WHEN subject_keys.wrapped_key IS NULL THEN NULL"
        " ELSE subject_keys.shredded_at END RETURNING wrapped_key",
        tenant_id,
        shash,
        fresh,
    )
    return unwrap_key(master, bytes(wrapped), context=context)


async def _personal(
    conn: asyncpg.Connection, master: bytes, tenant_id: str, event: WriteEvent, fields: list[str]
) -> dict[str, Any] | None:
    """Changed personal values of a record write, sealed under the subject's data key."""
    subject_field = event.details.get("subject_field")
    after = event.details.get("data")
    if not subject_field or not isinstance(after, dict):
        return None
    subject = _at_path(after, subject_field)
    if not isinstance(subject, str) or not subject:
        return None
    changed = set(fields)
    values = {
        path: _at_path(after, path)
        for path in event.details.get("personal_fields") or []
        if path.split(".", 1)[0] in changed
    }
    if not values:
        return None
    shash = subject_hash(master, tenant_id, subject)
    key = await subject_key(conn, master, tenant_id, shash)
    sealed = seal(key, orjson.dumps(values), aad=tenant_id.encode())
    return {"subject": shash.hex(), "values": b64(sealed)}


class PendingRecorder:
    """Before-commit hook: this transaction's writes become pending events, atomically.

    Values of a collection's personal fields are kept only encrypted under the subject's
    data key; everything else in an event is names and ids.
    """

    def __init__(self, master: bytes) -> None:
        self._master = master

    async def __call__(self, tx: Tx) -> None:
        await record_pending(tx, self._master)


async def _insert_platform_events(
    conn: asyncpg.Connection, rows: list[tuple[datetime, str, str | None, str, str, str, str | None]]
) -> None:
    """Rows of (at, actor type, actor id, action, target type, target id, request id)."""
    await conn.executemany(
        "INSERT INTO platform_events (id, at, actor_type, actor_id, action, target_type,"
        " target_id, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [(new_id("evt"), *row) for row in rows],
    )


async def record_platform_event(
    conn: asyncpg.Connection, *, action: str, target_type: str, target_id: str, actor: str
) -> None:
    """One platform event for a write made outside a request (the CLI's admin connection):
    ``actor`` says who, e.g. ``cli``."""
    await _insert_platform_events(conn, [(utcnow(), actor, None, action, target_type, target_id, None)])


async def record_pending(tx: Tx, master: bytes) -> None:
    """Insert this transaction's events into ``audit_pending`` (see :class:`PendingRecorder`)."""
    if not tx.events:
        return
    actor_type, actor_id = _actor(tx)
    now = utcnow()
    platform = [e for e in tx.events if e.action in PLATFORM_ACTIONS]
    if platform:
        await _insert_platform_events(
            tx.conn,
            [
                (now, actor_type, actor_id, e.action, e.target_type, e.target_id, tx.ctx.request_id)
                for e in platform
            ],
        )
    if tx.tenant_id is None:
        return
    rows = []
    for e in tx.events:
        if e.action in PLATFORM_ACTIONS:
            continue
        details = safe_details(e)
        personal = await _personal(tx.conn, master, tx.tenant_id, e, details.get("fields", []))
        if personal is not None:
            details["personal"] = personal
        rows.append(
            (
                new_id("evt"),
                now,
                actor_type,
                actor_id,
                e.action,
                e.target_type,
                e.target_id,
                tx.ctx.request_id,
                orjson.dumps(details).decode(),
            )
        )
    if not rows:
        return
    # What this adds to the tenant's stored bytes, for the quota's estimate (the details
    # carry the bulk: sealed personal values); footprint() measures it exactly.
    tx.notes[_NOTE] = sum(len(row[-1]) for row in rows)
    tx.stage("audit_pending", _PENDING_COLUMNS, rows)


def recorded_bytes(tx: Tx) -> int:
    """About how many bytes of audit data this transaction's events add to its tenant's
    storage (0 with audit off, or before the audit hook has run in this transaction)."""
    added: int = tx.notes.get(_NOTE, 0)
    return added


async def footprint(tx: Tx) -> int:
    """The stored bytes of the transaction's tenant's audit trail, sealed and pending,
    this transaction's events included: PostgreSQL's own size of the event details
    (``pg_column_size``, as stored), where a write's payload (sealed personal values)
    lives. One statement, so an event being sealed meanwhile is counted once."""
    value: int = await tx.conn.fetchval(
        "SELECT (SELECT coalesce(sum(pg_column_size(details)), 0) FROM audit_events WHERE tenant_id = $1)"
        " + (SELECT coalesce(sum(pg_column_size(details)), 0) FROM audit_pending WHERE tenant_id = $1)",
        tx.tenant_id,
    )
    return int(value)


async def seal_pending(conn: asyncpg.Connection, tenant_id: str) -> int:
    """Chain the tenant's pending events; ``conn`` is in a transaction scoped to the tenant.

    Returns how many events were sealed.
    """
    # Lock order: the tenant first (tenancy holds it against offboarding), so an
    # offboarding that deletes the tenant waits for us instead of deadlocking with us;
    # then the chain head, which serialises this tenant's sealers.
    if not await tenancy.hold_tenants(conn, (tenant_id,)):
        return 0  # the tenant is gone (offboarded)
    head = await conn.fetchrow(
        "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)"
        " ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_heads.seq RETURNING seq, hash",
        tenant_id,
        genesis(tenant_id),
    )
    pending = await conn.fetch(
        "DELETE FROM audit_pending WHERE tenant_id = $1 RETURNING id, at, actor_type, actor_id,"
        " action, target_type, target_id, request_id, details::text AS details",
        tenant_id,
    )
    if not pending:
        return 0
    seq, prev = int(head["seq"]), bytes(head["hash"])
    rows: list[tuple[Any, ...]] = []
    for rec in sorted(pending, key=lambda r: r["id"]):
        seq += 1
        body = {
            "id": rec["id"],
            "seq": seq,
            "at": rfc3339(rec["at"]),
            "actor": {"type": rec["actor_type"], "id": rec["actor_id"]},
            "action": rec["action"],
            "target": {"type": rec["target_type"], "id": rec["target_id"]},
            "request_id": rec["request_id"],
            "details": orjson.loads(rec["details"]),
            "prev_hash": prev.hex(),
        }
        digest = event_hash(body)
        rows.append(
            (
                seq,
                rec["id"],
                rec["at"],
                rec["actor_type"],
                rec["actor_id"],
                rec["action"],
                rec["target_type"],
                rec["target_id"],
                rec["request_id"],
                rec["details"],
                prev,
                digest,
            )
        )
        prev = digest
    await conn.execute(
        "WITH ev AS (INSERT INTO audit_events (tenant_id, seq, id, at, actor_type, actor_id,"
        " action, target_type, target_id, request_id, details, prev_hash, hash)"
        " SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::timestamptz[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[],"
        " $12::bytea[], $13::bytea[]))"
        " UPDATE audit_heads SET seq = $14, hash = $15 WHERE tenant_id = $1",
        tenant_id,
        *zip(*rows, strict=True),
        seq,
        prev,
    )
    return len(rows)


_SEALER_CTX = RequestContext(request_id="audit-sealer")


class Sealer:
    """Seals each tenant's pending events soon after its writes commit (single-flight)."""

    BATCH_DELAY = 0.02

    def __init__(self, db: Database) -> None:
        self._db = db
        # A moment's grace lets concurrent writes of a tenant join one batch: one sealing
        # transaction (and WAL flush) for many events under load.
        self._batches = TenantBatches(self.seal, delay=self.BATCH_DELAY, what="sealing audit events")

    def after_commit(self, tx: Tx) -> None:
        if tx.tenant_id is not None and any(e.action not in PLATFORM_ACTIONS for e in tx.events):
            self.kick(tx.tenant_id)

    def kick(self, tenant_id: str) -> None:
        self._batches.kick(tenant_id)

    async def seal(self, tenant_id: str) -> int:
        # A write even when a read asks for it (verifying the chain seals first).
        async with self._db.transaction(_SEALER_CTX, tenant_id=tenant_id, read_only=False) as tx:
            return await seal_pending(tx.conn, tenant_id)

    async def close(self) -> None:
        await self._batches.close()


def _event(rec: asyncpg.Record) -> AuditEvent:
    return AuditEvent(
        id=rec["id"],
        seq=rec["seq"],
        at=rec["at"],
        actor=Ref(rec["actor_type"], rec["actor_id"]),
        action=rec["action"],
        target=Ref(rec["target_type"], rec["target_id"]),
        request_id=rec["request_id"],
        details=orjson.loads(rec["details"]),
        prev_hash=bytes(rec["prev_hash"]).hex(),
        hash=bytes(rec["hash"]).hex(),
    )


def _render(rec: asyncpg.Record) -> dict[str, Any]:
    """An event as the API answers it, in plain values (times as RFC 3339 strings): what
    its hash covers, ``hash`` aside, and what exports write."""
    rendered: dict[str, Any] = msgspec.to_builtins(_event(rec))
    return rendered


def _seq(text: str) -> int:
    """A cursor's key as a chain position; another list's cursor (an id, a name) is a
    ValueError (``int`` alone would also take "٣" or " 3")."""
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise ValueError(text)
    return int(text)


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
) -> Page[AuditEvent]:
    """Events in chain order (ascending ``seq``), optionally filtered."""
    return await keyset_page(
        tx.conn,
        select=f"SELECT {_COLUMNS} FROM audit_events",
        where=[
            "tenant_id = $1",
            "($2::text IS NULL OR action = $2)",
            "($3::text IS NULL OR actor_id = $3)",
            "($4::text IS NULL OR target_id = $4)",
            "($5::timestamptz IS NULL OR at >= $5)",
            "($6::timestamptz IS NULL OR at < $6)",
        ],
        args=[tx.tenant_id, action, actor, target, since, until],
        key="seq",
        cursor=cursor,
        limit=limit,
        build=_event,
        key_of=lambda event: event.seq,
        key_type=_seq,
    )


async def iter_events(
    conn: asyncpg.Connection, tenant_id: str, *, after_seq: int = 0
) -> AsyncIterator[dict[str, Any]]:
    """Every sealed event of a tenant (after ``after_seq``) in ascending seq (inside a transaction)."""
    async for rec in conn.cursor(
        f"SELECT {_COLUMNS} FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq",
        tenant_id,
        after_seq,
        prefetch=1000,
    ):
        yield _render(rec)


async def verify_tenant(
    conn: asyncpg.Connection, tenant_id: str, *, after: ChainVerification | None = None
) -> ChainVerification:
    """Recompute the tenant's chain; with ``after`` (a valid verification of its start),
    only the events since."""
    events = [e async for e in iter_events(conn, tenant_id, after_seq=0 if after is None else after.count)]
    return verify(tenant_id, events, after=after)


async def events_for_targets(
    conn: asyncpg.Connection, tenant_id: str, target_ids: list[str]
) -> list[dict[str, Any]]:
    """Sealed events about any of ``target_ids`` (a subject's records), in chain order."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM audit_events WHERE tenant_id = $1 AND target_id = ANY($2::text[])"
        " ORDER BY seq",
        tenant_id,
        target_ids,
    )
    return [_render(r) for r in rows]


async def shred_subject(conn: asyncpg.Connection, tenant_id: str, shash: bytes) -> bool:
    """Destroy the subject's data key: its values in the trail become unreadable for good,
    while the chain (which hashes the ciphertext) still verifies."""
    status = await conn.execute(
        "UPDATE subject_keys SET wrapped_key = NULL, shredded_at = now()"
        " WHERE tenant_id = $1 AND subject_hash = $2 AND wrapped_key IS NOT NULL",
        tenant_id,
        shash,
    )
    return str(status).endswith(" 1")


async def reveal_personal(
    conn: asyncpg.Connection, master: bytes, tenant_id: str, shash: bytes, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Copies of ``events`` with the subject's personal values decrypted where the key lives."""
    wrapped = await conn.fetchval(
        "SELECT wrapped_key FROM subject_keys WHERE tenant_id = $1 AND subject_hash = $2",
        tenant_id,
        shash,
    )
    context = tenant_id.encode() + shash
    key = None if wrapped is None else unwrap_key(master, bytes(wrapped), context=context)
    out = []
    for event in events:
        personal = event.get("details", {}).get("personal")
        if key is not None and personal and personal.get("subject") == shash.hex():
            plain = open_sealed(key, unb64(personal["values"]), aad=tenant_id.encode())
            event = {**event, "personal_values": orjson.loads(plain)}
        out.append(event)
    return out
