"""Plan caps on collections, keys, users and open privacy jobs; audit bytes in the quota.

Each cap is refused at the cap with its own problem type and nothing of the refused
write kept (not even its audit event), exactly under concurrency, and frees up when the
resource goes. The stored-bytes quota counts the audit trail as well as the records.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from conftest import TenantFixture, bearer, make_tenant, table_locked
from fundament.app import create_app
from fundament.platform import Settings
from fundament.tenancy import BUILTIN, PlansError, load_plans

ROOMY = """requests_per_minute = 100000
burst = 100000
max_records = 1000000
monthly_price_eur = 0
"""
PLANS = f"""
[plans.free]
{ROOMY}max_stored_bytes = 1000000000
max_collections = 1000
max_api_keys = 1000
max_users = 1000
max_webhooks = 1000
max_open_privacy_jobs = 1000
max_indexes_per_collection = 8

[plans.capped]
{ROOMY}max_stored_bytes = 1000000000
max_collections = 2
max_api_keys = 6
max_users = 2
max_webhooks = 1
max_open_privacy_jobs = 2
max_indexes_per_collection = 3

[plans.ten-megabytes]
{ROOMY}max_stored_bytes = 10000000
max_collections = 1000
max_api_keys = 1000
max_users = 1000
max_webhooks = 1000
max_open_privacy_jobs = 1000
max_indexes_per_collection = 8
"""


@pytest.fixture(scope="module")
async def served(
    admin_dsn: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """An app on these plans (its job worker driven by the tests) and a client."""
    path = tmp_path_factory.mktemp("plans") / "plans.toml"
    path.write_text(PLANS)
    application = create_app(settings.model_copy(update={"plans": path}), admin_dsn=admin_dsn)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://fundament.test") as client:
            yield application, client


@pytest.fixture
def http(served: tuple[Any, httpx.AsyncClient]) -> httpx.AsyncClient:
    return served[1]


async def _tenant(http: httpx.AsyncClient, operator_key: str, plan: str) -> TenantFixture:
    """A tenant with its four keys (viewer … owner), then moved to ``plan``."""
    t = await make_tenant(http, operator_key)
    r = await http.patch(f"/v1/tenants/{t.id}", json={"plan": plan}, headers=bearer(operator_key))
    assert r.status_code == 200, r.text
    return t


async def _audit_count(t: TenantFixture) -> int:
    r = await t.http.get(f"{t.base}/audit-events?limit=200", headers=t.h("admin"))
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


async def _count(t: TenantFixture, path: str) -> int:
    r = await t.http.get(f"{t.base}/{path}?limit=200", headers=t.h("admin"))
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


def _assert_refused(r: httpx.Response, quota: str, limit: int) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"].endswith("/quota-" + quota.replace("_", "-")), body
    assert body["quota"] == quota and body["limit"] == limit and body["plan"] == "capped"
    assert f"allows {limit} " in body["detail"] and "'capped'" in body["detail"]


def _collection(name: str) -> dict[str, Any]:
    return {"name": name, "schema": {"type": "object", "properties": {"text": {"type": "string"}}}}


async def test_collections_are_capped(http: httpx.AsyncClient, operator_key: str) -> None:
    t = await _tenant(http, operator_key, "capped")
    for name in ("one", "two"):
        r = await http.post(f"{t.base}/collections", json=_collection(name), headers=t.h("admin"))
        assert r.status_code == 201, r.text
    events = await _audit_count(t)
    r = await http.post(f"{t.base}/collections", json=_collection("three"), headers=t.h("admin"))
    _assert_refused(r, "max_collections", 2)
    assert await _count(t, "collections") == 2
    assert (await http.get(f"{t.base}/collections/three", headers=t.h("admin"))).status_code == 404
    assert await _audit_count(t) == events
    # Dropping one makes room again.
    assert (await http.delete(f"{t.base}/collections/one", headers=t.h("admin"))).status_code == 204
    r = await http.post(f"{t.base}/collections", json=_collection("three"), headers=t.h("admin"))
    assert r.status_code == 201, r.text


async def test_indexes_per_collection_are_capped_on_create_and_patch(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    t = await _tenant(http, operator_key, "capped")
    wide = {**_collection("wide"), "indexes": ["a", "b", "c", "d"]}
    r = await http.post(f"{t.base}/collections", json=wide, headers=t.h("admin"))
    _assert_refused(r, "max_indexes_per_collection", 3)
    assert (await http.get(f"{t.base}/collections/wide", headers=t.h("admin"))).status_code == 404
    r = await http.post(f"{t.base}/collections", json={**wide, "indexes": ["a", "b", "c"]}, headers=t.h("admin"))
    assert r.status_code == 201, r.text
    merge = {"Content-Type": "application/merge-patch+json", **t.h("admin")}
    r = await http.patch(f"{t.base}/collections/wide", json={"indexes": ["a", "b", "c", "d"]}, headers=merge)
    _assert_refused(r, "max_indexes_per_collection", 3)
    r = await http.get(f"{t.base}/collections/wide", headers=t.h("admin"))
    assert r.json()["indexes"] == ["a", "b", "c"]
    # A plan lowered below a collection's indexes leaves it usable and patchable otherwise.
    r = await http.patch(f"{t.base}/collections/wide", json={"purpose": "support"}, headers=merge)
    assert r.status_code == 200, r.text


async def test_active_api_keys_are_capped_and_revoked_ones_do_not_count(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    t = await _tenant(http, operator_key, "capped")  # holds 4 keys already
    made = []
    for i in range(2):
        r = await http.post(
            f"{t.base}/api-keys", json={"name": f"k{i}", "role": "viewer"}, headers=t.h("admin")
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    events = await _audit_count(t)
    r = await http.post(f"{t.base}/api-keys", json={"name": "k2", "role": "viewer"}, headers=t.h("admin"))
    _assert_refused(r, "max_api_keys", 6)
    assert "key" not in r.json()
    assert await _count(t, "api-keys") == 6
    assert await _audit_count(t) == events
    # The operator is held to the tenant's plan as well.
    r = await http.post(
        f"{t.base}/api-keys", json={"name": "op", "role": "viewer"}, headers=bearer(operator_key)
    )
    _assert_refused(r, "max_api_keys", 6)
    assert (await http.delete(f"{t.base}/api-keys/{made[0]}", headers=t.h("admin"))).status_code == 204
    r = await http.post(f"{t.base}/api-keys", json={"name": "k3", "role": "viewer"}, headers=t.h("admin"))
    assert r.status_code == 201, r.text


async def test_users_are_capped(http: httpx.AsyncClient, operator_key: str) -> None:
    t = await _tenant(http, operator_key, "capped")
    ids = []
    for i in range(2):
        r = await http.post(
            f"{t.base}/users", json={"email": f"u{i}@example.com", "role": "viewer"}, headers=t.h("admin")
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    events = await _audit_count(t)
    r = await http.post(
        f"{t.base}/users", json={"email": "u2@example.com", "role": "viewer"}, headers=t.h("admin")
    )
    _assert_refused(r, "max_users", 2)
    assert await _count(t, "users") == 2
    assert await _audit_count(t) == events
    assert (await http.delete(f"{t.base}/users/{ids[0]}", headers=t.h("admin"))).status_code == 204
    r = await http.post(
        f"{t.base}/users", json={"email": "u2@example.com", "role": "viewer"}, headers=t.h("admin")
    )
    assert r.status_code == 201, r.text


async def test_open_privacy_jobs_are_capped_until_they_are_done(
    served: tuple[Any, httpx.AsyncClient], operator_key: str
) -> None:
    app, http = served
    t = await _tenant(http, operator_key, "capped")
    first = await http.post(
        f"{t.base}/privacy/exports", json={"subject": "a@example.com"}, headers=t.h("admin")
    )
    assert first.status_code == 202, first.text
    r = await http.post(f"{t.base}/privacy/erasures", json={"subject": "b@example.com"}, headers=t.h("admin"))
    assert r.status_code == 202, r.text
    events = await _audit_count(t)
    for kind in ("exports", "erasures"):  # exports and erasures share the one cap
        r = await http.post(
            f"{t.base}/privacy/{kind}", json={"subject": "c@example.com"}, headers=t.h("admin")
        )
        _assert_refused(r, "max_open_privacy_jobs", 2)
    assert await _audit_count(t) == events
    # Done requests no longer count (the worker serves every tenant's due jobs).
    await app.services.job_worker.run_once()
    done = await http.get(f"{t.base}/privacy/exports/{first.json()['id']}", headers=t.h("admin"))
    assert done.json()["status"] == "done"
    r = await http.post(f"{t.base}/privacy/exports", json={"subject": "c@example.com"}, headers=t.h("admin"))
    assert r.status_code == 202, r.text


async def _waiting_on(admin_dsn: str, table: str, n: int) -> None:
    """Until ``n`` sessions wait for a lock on ``table`` (at most 10 s)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        for _ in range(200):
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass", table
            )
            if waiting >= n:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"only {waiting} of {n} writers reached the lock")
    finally:
        await conn.close()


async def test_concurrent_creates_never_pass_the_cap(
    http: httpx.AsyncClient, operator_key: str, admin_dsn: str
) -> None:
    t = await _tenant(http, operator_key, "capped")
    r = await http.post(f"{t.base}/collections", json=_collection("first"), headers=t.h("admin"))
    assert r.status_code == 201, r.text  # at cap - 1

    async def create(i: int) -> int:
        r = await http.post(f"{t.base}/collections", json=_collection(f"c{i}"), headers=t.h("admin"))
        return r.status_code

    # Hold every writer at the table, then let them all go at once: their transactions
    # overlap from the insert to the commit, which is where the count must be exact.
    async with table_locked(admin_dsn, "collections"):
        writers = [asyncio.create_task(create(i)) for i in range(6)]
        await _waiting_on(admin_dsn, "collections", 6)
    codes = await asyncio.gather(*writers)
    assert sorted(codes) == [201] + [403] * 5, codes
    assert await _count(t, "collections") == 2


async def test_the_audit_trail_counts_in_stored_bytes(http: httpx.AsyncClient, operator_key: str) -> None:
    """A personal field's values stay in the trail (sealed) after every change: 870 KB PUT
    over and over adds ~1.2 MB of audit data each time while the record stays 870 KB."""
    t = await _tenant(http, operator_key, "ten-megabytes")
    r = await http.post(
        f"{t.base}/collections",
        json={
            "name": "people",
            "schema": {
                "type": "object",
                "properties": {"email": {"type": "string"}, "bio": {"type": "string"}},
            },
            "personal_fields": ["email", "bio"],
            "subject_field": "email",
        },
        headers=t.h("admin"),
    )
    assert r.status_code == 201, r.text

    def body() -> dict[str, Any]:  # random: PostgreSQL cannot compress it away
        return {"data": {"email": "big@example.com", "bio": secrets.token_urlsafe(652_500)}}

    r = await http.post(f"{t.base}/collections/people/records", json=body(), headers=t.h("member"))
    assert r.status_code == 201, r.text
    url = f"{t.base}/collections/people/records/{r.json()['id']}"
    events = await _audit_count(t)
    refused_at = None
    for i in range(20):
        r = await http.put(url, json=body(), headers=t.h("member"))
        if r.status_code != 200:
            refused_at = i
            break
    # The record alone (0.87 MB) is far from 10 MB. With its trail: 0.87 + 1.16 after the
    # create, + 1.16 per PUT; the 6th PUT makes 8.99 MB, the 7th would make 10.15 MB. (Were
    # this write's own audit bytes missed, the 8th would be the first refused.)
    assert refused_at is not None, "20 PUTs of 870 KB personal data were all accepted"
    assert r.status_code == 403 and r.json()["type"].endswith("/quota-max-stored-bytes"), r.text
    assert refused_at == 6, refused_at
    current = await http.get(url, headers=t.h("viewer"))
    assert current.json()["version"] == refused_at + 1  # the refused PUT changed nothing
    assert await _audit_count(t) == events + refused_at
    # At the cap, removing data is still allowed (its own audit event notwithstanding),
    # and frees room for small writes.
    assert (await http.delete(url, headers=t.h("member"))).status_code == 204
    r = await http.post(
        f"{t.base}/collections/people/records",
        json={"data": {"email": "s@example.com"}},
        headers=t.h("member"),
    )
    assert r.status_code == 201, r.text


def test_plans_files_carry_every_cap(tmp_path: Path) -> None:
    for plan in BUILTIN.values():
        assert plan.max_indexes_per_collection <= 8
        assert plan.max_open_privacy_jobs >= 1 and plan.max_webhooks >= 1
    path = tmp_path / "plans.toml"
    # An older file without the caps: refused, naming the missing keys and a value to use.
    path.write_text(PLANS.replace("max_users = 2\n", ""))
    with pytest.raises(PlansError) as info:
        load_plans(path)
    assert "[plans.capped]" in str(info.value) and "max_users" in str(info.value)
    assert "max_users = 1000" in str(info.value) and str(path) in str(info.value)
    path.write_text(
        PLANS.replace(
            "max_indexes_per_collection = 3\n\n[plans.ten", "max_indexes_per_collection = 9\n\n[plans.ten"
        )
    )
    with pytest.raises(PlansError) as info:
        load_plans(path)
    assert "[plans.capped].max_indexes_per_collection must be at most 8" in str(info.value)
    path.write_text(PLANS.replace("max_webhooks = 1\n", "max_webhooks = 0\n"))
    with pytest.raises(PlansError, match=r"capped\]\.max_webhooks must be a positive integer"):
        load_plans(path)
    path.write_text(PLANS)
    assert load_plans(path)["capped"].max_collections == 2
