"""API keys: format, hashing and the cached authenticator.

A key is 256 random bits. It is stored only as SHA-256: a slow password hash (bcrypt,
argon2) protects low-entropy secrets against guessing, which a 256-bit random key does
not need, and it would cost milliseconds on every request.

Tenant keys embed their tenant's id (``fdk_<tenant ulid>_<secret>``) so the lookup runs
inside that tenant's row-level-security scope: identity never needs to read keys across
tenants, and the key index leads with ``tenant_id`` like every other index.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from fundament.platform import (
    Database,
    Principal,
    RequestContext,
    Unauthenticated,
    new_secret,
    utcnow,
)
from fundament.tenancy import TenantCache

TENANT_KEY_PREFIX = "fdk_"
OPERATOR_KEY_PREFIX = "fdo_"
_ULID_LEN = 26


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def make_tenant_key(tenant_id: str) -> tuple[str, str]:
    """Return ``(key, display_prefix)`` for a new tenant key."""
    secret = new_secret(32)
    key = f"{TENANT_KEY_PREFIX}{tenant_id[4:]}_{secret}"
    return key, f"{TENANT_KEY_PREFIX}{secret[:8]}"


def make_operator_key() -> tuple[str, str]:
    secret = new_secret(32)
    return f"{OPERATOR_KEY_PREFIX}{secret}", f"{OPERATOR_KEY_PREFIX}{secret[:8]}"


def tenant_of_key(key: str) -> str | None:
    """The tenant id a tenant key names, or None if the key has the wrong shape."""
    if not key.startswith(TENANT_KEY_PREFIX) or len(key) < 4 + _ULID_LEN + 2:
        return None
    ulid = key[4 : 4 + _ULID_LEN]
    if key[4 + _ULID_LEN] != "_" or not ulid.isalnum() or not ulid.isascii():
        return None
    return "tnt_" + ulid


#: Context of the key lookups themselves: no principal yet, no writes.
_AUTH_CTX = RequestContext(request_id="auth")


@dataclass(slots=True)
class _Entry:
    principal: Principal
    expires_at: datetime | None
    cached_at: float


class KeyAuthenticator:
    """Authenticator with an in-process cache, invalidated by database notifications.

    A revocation commits a ``key:<id>`` notification; every instance listening drops the
    entry at once, and the TTL bounds staleness if a notification is ever missed (the
    listener also flushes everything after a reconnect).
    """

    def __init__(
        self, db: Database, *, tenants: TenantCache, ttl_seconds: float = 30.0, max_entries: int = 100_000
    ):
        self._db = db
        self._tenants = tenants
        self._ttl = ttl_seconds
        self._max = max_entries
        self._keys: dict[bytes, _Entry] = {}
        # Bumped by every invalidation: a lookup that started before a revocation
        # committed must not put its (stale) answer into the cache afterwards.
        self._generation = 0
        db.on_invalidate(self.invalidate)

    def invalidate(self, message: str) -> None:
        self._generation += 1
        kind, _, ident = message.partition(":")
        if message == "*":
            self._keys.clear()
        elif kind == "key":
            for h in [h for h, e in self._keys.items() if e.principal.key_id == ident]:
                self._keys.pop(h, None)
        elif kind == "tenant":
            for h in [h for h, e in self._keys.items() if e.principal.tenant_id == ident]:
                self._keys.pop(h, None)

    async def authenticate(self, token: str) -> Principal:
        if len(token) > 256:
            raise Unauthenticated("Unknown API key.")
        digest = hash_key(token)
        entry = self._keys.get(digest)
        now = time.monotonic()
        if entry is None or now - entry.cached_at > self._ttl:
            generation = self._generation
            entry = await self._load(token, digest)
            if entry is None:
                raise Unauthenticated("Unknown or revoked API key.")
            if generation == self._generation:
                if len(self._keys) >= self._max:
                    self._keys.clear()
                self._keys[digest] = entry
        if entry.expires_at is not None and entry.expires_at <= utcnow():
            raise Unauthenticated("This API key has expired.")
        return entry.principal

    async def _load(self, token: str, digest: bytes) -> _Entry | None:
        now = time.monotonic()
        if token.startswith(OPERATOR_KEY_PREFIX):
            async with self._db.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT id FROM operator_keys WHERE secret_hash = $1 AND revoked_at IS NULL",
                    digest,
                )
            if row is None:
                return None
            return _Entry(Principal("operator", row["id"], "operator", None), None, now)
        tenant_id = tenant_of_key(token)
        if tenant_id is None:
            return None
        async with self._db.transaction(_AUTH_CTX, tenant_id=tenant_id) as tx:
            row = await tx.conn.fetchrow(
                "SELECT id, role, expires_at FROM api_keys"
                " WHERE tenant_id = $1 AND secret_hash = $2 AND revoked_at IS NULL",
                tenant_id,
                digest,
            )
        if row is None:
            return None
        principal = Principal("tenant_key", row["id"], row["role"], tenant_id)
        return _Entry(principal, row["expires_at"], now)

    async def tenant_status(self, tenant_id: str) -> str | None:
        tenant = await self._tenants.get(tenant_id)
        return None if tenant is None else tenant.status
