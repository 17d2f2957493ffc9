"""bench/hooks.py keeps working: every hook is priced and the whole request is driven, with
a handful of calls per row (nothing timed is asserted: this machine's speed is not the test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ["auth", "rate limit", "metering", "metrics", "access log", "deadline", "etag", "edge", "body", "db"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "bench/hooks.py", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_help_runs_without_a_database() -> None:
    done = run("--help")
    assert done.returncode == 0, done.stderr
    assert "--iterations" in done.stdout and "--seconds" in done.stdout


def test_a_tiny_run_prices_every_hook_and_the_whole_request(server_dsn: str) -> None:
    env = {**os.environ, "FUNDAMENT_DATABASE_URL": server_dsn}
    done = run("--iterations", "20", "--seconds", "0.1", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    # A table's rows, not its header (the line above its |---| rule).
    rows = [
        line.split(" | ")
        for line, below in zip(lines, [*lines[1:], ""], strict=True)
        if line.startswith("| ") and not below.startswith("|---")
    ]
    priced = {cells[0].removeprefix("| ") for cells in rows}
    assert set(HOOKS) <= priced, priced
    for cells in rows:
        # The hooks' table names a hook and what is timed, then the µs; the other, a configuration.
        figure = cells[2] if len(cells) == 6 else cells[1]
        assert figure == "—" or float(figure) == float(figure), cells  # a number (or Redis absent)
    for config in ("default: access log", "access log off", "metering off", "metrics off", "floor"):
        assert any(line.startswith(f"| {config}") for line in lines), config
