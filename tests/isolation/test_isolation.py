"""Tenant isolation, in both layers.

Over HTTP: every tenant-scoped endpoint, called with tenant B's key on tenant A's ids,
answers 404 (never 403: B learns nothing about A). At the SQL level: as the application
role, a query with no tenant predicate at all, run in tenant A's context, sees none of
B's rows, and without any context sees nothing.
"""

from __future__ import annotations

import asyncpg
import pytest

from fundament.app import app_dsn
from fundament.platform import Settings

TENANT_TABLES = ("api_keys", "users", "collections", "records", "idempotency_keys")


@pytest.fixture
async def populated(http, tenant, other_tenant):
    """Tenant A with one of everything; B is the intruder."""
    a = tenant
    await a.collection()
    rec = await a.record({"email": "secret@a.example"})
    user = (
        await http.post(
            f"{a.base}/users", json={"email": "u@a.example", "role": "viewer"}, headers=a.h("admin")
        )
    ).json()
    key = (await http.get(f"{a.base}/api-keys", headers=a.h("admin"))).json()["items"][0]
    await http.post(
        f"{a.base}/collections/contacts/records",
        json={"data": {"email": "idem@a.example"}},
        headers={**a.h("member"), "Idempotency-Key": "k1"},
    )
    return a, other_tenant, rec, user, key


def _endpoints(a_id: str, rec_id: str, user_id: str, key_id: str):
    t = f"/v1/tenants/{a_id}"
    r = f"{t}/collections/contacts/records"
    return [
        ("GET", t, None),
        ("PATCH", t, {"name": "pwned"}),
        ("DELETE", t, None),
        ("GET", f"{t}/api-keys", None),
        ("POST", f"{t}/api-keys", {"name": "x", "role": "viewer"}),
        ("DELETE", f"{t}/api-keys/{key_id}", None),
        ("GET", f"{t}/users", None),
        ("POST", f"{t}/users", {"email": "x@b.example", "role": "viewer"}),
        ("GET", f"{t}/users/{user_id}", None),
        ("PATCH", f"{t}/users/{user_id}", {"name": "x"}),
        ("DELETE", f"{t}/users/{user_id}", None),
        ("GET", f"{t}/collections", None),
        ("POST", f"{t}/collections", {"name": "evil", "schema": {}}),
        ("GET", f"{t}/collections/contacts", None),
        ("PATCH", f"{t}/collections/contacts", {"purpose": "x"}),
        ("DELETE", f"{t}/collections/contacts", None),
        ("GET", r, None),
        ("POST", r, {"data": {"email": "x"}}),
        ("GET", f"{r}/{rec_id}", None),
        ("PUT", f"{r}/{rec_id}", {"data": {"email": "x"}}),
        ("PATCH", f"{r}/{rec_id}", {"email": "x"}),
        ("DELETE", f"{r}/{rec_id}", None),
    ]


async def test_other_tenant_gets_404_everywhere(http, populated):
    a, b, rec, user, key = populated
    for role in ("viewer", "owner"):
        for method, path, body in _endpoints(a.id, rec["id"], user["id"], key["id"]):
            r = await http.request(method, path, json=body, headers=b.h(role))
            assert r.status_code == 404, (role, method, path, r.status_code, r.text)
            assert "secret" not in r.text
    # and A's data is untouched
    r = await http.get(f"{a.base}/collections/contacts/records/{rec['id']}", headers=a.h("viewer"))
    assert r.status_code == 200 and r.json()["data"]["email"] == "secret@a.example"


async def test_own_ids_under_own_tenant_path_are_not_confused(http, populated):
    """B's key with B's own tenant path but A's record id: still 404."""
    _a, b, rec, _, _ = populated
    await b.collection()
    r = await http.get(f"{b.base}/collections/contacts/records/{rec['id']}", headers=b.h("viewer"))
    assert r.status_code == 404


@pytest.fixture
async def app_conn(admin_dsn):
    """A raw connection as the application role, outside Fundament's code."""
    dsn = app_dsn(Settings(), admin_dsn)
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()


async def test_rls_hides_other_tenants_rows_without_where(app_conn, populated):
    a, b, *_ = populated
    await b.collection()
    await b.record({"email": "b@b.example"})
    for table in TENANT_TABLES:
        async with app_conn.transaction():
            await app_conn.execute("SELECT set_config('fundament.tenant_id', $1, true)", a.id)
            rows = await app_conn.fetch(f"SELECT tenant_id FROM {table}")  # no WHERE on purpose
        tenants = {r["tenant_id"] for r in rows}
        assert tenants == {a.id}, (table, tenants)
        assert b.id not in tenants
    async with app_conn.transaction():
        await app_conn.execute("SELECT set_config('fundament.tenant_id', $1, true)", a.id)
        assert {r["id"] for r in await app_conn.fetch("SELECT id FROM tenants")} == {a.id}


async def test_rls_without_context_sees_nothing_and_cannot_write(app_conn, populated):
    a, *_ = populated
    for table in (*TENANT_TABLES, "tenants"):
        assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(
            "INSERT INTO users (tenant_id, id, email, role, created_at, updated_at)"
            " VALUES ($1, 'usr_x', 'x@x', 'viewer', now(), now())",
            a.id,
        )
    async with app_conn.transaction():
        await app_conn.execute("SELECT set_config('fundament.tenant_id', 'tnt_somebody_else', true)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app_conn.execute(
                "INSERT INTO users (tenant_id, id, email, role, created_at, updated_at)"
                " VALUES ($1, 'usr_x', 'x@x', 'viewer', now(), now())",
                a.id,
            )


async def test_tenant_context_does_not_outlive_the_transaction(app_conn, populated):
    a, *_ = populated
    async with app_conn.transaction():
        await app_conn.execute("SELECT set_config('fundament.tenant_id', $1, true)", a.id)
        assert await app_conn.fetchval("SELECT count(*) FROM collections") == 1
    assert await app_conn.fetchval("SELECT current_setting('fundament.tenant_id', true)") in ("", None)
    assert await app_conn.fetchval("SELECT count(*) FROM collections") == 0


async def test_app_role_is_unprivileged(app_conn):
    role = await app_conn.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
    )
    assert not any(role.values())
    owned = await app_conn.fetchval(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user"
    )
    assert owned == 0
    flags = await app_conn.fetch(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY($1::text[])",
        [*TENANT_TABLES, "tenants"],
    )
    assert len(flags) == len(TENANT_TABLES) + 1
    assert all(f["relrowsecurity"] and f["relforcerowsecurity"] for f in flags)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute("ALTER TABLE records DISABLE ROW LEVEL SECURITY")


async def test_every_tenant_table_leads_keys_with_tenant_id(app_conn):
    rows = await app_conn.fetch(
        "SELECT c.relname AS tbl, i.relname AS idx, pg_get_indexdef(i.oid) AS def"
        " FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE c.relname = ANY($1::text[])",
        list(TENANT_TABLES),
    )
    assert rows
    for r in rows:
        cols = r["def"].split("(", 1)[1]
        assert cols.startswith("tenant_id"), (r["tbl"], r["idx"], r["def"])
