"""What the strangler-fig gateway adds: the same load straight at a legacy upstream and
through `fundament gateway` in front of it, in one run.

    python bench/gateway.py [--upstream asgi|flask] [--duration 10] [--connections 16] [--rate 0]
    python bench/gateway.py --bars [--rounds 5]    # issue #13's two bars, in one run

The upstream answers GET /api/customers/1 with a small JSON body: `asgi` is a minimal app
on uvicorn (httptools, uvloop), the fastest legacy there could be, so the gateway's own cost
is the largest share; `flask` is examples/legacy on werkzeug's threaded server. wrk (Debian
package `wrk`) drives 127.0.0.1 only, first straight at the upstream, then through the
gateway (one worker, the route unmatched: proxied to legacy, which is what every request
costs before its route moves). `--rate R` paces each run at about R requests/s in all
(wrk's connections each wait between requests), for latency at a load both sides carry.
Needs FUNDAMENT_DATABASE_URL (a PostgreSQL the gateway's Fundament connects to: a fresh
database is created and dropped). Prints a Markdown table and writes
bench/results/gateway.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
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

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

ASGI_UPSTREAM = """
BODY = b'{"customer_id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "tier": "gold"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({proc.returncode})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def database(server: str) -> Iterator[str]:
    from fundament.migrations import migrate

    name = f"bench_gateway_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    dsn = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(dsn)
        yield dsn
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_LAT = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def wrk(url: str, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency", "--timeout", "10s"]
    if args.rate:
        # Each connection waits this long between requests: about `rate` requests/s in all.
        env["BENCH_DELAY_MS"] = str(max(0, round(args.connections * 1000 / args.rate)))
        cmd += ["-s", str(ROOT / "bench" / "wrk" / "delay.lua")]
    out = subprocess.run(
        [*cmd, url], env=env, capture_output=True, text=True, timeout=args.duration + 60, check=True
    ).stdout
    lat = {pct: float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u] for pct, v, u in _LAT.findall(out)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": lat.get("50"),
        "p90_ms": lat.get("90"),
        "p99_ms": lat.get("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def cpu(pid: int) -> float:
    proc = psutil.Process(pid)
    times = proc.cpu_times()
    return float(times.user + times.system)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upstream", choices=("asgi", "flask"), default="asgi")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s in all (0: as fast as it goes)")
    parser.add_argument("--rounds", type=int, default=1, help="direct and gateway runs, alternating")
    parser.add_argument(
        "--proxy",
        choices=("gateway", "floor"),
        default="gateway",
        help="what stands in front: `fundament gateway`, or bench/gateway_floor.py (the least a Python proxy adds)",
    )
    parser.add_argument(
        "--bars",
        action="store_true",
        help="issue #13's two bars in one run: p99 added paced at 400 req/s over 8 connections in front of"
        " the asgi upstream, and throughput unpaced over 16 connections in front of the example legacy app"
        " (--upstream, --rate and --connections are then set by the run)",
    )
    args = parser.parse_args()
    server = os.environ.get("FUNDAMENT_DATABASE_URL")
    if not server:
        sys.exit("set FUNDAMENT_DATABASE_URL to a PostgreSQL server (the gateway's Fundament needs one)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.bars:
        summary = measure(args, server)
        (RESULTS / "gateway.json").write_text(json.dumps(summary, indent=2) + "\n")
        return
    latency = measure(
        argparse.Namespace(**{**vars(args), "upstream": "asgi", "rate": 400.0, "connections": 8}), server
    )
    throughput = measure(
        argparse.Namespace(**{**vars(args), "upstream": "flask", "rate": 0.0, "connections": 16}), server
    )
    (RESULTS / "gateway.json").write_text(
        json.dumps({"latency": latency, "throughput": throughput}, indent=2) + "\n"
    )
    added, ratio = latency["p99_added_ms"], throughput["throughput_ratio"] or 0.0
    print(
        f"\nbars: p99 added {added} ms (<= 2: {'met' if added <= 2 else 'NOT met'}),"
        f" throughput {ratio}x of direct (>= 0.8: {'met' if ratio >= 0.8 else 'NOT met'})"
    )


def measure(args: argparse.Namespace, server: str) -> dict[str, Any]:
    """Direct and through the proxy, ``args.rounds`` times alternating; the best round of
    each side (lowest p99) is the summary's, the median of the rounds beside it."""
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    up_port, gw_port = free_port(), free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    if args.upstream == "asgi":
        (work / "upstream.py").write_text(ASGI_UPSTREAM)
        up_cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "upstream:app",
            "--app-dir",
            str(work),
            "--port",
            str(up_port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    else:
        up_cmd = [
            sys.executable,
            "-m",
            "flask",
            "--app",
            str(ROOT / "examples" / "legacy" / "app.py"),
            "run",
            "--port",
            str(up_port),
            "--with-threads",
        ]
    legacy = f"http://127.0.0.1:{up_port}"
    config = work / "gateway.toml"
    config.write_text(f'[legacy]\nurl = "{legacy}"\nmax_connections = 256\n')
    with database(server) as dsn, process(up_cmd, base_env, work / "upstream.log") as up:
        env = {
            **base_env,
            "FUNDAMENT_DATABASE_URL": dsn,
            "FUNDAMENT_MASTER_KEY": "bench-gateway",
            "FUNDAMENT_WORKER": "false",
            "FUNDAMENT_ACCESS_LOG": "false",
            "FUNDAMENT_LOG_LEVEL": "warning",
            "FUNDAMENT_POOL_MIN_SIZE": "1",
            "FUNDAMENT_POOL_MAX_SIZE": "4",
        }
        gw_cmd = [
            sys.executable,
            "-m",
            "fundament.cli",
            "gateway",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(gw_port),
            "--workers",
            "1",
        ]
        if args.proxy == "floor":
            env = {**base_env, "GATEWAY_FLOOR_UPSTREAM": legacy}
            gw_cmd = [
                sys.executable, "-m", "uvicorn", "bench.gateway_floor:app", "--port", str(gw_port),
                "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
        with process(gw_cmd, env, work / "gateway.log") as gw:
            gateway = f"http://127.0.0.1:{gw_port}"
            wait_up(f"{legacy}/api/customers/1", up)
            wait_up(f"{gateway}/healthz" if args.proxy == "gateway" else f"{gateway}/api/customers/1", gw)
            path = "/api/customers/1"
            for url in (legacy, gateway):  # warm both: connections, caches
                wrk_args = argparse.Namespace(**{**vars(args), "duration": 2})
                wrk(url + path, wrk_args)
            runs: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
            for _ in range(args.rounds):
                for side, url in (("direct", legacy), ("gateway", gateway)):
                    before = (cpu(up.pid), cpu(gw.pid))
                    result = wrk(url + path, args)
                    result["upstream_cpu_s"] = round(cpu(up.pid) - before[0], 2)
                    result["gateway_cpu_s"] = round(cpu(gw.pid) - before[1], 2)
                    runs[side].append(result)
                    print(side, json.dumps(result), flush=True)
    best = {side: min(rs, key=lambda r: r["p99_ms"] or 1e9) for side, rs in runs.items()}
    d, g = best["direct"], best["gateway"]
    summary = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        "upstream": args.upstream,
        "proxy": args.proxy,
        "connections": args.connections,
        "duration_s": args.duration,
        "rate": args.rate or None,
        "runs": runs,
        "p99_added_ms": round((g["p99_ms"] or 0) - (d["p99_ms"] or 0), 3),
        "p50_added_ms": round((g["p50_ms"] or 0) - (d["p50_ms"] or 0), 3),
        "throughput_ratio": round(g["rps"] / d["rps"], 3) if d["rps"] else None,
        "median_p99_added_ms": round(
            _median(runs, "gateway", "p99_ms") - _median(runs, "direct", "p99_ms"), 3
        ),
        "median_throughput_ratio": round(_median(runs, "gateway", "rps") / _median(runs, "direct", "rps"), 3),
    }
    print()
    print(
        f"{args.proxy} in front of upstream {args.upstream}, {args.connections} connections, {args.duration} s"
        + (f", paced at {args.rate:.0f} req/s" if args.rate else ", unpaced")
    )
    print("| | req/s | p50 ms | p90 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for side, r in best.items():
        print(f"| {side} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} |")
    print(
        f"\np99 added {summary['p99_added_ms']} ms, p50 added {summary['p50_added_ms']} ms, "
        f"throughput {summary['throughput_ratio']}x of direct (best rounds); medians of the rounds:"
        f" p99 added {summary['median_p99_added_ms']} ms, throughput {summary['median_throughput_ratio']}x"
    )
    return summary


def _median(runs: dict[str, list[dict[str, Any]]], side: str, key: str) -> float:
    return float(statistics.median(r[key] or 0.0 for r in runs[side]))


if __name__ == "__main__":
    main()
