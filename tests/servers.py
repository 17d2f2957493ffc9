"""Real `fundament serve` processes on 127.0.0.1 for the multi-process tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def server_env(admin_dsn: str, plans: Path, redis: str | None = None) -> dict[str, str]:
    """A clean environment: the test database, a plans file, and nothing of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    env.update(
        FUNDAMENT_DATABASE_URL=admin_dsn,
        FUNDAMENT_MASTER_KEY="test-master-key",
        FUNDAMENT_PLANS=str(plans),
        FUNDAMENT_WORKER="false",
        FUNDAMENT_USAGE_FLUSH_SECONDS="1",
        FUNDAMENT_ACCESS_LOG="false",
        FUNDAMENT_LOG_LEVEL="warning",
    )
    if redis is not None:
        env["FUNDAMENT_REDIS_URL"] = redis
    return env


class Server:
    """One `fundament serve` process (one worker) on 127.0.0.1, its output in a log file."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"server-{name}.log"
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fundament.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            env=env,
            cwd=log_dir,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def log_tail(self, chars: int = 20000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server {self.name} exited early:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"server {self.name} did not become ready:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, as an orchestrator would; SIGKILL if it does not go within 20 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log_file.close()

    def kill(self) -> None:
        """Make sure the process is gone (SIGKILL if it is still there)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log_file.close()
