"""API keys and users over HTTP: secrets shown once, revocation at once, role ceilings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import bearer


async def test_key_lifecycle(http, tenant):
    r = await http.post(
        f"{tenant.base}/api-keys", json={"name": "ci", "role": "member"}, headers=tenant.h("admin")
    )
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    created = r.json()
    assert set(created) == {"id", "name", "role", "prefix", "key", "created_at", "expires_at"}
    assert created["key"].startswith("fdk_") and created["id"].startswith("key_")
    assert created["prefix"] and created["key"] not in created["prefix"]

    r = await http.get(f"{tenant.base}/collections", headers=bearer(created["key"]))
    assert r.status_code == 200

    r = await http.get(f"{tenant.base}/api-keys", headers=tenant.h("admin"))
    assert r.status_code == 200
    listed = r.json()["items"]
    assert created["id"] in [k["id"] for k in listed]
    assert all("key" not in k for k in listed)
    assert created["key"] not in r.text

    r = await http.delete(f"{tenant.base}/api-keys/{created['id']}", headers=tenant.h("admin"))
    assert r.status_code == 204 and r.content == b""
    # revocation takes effect at once, even though the key was cached a moment ago
    r = await http.get(f"{tenant.base}/collections", headers=bearer(created["key"]))
    assert r.status_code == 401
    assert (
        await http.delete(f"{tenant.base}/api-keys/{created['id']}", headers=tenant.h("admin"))
    ).status_code == 404
    ids = [
        k["id"]
        for k in (await http.get(f"{tenant.base}/api-keys", headers=tenant.h("admin"))).json()["items"]
    ]
    assert created["id"] not in ids


async def test_role_ceiling_and_admin_only(http, tenant):
    r = await http.post(
        f"{tenant.base}/api-keys", json={"name": "x", "role": "owner"}, headers=tenant.h("admin")
    )
    assert r.status_code == 403
    r = await http.post(
        f"{tenant.base}/api-keys", json={"name": "x", "role": "admin"}, headers=tenant.h("admin")
    )
    assert r.status_code == 201
    r = await http.post(
        f"{tenant.base}/api-keys", json={"name": "x", "role": "owner"}, headers=tenant.h("owner")
    )
    assert r.status_code == 201
    for role in ("viewer", "member"):
        assert (await http.get(f"{tenant.base}/api-keys", headers=tenant.h(role))).status_code == 403
        r = await http.post(
            f"{tenant.base}/users", json={"email": "a@b.co", "role": "viewer"}, headers=tenant.h(role)
        )
        assert r.status_code == 403
    r = await http.post(
        f"{tenant.base}/api-keys", json={"name": "x", "role": "root"}, headers=tenant.h("owner")
    )
    assert r.status_code == 422


async def test_key_expiry(http, tenant):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await http.post(
        f"{tenant.base}/api-keys",
        json={"name": "x", "role": "viewer", "expires_at": past},
        headers=tenant.h("admin"),
    )
    assert r.status_code == 422
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await http.post(
        f"{tenant.base}/api-keys",
        json={"name": "x", "role": "viewer", "expires_at": soon},
        headers=tenant.h("admin"),
    )
    assert r.status_code == 201 and r.json()["expires_at"].endswith("Z")


async def test_user_crud(http, tenant):
    h = tenant.h("admin")
    r = await http.post(
        f"{tenant.base}/users", json={"email": "ada@example.com", "name": "Ada", "role": "member"}, headers=h
    )
    assert r.status_code == 201
    user = r.json()
    assert set(user) == {"id", "email", "name", "role", "created_at", "updated_at"}
    assert r.headers["location"].endswith(user["id"])
    r = await http.post(
        f"{tenant.base}/users", json={"email": "ADA@example.com", "role": "viewer"}, headers=h
    )
    assert r.status_code == 409
    r = await http.get(f"{tenant.base}/users/{user['id']}", headers=h)
    assert r.status_code == 200 and r.json() == user
    r = await http.patch(
        f"{tenant.base}/users/{user['id']}",
        content=b'{"name": null, "role": "viewer"}',
        headers={**h, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200 and r.json()["name"] is None and r.json()["role"] == "viewer"
    r = await http.patch(f"{tenant.base}/users/{user['id']}", json={"role": "owner"}, headers=h)
    assert r.status_code == 403
    r = await http.get(f"{tenant.base}/users", headers=h)
    assert [u["id"] for u in r.json()["items"]] == [user["id"]]
    assert (await http.delete(f"{tenant.base}/users/{user['id']}", headers=h)).status_code == 204
    assert (await http.get(f"{tenant.base}/users/{user['id']}", headers=h)).status_code == 404
    for bad in (
        {"email": "not-an-email", "role": "viewer"},
        {"email": "a@b.co", "role": "god"},
        {"email": "a@b.co", "role": "viewer", "x": 1},
    ):
        assert (await http.post(f"{tenant.base}/users", json=bad, headers=h)).status_code == 422
    assert (await http.get(f"{tenant.base}/users/usr_nonsense", headers=h)).status_code == 404


async def test_same_email_in_two_tenants(http, tenant, other_tenant):
    for t in (tenant, other_tenant):
        r = await http.post(
            f"{t.base}/users", json={"email": "same@example.com", "role": "viewer"}, headers=t.h("admin")
        )
        assert r.status_code == 201
