"""Two real server processes on one real Redis: shared rate limits, and key revocation and
plan changes that reach the other instance within a second. Also: a Redis that does not
answer degrades fairness, never availability (in-process limits, counted in /metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from fundament.limits.shared import SharedWindows
from servers import Server, bearer, free_port, server_env

pytestmark = pytest.mark.slow

PLANS = """\
[plans.free]
requests_per_minute = 3000
burst = 300
max_records = 100000
max_stored_bytes = 104857600
max_collections = 50
max_api_keys = 50
max_users = 1000
max_webhooks = 20
max_open_privacy_jobs = 10
max_indexes_per_collection = 8
monthly_price_eur = 0

[plans.tiny]
requests_per_minute = 10
burst = 1000
max_records = 100000
max_stored_bytes = 104857600
max_collections = 50
max_api_keys = 50
max_users = 1000
max_webhooks = 20
max_open_privacy_jobs = 10
max_indexes_per_collection = 8
monthly_price_eur = 1
"""
TINY_RPM = 10
FREE_RPM = 3000
REDIS_DB = 11  # no other test uses Redis; this number is ours alone


# --- helpers (processes) ---------------------------------------------------------------------


def _redis(port: int, db: int = 0) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, db=db, socket_timeout=2, socket_connect_timeout=0.5)


def _answers_ping(port: int) -> bool:
    client = _redis(port)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@dataclass
class RedisTarget:
    url: str
    port: int
    db: int

    def client(self) -> redis.Redis:
        return _redis(self.port, self.db)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisTarget]:
    """A real Redis: the local one on 6379 (db 11, flushed), else our own redis-server."""
    if _answers_ping(6379):
        target = RedisTarget(f"redis://127.0.0.1:6379/{REDIS_DB}", 6379, REDIS_DB)
        with contextlib.closing(target.client()) as c:
            c.flushdb()
        yield target
        with contextlib.closing(target.client()) as c:
            c.flushdb()
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "needs a real Redis: nothing answers PING on 127.0.0.1:6379 and redis-server is not on PATH"
        )
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers_ping(port):
            assert proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.05)
        yield RedisTarget(f"redis://127.0.0.1:{port}/{REDIS_DB}", port, REDIS_DB)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def _servers(*servers: Server) -> Iterator[None]:
    try:
        for s in servers:
            s.wait_ready()
        yield
    finally:
        for s in servers:
            s.stop()


def _tenant(base: str, operator_key: str, plan: str) -> str:
    slug = f"fleet-{uuid.uuid4().hex[:12]}"
    r = httpx.post(
        base + "/v1/tenants",
        json={"name": f"Fleet {slug}", "slug": slug, "plan": plan},
        headers=bearer(operator_key),
    )
    assert r.status_code == 201, r.text
    assert r.json()["plan"] == plan
    return str(r.json()["id"])


def _key(base: str, operator_key: str, tenant: str, role: str = "viewer") -> dict[str, str]:
    r = httpx.post(
        f"{base}/v1/tenants/{tenant}/api-keys",
        json={"name": f"{role}-{uuid.uuid4().hex[:6]}", "role": role},
        headers=bearer(operator_key),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return {"id": body["id"], "key": body["key"]}


def _assert_rate_limited(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["RateLimit-Limit"] == str(limit)
    assert r.headers["RateLimit-Remaining"] == "0"
    assert int(r.headers["RateLimit-Reset"]) >= 0
    assert r.json()["status"] == 429


# --- the fleet: two instances on one Redis ---------------------------------------------------


@dataclass
class Fleet:
    a: Server
    b: Server
    redis: RedisTarget


@pytest.fixture(scope="module")
def fleet(
    redis_url: RedisTarget, admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    workdir = tmp_path_factory.mktemp("fleet")
    plans = workdir / "plans.toml"
    plans.write_text(PLANS)
    env = server_env(admin_dsn, plans, redis_url.url)
    a = Server("a", env, workdir)
    b = Server("b", env, workdir)
    with _servers(a, b):
        yield Fleet(a, b, redis_url)


def test_rate_limits_are_shared_between_instances(fleet: Fleet, operator_key: str) -> None:
    tenant = _tenant(fleet.a.base, operator_key, "tiny")
    viewer = bearer(_key(fleet.a.base, operator_key, tenant)["key"])
    url = f"/v1/tenants/{tenant}/collections"
    answers: list[tuple[str, httpx.Response]] = []
    with httpx.Client(base_url=fleet.a.base) as a, httpx.Client(base_url=fleet.b.base) as b:
        # alternate instances: with per-instance counters each would allow TINY_RPM (2x in all)
        for i in range(2 * TINY_RPM + 4):
            client, name = (a, "a") if i % 2 == 0 else (b, "b")
            answers.append((name, client.get(url, headers=viewer)))
    statuses = [(name, r.status_code) for name, r in answers]
    assert {s for _, s in statuses} <= {200, 429}, statuses
    accepted = [r for _, r in answers if r.status_code == 200]
    # The sliding window may count one request less if the run straddles a minute boundary.
    assert TINY_RPM <= len(accepted) <= TINY_RPM + 1, statuses
    assert {name for name, r in answers if r.status_code == 200} == {"a", "b"}, statuses
    refused = [(name, r) for name, r in answers if r.status_code == 429]
    assert {name for name, _ in refused} == {"a", "b"}, (
        "both instances must refuse once the shared budget is spent"
    )
    for _, r in refused:
        _assert_rate_limited(r, TINY_RPM)
    # the budget is one: what one instance used, the other reports as gone (each instance
    # admits from memory and learns the other's use at the next sync, 50 ms later, so the
    # figures are estimates: within the budget, falling to about nothing at the end)
    remaining = [int(r.headers["RateLimit-Remaining"]) for r in accepted]
    assert all(0 <= x < TINY_RPM for x in remaining), remaining
    assert remaining[1] <= TINY_RPM - 2 and remaining[-1] <= 2, remaining
    # the counters really live in Redis (in the db we gave the servers)
    # (pushed at each instance's next sync, at most 50 ms after the last admission)
    with contextlib.closing(fleet.redis.client()) as c:
        deadline = time.monotonic() + 2.0
        while not (keys := c.keys(f"*{tenant}*")) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert keys, "no rate-limit counter of this tenant in Redis"


def test_revoked_key_is_refused_by_the_other_instance_within_a_second(
    fleet: Fleet, operator_key: str
) -> None:
    tenant = _tenant(fleet.a.base, operator_key, "free")
    created = _key(fleet.a.base, operator_key, tenant)
    url = f"/v1/tenants/{tenant}/collections"
    with httpx.Client(base_url=fleet.a.base) as a, httpx.Client(base_url=fleet.b.base) as b:
        # both instances have seen (and cached) the key
        assert a.get(url, headers=bearer(created["key"])).status_code == 200
        assert b.get(url, headers=bearer(created["key"])).status_code == 200
        r = a.delete(f"/v1/tenants/{tenant}/api-keys/{created['id']}", headers=bearer(operator_key))
        assert r.status_code == 204, r.text
        started = time.monotonic()
        assert a.get(url, headers=bearer(created["key"])).status_code == 401
        while True:
            r = b.get(url, headers=bearer(created["key"]))
            if r.status_code == 401:
                break
            assert r.status_code == 200, r.text
            assert time.monotonic() - started < 1.0, "instance B still accepts the revoked key after 1 s"
            time.sleep(0.02)
        assert r.headers["content-type"].startswith("application/problem+json")
        # and stays refused
        assert b.get(url, headers=bearer(created["key"])).status_code == 401


def test_schema_change_applies_on_the_other_instance_within_a_second(fleet: Fleet, operator_key: str) -> None:
    tenant = _tenant(fleet.a.base, operator_key, "free")
    admin = bearer(_key(fleet.a.base, operator_key, tenant, role="admin")["key"])
    coll = f"/v1/tenants/{tenant}/collections"
    schema = {"type": "object", "properties": {"text": {"type": "string"}}}
    with httpx.Client(base_url=fleet.a.base) as a, httpx.Client(base_url=fleet.b.base) as b:
        assert a.post(coll, json={"name": "notes", "schema": schema}, headers=admin).status_code == 201
        # B compiles and caches the first schema
        assert (
            b.post(f"{coll}/notes/records", json={"data": {"text": "long enough"}}, headers=admin).status_code
            == 201
        )
        # Stricter, yet every stored record still matches (a conflicting change is a 409).
        stricter = {**schema, "additionalProperties": False}
        r = a.patch(f"{coll}/notes", json={"schema": stricter}, headers=admin)
        assert r.status_code == 200, r.text
        started = time.monotonic()
        while True:
            r = b.post(f"{coll}/notes/records", json={"data": {"text": "x", "extra": 1}}, headers=admin)
            if r.status_code == 422:
                break
            assert r.status_code == 201, r.text
            assert time.monotonic() - started < 1.0, (
                "instance B still validates with the old schema after 1 s"
            )
            time.sleep(0.02)


def test_plan_change_applies_on_the_other_instance_within_a_second(fleet: Fleet, operator_key: str) -> None:
    tenant = _tenant(fleet.a.base, operator_key, "tiny")
    viewer = bearer(_key(fleet.a.base, operator_key, tenant)["key"])
    url = f"/v1/tenants/{tenant}/collections"
    with httpx.Client(base_url=fleet.a.base) as a, httpx.Client(base_url=fleet.b.base) as b:
        # B knows the tenant is on "tiny" and refuses it
        last = None
        for _ in range(TINY_RPM + 5):
            last = b.get(url, headers=viewer)
            if last.status_code == 429:
                break
            assert last.status_code == 200, last.text
            assert last.headers["RateLimit-Limit"] == str(TINY_RPM)
        assert last is not None
        _assert_rate_limited(last, TINY_RPM)

        # upgrade through A: B lets the tenant through under the new limit within 1 s
        r = a.patch(f"/v1/tenants/{tenant}", json={"plan": "free"}, headers=bearer(operator_key))
        assert r.status_code == 200, r.text
        assert r.json()["plan"] == "free"
        started = time.monotonic()
        while True:
            r = b.get(url, headers=viewer)
            if r.status_code == 200 and r.headers["RateLimit-Limit"] == str(FREE_RPM):
                break
            assert r.status_code in (200, 429), r.text
            assert time.monotonic() - started < 1.0, (
                f"plan upgrade not applied on B after 1 s: {r.status_code} {r.headers.get('RateLimit-Limit')}"
            )
            time.sleep(0.02)

        # downgrade through A: B applies the smaller limit within 1 s
        r = a.patch(f"/v1/tenants/{tenant}", json={"plan": "tiny"}, headers=bearer(operator_key))
        assert r.status_code == 200, r.text
        started = time.monotonic()
        while True:
            r = b.get(url, headers=viewer)
            assert r.status_code in (200, 429), r.text
            if r.headers.get("RateLimit-Limit") == str(TINY_RPM):
                break
            assert time.monotonic() - started < 1.0, (
                f"plan downgrade not applied on B after 1 s: RateLimit-Limit {r.headers.get('RateLimit-Limit')}"
            )
            time.sleep(0.02)
        # the tiny budget of this minute is shared in Redis and partly spent: B refuses
        # within what is left of it (at most TINY_RPM requests), not a fresh budget
        for _ in range(TINY_RPM + 1):
            r = b.get(url, headers=viewer)
            if r.status_code == 429:
                break
            time.sleep(0.06)  # past a sync, so B's share is what is left, not a burst's part
        _assert_rate_limited(r, TINY_RPM)


# --- Redis down: fall back to in-process limits ----------------------------------------------

_FALLBACK_METRIC = re.compile(
    r'^fundament_redis_fallback_total\{[^}]*use="rate_limits"[^}]*\}\s+(\S+)$', re.M
)


def test_unreachable_redis_falls_back_to_in_process_limits(
    admin_dsn: str, operator_key: str, tmp_path: Path
) -> None:
    plans = tmp_path / "plans.toml"
    plans.write_text(PLANS)
    closed = free_port()  # nothing listens here
    server = Server("no-redis", server_env(admin_dsn, plans, f"redis://127.0.0.1:{closed}/0"), tmp_path)
    with _servers(server), httpx.Client(base_url=server.base, timeout=10) as c:
        tenant = _tenant(server.base, operator_key, "tiny")
        viewer = bearer(_key(server.base, operator_key, tenant)["key"])
        url = f"/v1/tenants/{tenant}/collections"
        started = time.monotonic()
        statuses = [c.get(url, headers=viewer).status_code for _ in range(TINY_RPM + 3)]
        # requests still succeed, and quickly (the dead Redis is not retried per request)
        assert statuses[:TINY_RPM] == [200] * TINY_RPM, statuses
        assert time.monotonic() - started < 5, "requests slowed down by the unreachable Redis"
        # the plan's limit still holds, counted in process
        assert statuses[TINY_RPM:] == [429] * 3, statuses
        _assert_rate_limited(c.get(url, headers=viewer), TINY_RPM)
        metrics = c.get("/metrics", headers=bearer(operator_key))
        assert metrics.status_code == 200
        values = [float(v) for v in _FALLBACK_METRIC.findall(metrics.text)]
        assert values and values[0] > 0, [
            line for line in metrics.text.splitlines() if "redis" in line
        ] or "no fundament_redis_fallback_total metric"


# --- three instances on one budget, admitted from memory -------------------------------------


async def _hammer(windows: SharedWindows, tenant: str, limits: tuple[tuple[int, int], ...], *, until: float) -> int:
    admitted = 0
    for _ in range(20_000):  # bounded in count as well as in time
        if time.monotonic() >= until:
            break
        if (await windows.admit(tenant, limits, 1)).allowed:
            admitted += 1
        await asyncio.sleep(0.0005)
    return admitted


@pytest.mark.parametrize("spread", ["even", "one-busy"])
async def test_three_instances_admit_at_most_110_percent_of_a_shared_budget(
    redis_url: RedisTarget, spread: str
) -> None:
    """Three instances of the shared windows (as three servers hold them) on one real Redis:
    with the load on all three, or all on one while the others are up, together they admit
    at most 110% of the budget and no fewer than it less one unit per instance. The window
    is an hour long, so the run does not straddle one (the sliding window would rightly
    admit more then)."""
    prefix = f"fairness-{uuid.uuid4().hex[:8]}"
    instances = [SharedWindows(redis_url.url, prefix=prefix) for _ in range(3)]
    budget = 300
    limits = ((10_000, 1), (budget, 3600))
    try:
        for w in instances:  # all three have announced themselves, as running servers have
            await w.admit("warm-up", limits, 1)
        await asyncio.sleep(0.2)
        until = time.monotonic() + 3.0
        busy = instances if spread == "even" else instances[:1]
        counts = await asyncio.gather(*(_hammer(w, "tnt_fair", limits, until=until) for w in busy))
    finally:
        for w in instances:
            await w.close()
    total = sum(counts)
    assert budget - len(instances) <= total <= 1.1 * budget, counts
