"""API keys: format, hashing and the cached authenticator.

A key is 256 random bits. It is stored only as SHA-256: a slow password hash (bcrypt,
argon2) protects low-entropy secrets against guessing, which a 256-bit random key does
not need, and it would cost milliseconds on every request.

Tenant keys embed their tenant's id (``fdk_<tenant ulid>_<secret>``) so the lookup runs
inside that tenant's row-level-security scope: identity never needs to read keys across
tenants, and the key index leads with ``tenant_id`` like every other index.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

from fundament.identity.throttle import LOOKUPS, Attempt, FailureThrottle
from fundament.platform import (
    Database,
    LoadingCache,
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
        self._max = max_entries
        self._throttle = throttle if throttle is not None else FailureThrottle(bad_key_seconds=ttl_seconds)
        #: By the key's hash. A cold cache under load costs one lookup per key, not one per
        #: request; a revocation's invalidation keeps a lookup in flight from storing.
        self._keys: LoadingCache[bytes, _Entry] = LoadingCache(
            ttl_seconds=ttl_seconds, max_entries=max_entries
        )
        # Keys found before, kept past invalidations and the TTL: the throttle lets them
        # through (whoever presents one holds it), so a flood of wrong keys for a tenant
        # never locks out a key in use. A lookup that fails takes one out.
        self._known: dict[bytes, None] = {}
        #: Key lookups that went to the database (tests read it; so does a Prometheus counter).
        self.lookups = 0
        db.on_invalidate(self.invalidate)

    def invalidate(self, message: str) -> None:
        kind, _, ident = message.partition(":")
        if message == "*":
            self._keys.clear()
        elif kind == "key":
            self._keys.invalidate_where(lambda _h, e: e.principal.key_id == ident)
        elif kind == "tenant":
            self._keys.invalidate_where(lambda _h, e: e.principal.tenant_id == ident)

    async def authenticate(self, token: str, *, client: str | None = None) -> Principal:
        now = time.monotonic()
        if len(token) > 256:
            attempt = self._throttle.admit(client=client, key_id=None, digest=None, now=now)
            self._throttle.failed(attempt, now)
            raise Unauthenticated("Unknown API key.")
        digest = hash_key(token)
        entry = self._keys.peek(digest)
        if entry is None:
            entry = await self._keys.get(digest, functools.partial(self._lookup, token, digest, client, now))
            if entry is None:
                self._known.pop(digest, None)
                raise Unauthenticated("Unknown or revoked API key.")
            if digest not in self._known:
                if len(self._known) >= self._max:
                    del self._known[next(iter(self._known))]
                self._known[digest] = None
        if entry.expires_at is not None and entry.expires_at <= utcnow():
            raise Unauthenticated("This API key has expired.")
        return entry.principal

    def _lookup(self, token: str, digest: bytes, client: str | None, now: float) -> Awaitable[_Entry | None]:
        """Start the one lookup of a key that requests presenting it at the same time
        share, once the throttle lets it through (a refusal reaches this request only)."""
        if digest in self._known:
            # Not counted: only its failure is remembered (a revoked key, found once more).
            attempt = Attempt(None, None, digest)
        else:
            key_id = key_id_of(token)
            attempt = self._throttle.admit(
                client=client, key_id=key_id, digest=digest if key_id is not None else None, now=now
            )
        return self._settled(token, digest, attempt)

    async def _settled(self, token: str, digest: bytes, attempt: Attempt) -> _Entry | None:
        try:
            entry = await self._load(token, digest)
        except BaseException:
            # A lookup that raised (database unavailable) says nothing about the key.
            self._throttle.succeeded(attempt)
            raise
        if entry is None:
            self._throttle.failed(attempt, time.monotonic())
        else:
            self._throttle.succeeded(attempt)
        return entry

    async def _load(self, token: str, digest: bytes) -> _Entry | None:
        if token.startswith(OPERATOR_KEY_PREFIX):
            self._looked_up()
            async with self._db.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT id, expires_at FROM operator_keys WHERE secret_hash = $1 AND revoked_at IS NULL",
                    digest,
                )
            if row is None:
                return None
            return _Entry(Principal("operator", row["id"], "operator", None), row["expires_at"])
        tenant_id = tenant_of_key(token)
        if tenant_id is None:
            return None
        self._looked_up()
        # On the primary: a replica could still hold a key revoked a moment ago, and the
        # revocation's invalidation has already passed this cache.
        async with self._db.transaction(_AUTH_CTX, tenant_id=tenant_id, read_only=True, primary=True) as tx:
            row = await tx.conn.fetchrow(
                "SELECT id, role, expires_at FROM api_keys"
                " WHERE tenant_id = $1 AND secret_hash = $2 AND revoked_at IS NULL",
                tenant_id,
                digest,
            )
        if row is None:
            return None
        principal = Principal("tenant_key", row["id"], row["role"], tenant_id)
        return _Entry(principal, row["expires_at"])

    def _looked_up(self) -> None:
        self.lookups += 1
        LOOKUPS.inc()

    async def tenant_status(self, tenant_id: str) -> str | None:
        tenant = await self._tenants.get(tenant_id)
        return None if tenant is None else tenant.status
