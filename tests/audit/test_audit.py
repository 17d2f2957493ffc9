"""The audit trail: one event per write, in the same transaction, hash-chained, append-only."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from conftest import bearer
from fundament.app import app_dsn
from fundament.platform import Settings


async def events(http, tenant, **params):
    r = await http.get(
        f"{tenant.base}/audit-events", params={"limit": 200, **params}, headers=tenant.h("admin")
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def verify(http, tenant):
    r = await http.get(f"{tenant.base}/audit-events/verify", headers=tenant.h("admin"))
    assert r.status_code == 200, r.text
    return r.json()


async def test_every_write_path_emits_exactly_one_event(http, tenant, operator_key):
    base = tenant.base
    before = len(await events(http, tenant))  # tenant.created + 4 api_key.created from the fixture
    assert before == 5
    steps = []

    async def write(action, method, url, expect, **kw):
        r = await http.request(method, url, **kw)
        assert r.status_code == expect, (action, r.text)
        steps.append(action)
        return r

    admin = tenant.h("admin")
    key = (
        await write(
            "api_key.created",
            "POST",
            f"{base}/api-keys",
            201,
            json={"name": "k", "role": "viewer"},
            headers=admin,
        )
    ).json()
    await write("api_key.revoked", "DELETE", f"{base}/api-keys/{key['id']}", 204, headers=admin)
    user = (
        await write(
            "user.created",
            "POST",
            f"{base}/users",
            201,
            json={"email": "u@x.example", "role": "viewer"},
            headers=admin,
        )
    ).json()
    await write("user.updated", "PATCH", f"{base}/users/{user['id']}", 200, json={"name": "U"}, headers=admin)
    await write("user.deleted", "DELETE", f"{base}/users/{user['id']}", 204, headers=admin)
    await tenant.collection()
    steps.append("collection.created")
    await write(
        "collection.updated",
        "PATCH",
        f"{base}/collections/contacts",
        200,
        json={"purpose": "CRM"},
        headers=admin,
    )
    rec = await tenant.record({"email": "secret-person@x.example", "score": 1})
    steps.append("record.created")
    url = f"{base}/collections/contacts/records/{rec['id']}"
    member = tenant.h("member")
    await write(
        "record.replaced",
        "PUT",
        url,
        200,
        json={"data": {"email": "secret-person@x.example", "score": 2}},
        headers=member,
    )
    await write("record.updated", "PATCH", url, 200, json={"score": 3}, headers=member)
    await write("record.deleted", "DELETE", url, 204, headers=member)
    await write("collection.deleted", "DELETE", f"{base}/collections/contacts", 204, headers=admin)
    await write("tenant.updated", "PATCH", base, 200, json={"name": "Renamed"}, headers=bearer(operator_key))

    # failed writes leave no trace
    r = await http.post(f"{base}/users", json={"email": "bad", "role": "viewer"}, headers=admin)
    assert r.status_code == 422

    trail = await events(http, tenant)
    assert [e["action"] for e in trail[before:]] == steps
    assert [e["seq"] for e in trail] == list(range(1, len(trail) + 1))
    assert all(
        set(e) >= {"id", "seq", "at", "actor", "action", "target", "request_id", "prev_hash", "hash"}
        for e in trail
    )
    patch = next(e for e in trail if e["action"] == "record.updated")
    assert patch["details"]["fields"] == ["score"] and patch["target"] == {"type": "record", "id": rec["id"]}
    assert patch["actor"]["type"] == "api_key"
    assert "secret-person" not in str(trail)  # names of fields, never values
    result = await verify(http, tenant)
    assert result == {"valid": True, "count": len(trail), "head": trail[-1]["hash"]}


async def test_filters_and_cursor(http, tenant):
    await tenant.collection()
    recs = [await tenant.record({"email": f"{i}@x.example"}) for i in range(3)]
    created = await events(http, tenant, action="record.created")
    assert [e["target"]["id"] for e in created] == [r["id"] for r in recs]
    assert len(await events(http, tenant, target=recs[1]["id"])) == 1
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await http.get(f"{tenant.base}/audit-events", params=params, headers=tenant.h("admin"))
        seen += [e["seq"] for e in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == list(range(1, len(seen) + 1))
    assert (await http.get(f"{tenant.base}/audit-events", headers=tenant.h("member"))).status_code == 403


async def test_concurrent_writers_keep_a_gap_free_chain(http, tenant):
    await tenant.collection()
    await asyncio.gather(*[tenant.record({"email": f"c{i}@x.example"}) for i in range(8 * 5)])
    result = await verify(http, tenant)
    assert result["valid"] and result["count"] == 5 + 1 + 40


@pytest.fixture
async def admin_conn(admin_dsn):
    conn = await asyncpg.connect(admin_dsn)
    yield conn
    await conn.close()


async def test_tampering_is_detected_at_its_seq(http, tenant, admin_conn):
    await tenant.collection()
    await tenant.record({"email": "t@x.example"})
    assert (await verify(http, tenant))["valid"]
    # a superuser edits history, going around the append-only trigger
    async with admin_conn.transaction():
        await admin_conn.execute("SET LOCAL session_replication_role = replica")
        await admin_conn.execute(
            "UPDATE audit_events SET target_id = 'rec_forged' WHERE tenant_id = $1 AND seq = 3", tenant.id
        )
    result = await verify(http, tenant)
    assert result["valid"] is False and result["broken_seq"] == 3


async def test_application_role_cannot_change_or_delete_events(http, app, tenant, admin_dsn):
    await app.services.audit_sealer.seal(tenant.id)  # events are sealed shortly after commit; now
    dsn = app_dsn(Settings(), admin_dsn)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('fundament.tenant_id', $1, true)", tenant.id)
            assert await conn.fetchval("SELECT count(*) FROM audit_events") == 5
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("UPDATE audit_events SET action = 'x'")
        async with conn.transaction():
            await conn.execute("SELECT set_config('fundament.tenant_id', $1, true)", tenant.id)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("DELETE FROM audit_events")
    finally:
        await conn.close()


async def test_the_owner_cannot_rewrite_history_either(app, tenant, admin_conn):
    await app.services.audit_sealer.seal(tenant.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await admin_conn.execute("DELETE FROM audit_events WHERE tenant_id = $1", tenant.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await admin_conn.execute("UPDATE audit_events SET action = 'x' WHERE tenant_id = $1", tenant.id)


async def test_offboarding_leaves_a_platform_event_and_no_tenant_rows(http, tenant, operator_key, admin_conn):
    await tenant.collection()
    r = await http.delete(tenant.base, headers=bearer(operator_key))
    assert r.status_code == 202
    assert await admin_conn.fetchval("SELECT count(*) FROM audit_events WHERE tenant_id = $1", tenant.id) == 0
    row = await admin_conn.fetchrow("SELECT * FROM platform_events WHERE target_id = $1", tenant.id)
    assert row["action"] == "tenant.offboarded" and row["actor_type"] == "operator"


async def test_other_tenants_cannot_read_the_trail(http, tenant, other_tenant):
    for path in ("/audit-events", "/audit-events/verify"):
        r = await http.get(f"{tenant.base}{path}", headers=other_tenant.h("owner"))
        assert r.status_code == 404


def test_cli_verify_and_export(admin_dsn, tmp_path):
    """`fundament audit verify/export` against a tenant made here through SQL-free API calls."""
    import json
    import os
    import subprocess
    import sys

    async def make() -> str:
        import httpx

        from fundament.app import create_app
        from fundament.platform import Settings

        app = create_app(Settings(), admin_dsn=admin_dsn)
        conn = await asyncpg.connect(admin_dsn)
        try:
            from fundament.identity import create_operator_key

            _, key = await create_operator_key(conn, name="cli")
        finally:
            await conn.close()
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as c,
        ):
            r = await c.post(
                "/v1/tenants", json={"name": "C", "slug": f"cli-{os.getpid()}"}, headers=bearer(key)
            )
            return r.json()["id"]

    tenant_id = asyncio.run(make())
    env = {**os.environ, "FUNDAMENT_DATABASE_URL": admin_dsn}

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "fundament.cli", "audit", *a, "--tenant", tenant_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    out = run("verify")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["valid"] is True
    # a slug names the tenant too
    by_slug = subprocess.run(
        [sys.executable, "-m", "fundament.cli", "audit", "verify", "--tenant", f"cli-{os.getpid()}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert by_slug.returncode == 0, by_slug.stderr
    assert json.loads(by_slug.stdout) == json.loads(out.stdout)
    lines = run("export").stdout.splitlines()
    assert [json.loads(x)["action"] for x in lines] == ["tenant.created"]


def test_cli_refuses_an_unknown_tenant(admin_dsn):
    """An unknown id or slug is an error, not an empty chain that verifies."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "FUNDAMENT_DATABASE_URL": admin_dsn}
    for command, ref in [("verify", "tnt_nope"), ("verify", "no-such-slug"), ("export", "tnt_nope")]:
        out = subprocess.run(
            [sys.executable, "-m", "fundament.cli", "audit", command, "--tenant", ref],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, (command, ref, out.stdout, out.stderr)
        assert out.stdout == ""
        assert f"no tenant has the id or slug '{ref}'" in out.stderr
