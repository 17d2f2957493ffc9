"""Streaming read replicas: which one a read may use, and how far behind each one is.

:class:`Database` routes a read-only transaction here when replicas are configured. A
read goes to a healthy replica that has replayed the request's consistency position (the
``Fundament-Consistency`` token the client echoed, or a commit the request made itself),
else to the primary. Nothing sticks a client to the primary for a while: the token alone
says what the read must see.

A monitor polls every replica (one connection each, apart from the pool, so a busy pool
never makes a replica look dead) and the primary's WAL position. A replica that does not
answer, is no longer in recovery, or lags past the limit is skipped until a later poll
finds it well; a read that meets a broken replica moves to the primary mid-transaction,
so a replica going away costs no request.

Lag is measured against the primary, not by ``pg_last_xact_replay_timestamp()`` alone:
on an idle primary that timestamp ages although nothing is behind. A replica that has
replayed the primary's position of the last sample lags 0; otherwise its lag is at most
the time since the primary stood at the replayed position (from the recent samples) or
since the last replayed commit, whichever is less.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from fundament.platform.observe import Exchange

log = logging.getLogger("fundament.db.replicas")

#: The request header carrying the position a read must see, and the response header of
#: a write saying where its commit is (lower case: how ASGI names headers).
CONSISTENCY_HEADER = b"fundament-consistency"
#: A write whose commit position could not be read (its connection broke right after
#: COMMIT): a token no replica reaches, so reads that present it go to the primary.
UNKNOWN_POSITION = (1 << 64) - 1
#: Read-only transactions that may go to a replica (``Database.transaction``'s default).
READ_METHODS = frozenset({"GET", "HEAD"})

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
#: A connection attempt to a replica gives up after this long: a replica that cannot be
#: reached is skipped, not waited for (asyncpg's default is a minute).
CONNECT_TIMEOUT = 2.0

#: Errors of a replica's connection or of the replica itself (shutting down, starting up):
#: the replica is out until the monitor finds it well again.
_GONE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    OSError,
    TimeoutError,
)
#: What a statement on a replica may meet that the primary answers: the replica gone, or
#: the statement cancelled for a conflict with replay (SQLSTATE 40001 on a standby).
REPLICA_FAILURES: tuple[type[BaseException], ...] = (*_GONE, asyncpg.SerializationError)

_SCOPE_AND_REPLAYED = (
    "SELECT set_config('fundament.tenant_id', $1, true), set_config('fundament.operator', $2, true),"
    " pg_last_wal_replay_lsn()"
)
_REPLICA_STATE = (
    "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn() AS replayed,"
    " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused,"
    " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age"
)
# pg_stat_replication shows lag columns only to superusers and pg_read_all_stats: for the
# unprivileged request role they are NULL, and so is what we export from them.
_PRIMARY_STATE = (
    "SELECT pg_current_wal_lsn() AS position,"
    " (SELECT count(*) FROM pg_stat_replication) AS standbys,"
    " (SELECT extract(epoch FROM max(replay_lag))::float8 FROM pg_stat_replication) AS replay_lag"
)


def drop(conn: asyncpg.Connection) -> None:
    """Close a pooled connection that failed, now; asyncpg has already detached it from
    its pool when the server closed it, and then refuses ``terminate`` (nothing to do)."""
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


def format_position(lsn: int) -> str:
    """A WAL position as a token: PostgreSQL's ``X/Y`` notation of the LSN."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_consistency(raw: bytes) -> int | None:
    """The position a request's ``Fundament-Consistency`` value asks for: the latest of
    its comma-separated tokens (repeated header lines arrive joined so), 0 for an empty
    value (a client that has no token yet), None if any token is malformed."""
    # Only spaces and tabs around tokens (HTTP's whitespace), as the document's pattern says.
    text = raw.decode("latin-1").strip(" \t")
    if not text:
        return 0
    floor = 0
    for part in text.split(","):
        match = _LSN.fullmatch(part.strip(" \t"))
        if match is None:
            return None
        floor = max(floor, int(match.group(1), 16) << 32 | int(match.group(2), 16))
    return floor


def publish_commit(exchange: Exchange, lsn: int) -> None:
    """The request committed at ``lsn``: its later reads must see that, and its response
    says where its last commit is (one header; never the client's own token back)."""
    exchange.consistency = max(exchange.consistency, lsn)
    value = format_position(lsn).encode("ascii")
    headers = exchange.headers
    for i, (name, held) in enumerate(headers):
        if name == CONSISTENCY_HEADER:
            if lsn > (parse_consistency(held) or 0):
                headers[i] = (CONSISTENCY_HEADER, value)
            return
    headers.append((CONSISTENCY_HEADER, value))


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """One replica as the last poll found it (for metrics and operators)."""

    name: str
    healthy: bool
    lag_seconds: float
    lag_bytes: int
    replayed: int
    paused: bool
    #: Why it is skipped, when it is.
    reason: str | None


@dataclass(frozen=True, slots=True)
class Observation:
    """One poll of the whole set, handed to each observer (metrics)."""

    replicas: tuple[ReplicaStatus, ...]
    #: Standbys streaming from the primary, by its ``pg_stat_replication``; None when the
    #: primary did not answer.
    standbys: int | None
    #: The largest ``replay_lag`` the primary reports, where the role may see it.
    primary_replay_lag: float | None
    #: Read transactions since the previous observation, by where they ran and why.
    reads: dict[str, int]


#: Where read transactions ran: the labels of :attr:`Observation.reads`.
READ_OUTCOMES = ("replica", "primary_behind", "primary_no_replica", "primary_failover")


class Replica:
    """One replica: its pool, its monitor connection and what the last poll found."""

    __slots__ = (
        "dsn",
        "healthy",
        "lag_bytes",
        "lag_seconds",
        "monitor",
        "name",
        "paused",
        "pool",
        "reason",
        "replayed",
    )

    def __init__(self, name: str, dsn: str) -> None:
        self.name = name
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None
        self.monitor: asyncpg.Connection | None = None
        self.healthy = False
        self.replayed = 0
        self.lag_seconds = math.inf
        self.lag_bytes = 0
        self.paused = False
        self.reason: str | None = "not polled yet"

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(
            self.name, self.healthy, self.lag_seconds, self.lag_bytes, self.replayed, self.paused, self.reason
        )


@dataclass(slots=True)
class Opened:
    """A read-only transaction begun on a replica, scoped like the primary's."""

    replica: Replica
    conn: asyncpg.Connection
    transaction: Any

    async def finish(self, replicas: ReplicaSet, *, commit: bool) -> None:
        """End it and give the connection back. A replica failing here costs nothing:
        the transaction only read, and its reads are done."""
        try:
            if commit:
                await self.transaction.commit()
            else:
                await self.transaction.rollback()
        except Exception as exc:
            drop(self.conn)
            if isinstance(exc, _GONE):
                replicas.failed(self.replica, exc)
        await replicas.release(self.replica, self.conn)


class FailoverConnection:
    """The connection a replica read's :class:`Tx` holds: a statement the replica fails
    (it went away, or cancelled the statement for a replay conflict) runs again on the
    primary, and so does the rest of the transaction.

    That keeps the read's meaning: each statement of a READ COMMITTED transaction sees the
    state as of its own start, and the primary's is never older than the replica's.
    """

    __slots__ = ("_conn", "_to_primary", "moved")

    def __init__(
        self, conn: asyncpg.Connection, to_primary: Callable[[BaseException], Awaitable[asyncpg.Connection]]
    ) -> None:
        self._conn = conn
        self._to_primary = to_primary
        self.moved = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def _run(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return await getattr(self._conn, method)(*args, **kwargs)
        except REPLICA_FAILURES as exc:
            if self.moved:
                raise
            self._conn = await self._to_primary(exc)
            self.moved = True
        return await getattr(self._conn, method)(*args, **kwargs)

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._run("execute", (query, *args), kwargs)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._run("fetch", (query, *args), kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._run("fetchrow", (query, *args), kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._run("fetchval", (query, *args), kwargs)


def replica_name(dsn: str, index: int) -> str:
    """What metrics and logs call a replica: ``host:port``, never its credentials."""
    try:
        url = make_url(dsn)
    except Exception:
        return f"replica-{index}"
    if not url.host:
        return f"replica-{index}"
    return f"{url.host}:{url.port or 5432}"


class ReplicaSet:
    """The configured replicas, their health, and where each read goes."""

    def __init__(
        self,
        dsns: Sequence[str],
        *,
        create_pool: Callable[[str], Awaitable[asyncpg.Pool]],
        max_lag_seconds: float,
        poll_seconds: float,
        server_settings: dict[str, str] | None = None,
    ) -> None:
        names: list[str] = []
        for i, dsn in enumerate(dsns):
            name = replica_name(dsn, i)
            names.append(name if name not in names else f"{name}#{i}")
        self.replicas: tuple[Replica, ...] = tuple(Replica(n, d) for n, d in zip(names, dsns, strict=True))
        self.max_lag_seconds = max_lag_seconds
        self.poll_seconds = poll_seconds
        #: A poll not answered within this long counts as no answer.
        self._wait = max(0.2, min(CONNECT_TIMEOUT, poll_seconds * 2))
        #: Called with each poll's :class:`Observation`; must not raise or block.
        self.observers: list[Callable[[Observation], None]] = []
        self._create_pool = create_pool
        self._server_settings = dict(server_settings or {})
        self._healthy: tuple[Replica, ...] = ()
        self._turn = 0
        self._reads = dict.fromkeys(READ_OUTCOMES, 0)
        #: (monotonic time, primary WAL position) of recent polls, oldest first.
        self._positions: deque[tuple[float, int]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._polled = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------
    def start(self, primary: asyncpg.Pool) -> None:
        """Poll in the background; until a poll finds a replica well, reads use the
        primary (a replica that is down at start does not stop the server starting)."""
        self._task = asyncio.create_task(self._poll_forever(primary), name="replica monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        for replica in self.replicas:
            self._out(replica, "closed", log_it=False)
            if replica.monitor is not None:
                with contextlib.suppress(Exception):
                    await replica.monitor.close(timeout=1)
                replica.monitor = None
            if replica.pool is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(replica.pool.close(), 5)
                replica.pool = None

    def terminate(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for replica in self.replicas:
            if replica.monitor is not None:
                replica.monitor.terminate()
            if replica.pool is not None:
                replica.pool.terminate()

    async def polled(self) -> None:
        """Wait for the next poll to finish (tests, and operators' tooling)."""
        self._polled.clear()
        await self._polled.wait()

    def status(self) -> list[ReplicaStatus]:
        return [r.status() for r in self.replicas]

    # --- routing ------------------------------------------------------------------------
    def count(self, outcome: str) -> None:
        self._reads[outcome] += 1

    def pick(self, floor: int) -> Replica | None:
        """A healthy replica, in turn; with a ``floor``, one known to have replayed it
        if there is one (else one to ask: it may have by now)."""
        healthy = self._healthy
        if not healthy:
            return None
        self._turn = turn = (self._turn + 1) % len(healthy)
        if floor:
            for i in range(len(healthy)):
                candidate = healthy[(turn + i) % len(healthy)]
                if candidate.replayed >= floor:
                    return candidate
        return healthy[turn]

    async def begin(self, floor: int, tenant: str, operator: str) -> Opened | None:
        """A read-only transaction on a replica that has replayed ``floor``, scoped to
        ``tenant``; None when the read belongs on the primary (no replica is well, or the
        one asked has not replayed ``floor`` yet)."""
        replica = self.pick(floor)
        if replica is None or replica.pool is None:
            self._reads["primary_no_replica"] += 1
            return None
        try:
            conn = await replica.pool.acquire()
        except Exception as exc:
            self.failed(replica, exc)
            self._reads["primary_failover"] += 1
            return None
        transaction = conn.transaction(readonly=True)
        try:
            await transaction.start()
            # The replay position comes with the scope, in its round trip. Each later
            # statement (READ COMMITTED) takes a snapshot after it, so sees at least that.
            row = await conn.fetchrow(_SCOPE_AND_REPLAYED, tenant, operator)
        except Exception as exc:
            drop(conn)
            await self.release(replica, conn)
            self.failed(replica, exc)
            self._reads["primary_failover"] += 1
            return None
        replayed = row[2] or 0
        if replayed > replica.replayed:
            replica.replayed = replayed
        opened = Opened(replica, conn, transaction)
        if replayed < floor:
            await opened.finish(self, commit=False)
            self._reads["primary_behind"] += 1
            return None
        return opened

    async def release(self, replica: Replica, conn: asyncpg.Connection) -> None:
        """Give a connection back to its replica's pool; the reset that asyncpg runs there
        fails when the replica has gone, which is the monitor's business, not the read's."""
        if replica.pool is None:
            drop(conn)
            return
        try:
            await replica.pool.release(conn)
        except Exception as exc:
            drop(conn)
            self.failed(replica, exc)

    def failed(self, replica: Replica, exc: BaseException) -> None:
        """A replica connection failed under a read: out at once if the replica itself is
        (the monitor brings it back); a statement cancelled for a replay conflict only
        moves that read."""
        if not isinstance(exc, asyncpg.SerializationError):
            self._out(replica, f"{type(exc).__name__}: {exc}")

    def _out(self, replica: Replica, reason: str, *, log_it: bool = True) -> None:
        if replica.healthy and log_it:
            log.warning("read replica %s skipped: %s", replica.name, reason)
        replica.healthy = False
        replica.reason = reason
        self._healthy = tuple(r for r in self.replicas if r.healthy)

    # --- monitoring ---------------------------------------------------------------------
    async def _poll_forever(self, primary: asyncpg.Pool) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.poll(primary)
            except Exception:  # a monitor bug must not leave replicas marked well for ever
                log.exception("replica poll failed")
                for replica in self.replicas:
                    self._out(replica, "monitor error")
            self._polled.set()
            await asyncio.sleep(max(0.0, self.poll_seconds - (time.monotonic() - started)))

    async def poll(self, primary: asyncpg.Pool) -> None:
        """Sample the primary's position, then every replica's, and judge each."""
        standbys: int | None = None
        replay_lag: float | None = None
        position: int | None = None
        try:
            async with asyncio.timeout(self._wait):
                async with primary.acquire() as conn:
                    row = await conn.fetchrow(_PRIMARY_STATE)
            position, standbys, replay_lag = row["position"], row["standbys"], row["replay_lag"]
        except Exception as exc:
            log.debug("replica monitor: primary position unknown: %s", exc)
        now = time.monotonic()
        if position is not None:
            self._positions.append((now, position))
            horizon = now - 2 * self.max_lag_seconds - self.poll_seconds
            while len(self._positions) > 2 and self._positions[0][0] < horizon:
                self._positions.popleft()
        await asyncio.gather(*(self._poll_one(r, position, now) for r in self.replicas))
        reads, self._reads = self._reads, dict.fromkeys(READ_OUTCOMES, 0)
        observation = Observation(tuple(r.status() for r in self.replicas), standbys, replay_lag, reads)
        for observe in self.observers:
            try:
                observe(observation)
            except Exception:  # metrics must not stop the monitor
                log.exception("replica observer failed")

    async def _poll_one(self, replica: Replica, position: int | None, now: float) -> None:
        try:
            async with asyncio.timeout(self._wait):
                if replica.monitor is None or replica.monitor.is_closed():
                    replica.monitor = await asyncpg.connect(
                        replica.dsn,
                        timeout=self._wait,
                        server_settings={**self._server_settings, "application_name": "fundament-monitor"},
                    )
                row = await replica.monitor.fetchrow(_REPLICA_STATE)
        except Exception as exc:
            if replica.monitor is not None:
                replica.monitor.terminate()
                replica.monitor = None
            self._out(replica, f"does not answer: {type(exc).__name__}: {exc}")
            return
        if not row["standby"]:
            # Promoted, or pointed at a primary by mistake: its data may part from ours.
            self._out(replica, "not in recovery (promoted?)")
            return
        replayed = row["replayed"] or 0
        replica.replayed = max(replica.replayed, replayed)
        replica.paused = bool(row["paused"])
        if position is None:
            return  # without the primary's position the lag is unknown: keep the last verdict
        replica.lag_bytes = max(0, position - replayed)
        caught_up = replayed >= position
        replica.lag_seconds = 0.0 if caught_up else self._staleness(replayed, row["replay_age"], now)
        if replica.lag_seconds > self.max_lag_seconds:
            self._out(replica, f"lags {replica.lag_seconds:.1f} s (limit {self.max_lag_seconds:g} s)")
            return
        if replica.pool is None:
            try:
                replica.pool = await asyncio.wait_for(self._create_pool(replica.dsn), CONNECT_TIMEOUT * 5)
            except Exception as exc:
                self._out(replica, f"pool did not open: {type(exc).__name__}: {exc}")
                return
        if not replica.healthy:
            if replica.reason != "not polled yet":
                log.warning("read replica %s serves reads again", replica.name)
            replica.healthy = True
            replica.reason = None
            self._healthy = tuple(r for r in self.replicas if r.healthy)

    def _staleness(self, replayed: int, replay_age: float | None, now: float) -> float:
        """How old, at most, the replica's state is: since the primary last stood at or
        before ``replayed`` (from the samples), or since the last replayed commit."""
        bound = math.inf if replay_age is None else max(0.0, replay_age)
        for at, position in reversed(self._positions):
            if position <= replayed:
                bound = min(bound, now - at)
                break
        return bound
