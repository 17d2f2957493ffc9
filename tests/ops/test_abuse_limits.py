"""Limits against abuse, each a clear problem: body size, statement timeout, filter complexity."""

from __future__ import annotations

import httpx

from conftest import TenantFixture, bearer, serving, table_locked
from fundament.platform import Settings


async def test_statement_timeout_is_a_503_problem(
    admin_dsn: str, settings: Settings, operator_key: str
) -> None:
    async with serving(admin_dsn, settings, statement_timeout_ms=200) as client:
        assert (await client.get("/v1/tenants", headers=bearer(operator_key))).status_code == 200
        async with table_locked(admin_dsn, "tenants"):
            r = await client.get("/v1/tenants", headers=bearer(operator_key))
        assert r.status_code == 503, r.text
        assert r.json()["type"].endswith("/timeout") and r.headers["Retry-After"]
        assert "select" not in r.text.lower()  # no SQL reaches the client


async def test_filter_complexity_and_body_size(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    await tenant.collection()
    url = f"{tenant.base}/collections/contacts/records"
    too_many = " or ".join(f"score eq {i}" for i in range(60))
    r = await http.get(url, params={"filter": too_many}, headers=tenant.h("viewer"))
    assert r.status_code == 400 and r.json()["type"].endswith("/invalid-filter")
    assert "50" in r.json()["detail"]
    too_deep = "(" * 20 + "score eq 1" + ")" * 20
    r = await http.get(url, params={"filter": too_deep}, headers=tenant.h("viewer"))
    assert r.status_code == 400 and r.json()["type"].endswith("/invalid-filter")
    big = {"data": {"email": "x@example.com", "note": "x" * 2_000_000}}
    r = await http.post(url, json=big, headers=tenant.h("member"))
    assert r.status_code == 413 and r.json()["type"].endswith("/payload-too-large")
