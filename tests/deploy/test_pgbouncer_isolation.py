"""The isolation tests (tests/isolation) again, with the request path through PgBouncer in
transaction mode: each transaction may run on another server connection, so a tenant
scope that outlived its transaction, or a prepared statement cached on a connection, would
show here. Debian's PgBouncer (1.18) keeps no prepared statements: the pool runs with
FUNDAMENT_DB_STATEMENT_CACHE_SIZE=0, as docs/single-vm.md says to.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from fundament.app import app_dsn, create_app
from fundament.platform import Database, Settings, notify_invalidation
from isolation.test_isolation import (  # noqa: F401  (collected here again, through PgBouncer)
    populated,
    test_app_role_is_unprivileged,
    test_every_tenant_table_leads_keys_with_tenant_id,
    test_other_tenant_gets_404_everywhere,
    test_own_ids_under_own_tenant_path_are_not_confused,
    test_rls_hides_other_tenants_rows_without_where,
    test_rls_without_context_sees_nothing_and_cannot_write,
    test_tenant_context_does_not_outlive_the_transaction,
)
from servers import free_port


def _pgbouncer() -> str:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None
    )
    if found is None:
        reason = "pgbouncer is not installed (apt-get install -y pgbouncer; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def bouncer_dsn(admin_dsn: str) -> Iterator[str]:
    """PgBouncer in transaction mode in front of the test PostgreSQL; the app role's DSN through it."""
    binary = _pgbouncer()
    direct = make_url(app_dsn(Settings(), admin_dsn))
    port = free_port()
    # Its own directory, readable by the unprivileged user PgBouncer runs as under root
    # (it refuses to run as root); removed at the end.
    work = Path(tempfile.mkdtemp(prefix="fundament-pgbouncer-"))
    work.chmod(0o755)
    # Client logins: trust (127.0.0.1 only, for this test); the password is the one
    # PgBouncer logs in to PostgreSQL with, as fundament_app.
    (work / "users.txt").write_text(f'"{direct.username}" "{direct.password or ""}"\n')
    (work / "pgbouncer.ini").write_text(
        f"""\
[databases]
* = host={direct.host or "127.0.0.1"} port={direct.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {work / "users.txt"}
pool_mode = transaction
default_pool_size = 8
max_client_conn = 200
; asyncpg sends these as startup parameters; through PgBouncer set them on the role instead
ignore_startup_parameters = statement_timeout,idle_in_transaction_session_timeout
"""
    )
    for f in work.iterdir():
        f.chmod(0o644)
    argv = [binary, str(work / "pgbouncer.ini")]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", pwd.getpwnam("nobody").pw_name]
    log = (work / "pgbouncer.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"pgbouncer did not start:\n{(work / 'pgbouncer.log').read_text()}")
            time.sleep(0.05)
        yield direct.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
async def http(admin_dsn: str, settings: Settings, bouncer_dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its request path (the fundament_app pool) through PgBouncer."""
    application = create_app(
        settings.model_copy(
            update={
                "app_database_url": SecretStr(bouncer_dsn),
                "db_statement_cache_size": 0,
                "listen_database_url": SecretStr(app_dsn(Settings(), admin_dsn)),
            }
        ),
        admin_dsn=admin_dsn,
    )
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://fundament.test") as client:
            yield client


@pytest.fixture
async def app_conn(bouncer_dsn: str) -> AsyncIterator[Any]:
    """A raw connection as the application role, through PgBouncer."""
    conn = await asyncpg.connect(bouncer_dsn, statement_cache_size=0)
    yield conn
    await conn.close()


async def test_client_connections_share_server_connections(bouncer_dsn: str) -> None:
    """Transaction mode is on: six client connections, used one after another, are served
    by fewer PostgreSQL sessions (session mode would pin one to each; the tests above would
    then prove nothing about transaction mode)."""
    clients = [await asyncpg.connect(bouncer_dsn, statement_cache_size=0) for _ in range(6)]
    try:
        backends = set()
        for conn in clients:
            async with conn.transaction():
                backends.add(await conn.fetchval("SELECT pg_backend_pid()"))
        assert len(backends) < len(clients), backends
    finally:
        for conn in clients:
            await conn.close()


async def test_invalidations_reach_a_pool_behind_pgbouncer_by_a_direct_listener(
    admin_dsn: str, bouncer_dsn: str
) -> None:
    """LISTEN needs a session that stays, which transaction mode does not keep: with
    FUNDAMENT_LISTEN_DATABASE_URL direct to PostgreSQL, a change still reaches the process
    at once, while its requests go through PgBouncer."""
    db = Database(
        bouncer_dsn, min_size=1, max_size=2, statement_cache_size=0, listen_dsn=app_dsn(Settings(), admin_dsn)
    )
    listening, invalidated = asyncio.Event(), asyncio.Event()
    # It flushes everything ("*") once it listens; then comes the message sent below.
    db.on_invalidate(lambda m: (listening if m == "*" else invalidated).set())
    await db.open()
    try:
        async with asyncio.timeout(5):
            await listening.wait()
        conn = await asyncpg.connect(admin_dsn)
        try:
            await notify_invalidation(conn, "key:kid_from_elsewhere")
        finally:
            await conn.close()
        async with asyncio.timeout(5):
            await invalidated.wait()
        assert await db.pool.fetchval("SELECT current_user") == "fundament_app"
    finally:
        await db.close()
