"""API keys: format, hashing and the cached authenticator.

A key is 256 random bits. It is stored only as SHA-256: a slow password hash (bcrypt,
argon2) protects low-entropy secrets against guessing, which a 256-bit random key does
not need, and it would cost milliseconds on every request.

Tenant keys embed their tenant's id (``fdk_<tenant ulid>_<secret>``) so the lookup runs
inside that tenant's row-level-security scope: identity never needs to read keys across
tenants, and the key index leads with ``tenant_id`` like every other index.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from fundament.identity.throttle import LOOKUPS, Attempt, FailureThrottle
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


#: Secret characters a key's displayed prefix shows: enough to tell keys apart, 48 of
#: the secret's 256 bits.
_SHOWN_SECRET = 8


def make_tenant_key(tenant_id: str) -> tuple[str, str]:
    """Return ``(key, display_prefix)`` for a new tenant key; the prefix is how the key
    begins: ``fdk_``, the tenant's ULID, ``_`` and the secret's first characters."""
    secret = new_secret(32)
    key = f"{TENANT_KEY_PREFIX}{tenant_id[4:]}_{secret}"
    return key, key[: len(TENANT_KEY_PREFIX) + _ULID_LEN + 1 + _SHOWN_SECRET]


def make_operator_key() -> tuple[str, str]:
    """Return ``(key, display_prefix)`` for a new operator key (``fdo_`` and the secret)."""
    secret = new_secret(32)
    key = f"{OPERATOR_KEY_PREFIX}{secret}"
    return key, key[: len(OPERATOR_KEY_PREFIX) + _SHOWN_SECRET]


def tenant_of_key(key: str) -> str | None:
    """The tenant id a tenant key names, or None if the key has the wrong shape."""
    if not key.startswith(TENANT_KEY_PREFIX) or len(key) < 4 + _ULID_LEN + 2:
        return None
    ulid = key[4 : 4 + _ULID_LEN]
    if key[4 + _ULID_LEN] != "_" or not ulid.isalnum() or not ulid.isascii():
        return None
    return "tnt_" + ulid


#: What every operator key names before its secret: they share one throttle.
OPERATOR_KEY_ID = "operator"


def key_id_of(token: str) -> str | None:
    """What a presented key names before its secret, whether or not such a key exists:
    its tenant for a tenant key, :data:`OPERATOR_KEY_ID` for an operator key, None for a
    string of neither shape (no lookup is ever made for it)."""
    if token.startswith(OPERATOR_KEY_PREFIX):
        return OPERATOR_KEY_ID
    return tenant_of_key(token)


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

    A key not in the cache passes the :class:`FailureThrottle` before it is looked up, so
    wrong keys cost no database work past a few per minute and address or key id.
    """

    def __init__(
        self,
        db: Database,
        *,
        tenants: TenantCache,
        ttl_seconds: float = 30.0,
        max_entries: int = 100_000,
        throttle: FailureThrottle | None = None,
    ):
        self._db = db
        self._tenants = tenants
        self._ttl = ttl_seconds
        self._max = max_entries
        self._throttle = throttle if throttle is not None else FailureThrottle(bad_key_seconds=ttl_seconds)
        self._keys: dict[bytes, _Entry] = {}
        self._pending: dict[bytes, asyncio.Task[_Entry | None]] = {}
        # Keys found before, kept past invalidations and the TTL: the throttle lets them
        # through (whoever presents one holds it), so a flood of wrong keys for a tenant
        # never locks out a key in use. A lookup that fails takes one out.
        self._known: dict[bytes, None] = {}
        #: Key lookups that went to the database (tests read it; so does a Prometheus counter).
        self.lookups = 0
        # Bumped by every invalidation: a lookup that started before a revocation
        # committed must not put its (stale) answer into the cache afterwards.
        self._generation = 0
        db.on_invalidate(self.invalidate)

    def invalidate(self, message: str) -> None:
        self._generation += 1
        # A lookup in flight may have read the row before the change: later requests
        # must not join it (those already waiting do not cache what it finds).
        self._pending.clear()
        kind, _, ident = message.partition(":")
        if message == "*":
            self._keys.clear()
        elif kind == "key":
            for h in [h for h, e in self._keys.items() if e.principal.key_id == ident]:
                self._keys.pop(h, None)
        elif kind == "tenant":
            for h in [h for h, e in self._keys.items() if e.principal.tenant_id == ident]:
                self._keys.pop(h, None)

    async def authenticate(self, token: str, *, client: str | None = None) -> Principal:
        now = time.monotonic()
        if len(token) > 256:
            attempt = self._throttle.admit(client=client, key_id=None, digest=None, now=now)
            self._throttle.failed(attempt, now)
            raise Unauthenticated("Unknown API key.")
        digest = hash_key(token)
        entry = self._keys.get(digest)
        if entry is None or now - entry.cached_at > self._ttl:
            generation = self._generation
            loaded = await self._lookup(token, digest, client=client, now=now)
            if loaded is None:
                self._keys.pop(digest, None)
                self._known.pop(digest, None)
                raise Unauthenticated("Unknown or revoked API key.")
            entry = loaded
            if digest not in self._known:
                if len(self._known) >= self._max:
                    del self._known[next(iter(self._known))]
                self._known[digest] = None
            if generation == self._generation:
                if len(self._keys) >= self._max:
                    self._keys.clear()
                self._keys[digest] = entry
        if entry.expires_at is not None and entry.expires_at <= utcnow():
            raise Unauthenticated("This API key has expired.")
        return entry.principal

    async def _lookup(self, token: str, digest: bytes, *, client: str | None, now: float) -> _Entry | None:
        """Look a key up once however many requests present it at the same time: a cold
        cache under load costs one transaction per key, not one per request."""
        pending = self._pending.get(digest)
        if pending is None:
            if digest in self._known:
                # Not counted: only its failure is remembered (a revoked key, found once more).
                attempt = Attempt(None, None, digest)
            else:
                key_id = key_id_of(token)
                attempt = self._throttle.admit(
                    client=client, key_id=key_id, digest=digest if key_id is not None else None, now=now
                )
            pending = asyncio.get_running_loop().create_task(self._load(token, digest))
            self._pending[digest] = pending
            pending.add_done_callback(functools.partial(self._settle, digest, attempt))
        # Shielded: a request that gives up (deadline) does not cancel the others' lookup.
        return await asyncio.shield(pending)

    def _settle(self, digest: bytes, attempt: Attempt, lookup: asyncio.Task[_Entry | None]) -> None:
        if self._pending.get(digest) is lookup:
            del self._pending[digest]
        # A lookup that raised (database unavailable) says nothing about the key.
        if not lookup.cancelled() and lookup.exception() is None and lookup.result() is None:
            self._throttle.failed(attempt, time.monotonic())
        else:
            self._throttle.succeeded(attempt)

    async def _load(self, token: str, digest: bytes) -> _Entry | None:
        now = time.monotonic()
        if token.startswith(OPERATOR_KEY_PREFIX):
            self._looked_up()
            async with self._db.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT id, expires_at FROM operator_keys WHERE secret_hash = $1 AND revoked_at IS NULL",
                    digest,
                )
            if row is None:
                return None
            return _Entry(Principal("operator", row["id"], "operator", None), row["expires_at"], now)
        tenant_id = tenant_of_key(token)
        if tenant_id is None:
            return None
        self._looked_up()
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

    def _looked_up(self) -> None:
        self.lookups += 1
        LOOKUPS.inc()

    async def tenant_status(self, tenant_id: str) -> str | None:
        tenant = await self._tenants.get(tenant_id)
        return None if tenant is None else tenant.status
