"""Metering through the API: exact counts per tenant and feature, FinOps endpoints."""

from __future__ import annotations

import secrets
from decimal import Decimal

import asyncpg
import httpx
import kubernetes_validate

from conftest import TenantFixture, bearer
from fundament.app import app_dsn
from fundament.metering import UsageMeter
from fundament.platform import Database, Exchange, Settings

RECORD = "GET /v1/tenants/{tenant}/collections/{name}/records/{record_id}"


async def _usage(t: TenantFixture, **params: str) -> dict:
    r = await t.http.get(f"{t.base}/usage", params=params, headers=t.h("admin"))
    assert r.status_code == 200, r.text
    return r.json()


def _feature(usage: dict, name: str) -> dict:
    found = [f for f in usage["features"] if f["feature"] == name]
    return found[0] if found else {"requests": 0, "errors": 0}


async def test_n_and_m_requests_appear_as_exactly_n_and_m(
    tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    await tenant.collection()
    await other_tenant.collection()
    a = await tenant.record({"email": "a@example.com"})
    b = await other_tenant.record({"email": "b@example.com"})
    n, m = 7, 4
    for _ in range(n):
        r = await tenant.http.get(
            f"{tenant.base}/collections/contacts/records/{a['id']}", headers=tenant.h("viewer")
        )
        assert r.status_code == 200
    for _ in range(m):
        r = await other_tenant.http.get(
            f"{other_tenant.base}/collections/contacts/records/{b['id']}", headers=other_tenant.h("viewer")
        )
        assert r.status_code == 200
    # A miss is metered as an error of the same feature.
    r = await tenant.http.get(
        f"{tenant.base}/collections/contacts/records/rec_nothere", headers=tenant.h("viewer")
    )
    assert r.status_code == 404

    ua, ub = await _usage(tenant), await _usage(other_tenant)
    fa, fb = _feature(ua, RECORD), _feature(ub, RECORD)
    assert fa["requests"] == n + 1 and fa["errors"] == 1
    assert fb["requests"] == m and fb["errors"] == 0
    assert fa["server_ms"] > 0 and fa["db_ms"] > 0 and fa["bytes_out"] > 0
    create = _feature(ua, "POST /v1/tenants/{tenant}/collections/{name}/records")
    assert create["requests"] == 1 and create["bytes_in"] > 0
    assert ua["tenant_id"] == tenant.id and ua["granularity"] == "hour"
    assert sum(b["requests"] for b in ua["buckets"]) == ua["totals"]["requests"]
    # Counted again later: nothing is lost or double-counted by the flush.
    again = _feature(await _usage(tenant, granularity="day"), RECORD)
    assert again["requests"] == n + 1


async def test_usage_is_the_tenants_own(tenant: TenantFixture, other_tenant: TenantFixture) -> None:
    r = await tenant.http.get(f"{other_tenant.base}/usage", headers=tenant.h("admin"))
    assert r.status_code == 404
    r = await tenant.http.get(f"{tenant.base}/usage", headers=tenant.h("member"))
    assert r.status_code == 403


async def test_usage_parameters_are_checked(tenant: TenantFixture) -> None:
    for params in (
        {"granularity": "week"},
        {"from": "yesterday"},
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"bogus": "1"},
    ):
        r = await tenant.http.get(f"{tenant.base}/usage", params=params, headers=tenant.h("admin"))
        assert r.status_code == 400, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"


async def test_stored_bytes_are_sampled(app: object, tenant: TenantFixture) -> None:
    await tenant.collection()
    await tenant.record({"email": "s@example.com", "score": 1})
    await app.services.meter.measure_storage()  # type: ignore[attr-defined]
    usage = await _usage(tenant)
    assert usage["records"] == 1 and usage["stored_bytes"] > 0


async def test_stored_bytes_include_the_audit_trail(app: object, tenant: TenantFixture) -> None:
    await tenant.collection()  # "email" is a personal field: the trail keeps it, sealed
    await tenant.record({"email": secrets.token_urlsafe(75_000)})  # 100 KB, incompressible
    await app.services.meter.measure_storage()  # type: ignore[attr-defined]
    usage = await _usage(tenant)
    # The record (100 KB) and its audit event (the value sealed and base64: 133 KB).
    assert usage["stored_bytes"] > 230_000, usage["stored_bytes"]


async def test_flush_writes_hourly_rollups_in_batches(
    app: object, admin_dsn: str, tenant: TenantFixture
) -> None:
    for _ in range(3):
        await tenant.http.get(tenant.base, headers=tenant.h("viewer"))
    await app.services.meter.flush()  # type: ignore[attr-defined]
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT feature, status_class, requests FROM usage_hourly WHERE tenant_id = $1", tenant.id
        )
    finally:
        await conn.close()
    by_feature = {(r["feature"], r["status_class"]): r["requests"] for r in rows}
    assert by_feature[("GET /v1/tenants/{tenant}", "2xx")] == 3


async def test_finops_report_conserves_money(
    http: httpx.AsyncClient, operator_key: str, tenant: TenantFixture
) -> None:
    await tenant.http.get(tenant.base, headers=tenant.h("viewer"))
    r = await http.get("/v1/finops/report", headers=bearer(operator_key))
    assert r.status_code == 200, r.text
    report = r.json()
    total = Decimal(report["total_cost_eur"])
    assert (
        sum(Decimal(t["cost_eur"]) for t in report["tenants"]) + Decimal(report.get("unallocated_eur", "0"))
        == total
    )
    assert any(t["tenant_id"] == tenant.id for t in report["tenants"])
    assert "largest remainder" in report["method"].lower()
    assert report["capacity"]["suggestion"]
    # Only operators; a bad month is a 400.
    assert (await http.get("/v1/finops/report", headers=tenant.h("owner"))).status_code == 403
    assert (
        await http.get("/v1/finops/report?month=2026-13", headers=bearer(operator_key))
    ).status_code == 400


async def test_finops_report_of_a_month_before_any_tenant_allocates_nothing(
    http: httpx.AsyncClient, operator_key: str, tenant: TenantFixture
) -> None:
    """Issue #9: 2020-01 charged the whole bill to tenants created in 2026-12."""
    report = (await http.get("/v1/finops/report?month=2020-01", headers=bearer(operator_key))).json()
    assert report["tenants"] == []
    assert report["total_revenue_eur"] == "0.00"
    assert report["unallocated_eur"] == report["total_cost_eur"] != "0.00"
    assert "No tenant existed" in report["unallocated_note"]
    # The month the tenant was created in: it takes part, for the part from its creation on.
    current = (await http.get("/v1/finops/report", headers=bearer(operator_key))).json()
    mine = next(t for t in current["tenants"] if t["tenant_id"] == tenant.id)
    assert 0 < mine["existed_share"] <= 1
    assert current["unallocated_eur"] == "0.00" and current["unallocated_note"] is None


async def test_finops_capacity_gives_a_valid_hpa(http: httpx.AsyncClient, operator_key: str) -> None:
    r = await http.get(
        "/v1/finops/capacity?users=10000&requests_per_user_per_minute=6&p99_ms=200",
        headers=bearer(operator_key),
    )
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["instances"] >= 1 and plan["hpa_max_replicas"] >= plan["hpa_min_replicas"]
    kubernetes_validate.validate(plan["hpa"], "1.30", strict=True)
    assert {m["users"] for m in plan["marginal_cost_per_user"]} == {1000, 10000, 100000}
    assert (await http.get("/v1/finops/capacity?users=0", headers=bearer(operator_key))).status_code == 400


async def test_an_offboarded_tenants_usage_is_dropped_not_the_flush(
    admin_dsn: str,
    http: httpx.AsyncClient,
    operator_key: str,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
) -> None:
    db = Database(app_dsn(Settings(), admin_dsn), min_size=1, max_size=2)
    await db.open()
    try:
        meter = UsageMeter(db)
        for t in (tenant, other_tenant):
            meter.observe(
                Exchange("GET", "/x", "r", 0.0, route="/x", tenant_id=t.id, key_id="key_x", status=200)
            )
        r = await http.delete(other_tenant.base, headers=bearer(operator_key))
        assert r.status_code == 202
        await meter.flush()  # would raise on the gone tenant's foreign key, and keep both rows
        assert meter.buffered == 0
        await meter.measure_storage()
    finally:
        await db.close()
    conn = await asyncpg.connect(admin_dsn)
    try:
        written = {
            table: [r["tenant_id"] for r in await conn.fetch(f"SELECT tenant_id FROM {table}")]
            for table in ("usage_hourly", "usage_keys", "storage_hourly")
        }
    finally:
        await conn.close()
    assert all(other_tenant.id not in ids for ids in written.values()), written
    assert tenant.id in written["usage_keys"] and tenant.id in written["storage_hourly"]
