"""The embedded PostgreSQL: a free loopback port, shared use, and no orphans after SIGKILL."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest

from fundament.platform import EmbeddedPostgres


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
