"""Reproducible load benchmark: Fundament beside the asyncpg floor, in one run.

    python bench/run.py [--duration 15] [--connections 64] [--records 100000]

Starts an embedded PostgreSQL (or uses FUNDAMENT_DATABASE_URL's server), creates a fresh
database, seeds one tenant with --records records, then drives wrk (Debian package
`wrk`) at 127.0.0.1 only: GET-by-id, list with an indexed filter, create — first against
`fundament serve` (one worker), then against bench/floor.py (one worker) doing the same
SQL. Prints a Markdown table and writes bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url

from fundament.app import app_dsn
from fundament.platform import Settings
from fundament.platform.ids import new_id
from fundament.records._slots import assignments_sql

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCENARIOS = ("get", "list", "create")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_dsn() -> Iterator[str]:
    if os.environ.get("FUNDAMENT_DATABASE_URL"):
        yield os.environ["FUNDAMENT_DATABASE_URL"]
        return
    from fundament.platform import EmbeddedPostgres

    with EmbeddedPostgres(ROOT / ".fundament" / "bench-pg") as pg:
        yield pg.dsn


async def admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def bench_database(plans: Path, server: str | None = None) -> Iterator[tuple[str, dict[str, str], str]]:
    """A fresh database on the benchmark server (or on ``server``), the servers'
    environment, an operator key.

    The servers run with `fundament serve`'s defaults (access log, metering, metrics, rate
    limiter on): what users run. Only the plans file is raised, so the load is not refused.
    """
    with contextlib.nullcontext(server) if server else server_dsn() as server:
        db = f"fundament_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(admin(server, f'CREATE DATABASE "{db}"'))
        dsn = make_url(server).set(database=db).render_as_string(hide_password=False)
        try:
            env = {
                **os.environ,
                "FUNDAMENT_DATABASE_URL": dsn,
                "FUNDAMENT_PLANS": str(plans),
            }
            out = subprocess.run(
                [sys.executable, "-m", "fundament.cli", "operator-key", "create", "--name", "bench"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout
            yield dsn, env, out.strip().splitlines()[-1]
        finally:
            asyncio.run(admin(server, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def process(cmd: list[str], env: dict[str, str], health: str) -> Iterator[subprocess.Popen[bytes]]:
    # The log lines go to a file, as a deployment's would (to a terminal they would cost
    # the terminal's speed instead).
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = (RESULTS / f"server-{health.rsplit(':', 1)[-1].split('/')[0]}.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_http(health)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def seed(dsn: str, base: str, operator_key: str, n: int) -> dict[str, Any]:
    """Tenant, member key and collection through the API; records by COPY (fast, same rows)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        op = {"Authorization": f"Bearer {operator_key}"}
        t = (
            await c.post(
                "/v1/tenants", json={"name": "Bench", "slug": f"bench-{uuid.uuid4().hex[:8]}"}, headers=op
            )
        ).json()
        k = (
            await c.post(
                f"/v1/tenants/{t['id']}/api-keys", json={"name": "bench", "role": "member"}, headers=op
            )
        ).json()
        schema = {
            "type": "object",
            "properties": {"email": {"type": "string"}, "score": {"type": "integer"}},
            "required": ["email"],
            "additionalProperties": False,
        }
        r = await c.post(
            f"/v1/tenants/{t['id']}/collections",
            json={"name": "contacts", "schema": schema, "indexes": ["email", "score"]},
            headers=op,
        )
        r.raise_for_status()
    now = datetime.now(UTC)
    ids = [new_id("rec") for _ in range(n)]
    rows = [
        (
            t["id"],
            "contacts",
            rid,
            json.dumps({"email": f"user{i}@example.com", "score": i % 1000}),
            1,
            now,
            now,
        )
        for i, rid in enumerate(ids)
    ]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "records",
            records=rows,
            columns=["tenant_id", "collection", "id", "data", "version", "created_at", "updated_at"],
        )
        # COPY bypasses the write path, so fill the index slots as a write would have.
        await conn.execute(
            f"UPDATE records r SET {assignments_sql('r.data', 'c.indexes')} FROM collections c"
            " WHERE c.tenant_id = r.tenant_id AND c.name = r.collection AND r.tenant_id = $1",
            t["id"],
        )
        await conn.execute("ANALYZE records")
    finally:
        await conn.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ids.txt").write_text("\n".join(ids[:: max(1, n // 20000)]) + "\n")
    return {"tenant": t["id"], "key": k["key"]}


_LAT = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def parse_wrk(out: str) -> dict[str, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for pct, value, unit in _LAT.findall(out):
        factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        lat[pct] = float(value) * factor
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "p50_ms": lat.get("50", 0.0),
        "p99_ms": lat.get("99", 0.0),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": errors.group(0) if errors else "",  # type: ignore[dict-item]
    }


def run_wrk(url: str, script: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "wrk" / f"{script}.lua"),
        url,
    ]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=args.duration + 60, check=True, cwd=ROOT
    ).stdout
    return parse_wrk(out)


def cpu_seconds(pid: int | None) -> tuple[float, float]:
    """CPU seconds used so far by the server ``pid`` (with its children), and by every
    PostgreSQL process: sampled around a run, they give the CPU each request cost."""
    server = 0.0
    if pid is not None:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    server += t.user + t.system
    database = 0.0
    for p in psutil.process_iter(["name"]):
        if (p.info["name"] or "").startswith("postgres"):
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                database += t.user + t.system
    return server, database


def scenario_runs(
    base: str, prefix: str, token: str, floor: bool, args: argparse.Namespace, pid: int | None = None
) -> dict[str, Any]:
    env = {
        **os.environ,
        "BENCH_PREFIX": prefix,
        "BENCH_TOKEN": token,
        "BENCH_IDS": str(RESULTS / "ids.txt"),
        "BENCH_FLOOR": "1" if floor else "0",
    }
    results = {}
    for name in args.scenarios:
        run_wrk(base, name, env, argparse.Namespace(**{**vars(args), "duration": args.warmup}))
        before = cpu_seconds(pid)
        results[name] = run_wrk(base, name, env, args)
        after = cpu_seconds(pid)
        done = results[name]["rps"] * args.duration
        if done:
            results[name]["server_cpu_ms"] = round((after[0] - before[0]) / done * 1000, 3)
            results[name]["db_cpu_ms"] = round((after[1] - before[1]) / done * 1000, 3)
        print(f"  {'floor' if floor else 'fundament'} {name}: {results[name]}", flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    ap.add_argument("--profile", action="store_true", help="run the Fundament server under py-spy")
    ap.add_argument(
        "--redis",
        metavar="URL",
        help="also run GET against a server with FUNDAMENT_REDIS_URL=URL (rate limits shared in "
        "Redis), beside the one without, to price the shared limiter",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")

    with bench_database(ROOT / "tests" / "data" / "plans-roomy.toml") as (dsn, env, operator_key):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "fundament.cli", "serve", "--port", str(port), "--workers", "1"]
        floor_port = free_port()
        floor_base = f"http://127.0.0.1:{floor_port}"
        floor_cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.floor:app",
            "--port",
            str(floor_port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        with process(cmd, env, base + "/healthz") as server_proc:
            info = asyncio.run(seed(dsn, base, operator_key, args.records))
            prefix = f"/v1/tenants/{info['tenant']}/collections/contacts"
            floor_env = {**os.environ, "FLOOR_DSN": app_dsn(Settings(), dsn), "FLOOR_TENANT": info["tenant"]}
            # The same server with the audit hook off, to price the audit trail (issue #4).
            noaudit_port = free_port()
            noaudit_base = f"http://127.0.0.1:{noaudit_port}"
            noaudit_cmd = [*cmd[:-4], "--port", str(noaudit_port), "--workers", "1"]
            noaudit_env = {**env, "FUNDAMENT_AUDIT": "false"}
            # And with the change events (the outbox) off, to price them (issue #12).
            noevents_port = free_port()
            noevents_base = f"http://127.0.0.1:{noevents_port}"
            noevents_cmd = [*cmd[:-4], "--port", str(noevents_port), "--workers", "1"]
            noevents_env = {**env, "FUNDAMENT_EVENTS": "false"}
            redis_port = free_port()
            redis_base = f"http://127.0.0.1:{redis_port}"
            redis_cmd = [*cmd[:-4], "--port", str(redis_port), "--workers", "1"]
            with contextlib.ExitStack() as servers:
                floor_proc = servers.enter_context(process(floor_cmd, floor_env, floor_base + "/records"))
                noaudit_proc = servers.enter_context(process(noaudit_cmd, noaudit_env, noaudit_base + "/healthz"))
                noevents_proc = servers.enter_context(
                    process(noevents_cmd, noevents_env, noevents_base + "/healthz")
                )
                if args.redis:
                    redis_env = {**env, "FUNDAMENT_REDIS_URL": args.redis}
                    redis_proc = servers.enter_context(process(redis_cmd, redis_env, redis_base + "/healthz"))
                spy = None
                if args.profile:  # sample the measured runs only, not the seeding
                    seconds = (args.duration + args.warmup) * len(args.scenarios) * 2
                    spy = subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "--pid",
                            str(server_proc.pid),
                            "--format",
                            "raw",
                            "--rate",
                            "250",
                            "--duration",
                            str(seconds),
                            "--output",
                            str(RESULTS / "profile.txt"),
                        ],
                        stdout=subprocess.DEVNULL,
                    )
                # Interleaved, scenario by scenario, so both sides meet the same table
                # state (the create runs add rows) and the same machine weather.
                ours, floor, no_audit, no_events, with_redis = {}, {}, {}, {}, {}
                for name in args.scenarios:
                    one = argparse.Namespace(**{**vars(args), "scenarios": [name]})
                    ours.update(scenario_runs(base, prefix, info["key"], False, one, server_proc.pid))
                    if name == "get" and args.redis:
                        print("fundament, rate limits in Redis", flush=True)
                        with_redis.update(scenario_runs(redis_base, prefix, info["key"], False, one, redis_proc.pid))
                    if name == "create":
                        print("fundament, audit off", flush=True)
                        no_audit.update(scenario_runs(noaudit_base, prefix, info["key"], False, one, noaudit_proc.pid))
                        print("fundament, change events off", flush=True)
                        no_events.update(
                            scenario_runs(noevents_base, prefix, info["key"], False, one, noevents_proc.pid)
                        )
                    floor.update(scenario_runs(floor_base, "", "", True, one, floor_proc.pid))
                if spy is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        spy.wait(60)

    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} vCPU, {platform.python_version()}",
        "args": vars(args),
        "fundament": ours,
        "floor": floor,
        "fundament_audit_off": no_audit,
        "fundament_events_off": no_events,
        "fundament_redis": with_redis,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2))
    print()
    print(
        "| scenario | Fundament req/s | p50 ms | p99 ms | floor req/s | p50 ms | p99 ms | req/s ratio | p99 ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.scenarios:
        a, b = ours[name], floor[name]
        print(
            f"| {name} | {a['rps']:.0f} | {a['p50_ms']:.2f} | {a['p99_ms']:.2f} | {b['rps']:.0f} |"
            f" {b['p50_ms']:.2f} | {b['p99_ms']:.2f} | {a['rps'] / b['rps']:.0%} |"
            f" {a['p99_ms'] / b['p99_ms']:.2f}x |"
        )
    print()
    print("| scenario | Fundament server CPU ms/req | PostgreSQL CPU ms/req | floor server CPU ms/req | PostgreSQL CPU ms/req |")
    print("|---|---:|---:|---:|---:|")
    for name in args.scenarios:
        a, b = ours[name], floor[name]
        print(
            f"| {name} | {a.get('server_cpu_ms', 0):.3f} | {a.get('db_cpu_ms', 0):.3f} |"
            f" {b.get('server_cpu_ms', 0):.3f} | {b.get('db_cpu_ms', 0):.3f} |"
        )
    comparisons = [
        ("create", "events", ours, no_events),
        ("create", "audit", ours, no_audit),
        ("get", "Redis", with_redis, ours),
    ]
    for name, what, on, off in comparisons:
        if name in on and name in off:
            a, b = on[name], off[name]
            print()
            print(f"| {name} | {what} on req/s | p99 ms | {what} off req/s | p99 ms | on/off |")
            print("|---|---:|---:|---:|---:|---:|")
            print(
                f"| | {a['rps']:.0f} | {a['p99_ms']:.2f} | {b['rps']:.0f} | {b['p99_ms']:.2f} |"
                f" {a['rps'] / b['rps']:.0%} |"
            )


if __name__ == "__main__":
    main()
