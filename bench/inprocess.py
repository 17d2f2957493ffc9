"""Server time per request of the lifecycle hooks, in process, without network or wrk.

    .venv/bin/python -m bench.inprocess [--requests 2000]

Calls the ASGI app directly with a GET-by-id scope, one request at a time, on an embedded
PostgreSQL (or FUNDAMENT_DATABASE_URL's server), and prints the best of three rounds in
µs per request for each configuration; the database round trip is in every figure, so
differences between rows are what the hooks cost. Also: a request refused with 429, and
the `limits` calls the rate limiter makes per request, on their own.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from bench.run import ROOT, admin, server_dsn
from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from sqlalchemy.engine import make_url

from fundament import ops
from fundament.app import create_app
from fundament.identity import create_operator_key
from fundament.migrations import migrate
from fundament.platform import Settings

ROOMY = ROOT / "tests" / "data" / "plans-roomy.toml"
TIGHT = """
[plans.free]
requests_per_minute = 1
burst = 1
max_records = 1000000
max_stored_bytes = 1000000000
max_collections = 1000000
max_api_keys = 1000000
max_users = 1000000
max_webhooks = 1000000
max_open_privacy_jobs = 1000000
max_indexes_per_collection = 8
monthly_price_eur = 0
"""


async def best_of(rounds: int, n: int, call: Callable[[], Awaitable[Any]]) -> float:
    for _ in range(min(300, n)):
        await call()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            await call()
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


async def measure(dsn: str, n: int, plans: Any = ROOMY, **overrides: Any) -> float:
    settings = Settings(
        **{"worker": False, "master_key": "bench", "access_log": False, "plans": plans, **overrides}
    )
    app = create_app(settings, admin_dsn=dsn)
    conn = await asyncpg.connect(dsn)
    try:
        _, key = await create_operator_key(conn, name="inprocess")
    finally:
        await conn.close()
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
            op = {"Authorization": f"Bearer {key}"}
            t = (
                await c.post(
                    "/v1/tenants", json={"name": "b", "slug": f"b-{uuid.uuid4().hex[:8]}"}, headers=op
                )
            ).json()
            k = (
                await c.post(
                    f"/v1/tenants/{t['id']}/api-keys", json={"name": "b", "role": "admin"}, headers=op
                )
            ).json()
            h = {"Authorization": f"Bearer {k['key']}"}
            await c.post(
                f"/v1/tenants/{t['id']}/collections",
                json={"name": "c", "schema": {"type": "object"}},
                headers=h,
            )
            rec = (
                await c.post(
                    f"/v1/tenants/{t['id']}/collections/c/records", json={"data": {"a": 1}}, headers=h
                )
            ).json()
        path = f"/v1/tenants/{t['id']}/collections/c/records/{rec.get('id', 'rec_x')}"
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "headers": [(b"host", b"x"), (b"authorization", f"Bearer {k['key']}".encode())],
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        result = await best_of(3, n, lambda: app(dict(scope), receive, send))
    ops.disable_tracing()
    return result


async def limiter_calls(n: int) -> float:
    limiter = SlidingWindowCounterRateLimiter(storage_from_string("async+memory://"))
    minute, second = RateLimitItemPerMinute(10**9), RateLimitItemPerSecond(10**9)

    async def one() -> None:
        await limiter.hit(second, "t")
        await limiter.hit(minute, "t")
        await limiter.get_window_stats(minute, "t")

    return await best_of(3, n * 10, one)


async def main(args: argparse.Namespace) -> None:
    with server_dsn() as server:
        db = f"fundament_bench_{uuid.uuid4().hex[:8]}"
        await admin(server, f'CREATE DATABASE "{db}"')
        dsn = make_url(server).set(database=db).render_as_string(hide_password=False)
        try:
            migrate(dsn)
            tight = ROOT / "bench" / "results" / "tight-plans.toml"
            tight.parent.mkdir(parents=True, exist_ok=True)
            tight.write_text(TIGHT)
            rows = [
                (
                    "metrics off, metering off",
                    await measure(dsn, args.requests, metrics=False, metering=False),
                ),
                ("metrics on", await measure(dsn, args.requests, metrics=True, metering=False)),
                ("metering on", await measure(dsn, args.requests, metrics=False, metering=True)),
                ("metrics and metering on (default)", await measure(dsn, args.requests)),
                (
                    "default + tracing, 5% sampled",
                    await measure(dsn, args.requests, otlp_endpoint="http://127.0.0.1:9"),
                ),
                ("default + access log", await measure(dsn, args.requests, access_log=True)),
                ("refused with 429 (plan: 1 per minute)", await measure(dsn, args.requests, plans=tight)),
            ]
        finally:
            await admin(server, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    print("| configuration | µs per request |\n|---|---:|")
    for name, us in rows:
        print(f"| {name} | {us:.1f} |")
    print(
        f"| `limits`: two sliding-window hits and one window read | {await limiter_calls(args.requests):.1f} |"
    )


if __name__ == "__main__":
    import logging
    import os

    # Where the access log goes when it is on: formatted as JSON, written to /dev/null.
    sink = logging.FileHandler(os.devnull)
    sink.setFormatter(ops.JSONFormatter())
    logging.getLogger().addHandler(sink)
    logging.getLogger().setLevel(logging.INFO)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(ap.parse_args()))
