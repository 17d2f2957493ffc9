"""Database access: one pool, one transaction helper, lifecycle hooks.

Tenant data is reached only through :meth:`Database.transaction`, which sets the tenant
for row-level security with ``set_config(..., true)`` (transaction-local, so a pooled
connection never carries a tenant into the next request) and runs the registered
``before_commit`` hooks, where cross-cutting modules (audit, metering) attach once instead
of being copied into every route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg

from fundament.platform.context import RequestContext
from fundament.platform.errors import ServiceUnavailable, map_db_errors
from fundament.platform.observe import add_db_time

log = logging.getLogger("fundament.db")

INVALIDATION_CHANNEL = "fundament_invalidate"

_BROKEN = (
    asyncpg.InternalClientError,
    asyncpg.InterfaceError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    ConnectionError,
)

_SET_SCOPE = "SELECT set_config('fundament.tenant_id', $1, true), set_config('fundament.operator', $2, true)"


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """A write a service made inside a transaction; hooks (audit) consume these."""

    action: str
    target_type: str
    target_id: str
    tenant_id: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Tx:
    """An open transaction: the connection, the context, and what it wrote."""

    conn: asyncpg.Connection
    ctx: RequestContext
    tenant_id: str | None
    events: list[WriteEvent] = field(default_factory=list)
    #: What a before-commit hook wants its after-commit half to know, by hook name.
    notes: dict[str, Any] = field(default_factory=dict)
    _notifications: list[str] = field(default_factory=list)

    def emit(self, action: str, target_type: str, target_id: str, **details: Any) -> None:
        """Record a write so before-commit hooks see it."""
        self.events.append(WriteEvent(action, target_type, target_id, self.tenant_id, details))

    def invalidate(self, message: str) -> None:
        """Tell every instance to drop cached state named by ``message`` once this commits."""
        self._notifications.append(message)


async def set_scope(
    conn: asyncpg.Connection, *, tenant_id: str | None = None, operator: bool = False
) -> None:
    """Scope ``conn``'s open transaction as :class:`Database` does its own: for admin
    connections outside it (the CLI), so the settings the policies read are named here
    only."""
    await conn.execute(_SET_SCOPE, tenant_id or "", "on" if operator else "")


async def notify_invalidation(conn: asyncpg.Connection, message: str) -> None:
    """Tell every instance to drop cached state named by ``message`` (``key:<id>``,
    ``tenant:<id>``) when ``conn``'s transaction commits: for writes made outside
    :meth:`Database.transaction` (the CLI's admin connection)."""
    await conn.execute("SELECT pg_notify($1, $2)", INVALIDATION_CHANNEL, message)


T = TypeVar("T")
TxHook = Callable[[Tx], Awaitable[None]]
AfterCommitHook = Callable[[Tx], None]
InvalidationHandler = Callable[[str], None]


class Database:
    """Connection pool plus the request transaction lifecycle."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 4,
        max_size: int = 32,
        statement_timeout_ms: int = 15_000,
        idle_in_transaction_timeout_ms: int = 60_000,
        max_idle_seconds: float = 300.0,
        statement_cache_size: int = 100,
        listen_dsn: str | None = None,
    ) -> None:
        self._dsn = dsn
        self._statement_cache_size = statement_cache_size
        #: LISTEN needs a session of its own: not a PgBouncer in transaction mode.
        self._listen_dsn = listen_dsn or dsn
        self._min = min_size
        self._max = max_size
        self._statement_timeout_ms = statement_timeout_ms
        self._idle_in_transaction_timeout_ms = idle_in_transaction_timeout_ms
        self._max_idle_seconds = max_idle_seconds
        self._pool: asyncpg.Pool | None = None
        self.before_commit: list[TxHook] = []
        #: Called with the committed transaction; must not raise or block (schedule work).
        self.after_commit: list[AfterCommitHook] = []
        self._invalidation_handlers: list[InvalidationHandler] = []
        #: Wraps the connection a transaction hands out (tracing puts spans around queries).
        self.wrap_connection: Callable[[Any], Any] | None = None
        #: Called with each transaction's duration (pool wait included); metrics attach here.
        self.timing: list[Callable[[float], None]] = []
        self._listener_task: asyncio.Task[None] | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.open() was not called")
        return self._pool

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min,
            max_size=self._max,
            max_inactive_connection_lifetime=self._max_idle_seconds,
            # 0 behind PgBouncer in transaction mode: consecutive transactions may run on
            # different server connections, which do not have this one's prepared statements.
            statement_cache_size=self._statement_cache_size,
            server_settings={
                "application_name": "fundament",
                "statement_timeout": str(self._statement_timeout_ms),
                "idle_in_transaction_session_timeout": str(self._idle_in_transaction_timeout_ms),
            },
        )
        self._listener_task = asyncio.create_task(self._listen_forever())

    async def close(self) -> None:
        if self._listener_task is not None:
            self._listener_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener_task
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def terminate(self) -> None:
        """Drop every connection at once (when a graceful close did not finish)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    def transaction(
        self, ctx: RequestContext, *, tenant_id: str | None = None
    ) -> AbstractAsyncContextManager[Tx]:
        """Begin, scope to a tenant, yield, run hooks, commit; roll back on any error.

        ``tenant_id`` defaults to ``ctx.tenant_id``. The operator scope (every tenant's rows
        where a table's policy allows it) comes only from an authenticated operator key in
        ``ctx``; work of the platform's own is :meth:`operator_transaction`. Nothing is
        kept unless the block exits normally. Database errors surface as problems (409,
        503, ...).
        """
        tenant = tenant_id if tenant_id is not None else ctx.tenant_id
        operator = ctx.principal is not None and ctx.principal.is_operator
        return self._scoped(ctx, tenant, operator)

    def operator_transaction(self, reason: str) -> AbstractAsyncContextManager[Tx]:
        """A transaction in the operator scope for the platform's own work across tenants
        (metering's flushes, FinOps reports), with no principal behind it.

        The one way in besides an operator key: a caller names why (``reason`` becomes the
        transaction's request id, which logs and any audit event carry), instead of
        building an operator principal nobody authenticated. Tenant-only tables (users,
        records, ...) stay invisible here: their policies know no operator.
        """
        return self._scoped(RequestContext(request_id=reason), None, True)

    @asynccontextmanager
    async def _scoped(self, ctx: RequestContext, tenant: str | None, operator: bool) -> AsyncIterator[Tx]:
        began = time.perf_counter()
        with map_db_errors():
            # No acquire timeout here: asyncpg implements it with wait_for, which cost ~5% of
            # GET-by-id (profiled); request deadlines belong to the edge, not each acquire.
            conn = await self.pool.acquire()
            try:
                async with conn.transaction():
                    await conn.execute(_SET_SCOPE, tenant or "", "on" if operator else "")
                    wrap = self.wrap_connection
                    tx = Tx(conn if wrap is None else wrap(conn), ctx, tenant)
                    yield tx
                    for hook in self.before_commit:
                        await hook(tx)
                    for message in tx._notifications:
                        await notify_invalidation(conn, message)
            except _BROKEN:
                # The server went away under this connection (restart, failover): drop it
                # rather than hand a half-dead connection to the next request.
                conn.terminate()
                raise
            finally:
                await self.pool.release(conn)
                elapsed = time.perf_counter() - began
                add_db_time(elapsed)
                for timed in self.timing:
                    timed(elapsed)
        # Committed: this instance drops its caches now rather than when its own
        # notification comes back from the listener a moment later.
        for message in tx._notifications:
            self._dispatch(message)
        for after in self.after_commit:
            try:
                after(tx)
            except Exception:  # the write is committed; a follow-up failing must not undo the answer
                log.exception("after-commit hook failed")

    async def run(
        self,
        ctx: RequestContext,
        work: Callable[[Tx], Awaitable[T]],
        *,
        tenant_id: str | None = None,
        attempts: int = 3,
    ) -> T:
        """Run ``work`` in a transaction, again from the start if PostgreSQL aborted it for a
        deadlock or serialization failure (both say: retry). For writes whose lock order we
        cannot choose, such as offboarding's cascade across every table of a tenant."""
        for attempt in range(attempts):
            try:
                async with self.transaction(ctx, tenant_id=tenant_id) as tx:
                    return await work(tx)
            except ServiceUnavailable as exc:
                retryable = isinstance(
                    exc.__cause__, asyncpg.DeadlockDetectedError | asyncpg.SerializationError
                )
                if not retryable or attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    # --- cross-instance cache invalidation -------------------------------------------
    def on_invalidate(self, handler: InvalidationHandler) -> None:
        """Call ``handler(message)`` for each invalidation; ``"*"`` means drop everything."""
        self._invalidation_handlers.append(handler)

    def _dispatch(self, message: str) -> None:
        for handler in self._invalidation_handlers:
            try:
                handler(message)
            except Exception:  # a cache bug must not kill the listener
                log.exception("invalidation handler failed")

    async def _listen_forever(self) -> None:
        """LISTEN on a dedicated connection; after any gap, flush every cache."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._listen_dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, ev=lost: ev.set())
                await conn.add_listener(
                    INVALIDATION_CHANNEL, lambda _c, _pid, _ch, payload: self._dispatch(payload)
                )
                self._dispatch("*")  # anything may have changed while we were not listening
                while not lost.is_set():
                    # A dead peer does not always close the socket: probe now and then.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=10)
                    if not lost.is_set():
                        await asyncio.wait_for(conn.execute("SELECT 1"), timeout=5)
            except asyncio.CancelledError:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=1)
                raise
            except Exception as exc:
                log.warning("invalidation listener lost its connection: %s", exc)
            self._dispatch("*")
            await asyncio.sleep(1.0)
