"""Operator keys: created, listed, expired and revoked, through the API and the CLI; a
revoked or expired key gets 401 on every instance."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from conftest import bearer
from fundament.app import create_app
from fundament.migrations import migrate


@asynccontextmanager
async def other_instance(admin_dsn, settings) -> AsyncIterator[httpx.AsyncClient]:
    other_app = create_app(settings, admin_dsn=admin_dsn)
    async with other_app.router.lifespan_context(other_app):
        transport = httpx.ASGITransport(app=other_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as client:
            yield client


@asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def _until_401(client: httpx.AsyncClient, key: str, seconds: float = 1.0) -> None:
    started = time.monotonic()
    while (await client.get("/v1/tenants", headers=bearer(key))).status_code != 401:
        assert time.monotonic() - started < seconds, "the key still works"
        await asyncio.sleep(0.02)


async def _cli(admin_dsn: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    env.update(FUNDAMENT_DATABASE_URL=admin_dsn, FUNDAMENT_MASTER_KEY="test-master-key")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fundament.cli",
        "operator-key",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_create_list_revoke_through_the_api(http, operator_key, admin_dsn, settings):
    r = await http.post("/v1/operator-keys", json={"name": "rotation"}, headers=bearer(operator_key))
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    created = r.json()
    assert set(created) == {"id", "name", "prefix", "key", "created_at", "expires_at"}
    assert created["id"].startswith("opk_") and created["key"].startswith("fdo_")
    assert created["key"].startswith(created["prefix"]) and len(created["prefix"]) == 12
    assert created["expires_at"] is None
    assert r.headers["location"] == f"/v1/operator-keys/{created['id']}"
    key = created["key"]
    assert (await http.get("/v1/tenants", headers=bearer(key))).status_code == 200

    listed = (await http.get("/v1/operator-keys?limit=200", headers=bearer(key))).json()
    items = listed["items"]
    while listed["next_cursor"]:
        listed = (
            await http.get(f"/v1/operator-keys?limit=200&cursor={listed['next_cursor']}", headers=bearer(key))
        ).json()
        items += listed["items"]
    mine = [k for k in items if k["id"] == created["id"]]
    assert mine == [{k: v for k, v in created.items() if k != "key"}]
    assert key not in json.dumps(items) and operator_key not in json.dumps(items)

    async with other_instance(admin_dsn, settings) as other:
        assert (await other.get("/v1/tenants", headers=bearer(key))).status_code == 200  # cached there
        r = await http.delete(f"/v1/operator-keys/{created['id']}", headers=bearer(operator_key))
        assert r.status_code == 204
        assert (await http.get("/v1/tenants", headers=bearer(key))).status_code == 401
        await _until_401(other, key)
    listed = (await http.get("/v1/operator-keys?limit=200", headers=bearer(operator_key))).json()
    assert created["id"] not in {k["id"] for k in listed["items"]}
    # revoked already, or never existed: 404
    for key_id in (created["id"], "opk_01J00000000000000000000000", "nope"):
        r = await http.delete(f"/v1/operator-keys/{key_id}", headers=bearer(operator_key))
        assert r.status_code == 404, key_id
        assert r.headers["content-type"].startswith("application/problem+json")

    async with connected(admin_dsn) as conn:
        actions = await conn.fetch(
            "SELECT action, actor_type FROM platform_events WHERE target_id = $1 ORDER BY at", created["id"]
        )
    assert [(a["action"], a["actor_type"]) for a in actions] == [
        ("operator_key.created", "operator"),
        ("operator_key.revoked", "operator"),
    ]


async def test_only_operators_manage_operator_keys(http, tenant):
    for role in ("admin", "owner"):
        assert (await http.get("/v1/operator-keys", headers=tenant.h(role))).status_code == 403
        r = await http.post("/v1/operator-keys", json={"name": "x"}, headers=tenant.h(role))
        assert r.status_code == 403
        r = await http.delete("/v1/operator-keys/opk_01J00000000000000000000000", headers=tenant.h(role))
        assert r.status_code == 403
    assert (await http.get("/v1/operator-keys")).status_code == 401


async def test_expiry_is_checked_and_enforced_on_every_instance(http, operator_key, admin_dsn, settings):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await http.post(
        "/v1/operator-keys", json={"name": "old", "expires_at": past}, headers=bearer(operator_key)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "/expires_at"
    r = await http.post(
        "/v1/operator-keys",
        json={"name": "naive", "expires_at": "2099-01-01T00:00:00"},
        headers=bearer(operator_key),
    )
    assert r.status_code == 422

    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    r = await http.post(
        "/v1/operator-keys",
        json={"name": "short", "expires_at": soon.isoformat()},
        headers=bearer(operator_key),
    )
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    assert r.json()["expires_at"] is not None
    async with other_instance(admin_dsn, settings) as other:
        for client in (http, other):
            assert (await client.get("/v1/tenants", headers=bearer(key))).status_code == 200
        await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
        for client in (http, other):
            r = await client.get("/v1/tenants", headers=bearer(key))
            assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_cli_create_list_revoke_reaches_a_running_instance(http, admin_dsn):
    code, out, err = await _cli(admin_dsn, "create", "--name", "cli-rotation", "--expires-in", "2h")
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    assert key.startswith("fdo_") and "expires 20" in out
    assert (await http.get("/v1/tenants", headers=bearer(key))).status_code == 200  # cached here

    code, out, err = await _cli(admin_dsn, "list", "--json")
    assert code == 0, err
    keys = [json.loads(line) for line in out.splitlines()]
    (mine,) = [k for k in keys if k["name"] == "cli-rotation" and key.startswith(k["prefix"])]
    expires = datetime.fromisoformat(mine["expires_at"])
    assert timedelta(minutes=119) < expires - datetime.now(UTC) <= timedelta(hours=2)
    assert key not in out and "key" not in mine

    code, table, err = await _cli(admin_dsn, "list")
    assert code == 0, err
    assert table.splitlines()[0].split() == ["ID", "NAME", "PREFIX", "CREATED", "EXPIRES"]
    assert mine["id"] in table and key not in table

    code, out, err = await _cli(admin_dsn, "revoke", mine["id"])
    assert code == 0, err
    await _until_401(http, key, seconds=2.0)
    code, out, err = await _cli(admin_dsn, "revoke", mine["id"])
    assert code == 2 and "no operator key" in err
    async with connected(admin_dsn) as conn:
        actions = await conn.fetch(
            "SELECT action, actor_type FROM platform_events WHERE target_id = $1 ORDER BY at", mine["id"]
        )
    assert [(a["action"], a["actor_type"]) for a in actions] == [
        ("operator_key.created", "cli"),
        ("operator_key.revoked", "cli"),
    ]


async def test_cli_refuses_a_bad_expiry(admin_dsn):
    for args in (
        ["--expires-in", "30"],
        ["--expires-in", "0d"],
        ["--expires-at", "2020-01-01T00:00:00Z"],
        ["--expires-at", "tomorrow"],
        ["--expires-in", "1d", "--expires-at", "2099-01-01"],
    ):
        code, out, err = await _cli(admin_dsn, "create", *args)
        assert code == 2, (args, out, err)
        assert "fdo_" not in out


async def test_key_prefixes_are_how_keys_begin(http, tenant):
    r = await http.post(
        f"{tenant.base}/api-keys", json={"name": "p", "role": "viewer"}, headers=tenant.h("admin")
    )
    created = r.json()
    assert created["key"].startswith(created["prefix"])
    assert created["prefix"] == f"fdk_{tenant.id[4:]}_" + created["key"][len(tenant.id) + 1 :][:8]
    listed = (await http.get(f"{tenant.base}/api-keys?limit=200", headers=tenant.h("admin"))).json()
    for item in listed["items"]:
        assert item["prefix"].startswith(f"fdk_{tenant.id[4:]}_")
    # the key still works
    assert (await http.get(f"{tenant.base}/collections", headers=bearer(created["key"]))).status_code == 200


async def test_migration_rewrites_old_prefixes(server_dsn):
    """Keys made before 0009 showed ``fdk_`` + 8 secret characters; they now show how they begin."""
    name = f"fundament_prefix_{uuid.uuid4().hex[:8]}"
    async with connected(server_dsn) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    dsn = make_url(server_dsn).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(migrate, dsn, revision="0008")
        tenant = "tnt_01JABCDEFGHJKMNPQRSTVWXYZ0"
        async with connected(dsn) as conn:
            await conn.execute(
                "INSERT INTO tenants VALUES ($1, 'old', 'Old', 'eu-central-1', 'free', 'active', now(), now())",
                tenant,
            )
            await conn.execute(
                "INSERT INTO api_keys (tenant_id, id, name, role, prefix, secret_hash, created_at)"
                " VALUES ($1, 'key_1', 'k', 'admin', 'fdk_Ab-_cdEf', '\\x00', now())",
                tenant,
            )
        await asyncio.to_thread(migrate, dsn)
        async with connected(dsn) as conn:
            prefix = await conn.fetchval("SELECT prefix FROM api_keys WHERE id = 'key_1'")
            assert prefix == "fdk_01JABCDEFGHJKMNPQRSTVWXYZ0_Ab-_cdEf"
            columns = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'operator_keys'"
            )
            assert "expires_at" in {c["column_name"] for c in columns}
    finally:
        async with connected(server_dsn) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_grant_refusal_reads_well(http, tenant):
    r = await http.post(
        f"{tenant.base}/api-keys", json={"name": "x", "role": "owner"}, headers=tenant.h("admin")
    )
    assert r.status_code == 403
    assert r.json()["detail"] == "An 'admin' key cannot grant the 'owner' role."
