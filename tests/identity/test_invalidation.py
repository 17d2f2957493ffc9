"""A revoked key is refused by every instance, not only the one that revoked it."""

from __future__ import annotations

import asyncio
import time

import httpx

from conftest import bearer
from fundament.app import create_app


async def test_revocation_reaches_another_instance_within_a_second(http, tenant, admin_dsn, settings):
    other_app = create_app(settings, admin_dsn=admin_dsn)
    async with other_app.router.lifespan_context(other_app):
        transport = httpx.ASGITransport(app=other_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as other:
            created = (
                await http.post(
                    f"{tenant.base}/api-keys", json={"name": "x", "role": "viewer"}, headers=tenant.h("admin")
                )
            ).json()
            url = f"{tenant.base}/collections"
            # warm the other instance's cache with the key
            assert (await other.get(url, headers=bearer(created["key"]))).status_code == 200
            assert (
                await http.delete(f"{tenant.base}/api-keys/{created['id']}", headers=tenant.h("admin"))
            ).status_code == 204
            started = time.monotonic()
            while (await other.get(url, headers=bearer(created["key"]))).status_code != 401:
                assert time.monotonic() - started < 1.0, "revocation did not reach the other instance"
                await asyncio.sleep(0.02)


async def test_suspension_reaches_another_instance(http, tenant, operator_key, admin_dsn, settings):
    other_app = create_app(settings, admin_dsn=admin_dsn)
    async with other_app.router.lifespan_context(other_app):
        transport = httpx.ASGITransport(app=other_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as other:
            url = f"{tenant.base}/collections"
            assert (await other.get(url, headers=tenant.h("viewer"))).status_code == 200
            r = await http.patch(
                f"/v1/tenants/{tenant.id}", json={"status": "suspended"}, headers=bearer(operator_key)
            )
            assert r.status_code == 200
            started = time.monotonic()
            while (await other.get(url, headers=tenant.h("viewer"))).status_code != 403:
                assert time.monotonic() - started < 1.0
                await asyncio.sleep(0.02)
