"""The README's server command, end to end: `fundament serve` with the embedded PostgreSQL,
`fundament operator-key create` beside it, and no orphan postgres after a crash."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fundament(*args: str) -> list[str]:
    return [sys.executable, "-m", "fundament.cli", *args]


def _postgres_children(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if p.name() == "postgres"]
    except psutil.NoSuchProcess:
        return []


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited early"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become ready")


def test_serve_embedded_quick_start_and_crash_cleanup(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    env["FUNDAMENT_DATA_DIR"] = str(tmp_path / "data")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(_fundament("serve", "--port", str(port)), env=env, cwd=tmp_path)
    try:
        _wait_ready(base + "/readyz", server)
        postmasters = _postgres_children(server.pid)
        assert postmasters, "embedded postgres should run under the server"
        # not on 5432, and only on loopback
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.pid in {p.pid for p in postmasters}:
                assert conn.laddr.ip == "127.0.0.1" and conn.laddr.port != 5432

        # the CLI works beside the running server, on the same embedded database, from any
        # directory, and says which database that is
        created = subprocess.run(
            _fundament("operator-key", "create", "--name", "smoke"),
            env=env,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        data = (tmp_path / "data").resolve()
        assert f"fundament: database: embedded PostgreSQL in {data} (FUNDAMENT_DATA_DIR)" in created.stderr
        key = created.stdout.strip().splitlines()[-1]
        assert key.startswith("fdo_")
        assert all(p.is_running() for p in postmasters), "the CLI must not stop the server's database"
        h = {"Authorization": f"Bearer {key}"}
        r = httpx.post(base + "/v1/tenants", json={"name": "Smoke", "slug": "smoke"}, headers=h)
        assert r.status_code == 201, r.text
        assert httpx.get(base + "/v1/openapi.json").json()["openapi"].startswith("3.1")
        assert httpx.get(base + "/docs").status_code == 200

        server.send_signal(signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in postmasters
        ):
            time.sleep(0.2)
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in postmasters), (
            "orphan postgres left behind"
        )

        # a restart on the same data dir finds the data again
        server = subprocess.Popen(_fundament("serve", "--port", str(port)), env=env, cwd=tmp_path)
        _wait_ready(base + "/readyz", server)
        assert httpx.get(base + "/v1/tenants", headers=h).json()["items"][0]["slug"] == "smoke"
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
    finally:
        if server.poll() is None:
            server.kill()
