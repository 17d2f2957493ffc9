"""µs per request of each hook of the request pipeline, in process (issue #16).

    .venv/bin/python bench/hooks.py [--iterations 20000] [--seconds 4] [--redis URL]

Creates a database of its own on FUNDAMENT_DATABASE_URL's server (else
postgresql://postgres@127.0.0.1:5432/postgres), migrates it, starts the app (create_app and
its lifespan, `fundament serve`'s defaults, roomy plans), makes a tenant, a key, a
collection and a record through the API, then:

1. calls each hook directly, as the pipeline does, in bounded batches (``--iterations``
   calls or ``--seconds`` per hook, whichever comes first) and prints the median over the
   batches of µs per call (wall time, time.perf_counter_ns), the best batch, and the median
   of this process's CPU time per call (which a busy machine inflates far less); the rows
   marked "net" subtract what they wrap, batch by batch (the two run in turns);
2. drives the whole app through its ASGI entry with a hand-built GET-by-id scope, one
   request at a time, with every default hook on and with each of the access log, metering
   and metrics off, beside the floor (bench/floor.py, the same SQL without a framework).
   The configurations run at once and take turns batch by batch, so drift over the run
   (other processes, the table's state) meets them all alike; "default − this" is the
   median over those turns of the CPU time the configuration saves per request: the price
   of what it turns off, in context. Hot loops understate hooks that touch much code: the
   access log costs several times its loop figure inside a request.

Logging is configured as `fundament serve` configures it (JSON lines), to a null stream.
The event loop is uvloop's, as in `fundament serve`. The database is dropped at the end.
Rate limits shared through Redis (``--redis``, default FUNDAMENT_REDIS_URL, else
redis://127.0.0.1:6379/12) are left out, with a note, when that Redis does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.util
import logging.config
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis
import uvloop
from sqlalchemy.engine import make_url
from starlette.requests import Request

from fundament import ops
from fundament.app import FundamentApp, app_dsn, create_app
from fundament.cli import _log_config
from fundament.identity import create_operator_key
from fundament.limits import PlanLookup, RateLimiter
from fundament.migrations import migrate
from fundament.platform import (
    EdgeMiddleware,
    Exchange,
    RequestContext,
    Settings,
    current_exchange,
    parse_json_body,
    require_role,
)
from fundament.records.service import get_record, if_none_match_hits
from fundament.tenancy import TenantCache

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "tests" / "data" / "plans-roomy.toml"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
COLLECTION = "contacts"
ROUTE = "/v1/tenants/{tenant}/collections/{name}/records/{record_id}"
#: A typical record body: a contact as the benchmarks' records are.
BODY = orjson.dumps(
    {
        "data": {
            "email": "ada.lovelace@example.com",
            "name": "Ada Lovelace",
            "score": 42,
            "vip": True,
            "tags": ["customer", "beta"],
            "address": {"street": "12 St James's Square", "city": "London", "zip": "SW1Y 4JH"},
            "balance": 1234.5,
        }
    }
)
SCHEMA = {
    "type": "object",
    "properties": {"email": {"type": "string"}, "score": {"type": "integer"}, "name": {"type": "string"}},
}


# --- timing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    """µs per call of each batch, in the order they ran: wall time, and this process's CPU
    time (which a busy machine does not inflate: time spent descheduled is not in it, and
    neither is PostgreSQL's)."""

    batches: tuple[float, ...]
    cpu_batches: tuple[float, ...]
    calls: int
    #: The best batch, when it is not the least of ``batches`` (a row marked "net").
    best: float | None = None

    @property
    def median_us(self) -> float:
        return statistics.median(self.batches)

    @property
    def min_us(self) -> float:
        return min(self.batches) if self.best is None else self.best

    @property
    def cpu_us(self) -> float:
        return statistics.median(self.cpu_batches)

    def minus(self, other: Timing) -> Timing:
        """What this costs beyond ``other``, batch by batch: the two ran in turns, so each
        pair of batches met the same machine (a row marked "net")."""
        return Timing(
            tuple(a - b for a, b in zip(self.batches, other.batches, strict=True)),
            tuple(a - b for a, b in zip(self.cpu_batches, other.cpu_batches, strict=True)),
            self.calls,
            self.min_us - other.min_us,
        )


Batch = Callable[[int], Awaitable[None]]


def of_async(call: Callable[[], Awaitable[Any]]) -> Batch:
    async def batch(n: int) -> None:
        for _ in range(n):
            await call()

    return batch


def of_sync(call: Callable[[], Any]) -> Batch:
    # A plain loop inside the coroutine: a sync hook is not charged an await per call.
    async def batch(n: int) -> None:
        for _ in range(n):
            call()

    return batch


class Budget:
    """Batches of one measurement, bounded in calls and in time, timed batch by batch."""

    def __init__(self, batch: Batch, iterations: int, seconds: float, size: int) -> None:
        self.batch = batch
        self.left = iterations
        self.size = max(1, min(size, iterations))
        self.seconds = seconds
        self.spent_ns = 0
        self.calls = 0
        self.per_call: list[float] = []
        self.cpu_per_call: list[float] = []

    @property
    def done(self) -> bool:
        return self.left <= 0 or self.spent_ns >= self.seconds * 1e9

    async def run_one(self) -> None:
        n = min(self.size, self.left)
        cpu = time.process_time_ns()
        started = time.perf_counter_ns()
        await self.batch(n)
        elapsed = time.perf_counter_ns() - started
        self.cpu_per_call.append((time.process_time_ns() - cpu) / n / 1000)
        self.spent_ns += elapsed
        self.left -= n
        self.calls += n
        self.per_call.append(elapsed / n / 1000)
        # Let the loop run what the calls scheduled (timer clean-up, background syncs)
        # between batches, as a server's loop does between requests.
        await asyncio.sleep(0)

    def timing(self) -> Timing:
        return Timing(tuple(self.per_call), tuple(self.cpu_per_call), self.calls)


async def interleaved(
    batches: dict[str, Batch], args: argparse.Namespace, size: int = 1000
) -> dict[str, Timing]:
    """The batches in turns, until one of them has spent its budget: each gets as many
    batches as the others, and a slow spell of the machine meets them all alike."""
    # Bounded however the code under test behaves: a call that never returns fails the run.
    async with asyncio.timeout(30 + 3 * args.seconds * len(batches)):
        for batch in batches.values():
            await batch(min(size, args.iterations))  # warm-up: caches filled, code paths taken once
        budgets = {name: Budget(b, args.iterations, args.seconds, size) for name, b in batches.items()}
        while not any(b.done for b in budgets.values()):
            for budget in budgets.values():
                await budget.run_one()
    return {name: b.timing() for name, b in budgets.items()}


def progress(step: str) -> None:
    print(f"bench/hooks.py: {step}", file=sys.stderr, flush=True)


async def measure(batch: Batch, args: argparse.Namespace, size: int = 1000) -> Timing:
    return (await interleaved({"": batch}, args, size))[""]


# --- the app, driven through ASGI ---------------------------------------------------------


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
    }


async def call(app: Any, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    """One request through the app's ASGI entry: (status, parsed JSON answer or None)."""
    raw = b"" if body is None else orjson.dumps(body)
    headers = [(b"authorization", f"Bearer {key}".encode())]
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"] += message.get("body", b"")

    await app(http_scope(method, path, headers), receive, send)
    return answer["status"], orjson.loads(answer["body"]) if answer["body"] else None


class Get:
    """GET ``path`` through ``app``, n times a batch; the answer is thrown away, as a no-op
    ``send`` does."""

    def __init__(self, app: Any, path: str, key: str) -> None:
        self.app = app
        self.scope = http_scope("GET", path, [(b"authorization", f"Bearer {key}".encode())])

    @staticmethod
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    @staticmethod
    async def send(message: dict[str, Any]) -> None:
        pass

    async def batch(self, n: int) -> None:
        app, scope, receive, send = self.app, self.scope, self.receive, self.send
        for _ in range(n):
            await app(dict(scope), receive, send)  # the app writes into its scope

    async def status(self) -> int:
        seen: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen.append(message["status"])

        await self.app(dict(self.scope), self.receive, send)
        return seen[0] if seen else 0


def settings(**overrides: Any) -> Settings:
    """`fundament serve`'s defaults, said out loud so the environment cannot turn one off;
    roomy plans (no 429), no background worker, a small pool (one request at a time)."""
    values: dict[str, Any] = {
        "worker": False,
        "master_key": "bench-hooks",
        "plans": PLANS,
        "access_log": True,
        "metering": True,
        "metrics": True,
        "audit": True,
        "redis_url": None,
        "otlp_endpoint": None,
        "pool_min_size": 1,
        "pool_max_size": 4,
    }
    return Settings(**(values | overrides))


@contextlib.asynccontextmanager
async def running(admin: str, **overrides: Any) -> AsyncIterator[FundamentApp]:
    app = create_app(settings(**overrides), admin_dsn=admin)
    async with app.router.lifespan_context(app):
        yield app


@functools.cache
def floor_module() -> Any:
    """bench/floor.py, loaded by its path (this file runs as ``bench/hooks.py`` and as ``-m
    bench.hooks``); Any: its globals are set here before its lifespan starts."""
    spec = importlib.util.spec_from_file_location("bench_floor", ROOT / "bench" / "floor.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def floor_app(dsn: str, tenant: str) -> AsyncIterator[Any]:
    floor = floor_module()
    floor.DSN, floor.TENANT, floor.COLLECTION = dsn, tenant, COLLECTION
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.ensure_future(floor.app({"type": "lifespan"}, events.get, replies.put))
    await events.put({"type": "lifespan.startup"})
    await replies.get()
    try:
        yield floor.app
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await lifespan


# --- fixtures: a tenant with a key, a collection and a record -------------------------------


@dataclass(frozen=True, slots=True)
class Seeded:
    tenant: str
    key: str
    record: str

    @property
    def path(self) -> str:
        return f"/v1/tenants/{self.tenant}/collections/{COLLECTION}/records/{self.record}"


async def seed(app: Any, admin: str) -> Seeded:
    conn = await asyncpg.connect(admin)
    try:
        _, operator = await create_operator_key(conn, name="bench-hooks")
    finally:
        await conn.close()

    async def ok(method: str, path: str, key: str, body: Any) -> Any:
        status, answer = await call(app, method, path, key, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {answer}")
        return answer

    tenant = await ok(
        "POST", "/v1/tenants", operator, {"name": "hooks", "slug": f"hooks-{uuid.uuid4().hex[:8]}"}
    )
    base = f"/v1/tenants/{tenant['id']}"
    owner = (await ok("POST", f"{base}/api-keys", operator, {"name": "setup", "role": "admin"}))["key"]
    await ok("POST", f"{base}/collections", owner, {"name": COLLECTION, "schema": SCHEMA})
    # The key the requests carry: a member's, as bench/run.py's.
    key = await ok("POST", f"{base}/api-keys", operator, {"name": "hooks", "role": "member"})
    record = await ok("POST", f"{base}/collections/{COLLECTION}/records", key["key"], orjson.loads(BODY))
    return Seeded(tenant["id"], key["key"], record["id"])


def finished_exchange(seeded: Seeded, principal_key_id: str) -> Exchange:
    """What the edge hands its observers after a GET-by-id."""
    exchange = Exchange("GET", seeded.path, "req_01JBENCHHOOKS0000000000000", time.perf_counter())
    exchange.route = ROUTE
    exchange.tenant_id = seeded.tenant
    exchange.key_id = principal_key_id
    exchange.client = "127.0.0.1"
    exchange.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    exchange.status = 200
    exchange.bytes_out = 312
    exchange.db_seconds = 0.00021
    exchange.duration = 0.00052
    return exchange


# --- the hooks ----------------------------------------------------------------------------

Row = tuple[str, str, Timing | None]


async def redis_answers(url: str) -> bool:
    client = aioredis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


async def forget_redis_keys(url: str, *patterns: str) -> None:
    client = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        for pattern in patterns:
            keys = [k async for k in client.scan_iter(match=pattern, count=1000)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


async def hooks(
    app: FundamentApp, seeded: Seeded, args: argparse.Namespace, redis_url: str | None
) -> list[Row]:
    services = app.services
    db, authenticator, limiter = services.db, services.authenticator, services.admission
    principal = await authenticator.authenticate(seeded.key, client="127.0.0.1")
    exchange = finished_exchange(seeded, principal.key_id)
    current_exchange.set(exchange)
    rows: list[Row] = []

    async def nothing() -> None:
        pass

    bare = await measure(of_async(nothing), args)
    rows.append(("harness", "`await` of an empty coroutine (the loop's own cost per call)", bare))

    # Authentication and authorization.
    progress("auth")
    rows.append(
        (
            "auth",
            "`KeyAuthenticator.authenticate`, cached key (SHA-256, dict hit, expiry check)",
            await measure(of_async(lambda: authenticator.authenticate(seeded.key, client="127.0.0.1")), args),
        )
    )
    rows.append(
        (
            "auth",
            "`tenant_status`, cached tenant (require_role's status check)",
            await measure(of_async(lambda: authenticator.tenant_status(seeded.tenant)), args),
        )
    )
    viewer = require_role("viewer")
    scope = http_scope("GET", seeded.path, [(b"authorization", f"Bearer {seeded.key}".encode())])
    scope |= {
        "app": app,
        "path_params": {"tenant": seeded.tenant},
        "state": {"request_id": exchange.request_id},
    }

    async def authorize() -> None:
        exchange.headers.clear()
        await viewer(Request(scope))

    rows.append(
        (
            "auth",
            "`require_role('viewer')` whole: Request, bearer, authenticate, admission (in-process), status",
            await measure(of_async(authorize), args),
        )
    )

    # Rate limits.
    progress("rate limits")

    async def admit() -> None:
        exchange.headers.clear()
        await limiter.admit(principal)

    rows.append(
        (
            "rate limit",
            "`RateLimiter.admit`, in-process windows (no Redis)",
            await measure(of_async(admit), args),
        )
    )
    if redis_url is None:
        rows.append(("rate limit", "`RateLimiter.admit`, shared through Redis: Redis did not answer", None))
    else:
        prefix = f"bench-hooks-{uuid.uuid4().hex[:8]}"
        shared = RateLimiter(PlanLookup(TenantCache(db), services.plans), redis_url=redis_url, prefix=prefix)

        async def admit_shared() -> None:
            exchange.headers.clear()
            await shared.admit(principal)

        try:
            timing = await measure(of_async(admit_shared), args)
        finally:
            progress("rate limits: closing the shared windows")
            async with asyncio.timeout(10):
                await shared.close()
                await forget_redis_keys(redis_url, f"{prefix}:*")
        rows.append(
            (
                "rate limit",
                "`RateLimiter.admit`, shared through Redis (`FUNDAMENT_REDIS_URL`): local admission, "
                "the 50 ms sync in the background",
                timing,
            )
        )

    # The edge's observers, each on a finished GET.
    progress("observers")
    meter = services.meter
    assert meter is not None, "metering is on by default"
    rows.append(
        ("metering", "`UsageMeter.observe`", await measure(of_sync(lambda: meter.observe(exchange)), args))
    )
    metrics = ops.RequestMetrics()
    rows.append(
        (
            "metrics",
            "`RequestMetrics().observe` (counter + histogram)",
            await measure(of_sync(lambda: metrics.observe(exchange)), args),
        )
    )
    rows.append(
        (
            "metrics",
            "`observe_db` (the database's timing hook, per transaction)",
            await measure(of_sync(lambda: ops.observe_db(0.00021)), args),
        )
    )
    rows.append(
        (
            "access log",
            "`log_request`: JSON line, `fundament serve`'s logging, to a null stream",
            await measure(of_sync(lambda: ops.log_request(exchange)), args),
        )
    )

    # The deadline, as the edge puts it around the route.
    progress("deadline")
    timeout = services.settings.request_timeout_seconds

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await nothing()

    pair = await interleaved({"bounded": of_async(bounded), "bare": of_async(nothing)}, args)
    rows.append(
        (
            "deadline",
            f"`asyncio.timeout({timeout:g})` around an await, net of the await",
            pair["bounded"].minus(pair["bare"]),
        )
    )

    # ETag, on the record as the route reads it.
    progress("etag")
    ctx = RequestContext(request_id=exchange.request_id, principal=principal, tenant_id=seeded.tenant)
    async with db.transaction(ctx, read_only=True) as tx:
        row = await get_record(tx, COLLECTION, seeded.record)
    rows.append(
        (
            "etag",
            "`Record.etag` + `if_none_match_hits`, no If-None-Match (a plain GET)",
            await measure(of_sync(lambda: if_none_match_hits(None, row.etag)), args),
        )
    )
    matching = row.etag
    rows.append(
        (
            "etag",
            "the same with a matching If-None-Match (the 304 path's test)",
            await measure(of_sync(lambda: if_none_match_hits(matching, row.etag)), args),
        )
    )

    # The edge itself, without observers or deadline, around an app that answers at once.
    progress("edge")

    async def answer(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})

    edge = EdgeMiddleware(answer, max_body_bytes=services.settings.max_body_bytes)
    token = current_exchange.set(None)  # the edge makes its own
    pair = await interleaved(
        {"edge": Get(edge, seeded.path, seeded.key).batch, "app": Get(answer, seeded.path, seeded.key).batch},
        args,
    )
    current_exchange.reset(token)
    rows.append(
        (
            "edge",
            "`EdgeMiddleware` (request id, trace id, exchange, headers; no observers, no deadline), "
            "net of the app it wraps",
            pair["edge"].minus(pair["app"]),
        )
    )

    rows.append(
        (
            "body",
            f"`parse_json_body`, a {len(BODY)}-byte record body",
            await measure(of_sync(lambda: parse_json_body(BODY)), args),
        )
    )

    # The database transaction, against the real PostgreSQL, the three shapes in turns.
    progress("database transactions")

    async def read_only() -> None:
        async with db.transaction(ctx, read_only=True):
            pass

    async def floor_shape() -> None:
        async with db.pool.acquire() as conn, conn.transaction(readonly=True):
            await conn.execute(floor_module().SCOPE, seeded.tenant, "")

    async def read_write() -> None:
        async with db.transaction(ctx):
            pass

    async def pooled() -> None:
        async with db.pool.acquire():
            pass

    # A write's transaction reads its commit position for the request it is in.
    current_exchange.set(Exchange("POST", seeded.path, exchange.request_id, time.perf_counter()))
    shapes = await interleaved(
        {
            "ro": of_async(read_only),
            "raw": of_async(floor_shape),
            "rw": of_async(read_write),
            "pool": of_async(pooled),
        },
        args,
        size=100,
    )
    current_exchange.set(None)
    rows += [
        (
            "db",
            "`Database.transaction(ctx)`, read-only, empty: acquire, BEGIN, SET LOCALs, hooks, COMMIT",
            shapes["ro"],
        ),
        (
            "db",
            "raw asyncpg in the floor's shape: acquire, BEGIN READ ONLY, set_config, COMMIT",
            shapes["raw"],
        ),
        (
            "db",
            "`Database.transaction`'s own cost over raw asyncpg (read-only), net",
            shapes["ro"].minus(shapes["raw"]),
        ),
        (
            "db",
            "`Database.transaction(ctx)`, read-write in a request, empty: + before-commit hooks, "
            "commit position read",
            shapes["rw"],
        ),
        (
            "db",
            "pool acquire + release alone",
            shapes["pool"],
        ),
    ]
    return rows


# --- the whole request ----------------------------------------------------------------------

CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("default: access log, metering, metrics, rate limits (in process)", {}),
    ("access log off", {"access_log": False}),
    ("metering off", {"metering": False}),
    ("metrics off", {"metrics": False}),
    ("all three off", {"access_log": False, "metering": False, "metrics": False}),
]
FLOOR = "floor (bench/floor.py: the same SQL, no framework)"


async def whole_requests(
    admin: str, default: FundamentApp, seeded: Seeded, args: argparse.Namespace, redis_url: str | None
) -> dict[str, Timing]:
    configs = list(CONFIGS)
    if redis_url is not None:
        configs.append(("default, rate limits shared through Redis", {"redis_url": redis_url}))
    async with contextlib.AsyncExitStack() as stack:
        gets = {configs[0][0]: Get(default, seeded.path, seeded.key)}
        for name, overrides in configs[1:]:
            app = await stack.enter_async_context(running(admin, **overrides))
            gets[name] = Get(app, seeded.path, seeded.key)
        floor = await stack.enter_async_context(floor_app(app_dsn(settings(), admin), seeded.tenant))
        gets[FLOOR] = Get(floor, f"/records/{seeded.record}", seeded.key)
        progress(f"whole requests: {', '.join(gets)}")
        for name, get in gets.items():
            status = await get.status()
            if status != 200:
                raise RuntimeError(f"{name}: GET-by-id answered {status}")
        return await interleaved({name: get.batch for name, get in gets.items()}, args, size=100)


# --- report -----------------------------------------------------------------------------------


def print_report(rows: list[Row], whole: dict[str, Timing], args: argparse.Namespace, pg: str) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"Python {platform.python_version()}, uvloop, {os.cpu_count()} cores ({platform.machine()}), "
        f"PostgreSQL {pg}, load average {load}; up to {args.iterations} calls or {args.seconds:g} s "
        "per row, median of batches\n"
    )
    print(
        "| hook | what is timed | µs per call | min batch | CPU µs | calls |\n|---|---|---:|---:|---:|---:|"
    )
    for hook, what, timing in rows:
        if timing is None:
            print(f"| {hook} | {what} | — | — | — | 0 |")
        else:
            print(
                f"| {hook} | {what} | {timing.median_us:.2f} | {timing.min_us:.2f} | {timing.cpu_us:.2f} "
                f"| {timing.calls} |"
            )
    default = whole[CONFIGS[0][0]]
    floor = whole[FLOOR]
    print(
        "\n| GET-by-id through `await app(scope, receive, send)` | µs per request | min batch | CPU µs "
        "| default − this, CPU µs | requests | floor ÷ this, µs | floor ÷ this, CPU |"
        "\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for name, timing in whole.items():
        print(
            f"| {name} | {timing.median_us:.1f} | {timing.min_us:.1f} | {timing.cpu_us:.1f} "
            f"| {default.minus(timing).cpu_us:+.1f} | {timing.calls} | {floor.median_us / timing.median_us:.2f} "
            f"| {floor.cpu_us / timing.cpu_us:.2f} |"
        )


# --- main -------------------------------------------------------------------------------------


def configure_logging() -> None:
    """`fundament serve`'s logging (its own dictConfig, so this cannot drift from it), with
    the handler writing to the null device instead of stderr."""
    config = _log_config("info")
    config["handlers"]["stderr"]["stream"] = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    logging.config.dictConfig(config)


async def admin_sql(dsn: str, sql: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval(sql) or "")
    finally:
        await conn.close()


def stuck(main: asyncio.Task[None], seconds: float) -> None:
    """The run has taken far longer than its budget: say where every task waits, and stop
    (the database is still dropped)."""
    progress(f"still running after {seconds:.0f} s; the tasks and where they wait:")
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=sys.stderr)
    main.cancel()


async def main(args: argparse.Namespace) -> None:
    task = asyncio.current_task()
    assert task is not None
    budget = 60 + 25 * args.seconds
    watchdog = asyncio.get_running_loop().call_later(budget, stuck, task, budget)
    try:
        await run(args)
    finally:
        watchdog.cancel()


async def run(args: argparse.Namespace) -> None:
    server = os.environ.get("FUNDAMENT_DATABASE_URL") or DEFAULT_SERVER
    redis_url = args.redis if await redis_answers(args.redis) else None
    name = f"fundament_hooks_{uuid.uuid4().hex[:8]}"
    await admin_sql(server, f'CREATE DATABASE "{name}"')
    admin = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        progress(f"migrating {name}")
        await asyncio.to_thread(migrate, admin)
        pg = await admin_sql(admin, "SHOW server_version")
        app = create_app(settings(), admin_dsn=admin)
        async with app.router.lifespan_context(app):
            seeded = await seed(app, admin)
            rows = await hooks(app, seeded, args, redis_url)
            whole = await whole_requests(admin, app, seeded, args, redis_url)
        if redis_url is not None:
            await forget_redis_keys(redis_url, f"fundament:rl:{seeded.tenant}:*")
    finally:
        await admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print_report(rows, whole, args, pg)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="bench/hooks.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--iterations", type=int, default=20_000, help="most calls per row (default 20000)")
    ap.add_argument("--seconds", type=float, default=4.0, help="most seconds per row (default 4)")
    ap.add_argument(
        "--redis",
        default=os.environ.get("FUNDAMENT_REDIS_URL") or DEFAULT_REDIS,
        help=f"Redis for the shared rate limits (default FUNDAMENT_REDIS_URL, else {DEFAULT_REDIS})",
    )
    args = ap.parse_args(argv)
    if args.iterations < 1 or args.seconds <= 0:
        ap.error("--iterations and --seconds must be positive")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    configure_logging()
    uvloop.run(main(arguments))
