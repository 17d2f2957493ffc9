"""`fundament serve` and `fundament worker` as processes: stopped the ways a terminal or an
init system stops them, nothing metered is lost and the embedded database stops last; a
port in use is one clear line; the database a command uses is said, and found from any
directory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from servers import bearer, free_port

pytestmark = pytest.mark.slow

COLLECTIONS = "GET /v1/tenants/{tenant}/collections"


def _fundament(*args: str) -> list[str]:
    return [sys.executable, "-m", "fundament.cli", *args]


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    env.update(
        FUNDAMENT_DATA_DIR=str(data),
        # Nothing is written before the shutdown: the final flush must carry every request.
        FUNDAMENT_USAGE_FLUSH_SECONDS="600",
        FUNDAMENT_ACCESS_LOG="false",
        **extra,
    )
    return env


class Serve:
    """`fundament serve` in a process group of its own, as a shell runs a foreground job."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = cwd / f"serve-{time.monotonic_ns()}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                _fundament("serve", "--port", str(port)),
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited early:\n{self.output()}"
            try:
                if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server did not become ready:\n{self.output()}")

    def wait(self, timeout: float = 90) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"server did not stop:\n{self.output()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def data() -> Iterator[Path]:
    """A data directory outside pytest's basetemp: another pytest session starting closes
    that to 0700 again, under an embedded PostgreSQL that runs as another user (as root)."""
    root = Path(tempfile.mkdtemp(prefix="fundament-test-"))
    yield root / "data"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def started() -> Iterator[list[Serve]]:
    servers: list[Serve] = []
    yield servers
    for server in servers:
        server.kill()


def _group_sigint(server: Serve) -> None:
    os.killpg(server.proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does


def _group_sigint_twice(server: Serve) -> None:
    os.killpg(server.proc.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(server.proc.pid, signal.SIGINT)  # an impatient second Ctrl-C


def _parent_sigterm(server: Serve) -> None:
    server.proc.send_signal(signal.SIGTERM)  # `kill PID`, an orchestrator


def _group_sigterm(server: Serve) -> None:
    os.killpg(server.proc.pid, signal.SIGTERM)  # an init system signalling the whole service


@pytest.mark.parametrize(
    ("stop", "workers"),
    [
        (_group_sigint, 1),
        (_group_sigint_twice, 1),
        (_parent_sigterm, 1),
        (_group_sigterm, 1),
        (_group_sigint_twice, 2),
    ],
    ids=["ctrl-c", "ctrl-c-twice", "sigterm-parent", "sigterm-group", "ctrl-c-twice-2-workers"],
)
def test_stopping_keeps_every_metered_request(
    tmp_path: Path, data: Path, started: list[Serve], stop: Callable[[Serve], None], workers: int
) -> None:
    env = _env(data, FUNDAMENT_WORKERS=str(workers))
    port = free_port()
    server = Serve(env, tmp_path, port)
    started.append(server)
    server.wait_ready()
    key = subprocess.run(
        _fundament("operator-key", "create", "--name", "t"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()[-1]
    op = bearer(key)
    n = 9
    with httpx.Client(base_url=server.base, timeout=10) as http:
        r = http.post("/v1/tenants", json={"name": "Stop", "slug": "stop"}, headers=op)
        assert r.status_code == 201, r.text
        tenant = r.json()["id"]
        for _ in range(n):
            assert http.get(f"/v1/tenants/{tenant}/collections", headers=op).status_code == 200
    stop(server)
    assert server.wait() == 0, server.output()
    out = server.output()
    for symptom in ("Fatal Python error", "rows lost", "job worker loop failed", "Traceback"):
        assert symptom not in out, out
    # The database stopped after the app's last word.
    assert out.rindex("Application shutdown complete") < out.rindex("stopping the embedded PostgreSQL"), out

    again = Serve(env, tmp_path, port)
    started.append(again)
    again.wait_ready()
    r = httpx.get(f"{again.base}/v1/tenants/{tenant}/usage", headers=op, timeout=10)
    assert r.status_code == 200, r.text
    listed = [f for f in r.json()["features"] if f["feature"] == COLLECTIONS]
    assert listed and listed[0]["requests"] == n, r.json()["features"]
    _parent_sigterm(again)
    assert again.wait() == 0, again.output()


def test_a_port_in_use_is_one_clear_line_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            _fundament("serve", "--port", str(port)),
            env=_env(tmp_path / "data"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use. Pick another port with "
        "--port or FUNDAMENT_PORT (another interface with --host or FUNDAMENT_HOST)"
    ]
    assert not (tmp_path / "data").exists(), "nothing starts before the port is ours"


def test_worker_says_when_it_starts_and_stops_and_exits_0_on_sigterm(
    tmp_path: Path, admin_dsn: str
) -> None:
    env = _env(tmp_path / "data", FUNDAMENT_DATABASE_URL=admin_dsn, FUNDAMENT_MASTER_KEY="test-master-key")
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(_fundament("worker"), env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "worker started" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "worker started" in log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "worker stopping (SIGTERM)" in text and "worker stopped" in text, text
    assert "Traceback" not in text, text
