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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from fundament.platform.context import RequestContext
from fundament.platform.errors import ServiceUnavailable, map_db_errors
from fundament.platform.observe import Exchange, add_db_time, current_exchange
from fundament.platform.replicas import (
    READ_METHODS,
    UNKNOWN_POSITION,
    FailoverConnection,
    Opened,
    ReplicaSet,
    drop,
    publish_commit,
)

if TYPE_CHECKING:
    from fundament.platform.cells import Cells

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
#: A tenant's write on a cell passes the tenant's write gate in the same statement (no
#: round trip of its own): it waits while a move freezes the tenant, and answers the cell
#: the tenant has left for, if it has (migration 0014).
_SET_SCOPE_GATED = (
    "SELECT fundament_write_gate($1),"
    " set_config('fundament.tenant_id', $1, true), set_config('fundament.operator', $2, true)"
)
#: How often a write follows a tenant that has moved before it gives up (503): a move
#: switches the directory before it lets the writers it froze go, so once is the rule.
_REROUTES = 4


class TenantDeparted(ServiceUnavailable):
    """The tenant has moved off this cell: its write must run on the cell it went to."""

    def __init__(self, tenant_id: str, cell: str) -> None:
        super().__init__(f"The tenant has moved to the cell {cell!r}; try again.")
        self.tenant_id = tenant_id
        self.cell = cell


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """A write a service made inside a transaction; hooks (audit) consume these."""

    action: str
    target_type: str
    target_id: str
    tenant_id: str | None
    details: dict[str, Any] = field(default_factory=dict)


#: Rows a before-commit hook staged: the table, its columns' types by name, the rows.
Staged = tuple[str, dict[str, str], list[tuple[Any, ...]]]


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
    _staged: list[Staged] = field(default_factory=list)

    def emit(self, action: str, target_type: str, target_id: str, **details: Any) -> None:
        """Record a write so before-commit hooks see it."""
        self.events.append(WriteEvent(action, target_type, target_id, self.tenant_id, details))

    def invalidate(self, message: str) -> None:
        """Tell every instance to drop cached state named by ``message`` once this commits."""
        self._notifications.append(message)

    def stage(self, table: str, columns: dict[str, str], rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` of this transaction's tenant into ``table`` once every
        before-commit hook has run, in their order (a serial column numbers them so).
        ``columns`` names each value of a row and its type; ``tenant_id`` fills the
        ``tenant_id`` column. All that the hooks staged goes in one statement: a write's
        audit event and change event cost one round trip between them, not one each."""
        self._staged.append((table, columns, rows))


async def set_scope(
    conn: asyncpg.Connection, *, tenant_id: str | None = None, operator: bool = False
) -> None:
    """Scope ``conn``'s open transaction as :class:`Database` does its own: for admin
    connections outside it (the CLI), so the settings the policies read are named here
    only."""
    await conn.execute(_SET_SCOPE, tenant_id or "", "on" if operator else "")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is, without asyncpg's reset query
    (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``): one round trip on
    every release, ~100 µs of a ~350 µs GET-by-id. Nothing on a pooled connection sets
    session state: scope is ``set_config(..., true)`` (transaction-local), advisory locks
    are ``pg_advisory_xact_lock``, cursors end with their transaction, and LISTEN has a
    connection of its own. asyncpg still rolls back a transaction left open before it
    calls this."""


def _staged_statement(tenant_id: str, staged: list[Staged]) -> tuple[str, list[Any]]:
    """One statement inserting every staged table's rows (data-modifying CTEs when there are
    several). One row binds scalars (cheaper to encode than arrays: the common case, one
    write's one event); several bind one array per column."""
    args: list[Any] = [tenant_id]
    inserts = []
    for table, columns, rows in staged:
        names = ", ".join(columns)
        first = len(args) + 1
        if len(rows) == 1:
            values = ", ".join(f"${i}::{t}" for i, t in enumerate(columns.values(), start=first))
            inserts.append(f"INSERT INTO {table} (tenant_id, {names}) VALUES ($1, {values})")
            args.extend(rows[0])
        else:
            arrays = ", ".join(f"${i}::{t}[]" for i, t in enumerate(columns.values(), start=first))
            inserts.append(
                f"INSERT INTO {table} (tenant_id, {names}) SELECT $1, {names} FROM unnest({arrays})"
                f" WITH ORDINALITY AS u ({names}, _order) ORDER BY _order"
            )
            args.extend(zip(*rows, strict=True))
    if len(inserts) == 1:
        return inserts[0], args
    ctes = ", ".join(f"s{i} AS ({insert})" for i, insert in enumerate(inserts))
    return f"WITH {ctes} SELECT 1", args


async def _insert_staged(tx: Tx) -> None:
    staged = [entry for entry in tx._staged if entry[2]]
    if not staged:
        return
    if tx.tenant_id is None:
        raise AssertionError("rows staged in a transaction without a tenant")
    statement, args = _staged_statement(tx.tenant_id, staged)
    await tx.conn.execute(statement, *args)


async def notify_invalidation(conn: asyncpg.Connection, message: str) -> None:
    """Tell every instance to drop cached state named by ``message`` (``key:<id>``,
    ``tenant:<id>``) when ``conn``'s transaction commits: for writes made outside
    :meth:`Database.transaction` (the CLI's admin connection)."""
    await conn.execute("SELECT pg_notify($1, $2)", INVALIDATION_CHANNEL, message)


async def _publish_position(conn: asyncpg.Connection, exchange: Exchange) -> None:
    """Tell the request where its commit is: the WAL insert position, read after COMMIT
    on the same connection, is at or past the commit record whatever
    ``synchronous_commit`` says (the write position may not be, with it off)."""
    try:
        lsn = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
    except Exception:  # committed all the same; send reads that echo this to the primary
        log.warning("commit position unknown after COMMIT", exc_info=True)
        drop(conn)
        lsn = UNKNOWN_POSITION
    publish_commit(exchange, lsn)


async def _end_replica_read(
    opened: Opened,
    replicas: ReplicaSet,
    moved: list[tuple[asyncpg.Connection, Any]],
    pool: asyncpg.Pool,
    *,
    commit: bool,
) -> None:
    """End a replica read and, if it moved, its primary half; only the primary half's
    failure is an error (the replica's reads are done)."""
    try:
        await opened.finish(replicas, commit=commit)
    finally:
        for conn, transaction in moved:
            try:
                if commit:
                    await transaction.commit()
                else:
                    await transaction.rollback()
            except _BROKEN:
                drop(conn)
                raise
            finally:
                await pool.release(conn)


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
        replica_dsns: Sequence[str] = (),
        replica_max_lag_seconds: float = 5.0,
        replica_poll_seconds: float = 0.5,
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
        self._replica_options = (replica_max_lag_seconds, replica_poll_seconds)
        #: Set on the control database once a cell besides it exists: a transaction scoped
        #: to a tenant then runs on the tenant's cell (None costs the hot path nothing).
        self.router: Cells | None = None
        #: Set on every cell's Database once there are cells (a tenant can move): a
        #: tenant's write transaction here passes its write gate (see ``_SET_SCOPE_GATED``).
        self.gated = False
        #: Streaming replicas that read-only transactions may use; None without any.
        self.replicas: ReplicaSet | None = (
            ReplicaSet(
                replica_dsns,
                create_pool=self._create_pool,
                max_lag_seconds=replica_max_lag_seconds,
                poll_seconds=replica_poll_seconds,
                server_settings=self._server_settings(),
            )
            if replica_dsns
            else None
        )

    def sibling(self, dsn: str, *, replica_dsns: Sequence[str] = ()) -> Database:
        """The Database of another cell: this one's options, and this one's hooks, observers
        and invalidation handlers (the same lists, so what attaches later attaches to
        both): a transaction behaves the same on whichever cell it runs."""
        lag, poll = self._replica_options
        other = Database(
            dsn,
            min_size=self._min,
            max_size=self._max,
            statement_timeout_ms=self._statement_timeout_ms,
            idle_in_transaction_timeout_ms=self._idle_in_transaction_timeout_ms,
            max_idle_seconds=self._max_idle_seconds,
            statement_cache_size=self._statement_cache_size,
            replica_dsns=replica_dsns,
            replica_max_lag_seconds=lag,
            replica_poll_seconds=poll,
        )
        other.before_commit = self.before_commit
        other.after_commit = self.after_commit
        other._invalidation_handlers = self._invalidation_handlers
        other.timing = self.timing
        other.wrap_connection = self.wrap_connection
        return other

    def every_cell(self) -> list[Database]:
        """This database and every other cell's: what work across tenants (job queues,
        sweeps) goes through, since each cell keeps its tenants' rows."""
        return [self] if self.router is None else self.router.databases()

    async def cell_of(self, tenant_id: str) -> Database:
        """The Database the tenant's rows live on: this one unless cells route elsewhere."""
        return self if self.router is None else await self.router.database_of(tenant_id)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.open() was not called")
        return self._pool

    def _server_settings(self) -> dict[str, str]:
        return {
            "application_name": "fundament",
            "statement_timeout": str(self._statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(self._idle_in_transaction_timeout_ms),
        }

    async def _create_pool(self, dsn: str) -> asyncpg.Pool:
        """A pool with this database's options: the primary's, and each replica's."""
        return await asyncpg.create_pool(
            dsn,
            min_size=self._min,
            max_size=self._max,
            max_inactive_connection_lifetime=self._max_idle_seconds,
            # 0 behind PgBouncer in transaction mode: consecutive transactions may run on
            # different server connections, which do not have this one's prepared statements.
            statement_cache_size=self._statement_cache_size,
            server_settings=self._server_settings(),
            reset=_keep_session,
        )

    async def open(self) -> None:
        self._pool = await self._create_pool(self._dsn)
        self._listener_task = asyncio.create_task(self._listen_forever())
        if self.replicas is not None:
            self.replicas.start(self._pool)

    async def close(self) -> None:
        if self._listener_task is not None:
            self._listener_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener_task
        if self.replicas is not None:
            await self.replicas.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def terminate(self) -> None:
        """Drop every connection at once (when a graceful close did not finish)."""
        if self.replicas is not None:
            self.replicas.terminate()
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    def transaction(
        self,
        ctx: RequestContext,
        *,
        tenant_id: str | None = None,
        read_only: bool | None = None,
        primary: bool = False,
        routed: bool = True,
    ) -> AbstractAsyncContextManager[Tx]:
        """Begin, scope to a tenant, yield, run hooks, commit; roll back on any error.

        ``tenant_id`` defaults to ``ctx.tenant_id``. The operator scope (every tenant's rows
        where a table's policy allows it) comes only from an authenticated operator key in
        ``ctx``; work of the platform's own is :meth:`operator_transaction`. Nothing is
        kept unless the block exits normally. Database errors surface as problems (409,
        503, ...).

        ``read_only`` defaults to the request's method: a GET or HEAD only reads. A
        read-only transaction is READ ONLY on the primary too (a read that writes fails
        the same with replicas or without), and may run on a replica that has replayed
        what the request must see (its ``Fundament-Consistency`` token, its own earlier
        commits). ``primary`` keeps a read on the primary: for what fills a process-wide
        cache, which invalidations from the primary keep fresh and a replica's older
        state would fill again. A read-write transaction of a request tells the request
        where it committed (the response's ``Fundament-Consistency``).

        With cells, a transaction scoped to a tenant runs on the tenant's cell. ``routed``
        False keeps it on this database: for the control plane's own tables (the tenant
        registry, usage), which live in the control database whatever the cell.
        """
        tenant = tenant_id if tenant_id is not None else ctx.tenant_id
        router = self.router
        exchange = current_exchange.get()
        if read_only is None:
            read_only = exchange is not None and exchange.method in READ_METHODS
        if router is not None and routed and tenant:
            cell = router.cached(tenant)
            if cell is None or not read_only:  # a write follows the tenant if it moves
                return self._routed(router, ctx, tenant, read_only, primary)
            if cell is not self:
                return cell.transaction(ctx, tenant_id=tenant, read_only=True, primary=primary, routed=False)
        return self.on_cell(ctx, tenant, read_only=read_only, primary=primary, gate=False)

    def on_cell(
        self,
        ctx: RequestContext,
        tenant: str | None,
        *,
        read_only: bool,
        primary: bool = False,
        gate: bool = True,
    ) -> AbstractAsyncContextManager[Tx]:
        """A transaction on this database, which is where ``tenant``'s rows are (routing
        decided, or the caller knows: the job worker runs a job on the cell whose queue held
        it). ``gate``: a write passes the tenant's write gate (waits out a move's freeze,
        and raises :class:`TenantDeparted` if the tenant has left this cell); the control
        plane's own writes (the registry, usage) pass ``gate=False`` through
        :meth:`transaction` with ``routed=False``."""
        operator = ctx.principal is not None and ctx.principal.is_operator
        exchange = current_exchange.get()
        if not read_only:
            return self._scoped(
                ctx, tenant, operator, publish=exchange, gate=gate and self.gated and bool(tenant)
            )
        if self.replicas is None or primary:
            return self._scoped(ctx, tenant, operator, read_only=True)
        floor = exchange.consistency if exchange is not None else 0
        return self._on_replica(self.replicas, ctx, tenant, operator, floor)

    @asynccontextmanager
    async def _routed(
        self, router: Cells, ctx: RequestContext, tenant: str, read_only: bool | None, primary: bool
    ) -> AsyncIterator[Tx]:
        """A tenant's transaction whose placement this instance does not hold yet, or a
        write: one that finds the tenant gone from the cell (a move switched it while the
        write waited at the gate, or this instance has not seen the switch) drops the
        placement and runs on the tenant's new cell. It has not begun its work then: the
        gate is its first statement."""
        async with contextlib.AsyncExitStack() as stack:
            for attempt in range(_REROUTES):
                with map_db_errors():
                    cell = await router.database_of(tenant)
                try:
                    tx = await stack.enter_async_context(
                        cell.on_cell(ctx, tenant, read_only=bool(read_only), primary=primary)
                    )
                    break
                except TenantDeparted:
                    router.forget(tenant)
                    if attempt:  # the directory's commit may be a moment behind the departure's
                        await asyncio.sleep(0.05 * attempt)
            else:
                raise ServiceUnavailable("The tenant is being moved between cells; try again.")
            yield tx

    def operator_transaction(self, reason: str) -> AbstractAsyncContextManager[Tx]:
        """A transaction in the operator scope for the platform's own work across tenants
        (metering's flushes, FinOps reports), with no principal behind it.

        The one way in besides an operator key: a caller names why (``reason`` becomes the
        transaction's request id, which logs and any audit event carry), instead of
        building an operator principal nobody authenticated. Tenant-only tables (users,
        records, ...) stay invisible here: their policies know no operator. It runs on the
        primary, read-write, even inside a GET (``GET /usage`` flushes usage first).
        """
        return self._scoped(RequestContext(request_id=reason), None, True, publish=current_exchange.get())

    @asynccontextmanager
    async def _scoped(
        self,
        ctx: RequestContext,
        tenant: str | None,
        operator: bool,
        *,
        read_only: bool = False,
        publish: Exchange | None = None,
        gate: bool = False,
    ) -> AsyncIterator[Tx]:
        began = time.perf_counter()
        with map_db_errors():
            # No acquire timeout here: asyncpg implements it with wait_for, which cost ~5% of
            # GET-by-id (profiled); request deadlines belong to the edge, not each acquire.
            conn = await self.pool.acquire()
            try:
                async with conn.transaction(readonly=read_only):
                    if gate:
                        gone = await conn.fetchval(_SET_SCOPE_GATED, tenant, "on" if operator else "")
                        if gone is not None:
                            raise TenantDeparted(tenant or "", gone)
                    else:
                        await conn.execute(_SET_SCOPE, tenant or "", "on" if operator else "")
                    wrap = self.wrap_connection
                    tx = Tx(conn if wrap is None else wrap(conn), ctx, tenant)
                    yield tx
                    for hook in self.before_commit:
                        await hook(tx)
                    if tx._staged:
                        await _insert_staged(tx)
                    for message in tx._notifications:
                        await notify_invalidation(conn, message)
                if publish is not None:
                    await _publish_position(conn, publish)
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
        self._committed(tx)

    @asynccontextmanager
    async def _on_replica(
        self, replicas: ReplicaSet, ctx: RequestContext, tenant: str | None, operator: bool, floor: int
    ) -> AsyncIterator[Tx]:
        """A read-only transaction on a replica that has replayed ``floor``, else on the
        primary; a replica failing under it moves it to the primary (no failed request)."""
        began = time.perf_counter()
        scope = (tenant or "", "on" if operator else "")
        opened = await replicas.begin(floor, *scope)
        if opened is None:
            async with self._scoped(ctx, tenant, operator, read_only=True) as tx:
                yield tx
            return
        moved: list[tuple[asyncpg.Connection, Any]] = []

        async def to_primary(exc: BaseException) -> asyncpg.Connection:
            replicas.failed(opened.replica, exc)
            replicas.count("primary_failover")
            conn = await self.pool.acquire()
            transaction = conn.transaction(readonly=True)
            try:
                await transaction.start()
                await conn.execute(_SET_SCOPE, *scope)
            except BaseException:
                drop(conn)
                await self.pool.release(conn)
                raise
            moved.append((conn, transaction))
            return conn

        link = FailoverConnection(opened.conn, to_primary)
        wrap = self.wrap_connection
        tx = Tx(link if wrap is None else wrap(link), ctx, tenant)
        with map_db_errors():
            done = False
            try:
                yield tx
                for hook in self.before_commit:
                    await hook(tx)
                if tx._staged:
                    await _insert_staged(tx)
                done = True
            finally:
                await _end_replica_read(opened, replicas, moved, self.pool, commit=done)
                if not moved:  # a read that moved counted as such
                    replicas.count("replica")
                elapsed = time.perf_counter() - began
                add_db_time(elapsed)
                for timed in self.timing:
                    timed(elapsed)
        self._committed(tx)

    def _committed(self, tx: Tx) -> None:
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
        routed: bool = True,
    ) -> T:
        """Run ``work`` in a transaction, again from the start if PostgreSQL aborted it for a
        deadlock or serialization failure (both say: retry). For writes whose lock order we
        cannot choose, such as offboarding's cascade across every table of a tenant."""
        for attempt in range(attempts):
            try:
                async with self.transaction(ctx, tenant_id=tenant_id, routed=routed) as tx:
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
