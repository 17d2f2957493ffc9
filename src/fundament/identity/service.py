"""Key and user use cases. Functions take an open :class:`Tx` and never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from fundament.identity.keys import hash_key, make_operator_key, make_tenant_key
from fundament.identity.schemas import ApiKey, ApiKeyCreated, OperatorKey, OperatorKeyCreated, User
from fundament.platform import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Page,
    Principal,
    Tx,
    ValidationFailed,
    keyset_page,
    looks_like_id,
    new_id,
    refuse_removal,
    role_rank,
    utcnow,
)


def _check_grant(principal: Principal | None, role: str) -> None:
    """Nobody hands out more power than they hold."""
    assert principal is not None
    if role_rank(role) > role_rank(principal.role):
        article = "An" if principal.role[0] in "aeiou" else "A"
        raise Forbidden(f"{article} '{principal.role}' key cannot grant the '{role}' role.")


# --- API keys ---------------------------------------------------------------------------

_KEY_COLUMNS = "id, name, role, prefix, created_at, expires_at"


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise ValidationFailed(
            "expires_at needs a UTC offset.",
            errors=[FieldError("/expires_at", "must include a time zone offset")],
        )
    if expires_at <= now:
        raise ValidationFailed(
            "expires_at lies in the past.",
            errors=[FieldError("/expires_at", "must lie in the future")],
        )


async def create_api_key(tx: Tx, *, name: str, role: str, expires_at: datetime | None) -> ApiKeyCreated:
    """Create a tenant key; the answer holds the secret, shown only this once."""
    _check_grant(tx.ctx.principal, role)
    now = utcnow()
    _check_expiry(expires_at, now)
    assert tx.tenant_id is not None
    key, prefix = make_tenant_key(tx.tenant_id)
    key_id = new_id("key")
    rec = await tx.conn.fetchrow(
        "INSERT INTO api_keys (tenant_id, id, name, role, prefix, secret_hash, created_at,"
        f" expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_KEY_COLUMNS}",
        tx.tenant_id,
        key_id,
        name,
        role,
        prefix,
        hash_key(key),
        now,
        expires_at,
    )
    tx.emit("api_key.created", "api_key", key_id, role=role)
    return ApiKeyCreated(**rec, key=key)


async def list_api_keys(tx: Tx, *, limit: int, cursor: str | None) -> Page[ApiKey]:
    return await keyset_page(
        tx.conn,
        select=f"SELECT {_KEY_COLUMNS} FROM api_keys",
        where=["tenant_id = $1", "revoked_at IS NULL"],
        args=[tx.tenant_id],
        key="id",
        cursor=cursor,
        limit=limit,
        build=lambda rec: ApiKey(**rec),
        key_of=lambda item: item.id,
    )


async def revoke_api_key(tx: Tx, key_id: str) -> None:
    """Revoke at once: the commit notifies every instance to drop the cached key."""
    if not looks_like_id(key_id, "key"):
        raise NotFound("No such API key.")
    role = await tx.conn.fetchval(
        "SELECT role FROM api_keys WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
        tx.tenant_id,
        key_id,
    )
    if role is None:
        raise NotFound("No such API key.")
    _check_grant(tx.ctx.principal, role)
    await tx.conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND id = $2",
        tx.tenant_id,
        key_id,
    )
    tx.emit("api_key.revoked", "api_key", key_id)
    tx.invalidate(f"key:{key_id}")


async def count_active_api_keys(tx: Tx) -> int:
    """The transaction's tenant's keys that still authenticate (neither revoked nor
    expired), this transaction's own writes included: the plan's ``max_api_keys``."""
    value: int = await tx.conn.fetchval(
        "SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        tx.tenant_id,
    )
    return value


# --- operator keys ----------------------------------------------------------------------
# Through a plain connection: the CLI holds an admin one, the API a request transaction's
# (in an operator's scope, which row-level security requires for writes).

_OPERATOR_KEY_COLUMNS = "id, name, prefix, created_at, expires_at"


async def add_operator_key(
    conn: asyncpg.Connection, *, name: str, expires_at: datetime | None = None
) -> OperatorKeyCreated:
    """Create an operator key; the answer holds the secret (``key``), shown only
    this once. ``expires_at`` must lie in the future (422 otherwise); None: never."""
    now = utcnow()
    _check_expiry(expires_at, now)
    key, prefix = make_operator_key()
    rec = await conn.fetchrow(
        "INSERT INTO operator_keys (id, name, prefix, secret_hash, created_at, expires_at)"
        f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_OPERATOR_KEY_COLUMNS}",
        new_id("opk"),
        name,
        prefix,
        hash_key(key),
        now,
        expires_at,
    )
    return OperatorKeyCreated(**rec, key=key)


async def create_operator_key(
    conn: asyncpg.Connection, *, name: str, expires_at: datetime | None = None
) -> tuple[str, str]:
    """Create an operator key through an admin connection (the CLI); returns (id, key)."""
    created = await add_operator_key(conn, name=name, expires_at=expires_at)
    return created.id, created.key


async def list_operator_keys(
    conn: asyncpg.Connection, *, limit: int, cursor: str | None
) -> Page[OperatorKey]:
    """Operator keys not revoked (expired ones too, with their ``expires_at``), by id;
    never a secret."""
    return await keyset_page(
        conn,
        select=f"SELECT {_OPERATOR_KEY_COLUMNS} FROM operator_keys",
        where=["revoked_at IS NULL"],
        args=[],
        key="id",
        cursor=cursor,
        limit=limit,
        build=lambda rec: OperatorKey(**rec),
        key_of=lambda item: item.id,
    )


async def revoke_operator_key(conn: asyncpg.Connection, key_id: str) -> None:
    """Revoke an operator key, or :class:`NotFound` if there is no such key (or it is
    revoked already). The caller notifies ``key:<id>`` in the same transaction, so every
    instance drops the cached key at the commit."""
    if not looks_like_id(key_id, "opk"):
        raise NotFound("No such operator key.")
    found = await conn.fetchval(
        "UPDATE operator_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id",
        key_id,
    )
    if found is None:
        raise NotFound("No such operator key.")


async def issue_operator_key(tx: Tx, *, name: str, expires_at: datetime | None) -> OperatorKeyCreated:
    """:func:`add_operator_key` in a request transaction (an operator's), recorded in the
    platform log."""
    created = await add_operator_key(tx.conn, name=name, expires_at=expires_at)
    tx.emit("operator_key.created", "operator_key", created.id)
    return created


async def withdraw_operator_key(tx: Tx, key_id: str) -> None:
    """:func:`revoke_operator_key` in a request transaction: every instance drops the key
    at the commit."""
    await revoke_operator_key(tx.conn, key_id)
    tx.emit("operator_key.revoked", "operator_key", key_id)
    tx.invalidate(f"key:{key_id}")


# --- users ------------------------------------------------------------------------------

_USER_COLUMNS = "id, email, name, role, created_at, updated_at"


def _email_taken(email: str) -> Conflict:
    return Conflict(f"A user with the email {email!r} already exists in this tenant.")


async def create_user(tx: Tx, *, email: str, name: str | None, role: str) -> User:
    _check_grant(tx.ctx.principal, role)
    user_id = new_id("usr")
    now = utcnow()
    try:
        rec = await tx.conn.fetchrow(
            "INSERT INTO users (tenant_id, id, email, name, role, created_at, updated_at)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {_USER_COLUMNS}",
            tx.tenant_id,
            user_id,
            email,
            name,
            role,
            now,
        )
    except asyncpg.UniqueViolationError as exc:
        raise _email_taken(email) from exc
    tx.emit("user.created", "user", user_id, role=role)
    return User(**rec)


async def count_users(tx: Tx) -> int:
    """The transaction's tenant's users, this transaction's own writes included."""
    value: int = await tx.conn.fetchval("SELECT count(*) FROM users WHERE tenant_id = $1", tx.tenant_id)
    return value


async def get_user(tx: Tx, user_id: str) -> User:
    if not looks_like_id(user_id, "usr"):
        raise NotFound("No such user.")
    rec = await tx.conn.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2",
        tx.tenant_id,
        user_id,
    )
    if rec is None:
        raise NotFound("No such user.")
    return User(**rec)


async def list_users(tx: Tx, *, limit: int, cursor: str | None) -> Page[User]:
    return await keyset_page(
        tx.conn,
        select=f"SELECT {_USER_COLUMNS} FROM users",
        where=["tenant_id = $1"],
        args=[tx.tenant_id],
        key="id",
        cursor=cursor,
        limit=limit,
        build=lambda r: User(**r),
        key_of=lambda user: user.id,
    )


async def update_user(tx: Tx, user_id: str, *, changes: dict[str, Any]) -> User:
    current = await get_user(tx, user_id)
    _check_grant(tx.ctx.principal, current.role)
    refuse_removal(changes, ("email", "role"))
    if "role" in changes:
        _check_grant(tx.ctx.principal, changes["role"])
    fields = {k: changes[k] for k in ("email", "name", "role") if k in changes}
    if not fields:
        return current
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(fields, start=3))
    try:
        rec = await tx.conn.fetchrow(
            f"UPDATE users SET {sets}, updated_at = now() WHERE tenant_id = $1 AND id = $2"
            f" RETURNING {_USER_COLUMNS}",
            tx.tenant_id,
            user_id,
            *fields.values(),
        )
    except asyncpg.UniqueViolationError as exc:
        raise _email_taken(str(fields.get("email"))) from exc
    if rec is None:  # deleted by a concurrent request since we read it
        raise NotFound("No such user.")
    tx.emit("user.updated", "user", user_id, changed=sorted(fields))
    return User(**rec)


async def delete_user(tx: Tx, user_id: str) -> None:
    current = await get_user(tx, user_id)
    _check_grant(tx.ctx.principal, current.role)
    await tx.conn.execute("DELETE FROM users WHERE tenant_id = $1 AND id = $2", tx.tenant_id, user_id)
    tx.emit("user.deleted", "user", user_id)
