"""``Idempotency-Key`` for POST: a retried request returns the first answer, once.

The key is claimed with an INSERT inside the request's own transaction, so the claim,
the write and the stored answer commit or roll back together. A concurrent retry blocks
on the unique index until the first attempt ends, then sees its stored answer (or, if
the first attempt rolled back, performs the write itself).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from fundament.platform.clock import utcnow
from fundament.platform.db import Tx
from fundament.platform.errors import BadRequest, FieldError, T, ValidationFailed

MAX_KEY_LENGTH = 255
#: Printable ASCII, as the IETF draft's sf-string; no space at either end, which HTTP
#: would strip. Stated in the OpenAPI document (``KEY_SCHEMA``) and checked here alone.
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
_KEY = re.compile(r"[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?")
KEY_SCHEMA = {"pattern": KEY_PATTERN, "minLength": 1, "maxLength": MAX_KEY_LENGTH}


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    replayed: bool = False


def request_fingerprint(method: str, path: str, body: bytes) -> bytes:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).digest()


def check_idempotency_key(key: str) -> str:
    """``key`` if it is 1–255 printable ASCII characters (no space at the ends), else 400."""
    if _KEY.fullmatch(key) is None:
        raise BadRequest(
            f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} printable ASCII characters.",
            type=T.BAD_REQUEST,
            errors=[FieldError("Idempotency-Key", "1–255 printable ASCII characters")],
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
