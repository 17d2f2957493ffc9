"""A primary and a real streaming replica of its own, for the read-replica tests.

The primary is an embedded PostgreSQL of this module's (not the suite's shared server, whose
WAL and replication settings are not ours to change), migrated; the replica is a
``pg_basebackup -R`` of it, started on another free port as a hot standby. Both run under
the embedded supervisor, so they stop when the test process ends, however it ends; the
fixture stops them itself even when a test fails.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from fundament.app import create_app
from fundament.identity import create_operator_key
from fundament.migrations import migrate
from fundament.platform import Database, EmbeddedPostgres, Settings
from fundament.platform import embedded as embedded_module


@dataclass
class Cluster:
    primary: EmbeddedPostgres
    replica: EmbeddedPostgres
    operator_key: str
    #: Who runs postgres (and so pg_ctl and pg_basebackup): the system user as root.
    user: str | None

    @property
    def replica_port(self) -> int:
        return self.replica.port

    def pg(self, tool: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Run a PostgreSQL client tool as the user postgres runs as."""
        result = subprocess.run(
            [str(embedded_module.bin_dir() / tool), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=120,
            check=False,
            **embedded_module.run_as(self.user),
        )
        assert result.returncode == 0, f"{tool} failed: {result.stderr[-2000:]}"

    def stop_replica_now(self) -> None:
        """``pg_ctl stop -m immediate``: the replica dies as in a crash, mid-query."""
        self.pg("pg_ctl", "stop", "-D", str(self.replica.data_dir), "-m", "immediate", "-w")

    def start_replica_again(self) -> None:
        port = self.replica.port
        self.replica.stop()  # its supervisor saw postgres exit; this reaps it
        self.replica.start(port=port)

    @asynccontextmanager
    async def replay_paused(self) -> AsyncIterator[None]:
        """The replica keeps serving but replays nothing until the block ends."""
        await self.replica_sql("SELECT pg_wal_replay_pause()")
        try:
            await wait_for(self._paused, what="replay to pause")
            yield
        finally:
            await self.replica_sql("SELECT pg_wal_replay_resume()")

    async def _paused(self) -> bool:
        return bool(await self.replica_sql("SELECT pg_get_wal_replay_pause_state()") == "paused")

    async def replica_sql(self, sql: str) -> Any:
        conn = await asyncpg.connect(self.replica.dsn)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()


def _system_user() -> str | None:
    return embedded_module.SYSTEM_USER if os.name == "posix" and os.geteuid() == 0 else None


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replication")
    primary = EmbeddedPostgres(root / "primary")
    replica: EmbeddedPostgres | None = None
    try:
        primary.start()
        migrate(primary.dsn)
        operator_key = asyncio.run(_setup_primary(primary.dsn))
        user = _system_user()
        data = root / "replica"
        data.mkdir(mode=0o700)
        if user is not None:
            owner = pwd.getpwnam(user)
            os.chown(data, owner.pw_uid, owner.pw_gid)
        cluster = Cluster(primary, EmbeddedPostgres(data), operator_key, user)
        # -R writes standby.signal and primary_conninfo (with the password it was given);
        # the superuser's password file in the data directory comes along, so the embedded
        # lifecycle starts the copy as it does its own servers.
        cluster.pg(
            "pg_basebackup",
            "-h", "127.0.0.1", "-p", str(primary.port), "-U", embedded_module.PG_USER,
            "-D", str(data), "-R", "-X", "stream", "-c", "fast", "--no-sync",
            env={"PGPASSWORD": primary.password or ""},
        )  # fmt: skip
        replica = cluster.replica
        replica.start()
        yield cluster
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


async def _setup_primary(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        # PostgreSQL's defaults since 10, which the fixture relies on: say so if they changed.
        assert await conn.fetchval("SHOW wal_level") in ("replica", "logical")
        assert int(await conn.fetchval("SHOW max_wal_senders")) > 0
        _, key = await create_operator_key(conn, name="replica-tests")
        return key
    finally:
        await conn.close()


def database_of(app: Any) -> Database:
    services = getattr(app, "services", None)
    return services.db if services is not None else app.state.db


@asynccontextmanager
async def replicated_app(
    cluster: Cluster, settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The app on the cluster's primary with its replica configured, once the replica
    serves reads; with a client, and its database (to see where reads went)."""
    changes: dict[str, Any] = {
        "replica_urls": SecretStr(cluster.replica.dsn),
        "replica_poll_seconds": 0.1,
        "replica_max_lag_seconds": 30.0,
        "metering": False,
        **overrides,
    }
    application = create_app(settings.model_copy(update=changes), admin_dsn=cluster.primary.dsn)
    async with application.router.lifespan_context(application):
        db = database_of(application)
        await wait_for(lambda: healthy(db), what="the replica to serve reads")
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://fundament.test") as client:
            yield client, db


async def next_poll(db: Database) -> None:
    """Wait until the replica monitor finishes a poll begun after now (bounded: a monitor
    that stopped fails the test instead of hanging it)."""
    assert db.replicas is not None
    for _ in range(2):  # the first may have begun before the reads of interest
        await asyncio.wait_for(db.replicas.polled(), 10)


def healthy(db: Database) -> bool:
    assert db.replicas is not None
    return all(status.healthy for status in db.replicas.status())


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], *, what: str, seconds: float = 20.0
) -> None:
    """Poll ``condition`` every 20 ms until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:g} s for {what}")
        await asyncio.sleep(0.02)
