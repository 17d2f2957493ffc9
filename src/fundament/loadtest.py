"""`fundament bench capacity`: how many requests/s one worker of this machine serves
within a p99 target, measured with a bounded load on 127.0.0.1 and stored for planning.

It starts its own server process (one worker) on a free loopback port, against the
configured database, with a throw-away tenant on an unlimited plan; it raises the number
of concurrent connections step by step (each step bounded in time) and keeps the best
throughput whose p99 meets the target. wrk is used when installed (Debian: `apt-get
install wrk`); otherwise a small asyncio load generator, whose own CPU use on the same
machine makes the figure a conservative lower bound (the result says which was used).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from fundament import metering, tenancy
from fundament.identity import create_operator_key, revoke_operator_key
from fundament.platform import Settings

_BENCH_PLAN = "capacity-bench"
_MAX_TOTAL_SECONDS = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _plans_file(catalogue: tenancy.Catalogue, directory: Path) -> Path:
    bench = dataclasses.replace(
        tenancy.BUILTIN["enterprise"],
        name=_BENCH_PLAN,
        requests_per_minute=10**9,
        burst=10**9,
        max_records=10**12,
        max_stored_bytes=10**15,
        monthly_price_eur=Decimal(0),
    )
    lines = []
    for plan in [*catalogue.values(), bench]:
        lines.append(f'[plans."{plan.name}"]')
        lines += [f"{key} = {value}" for key, value in plan.to_json().items() if key != "name"]
        lines.append("")
    path = directory / "plans.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _parse_wrk(text: str) -> tuple[float, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rps, float(value) * scale


async def _python_load(
    url: str, headers: dict[str, str], connections: int, seconds: float
) -> tuple[float, float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=10) as client:

        async def one() -> None:
            while time.monotonic() < deadline and len(latencies) < 1_000_000:
                t = time.perf_counter()
                r = await client.get(url)
                if r.status_code == 200:
                    latencies.append((time.perf_counter() - t) * 1000)

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(connections)))
        elapsed = time.monotonic() - started
    if len(latencies) < 2:
        return 0.0, float("inf")
    return len(latencies) / elapsed, statistics.quantiles(latencies, n=100)[98]


def _step(url: str, key: str, connections: int, seconds: float) -> tuple[float, float, str]:
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run(
            [
                wrk,
                f"-t{min(2, connections)}",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--latency",
                "-H",
                f"Authorization: Bearer {key}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
        rps, p99 = _parse_wrk(out)
        return rps, p99, "wrk"
    rps, p99 = asyncio.run(_python_load(url, {"Authorization": f"Bearer {key}"}, connections, seconds))
    return rps, p99, "python (lower bound)"


async def _operator_key(dsn: str) -> tuple[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await create_operator_key(conn, name="bench-capacity")
    finally:
        await conn.close()


async def _finish(
    dsn: str, key_id: str, measurement: metering.Measurement, p99_ms: float, details: Any
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await revoke_operator_key(conn, key_id)
        if measurement.rps_per_worker > 0:
            await metering.store_measurement(conn, measurement, target_p99_ms=p99_ms, details=details)
    finally:
        await conn.close()


def measure_capacity(
    dsn: str, settings: Settings, *, p99_ms: float, step_seconds: float, max_connections: int
) -> dict[str, Any]:
    catalogue = tenancy.load_plans(settings.plans)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    key_id, operator = asyncio.run(_operator_key(dsn))
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "FUNDAMENT_DATABASE_URL": dsn,
            "FUNDAMENT_PLANS": str(_plans_file(catalogue, Path(tmp))),
            "FUNDAMENT_ACCESS_LOG": "false",
            "FUNDAMENT_WORKER": "false",
            "FUNDAMENT_AUTO_MIGRATE": "false",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fundament.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        tenant_id = None
        op = {"Authorization": f"Bearer {operator}"}
        try:
            with httpx.Client(base_url=base, timeout=10) as http:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if http.get("/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the benchmark server did not become ready")
                    time.sleep(0.2)
                slug = f"capacity-{uuid.uuid4().hex[:10]}"
                tenant = http.post(
                    "/v1/tenants",
                    json={"name": "capacity bench", "slug": slug, "plan": _BENCH_PLAN},
                    headers=op,
                )
                tenant.raise_for_status()
                tenant_id = tenant.json()["id"]
                key = http.post(
                    f"/v1/tenants/{tenant_id}/api-keys", json={"name": "bench", "role": "admin"}, headers=op
                ).json()["key"]
                h = {"Authorization": f"Bearer {key}"}
                http.post(
                    f"/v1/tenants/{tenant_id}/collections",
                    headers=h,
                    json={
                        "name": "items",
                        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
                    },
                ).raise_for_status()
                record = http.post(
                    f"/v1/tenants/{tenant_id}/collections/items/records", headers=h, json={"data": {"n": 1}}
                ).json()
                url = f"{base}/v1/tenants/{tenant_id}/collections/items/records/{record['id']}"
                started = time.monotonic()
                connections = 1
                while connections <= max_connections:
                    if time.monotonic() - started + step_seconds > _MAX_TOTAL_SECONDS:
                        break
                    rps, p99, tool = _step(url, key, connections, step_seconds)
                    steps.append(
                        {
                            "connections": connections,
                            "rps": round(rps, 1),
                            "p99_ms": round(p99, 2),
                            "tool": tool,
                        }
                    )
                    if p99 > p99_ms * 2:
                        break  # far past the target: more connections only queue
                    connections *= 2
                http.delete(f"/v1/tenants/{tenant_id}", headers=op)
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
    within = [s for s in steps if s["p99_ms"] <= p99_ms]
    best = max(within, key=lambda s: s["rps"]) if within else None
    machine = f"{platform.node()} ({os.cpu_count()} vCPU, {platform.machine()})"
    measurement = metering.Measurement(
        rps_per_worker=float(best["rps"]) if best else 0.0,
        p99_ms=float(best["p99_ms"]) if best else float(min((s["p99_ms"] for s in steps), default=0.0)),
        workers_per_instance=max(1, settings.workers),
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        machine=machine,
    )
    details = {"steps": steps, "operation": "GET record by id", "target_p99_ms": p99_ms}
    asyncio.run(_finish(dsn, key_id, measurement, p99_ms, details))
    return {
        "stored": best is not None,
        "rps_per_worker": measurement.rps_per_worker,
        "p99_ms": measurement.p99_ms,
        "target_p99_ms": p99_ms,
        "machine": machine,
        "steps": steps,
        "note": None if best else "no step met the p99 target; nothing was stored",
    }
