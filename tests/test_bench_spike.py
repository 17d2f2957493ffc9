"""bench/spike.py keeps working: a tiny ramp (5 → 20 users, 2 s steps) against one
`fundament serve` and the floor, and the planner replay; and a user whose connection the
server closed reconnects (counted) instead of failing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_tiny_spike_runs_against_fundament_and_the_floor(server_dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "spike.json"
    cmd = [
        sys.executable, "-m", "bench.spike", "--users", "5", "20", "--think", "0.5",
        "--step-seconds", "2", "--records", "200", "--timeout", "5", "--output", str(out),
    ]  # fmt: skip
    env = {**os.environ, "FUNDAMENT_DATABASE_URL": server_dsn}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    for name in ("fundament", "floor"):
        steps = report[name]
        assert [s["users"] for s in steps] == [5, 20]
        for s in steps:
            assert s["requests"] > 0 and s["errors"] == 0, (name, s)
            assert s["p99_ms"] > 0 and s["server_cpu_pct"] >= 0
    replay = report["planner_replay"]
    assert [s["users"] for s in replay["steps"]] == [5, 20]
    assert all(s["hpa_replicas"] >= replay["min_replicas"] for s in replay["steps"])
    assert "| users | Fundament req/s" in done.stdout


def test_a_connection_closed_by_the_server_is_a_counted_reconnect() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.spike import UserConnection

    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"

    async def one_answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()  # as uvicorn does when the keep-alive timeout expires

    async def run() -> list[tuple[int, int, bool]]:
        server = await asyncio.start_server(one_answer_then_close, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        conn = UserConnection("127.0.0.1", port)
        seen = []
        try:
            for _ in range(3):
                status, _ttfb, reconnects, opened = await conn.get(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.0)
                seen.append((status, reconnects, opened))
                await asyncio.sleep(0.05)  # the close reaches the client while it "thinks"
        finally:
            conn.close()
            server.close()
            await server.wait_closed()
        return seen

    # Each answer was on a connection set up for it: the first, then two reconnects.
    assert asyncio.run(run()) == [(200, 0, True), (200, 1, True), (200, 1, True)]
