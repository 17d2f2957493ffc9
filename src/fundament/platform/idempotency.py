"""``Idempotency-Key`` for POST: a retried request returns the first answer, once.

The key is claimed with an INSERT inside the request's own transaction, so the claim,
the write and the stored answer commit or roll back together. A concurrent retry blocks
on the unique index until the first attempt ends, then sees its stored answer (or, if
the first attempt rolled back, performs the write itself).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from fundament.platform.clock import utcnow
from fundament.platform.db import Tx
from fundament.platform.errors import BadRequest, T, ValidationFailed

MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    replayed: bool = False


def request_fingerprint(method: str, path: str, body: bytes) -> bytes:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).digest()


def check_idempotency_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} printable characters.",
            type=T.BAD_REQUEST,
        )
    return key


async def run_idempotent(
    tx: Tx,
    *,
    key: str,
    scope: str,
    fingerprint: bytes,
    produce: Callable[[], Awaitable[StoredResponse]],
) -> StoredResponse:
    """Run ``produce`` once per (tenant, key); later calls with the same request replay it.

    The same key with a different request (method, path or body) is a 422.
    """
    claimed = await tx.conn.fetchval(
        "INSERT INTO idempotency_keys (tenant_id, key, scope, request_hash, status, headers,"
        " body, created_at) VALUES ($1, $2, $3, $4, 0, '{}', '', $5)"
        " ON CONFLICT (tenant_id, key) DO NOTHING RETURNING true",
        tx.tenant_id,
        key,
        scope,
        fingerprint,
        utcnow(),
    )
    if not claimed:
        row = await tx.conn.fetchrow(
            "SELECT scope, request_hash, status, headers, body FROM idempotency_keys"
            " WHERE tenant_id = $1 AND key = $2",
            tx.tenant_id,
            key,
        )
        if row is None or row["scope"] != scope or bytes(row["request_hash"]) != fingerprint:
            raise ValidationFailed(
                "This Idempotency-Key was already used with a different request.",
                type=T.IDEMPOTENCY_MISMATCH,
                title="Idempotency key reused",
            )
        return StoredResponse(row["status"], orjson.loads(row["headers"]), bytes(row["body"]), replayed=True)
    response = await produce()
    await tx.conn.execute(
        "UPDATE idempotency_keys SET status = $3, headers = $4::jsonb, body = $5"
        " WHERE tenant_id = $1 AND key = $2",
        tx.tenant_id,
        key,
        response.status,
        orjson.dumps(response.headers).decode(),
        response.body,
    )
    return response
