"""Metered use per collection and latency through the API: cost per team in the live report,
p99 in the usage answer, and the histogram's arithmetic."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from conftest import make_tenant, serving
from fundament.metering.meter import LATENCY_BOUNDS_MS, percentile
from fundament.platform import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "cost-model.toml"
RECORD = "GET /v1/tenants/{tenant}/collections/{name}/records/{record_id}"


def test_percentile_interpolates_inside_the_bucket() -> None:
    histogram = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    assert percentile(histogram, 0.99) is None
    # 100 requests, all in the (10, 15] ms bucket: the 99th is 99 % of the way through it.
    at = LATENCY_BOUNDS_MS.index(15)
    histogram[at] = 100
    assert percentile(histogram, 0.99) == pytest.approx(10 + 5 * 0.99, abs=0.001)
    # 98 fast ones and two slow: p99 lands in the slow bucket, (200, 300].
    histogram[at] = 98
    histogram[LATENCY_BOUNDS_MS.index(300)] = 2
    assert 200 < (percentile(histogram, 0.99) or 0) <= 300
    assert percentile(histogram, 0.5) == pytest.approx(10 + 5 * 50 / 98, abs=0.001)
    # Slower than the last bound: the histogram can only say "at least that".
    assert percentile([0] * len(LATENCY_BOUNDS_MS) + [5], 0.99) == LATENCY_BOUNDS_MS[-1]


async def test_cost_per_team_and_p99_from_real_requests(
    tmp_path: Path, admin_dsn: str, settings: Settings, operator_key: str
) -> None:
    model = tmp_path / "cost-model.toml"
    model.write_text(EXAMPLE.read_text() + '\n[[teams]]\nname = "billing"\ncollections = ["invoices"]\n')
    async with serving(admin_dsn, settings, cost_model=model) as http:
        t = await make_tenant(http, operator_key)
        await t.collection()
        await t.collection("invoices")
        contact = await t.record({"email": "a@example.com"})
        invoice = await t.record({"email": "b@example.com"}, collection="invoices")
        for _ in range(5):
            r = await http.get(f"{t.base}/collections/contacts/records/{contact['id']}", headers=t.h("viewer"))
            assert r.status_code == 200
        for _ in range(3):
            r = await http.get(f"{t.base}/collections/invoices/records/{invoice['id']}", headers=t.h("viewer"))
            assert r.status_code == 200
        r = await http.get(f"{t.base}/collections/invoices/records/rec_nothere", headers=t.h("viewer"))
        assert r.status_code == 404

        usage = (await http.get(f"{t.base}/usage", headers=t.h("admin"))).json()
        feature = next(f for f in usage["features"] if f["feature"] == RECORD)
        assert feature["requests"] == 9  # the route's total, whatever the collection
        assert 0 < feature["p99_ms"] <= LATENCY_BOUNDS_MS[-1]
        assert usage["totals"]["p99_ms"] > 0
        assert all(b["p99_ms"] is not None for b in usage["buckets"] if b["requests"])

        r = await http.get("/v1/finops/report", headers={"Authorization": f"Bearer {operator_key}"})
        assert r.status_code == 200, r.text
        report = r.json()
    teams = report["teams"]
    # The same database holds other tests' tenants: the billing team is only this one's.
    assert teams["billing"]["collections"] == ["invoices"]
    assert teams["billing"]["requests"] == 1 + 3 + 1  # create, reads, the miss
    assert teams["billing"]["errors"] == 1
    assert sorted(teams["billing"]["features"]) == sorted(
        ["POST /v1/tenants/{tenant}/collections/{name}/records", RECORD]
    )
    assert Decimal(teams["billing"]["cost_eur"]) > 0
    assert "invoices" not in teams["data"]["collections"] and "contacts" in teams["data"]["collections"]
    assert {"unassigned", "(shared)"} <= set(teams)
    total = sum(Decimal(team["cost_eur"]) for team in teams.values())
    assert total == Decimal(report["total_cost_eur"])

    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT collection, sum(requests)::int AS n FROM usage_collections_hourly"
            " WHERE tenant_id = $1 AND feature = $2 GROUP BY 1",
            t.id,
            RECORD,
        )
        histogram_total = await conn.fetchval(
            "SELECT sum(n)::int FROM usage_hourly, unnest(latency) AS n WHERE tenant_id = $1 AND feature = $2",
            t.id,
            RECORD,
        )
    finally:
        await conn.close()
    assert {r["collection"]: r["n"] for r in rows} == {"contacts": 5, "invoices": 4}
    assert histogram_total == 9  # every request in exactly one latency bucket


async def test_routes_outside_collections_are_not_split(http: httpx.AsyncClient, operator_key: str, admin_dsn: str) -> None:
    t = await make_tenant(http, operator_key)
    await http.get(t.base, headers=t.h("viewer"))
    await http.get(f"{t.base}/usage", headers=t.h("admin"))  # flushes
    conn = await asyncpg.connect(admin_dsn)
    try:
        n = await conn.fetchval("SELECT count(*) FROM usage_collections_hourly WHERE tenant_id = $1", t.id)
    finally:
        await conn.close()
    assert n == 0
