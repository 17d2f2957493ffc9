"""The embedded PostgreSQL: a free loopback port, shared use, no orphans after SIGKILL, and
no connection without a password."""

from __future__ import annotations

import asyncio
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
from sqlalchemy.engine import make_url

from fundament.app import app_dsn
from fundament.migrations import migrate
from fundament.platform import EmbeddedPostgres, Settings


def _postmaster(data_dir: Path) -> psutil.Process:
    return psutil.Process(int((data_dir / "postmaster.pid").read_text().splitlines()[0]))


def _gone(proc: psutil.Process, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_start_stop_restart_keeps_data(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    with EmbeddedPostgres(data) as pg:
        assert pg.port != 5432
        listening = [
            c
            for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == pg.port
        ]
        assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening)
        asyncio.run(_exec(pg.dsn, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)"))
        postmaster = _postmaster(data)
        # a second user of the same data dir shares the running server and does not stop it
        with EmbeddedPostgres(data) as other:
            assert other.port == pg.port
        assert postmaster.is_running()
    assert _gone(postmaster)
    with EmbeddedPostgres(data) as pg:
        assert asyncio.run(_fetch(pg.dsn, "SELECT x FROM kept")) == 7


@pytest.mark.slow
def test_no_orphan_after_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    script = (
        "import sys, time; from pathlib import Path; from fundament.platform import EmbeddedPostgres;"
        f"pg = EmbeddedPostgres(Path({str(data)!r})); pg.start(); print('up', flush=True); time.sleep(600)"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline().strip() == b"up"
    postmaster = _postmaster(data)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _gone(postmaster), "postgres outlived its SIGKILLed parent"


def _without_password(dsn: str, user: str | None = None) -> str:
    url = make_url(dsn)
    return url._replace(password=None, username=user or url.username).render_as_string(hide_password=False)


def _hba_methods(data_dir: Path) -> set[str]:
    lines = (data_dir / "pg_hba.conf").read_text().splitlines()
    return {line.split()[-1] for line in lines if line.strip() and not line.lstrip().startswith("#")}


def _refused(dsn: str) -> bool:
    try:
        asyncio.run(_fetch(dsn, "SELECT 1"))
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return True
    return False


def test_every_connection_needs_a_password(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    with EmbeddedPostgres(data) as pg:
        password_file = pg.password_file
        assert password_file.parent == data
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert pg.password and pg.password == password_file.read_text()
        assert asyncio.run(_fetch(pg.dsn, "SELECT current_user")) == "postgres"
        # as any local user would: the superuser without a password, or with a wrong one
        assert _refused(_without_password(pg.dsn))
        assert _refused(make_url(pg.dsn).set(password="guess").render_as_string(hide_password=False))
        # the unprivileged application role too: only with the password migrations set
        migrate(pg.dsn)
        assert _refused(_without_password(pg.dsn, "fundament_app"))
        assert asyncio.run(_fetch(app_dsn(Settings(), pg.dsn), "SELECT current_user")) == "fundament_app"
        # a password given to migrations is set; one set some other way is left alone
        migrate(pg.dsn, app_password="given-to-migrations")
        as_app = make_url(pg.dsn).set(username="fundament_app")
        given = as_app.set(password="given-to-migrations").render_as_string(hide_password=False)
        assert asyncio.run(_fetch(given, "SELECT current_user")) == "fundament_app"
        migrate(pg.dsn)
        assert asyncio.run(_fetch(given, "SELECT current_user")) == "fundament_app"
        # and nothing in pg_hba.conf trusts anyone
        assert _hba_methods(data) == {"scram-sha-256"}


def test_a_trusting_data_dir_gets_a_password_on_start(tmp_path: Path) -> None:
    """A data directory made before passwords were generated: trust, no password file."""
    data = tmp_path / "pg"
    with EmbeddedPostgres(data) as pg:
        asyncio.run(_exec(pg.dsn, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)"))
    hba = data / "pg_hba.conf"
    hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
    assert _hba_methods(data) == {"trust"}
    EmbeddedPostgres(data).password_file.unlink()
    with EmbeddedPostgres(data) as pg:
        assert stat.S_IMODE(pg.password_file.stat().st_mode) == 0o600
        assert _hba_methods(data) == {"scram-sha-256"}
        assert _refused(_without_password(pg.dsn))
        assert asyncio.run(_fetch(pg.dsn, "SELECT x FROM kept")) == 7


async def _exec(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fetch(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()
