"""Tenants over HTTP: contract statuses, headers, roles, suspension, offboarding."""

from __future__ import annotations

import uuid

from conftest import bearer, make_tenant

PROBLEM = "application/problem+json"


async def test_create_get_list_tenant(http, operator_key):
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    r = await http.post("/v1/tenants", json={"name": "Acme", "slug": slug}, headers=bearer(operator_key))
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "slug", "name", "region", "cell", "plan", "status", "created_at"}
    assert body["id"].startswith("tnt_") and body["region"] == "eu-central-1"
    assert body["cell"] == "main"  # with no cell added, every tenant is on the control database
    assert body["status"] == "active" and body["plan"] == "free"
    assert body["created_at"].endswith("Z")
    assert r.headers["location"] == f"/v1/tenants/{body['id']}"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"]

    r = await http.get(f"/v1/tenants/{body['id']}", headers=bearer(operator_key))
    assert r.status_code == 200 and r.json() == body

    seen = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await http.get("/v1/tenants", params=params, headers=bearer(operator_key))
        assert r.status_code == 200
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert body["id"] in seen and len(seen) == len(set(seen))


async def test_slug_conflict_and_validation(http, operator_key):
    slug = f"dup-{uuid.uuid4().hex[:8]}"
    h = bearer(operator_key)
    assert (await http.post("/v1/tenants", json={"name": "A", "slug": slug}, headers=h)).status_code == 201
    r = await http.post("/v1/tenants", json={"name": "B", "slug": slug}, headers=h)
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    for bad in (
        {"name": "x", "slug": "NO"},
        {"name": "x", "slug": "ab"},
        {"name": "x"},
        {"name": "x", "slug": "good-slug", "extra": 1},
        {"name": 5, "slug": "good-slug"},
        {"name": "x", "slug": "good-slug-2", "plan": "platinum"},
    ):
        r = await http.post("/v1/tenants", json=bad, headers=h)
        assert r.status_code == 422, (bad, r.text)
        problem = r.json()
        assert {"type", "title", "status", "detail"} <= set(problem) and problem["errors"]


async def test_tenant_key_reads_only_own_tenant(http, tenant, other_tenant):
    r = await http.get(f"/v1/tenants/{tenant.id}", headers=tenant.h("viewer"))
    assert r.status_code == 200 and r.json()["id"] == tenant.id
    r = await http.get(f"/v1/tenants/{other_tenant.id}", headers=tenant.h("owner"))
    assert r.status_code == 404
    assert (await http.get("/v1/tenants", headers=tenant.h("owner"))).status_code == 403
    r = await http.post("/v1/tenants", json={"name": "x", "slug": "nope-123"}, headers=tenant.h("owner"))
    assert r.status_code == 403


async def test_patch_tenant_and_region_fixed(http, operator_key, tenant):
    h = bearer(operator_key)
    r = await http.patch(
        f"/v1/tenants/{tenant.id}",
        content=b'{"name": "Renamed", "plan": "pro"}',
        headers={**h, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.json()["plan"] == "pro"
    r = await http.patch(f"/v1/tenants/{tenant.id}", json={"region": "us-east-1"}, headers=h)
    assert r.status_code == 422 and "region" in r.json()["detail"]
    r = await http.patch(f"/v1/tenants/{tenant.id}", json={"plan": "gold"}, headers=h)
    assert r.status_code == 422
    # the owner may rename, but not change the plan; an admin may not patch at all
    assert (
        await http.patch(f"/v1/tenants/{tenant.id}", json={"name": "Mine"}, headers=tenant.h("owner"))
    ).status_code == 200
    assert (
        await http.patch(f"/v1/tenants/{tenant.id}", json={"plan": "enterprise"}, headers=tenant.h("owner"))
    ).status_code == 403
    assert (
        await http.patch(f"/v1/tenants/{tenant.id}", json={"name": "x"}, headers=tenant.h("admin"))
    ).status_code == 403


async def test_suspended_tenant_keys_get_403(http, operator_key, tenant):
    h = bearer(operator_key)
    r = await http.patch(f"/v1/tenants/{tenant.id}", json={"status": "suspended"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = await http.get(f"/v1/tenants/{tenant.id}/collections", headers=tenant.h("viewer"))
    assert r.status_code == 403 and r.json()["type"].endswith("tenant-suspended")
    # the operator still works and can reactivate
    r = await http.patch(f"/v1/tenants/{tenant.id}", json={"status": "active"}, headers=h)
    assert r.status_code == 200
    r = await http.get(f"/v1/tenants/{tenant.id}/collections", headers=tenant.h("viewer"))
    assert r.status_code == 200


async def test_offboarding_removes_everything(http, operator_key, tenant):
    await tenant.collection()
    await tenant.record({"email": "a@example.com"})
    r = await http.delete(f"/v1/tenants/{tenant.id}", headers=tenant.h("owner"))
    assert r.status_code == 202
    assert (await http.get(f"/v1/tenants/{tenant.id}", headers=bearer(operator_key))).status_code == 404
    # its keys are dead at once
    r = await http.get(f"/v1/tenants/{tenant.id}/collections", headers=tenant.h("owner"))
    assert r.status_code == 401
    assert (await http.delete(f"/v1/tenants/{tenant.id}", headers=bearer(operator_key))).status_code == 404


async def test_authentication_errors(http, tenant):
    assert (await http.get("/v1/tenants")).status_code == 401
    for header in ("Bearer", "Basic abc", "Bearer fdk_nope", "Bearer " + "x" * 1000, "Bearer fdo_nope"):
        r = await http.get(f"/v1/tenants/{tenant.id}", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.headers["content-type"] == PROBLEM
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_request_id_echo_and_unknown_query(http, operator_key):
    r = await http.get("/v1/tenants", headers={**bearer(operator_key), "X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await http.get("/v1/tenants?limt=5", headers=bearer(operator_key))
    assert r.status_code == 400 and "limt" in r.json()["detail"]
    for bad in ("limit=0", "limit=201", "limit=abc", "cursor=%%%"):
        r = await http.get(f"/v1/tenants?{bad}", headers=bearer(operator_key))
        assert r.status_code == 400, bad


async def test_malformed_bodies(http, operator_key):
    h = bearer(operator_key)
    r = await http.post(
        "/v1/tenants", content=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    r = await http.post("/v1/tenants", content=b"name=x", headers={**h, "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = await http.post("/v1/tenants", json=[1, 2], headers=h)
    assert r.status_code == 422
    r = await http.post(
        "/v1/tenants", content=b"x" * (2 * 1024 * 1024), headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    r = await http.get("/v1/nothing-here", headers=h)
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    r = await http.put("/v1/tenants", json={}, headers=h)
    assert r.status_code == 405


async def test_two_fresh_tenants_are_independent(http, operator_key):
    a = await make_tenant(http, operator_key)
    b = await make_tenant(http, operator_key)
    assert a.id != b.id
