"""Price of the operations features, and fairness between tenants, measured with wrk.

    .venv/bin/python -m bench.ops [--duration 15] [--records 20000]

In one run, on one PostgreSQL (embedded unless FUNDAMENT_DATABASE_URL is set), against
servers started side by side (one worker each), interleaved round by round:

1. metering: GET-by-id with usage metering on vs off (everything else equal);
2. metrics and tracing: GET-by-id with Prometheus metrics and OpenTelemetry tracing (OTLP
   export to a local sink) on vs both off;
3. noisy neighbour: tenant B's p99 at a steady paced load with tenant A idle, then with A
   sending about 10x its plan's rate limit at the same time.

The access log is off in every server (a log line per request is a cost of its own, the
same for every configuration). Results go to bench/results/ops.json and are printed as
Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import os
import platform
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bench.run import RESULTS, ROOT, bench_database, free_port, parse_wrk, process, run_wrk, seed

PLANS = """
[plans.free]
requests_per_minute = 100000000
burst = 10000000
max_records = 1000000000
max_stored_bytes = 1000000000000
max_collections = 1000000
max_api_keys = 1000000
max_users = 1000000
max_webhooks = 1000000
max_open_privacy_jobs = 1000000
max_indexes_per_collection = 8
monthly_price_eur = 0

[plans.noisy]
requests_per_minute = 1200
burst = 40
max_records = 1000000000
max_stored_bytes = 1000000000000
max_collections = 1000000
max_api_keys = 1000000
max_users = 1000000
max_webhooks = 1000000
max_open_privacy_jobs = 1000000
max_indexes_per_collection = 8
monthly_price_eur = 0
"""
NOISY_LIMIT_RPS = 1200 / 60


class _Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def wrk(url: str, script: str, env: dict[str, str], *, connections: int, duration: int) -> dict[str, Any]:
    return run_wrk(
        url, script, env, argparse.Namespace(threads=2, connections=connections, duration=duration)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--records", type=int, default=20_000)
    args = ap.parse_args()

    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    otlp = f"http://127.0.0.1:{sink.server_address[1]}"
    plans = RESULTS / "ops-plans.toml"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plans.write_text(PLANS)

    with bench_database(plans) as (dsn, base_env, operator_key):
        try:
            configs = {
                "default": {},
                "metering_off": {"FUNDAMENT_METERING": "false"},
                "observability_off": {"FUNDAMENT_METRICS": "false"},
                "observability_on": {"FUNDAMENT_OTLP_ENDPOINT": otlp},
            }
            servers: dict[str, str] = {}
            with contextlib.ExitStack() as stack:
                for name, extra in configs.items():
                    port = free_port()
                    servers[name] = f"http://127.0.0.1:{port}"
                    cmd = [
                        sys.executable,
                        "-m",
                        "fundament.cli",
                        "serve",
                        "--port",
                        str(port),
                        "--workers",
                        "1",
                    ]
                    stack.enter_context(process(cmd, {**base_env, **extra}, servers[name] + "/healthz"))
                info = asyncio.run(seed(dsn, servers["default"], operator_key, args.records))
                prefix = f"/v1/tenants/{info['tenant']}/collections/contacts"
                env = {
                    **os.environ,
                    "BENCH_PREFIX": prefix,
                    "BENCH_TOKEN": info["key"],
                    "BENCH_IDS": str(RESULTS / "ids.txt"),
                }

                # 1 and 2: interleaved rounds, so every configuration meets the same weather.
                figures: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
                for name in configs:  # warm-up
                    wrk(servers[name] + prefix, "get", env, connections=args.connections, duration=3)
                for r in range(args.rounds):
                    for name in configs:
                        res = wrk(
                            servers[name] + prefix,
                            "get",
                            env,
                            connections=args.connections,
                            duration=args.duration,
                        )
                        figures[name].append(res)
                        print(
                            f"round {r + 1} {name}: {res['rps']:.0f} req/s p99 {res['p99_ms']:.2f} ms",
                            flush=True,
                        )

                # 3: noisy neighbour. A on the "noisy" plan, B on the roomy one, same data.
                op = {"Authorization": f"Bearer {operator_key}"}
                base = servers["default"]
                with httpx.Client(base_url=base, timeout=30) as c:
                    a = c.post(
                        "/v1/tenants",
                        json={"name": "A", "slug": f"noisy-{uuid.uuid4().hex[:6]}", "plan": "noisy"},
                        headers=op,
                    ).json()
                    a_key = c.post(
                        f"/v1/tenants/{a['id']}/api-keys", json={"name": "a", "role": "member"}, headers=op
                    ).json()["key"]
                a_env = {
                    **env,
                    "BENCH_PREFIX": f"/v1/tenants/{a['id']}/collections/contacts",
                    "BENCH_TOKEN": a_key,
                    "BENCH_DELAY_MS": "40",
                }
                b_env = {**env, "BENCH_DELAY_MS": "10"}
                quiet, noisy, flood = [], [], []
                for _ in range(args.rounds):
                    quiet.append(wrk(base + prefix, "paced", b_env, connections=16, duration=args.duration))
                    with subprocess.Popen(
                        [
                            "wrk",
                            "-t1",
                            "-c10",
                            f"-d{args.duration + 2}s",
                            "--latency",
                            "-s",
                            str(ROOT / "bench" / "wrk" / "paced.lua"),
                            base + a_env["BENCH_PREFIX"],
                        ],
                        env=a_env,
                        cwd=ROOT,
                        stdout=subprocess.PIPE,
                        text=True,
                    ) as a_load:
                        noisy.append(
                            wrk(base + prefix, "paced", b_env, connections=16, duration=args.duration)
                        )
                        flood.append(parse_wrk(a_load.communicate(timeout=120)[0]))
                    print(
                        f"B quiet p99 {quiet[-1]['p99_ms']:.2f} ms, with A {noisy[-1]['p99_ms']:.2f} ms; "
                        f"A sent {flood[-1]['rps']:.0f} req/s, refused {flood[-1]['non_2xx']:.0f}",
                        flush=True,
                    )
        finally:
            sink.shutdown()

    def med(rows: list[dict[str, Any]], key: str) -> float:
        values = sorted(r[key] for r in rows)
        return values[len(values) // 2]

    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} vCPU, {platform.python_version()}",
        "args": vars(args),
        "get_by_id": figures,
        "noisy_neighbour": {"b_quiet": quiet, "b_with_a": noisy, "a": flood, "a_limit_rps": NOISY_LIMIT_RPS},
    }
    Path(RESULTS / "ops.json").write_text(json.dumps(report, indent=2))
    print()
    print(
        "| GET-by-id | "
        + " | ".join(f"round {i + 1} req/s" for i in range(args.rounds))
        + " | median req/s | median p99 ms |"
    )
    print("|---|" + "---:|" * (args.rounds + 2))
    for name, rows in figures.items():
        print(
            f"| {name} | "
            + " | ".join(f"{r['rps']:.0f}" for r in rows)
            + f" | {med(rows, 'rps'):.0f} | {med(rows, 'p99_ms'):.2f} |"
        )
    m_on, m_off = med(figures["default"], "rps"), med(figures["metering_off"], "rps")
    o_on, o_off = med(figures["observability_on"], "rps"), med(figures["observability_off"], "rps")
    print(f"\nmetering cost: {1 - m_on / m_off:.1%}; metrics+tracing cost: {1 - o_on / o_off:.1%}")
    print("\n| round | B p99 quiet ms | B p99 with A ms | ratio | A offered req/s | A refused |")
    print("|---|---:|---:|---:|---:|---:|")
    for i, (q, n, f) in enumerate(zip(quiet, noisy, flood, strict=True)):
        print(
            f"| {i + 1} | {q['p99_ms']:.2f} | {n['p99_ms']:.2f} | {n['p99_ms'] / q['p99_ms']:.2f}x |"
            f" {f['rps']:.0f} | {f['non_2xx']:.0f} |"
        )


if __name__ == "__main__":
    main()
