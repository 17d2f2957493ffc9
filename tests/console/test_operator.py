"""The operator's pages in Chromium: tenants, usage charts, the month's FinOps charts (cost per
tenant, feature and team, idle share) and the capacity planner, from real metered requests.

Charts are read through their data tables (each chart's <details>), and compared with what the
API answers for the same month. The screenshots docs/console.md shows are taken here too
(``FUNDAMENT_CONSOLE_SCREENSHOTS=1`` copies them into docs/console/).
"""

from __future__ import annotations

import os
import shutil
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from console_session import Browserless

RECORD = "GET /v1/tenants/{tenant}/collections/{name}/records/{record_id}"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
READS = 12


def keep(path: Path) -> None:
    """A real PNG of a rendered page; copied into docs/console/ with FUNDAMENT_CONSOLE_SCREENSHOTS=1."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    if os.environ.get("FUNDAMENT_CONSOLE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)


async def shoot(page: Any, tmp_path: Path, name: str) -> None:
    await page.set_viewport_size({"width": 1280, "height": 860})
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    keep(path)


async def table_rows(page: Any, chart_id: str) -> dict[str, list[str]]:
    """A chart's data table as {row label: [cells]}: what a screen reader user reads."""
    rows = page.locator(f"#{chart_id} details table tbody tr")
    out = {}
    for i in range(await rows.count()):
        row = rows.nth(i)
        label = (await row.locator("th").text_content() or "").strip()
        out[label] = [(await cell.text_content() or "").strip() for cell in await row.locator("td").all()]
    return out


def money_of(report: dict[str, Any]) -> Any:
    """The report's money, without capacity (which moves with the clock)."""
    return (
        report["total_cost_eur"],
        [(t["tenant_id"], t["cost_eur"], t["margin_eur"]) for t in report["tenants"]],
        report["features"],
        report["teams"],
    )


def money(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


@pytest.fixture(scope="module")
def paying(console: Any) -> Any:
    """A tenant on the enterprise plan, so the month has revenue and a margin to draw."""
    slug = f"paying-{uuid.uuid4().hex[:8]}"
    r = console.api("POST", "/v1/tenants", json={"name": "Paying Ltd", "slug": slug, "plan": "enterprise"})
    assert r.status_code == 201, r.text
    tenant = r.json()
    r = console.api("POST", f"/v1/tenants/{tenant['id']}/api-keys", json={"name": "reader", "role": "admin"})
    assert r.status_code == 201, r.text
    with httpx.Client(base_url=console.base, headers={"Authorization": f"Bearer {r.json()['key']}"}) as client:
        for _ in range(5):
            assert client.get(f"/v1/tenants/{tenant['id']}/api-keys").status_code == 200
    return tenant


@pytest.fixture(scope="module")
def metered(console: Any, tenant_a: Any, paying: Any) -> Any:
    """Real requests of tenant_a: a collection, records, reads of one and a miss."""
    admin, viewer = tenant_a.keys["admin"], tenant_a.keys["viewer"]
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    r = console.api("POST", f"/v1/tenants/{tenant_a.id}/collections", admin, json={"name": "orders", "schema": schema})
    assert r.status_code in (201, 409), r.text
    r = console.api("POST", f"/v1/tenants/{tenant_a.id}/collections/orders/records", admin, json={"data": {"title": "x"}})
    assert r.status_code == 201, r.text
    record = r.json()["id"]
    with httpx.Client(base_url=console.base, headers={"Authorization": f"Bearer {viewer}"}) as client:
        for _ in range(READS):
            assert client.get(f"/v1/tenants/{tenant_a.id}/collections/orders/records/{record}").status_code == 200
        assert client.get(f"/v1/tenants/{tenant_a.id}/collections/orders/records/rec_nothere").status_code == 404
    return tenant_a


async def test_operator_sees_the_months_cost_per_tenant_feature_and_team(
    page: Any, signed_in: Any, console: Any, metered: Any, paying: Any, axe_check: Any, tmp_path: Path
) -> None:
    await signed_in(page, console.operator_key)
    nav = page.get_by_role("navigation", name="Main")
    for _ in range(5):
        # The report moves on its own (storage samples, other tests' requests): it is
        # compared when the API answered the same money just before and after the page.
        before = money_of(console.api("GET", "/v1/finops/report").json())
        async with page.expect_navigation():
            await nav.get_by_role("link", name="FinOps").click()
        report = console.api("GET", "/v1/finops/report").json()
        if money_of(report) == before:
            break
    assert page.url.startswith(f"{console.url}/operator/finops")
    assert await nav.locator("[aria-current=page]").all_inner_texts() == ["FinOps"]
    assert await page.get_by_role("heading", level=1).inner_text() == f"FinOps {report['month']}"
    assert await page.locator("#kpi-cost").inner_text() == f"{report['total_cost_eur']} {report['currency']}"

    mine = next(t for t in report["tenants"] if t["tenant_id"] == metered.id)
    assert mine["usage"]["requests"] >= READS + 1 and Decimal(mine["cost_eur"]) > 0
    every = page.locator("#finops-all-tenants tbody tr").filter(has_text=metered.slug)
    cells = [(await c.text_content() or "").strip() for c in await every.locator("td").all()]
    assert cells[2:] == [mine["cost_eur"], mine["revenue_eur"], mine["margin_eur"]]
    # A paying tenant's margin is its prorated plan price less its cost.
    rich = next(t for t in report["tenants"] if t["slug"] == paying["slug"])
    assert Decimal(rich["revenue_eur"]) > 0
    assert Decimal(rich["margin_eur"]) == Decimal(rich["revenue_eur"]) - Decimal(rich["cost_eur"])
    # The chart of cost and margin per tenant: the same figures, unless it is among "others".
    per_tenant = await table_rows(page, "finops-tenants")
    if metered.slug in per_tenant:
        assert [money(v) for v in per_tenant[metered.slug]] == [money(mine["cost_eur"]), money(mine["margin_eur"])]
    total = sum((money(v[0]) for v in per_tenant.values()), Decimal(0))
    assert total == money(report["total_cost_eur"]) - money(report["unallocated_eur"])

    features = await table_rows(page, "finops-features")
    assert RECORD in features or any(label.endswith("other features") for label in features)
    if RECORD in features:
        assert money(features[RECORD][0]) == money(report["features"][RECORD]["cost_eur"]) > 0

    teams = await table_rows(page, "finops-teams")
    assert list(teams) == list(report["teams"])
    assert {"data", "unassigned", "(shared)"} <= set(teams)
    assert money(teams["data"][0]) == money(report["teams"]["data"]["cost_eur"]) > 0
    assert sum((money(v[0]) for v in teams.values()), Decimal(0)) == money(report["total_cost_eur"])
    # Each chart names itself to assistive technology.
    svg = page.locator("#finops-teams svg")
    assert await svg.get_attribute("role") == "img"
    assert await page.locator("#finops-teams-t").text_content() == f"Cost per team ({report['currency']})"
    assert await page.locator("#finops-teams svg rect.series-0").count() == len(teams)  # one bar each
    # Each tenant's cost by team adds up to its cost (the table's last column is the total).
    by_team = await table_rows(page, "finops-tenant-teams")
    if metered.slug in by_team:
        assert money(by_team[metered.slug][-1]) == money(mine["cost_eur"])
        assert [money(v) for v in by_team[metered.slug][:-1]] == [money(v) for v in mine["teams"].values()]

    capacity = report["capacity"]
    assert capacity["known"]
    # Capacity paid so far grows with the clock: the page's figures are a moment older.
    shown = float((await page.locator("#kpi-idle").inner_text()).removesuffix(" %"))
    assert shown == pytest.approx(capacity["idle_share"] * 100, abs=0.02)
    assert (await page.locator("#suggestion").inner_text()).split(":")[0] == capacity["suggestion"].split(":")[0]
    idle = await table_rows(page, "finops-idle")
    assert money(idle["compute this month"][1]) == pytest.approx(money(capacity["idle_cost_eur"]), abs=Decimal("0.02"))
    await axe_check(page)
    await shoot(page, tmp_path, "operator-finops")


async def test_operator_tenants_and_usage_charts(
    page: Any, signed_in: Any, console: Any, metered: Any, axe_check: Any, tmp_path: Path
) -> None:
    await signed_in(page, console.operator_key)
    await page.goto(f"{console.url}/operator")
    assert page.url == f"{console.url}/operator/tenants"
    row = page.get_by_role("row").filter(has_text=metered.slug)
    for _ in range(20):  # the whole suite's tenants may fill several pages
        if await row.count():
            break
        async with page.expect_navigation():
            await page.get_by_role("link", name="Next page").click()
    cells = [await c.inner_text() for c in await row.locator("td").all()]
    tenant = console.api("GET", f"/v1/tenants/{metered.id}").json()
    assert cells[2:6] == [tenant["plan"], tenant["status"], tenant["region"], tenant["cell"] or "–"]
    await axe_check(page)
    await shoot(page, tmp_path, "operator-tenants")

    async with page.expect_navigation():
        await row.get_by_role("link", name=f"Usage of {metered.name}").click()
    assert await page.get_by_label("Tenant").input_value() == metered.id
    usage = console.api("GET", f"/v1/tenants/{metered.id}/usage").json()
    feature = next(f for f in usage["features"] if f["feature"] == RECORD)
    assert feature["requests"] >= READS + 1 and feature["errors"] >= 1
    per_feature = await table_rows(page, "feature-requests")
    assert per_feature[RECORD] == [f"{feature['requests']:,}", f"{feature['errors']:,}"]
    p99 = await table_rows(page, "feature-p99")
    assert float(p99[RECORD][0].replace(",", "")) == pytest.approx(feature["p99_ms"], abs=0.05)
    hours = await table_rows(page, "usage-requests")
    assert len(hours) in (24, 25)  # every hour of the last 24, metered or not
    shown = int((await page.locator("#kpi-requests").inner_text()).replace(",", ""))
    assert sum(int(v[0].replace(",", "")) for v in hours.values()) == shown
    # The page's own call to the usage route is metered too, after the page read it.
    assert shown == usage["totals"]["requests"] - 1
    await axe_check(page)
    await shoot(page, tmp_path, "operator-usage")

    # One feature over time: its own figures in each hour.
    await page.get_by_label("Feature (charts over time)").select_option(RECORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show usage").click()
    hours = await table_rows(page, "usage-requests")
    assert sum(int(v[0].replace(",", "")) for v in hours.values()) == feature["requests"]
    assert sum(int(v[1].replace(",", "")) for v in hours.values()) == feature["errors"]
    assert RECORD in (await page.locator("#usage-requests figcaption").inner_text())

    await page.get_by_label("Buckets").select_option("day")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show usage").click()
    days = await table_rows(page, "usage-requests")
    assert len(days) in (30, 31)


async def test_capacity_planner_draws_instances_and_cost_against_users(
    page: Any, signed_in: Any, console: Any, axe_check: Any, tmp_path: Path
) -> None:
    await signed_in(page, console.operator_key)
    await page.goto(f"{console.url}/operator/capacity")
    await page.get_by_label("Users", exact=True).fill("50000")
    await page.get_by_label("Requests per user per minute").fill("30")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Plan").click()
    plan = console.api(
        "GET", "/v1/finops/capacity", params={"users": 50000, "requests_per_user_per_minute": 30, "p99_ms": 200}
    ).json()
    assert await page.locator("#plan-instances").inner_text() == str(plan["instances"])
    assert await page.locator("#plan-cost").inner_text() == f"{plan['monthly_cost_eur']} {plan['currency']}"
    instances = await table_rows(page, "capacity-instances")
    assert list(instances)[-1] == "50,000" and len(instances) == 10
    assert instances["50,000"] == [str(plan["instances"]), str(plan["hpa_max_replicas"])]
    counts = [int(v[0]) for v in instances.values()]
    assert counts == sorted(counts)  # more users never need fewer instances
    cost = await table_rows(page, "capacity-cost")
    assert money(cost["50,000"][0]) == money(plan["monthly_cost_eur"])
    await axe_check(page)
    await shoot(page, tmp_path, "operator-capacity")

    # A mistake is shown next to its field, and nothing is planned.
    await page.get_by_label("Users", exact=True).fill("0")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Plan").click()
    assert await page.get_by_label("Users", exact=True).get_attribute("aria-invalid") == "true"
    assert "whole number from 1" in await page.locator("#e-users").inner_text()
    assert await page.locator("#capacity-instances").count() == 0
    await axe_check(page)


async def test_a_tenant_key_cannot_open_operator_pages(
    page: Any, signed_in: Any, console: Any, tenant_a: Any
) -> None:
    await signed_in(page, tenant_a.keys["owner"])
    for path in ("/operator", "/operator/tenants", "/operator/usage", "/operator/finops", "/operator/capacity"):
        answer = await page.goto(f"{console.url}{path}?tenant={tenant_a.id}")
        assert answer.status == 404, path
        assert await page.locator(".chart").count() == 0
        assert "No such page." in await page.locator("main").inner_text()
    # Nor post to the planner (its CSRF token is valid: the area check refuses it first).
    csrf = await page.evaluate("() => document.querySelector('input[name=csrf]').value")
    answer = await page.request.post(
        f"{console.url}/operator/capacity", form={"csrf": csrf, "users": "10", "requests_per_user_per_minute": "6",
                                                  "p99_ms": "200"},
    )
    assert answer.status == 404


async def test_bad_input_to_operator_pages_gets_a_page_never_a_500(console: Any, tenant_a: Any) -> None:
    async with httpx.AsyncClient(base_url=console.base, timeout=30) as client:
        s = Browserless(client)
        await s.sign_in(console.operator_key)
        for path in (
            "/console/operator/usage?tenant=%00&granularity=minute&feature=%ff",
            "/console/operator/usage?tenant=tnt_nothere",
            "/console/operator/finops?month=1969-01",
            "/console/operator/finops?month=2026-13",
            "/console/operator/finops?month=%00",
            "/console/operator/tenants?cursor=garbage",
        ):
            r = await s.request("GET", path)
            assert 200 <= r.status_code < 500, (path, r.status_code, r.text[:300])
            assert "content-security-policy" in r.headers
            if "tnt_nothere" in path:
                assert "No such tenant" in r.text
        for form in (
            {"users": "abc", "requests_per_user_per_minute": "6", "p99_ms": "200"},
            {"users": "1e3", "requests_per_user_per_minute": "inf", "p99_ms": "nan"},
            {"users": "9" * 40, "requests_per_user_per_minute": "-1", "p99_ms": "0"},
            {"users": "10"},
            {},
        ):
            r = await s.post("/console/operator/capacity", form)
            assert r.status_code == 422, (form, r.status_code, r.text[:300])
            assert 'aria-invalid="true"' in r.text and "capacity-instances" not in r.text
        r = await s.request("POST", "/console/operator/capacity", data={"users": "10"})  # no CSRF token
        assert r.status_code == 403
        r = await s.post("/console/operator/capacity", {"users": "10", "requests_per_user_per_minute": "6",
                                                        "p99_ms": "200"})
        assert r.status_code == 200 and 'id="capacity-instances"' in r.text
