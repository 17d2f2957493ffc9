"""Rate limits and quotas by plan, through the API (in-process, real PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from conftest import TenantFixture, bearer, make_tenant, serving
from fundament.platform import Settings
from fundament.tenancy import PlansError, load_plans

PLANS = """
[plans.free]
requests_per_minute = 100000
burst = 100000
max_records = 1000000
max_stored_bytes = 1000000000
max_collections = 1000000
max_api_keys = 1000000
max_users = 1000000
max_webhooks = 1000000
max_open_privacy_jobs = 1000000
max_indexes_per_collection = 8
monthly_price_eur = 0

[plans.tiny]
requests_per_minute = 5
burst = 1000
max_records = 1000000
max_stored_bytes = 1000000000
max_collections = 1000000
max_api_keys = 1000000
max_users = 1000000
max_webhooks = 1000000
max_open_privacy_jobs = 1000000
max_indexes_per_collection = 8
monthly_price_eur = 9

[plans.units]
requests_per_minute = 40
burst = 100000
max_records = 1000000
max_stored_bytes = 1000000000
max_collections = 1000000
max_api_keys = 1000000
max_users = 1000000
max_webhooks = 1000000
max_open_privacy_jobs = 1000000
max_indexes_per_collection = 8
monthly_price_eur = 9

[plans.few-records]
requests_per_minute = 100000
burst = 100000
max_records = 3
max_stored_bytes = 1000000000
max_collections = 1000000
max_api_keys = 1000000
max_users = 1000000
max_webhooks = 1000000
max_open_privacy_jobs = 1000000
max_indexes_per_collection = 8
monthly_price_eur = 19

[plans.few-bytes]
requests_per_minute = 100000
burst = 100000
max_records = 1000000
max_stored_bytes = 600
max_collections = 1000000
max_api_keys = 1000000
max_users = 1000000
max_webhooks = 1000000
max_open_privacy_jobs = 1000000
max_indexes_per_collection = 8
monthly_price_eur = 29
"""


@pytest.fixture(scope="module")
async def limited(
    admin_dsn: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    path = tmp_path_factory.mktemp("plans") / "plans.toml"
    path.write_text(PLANS)
    async with serving(admin_dsn, settings, plans=path) as client:
        yield client


async def _tenant(http: httpx.AsyncClient, operator_key: str, plan: str) -> TenantFixture:
    t = await make_tenant(http, operator_key)
    r = await http.patch(f"/v1/tenants/{t.id}", json={"plan": plan}, headers=bearer(operator_key))
    assert r.status_code == 200, r.text
    return t


async def test_over_the_rate_is_429_with_retry_after_and_ratelimit_headers(
    limited: httpx.AsyncClient, operator_key: str
) -> None:
    t = await _tenant(limited, operator_key, "tiny")
    other = await _tenant(limited, operator_key, "tiny")
    answers = [await limited.get(t.base, headers=t.h("viewer")) for _ in range(7)]
    codes = [r.status_code for r in answers]
    assert codes[:5] == [200] * 5, codes
    assert codes[5:] == [429, 429], codes
    ok, refused = answers[0], answers[5]
    assert ok.headers["RateLimit-Limit"] == "5"
    assert int(ok.headers["RateLimit-Remaining"]) >= 0
    assert "RateLimit-Reset" in ok.headers and "RateLimit-Policy" in ok.headers
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["status"] == 429 and body["type"].endswith("/rate-limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"
    # Another tenant on the same plan has its own budget.
    assert (await limited.get(other.base, headers=other.h("viewer"))).status_code == 200


async def test_a_request_costs_a_unit_per_started_64_kib_of_body(
    limited: httpx.AsyncClient, operator_key: str
) -> None:
    t = await _tenant(limited, operator_key, "units")
    r = await limited.post(
        f"{t.base}/collections", json={"name": "docs", "schema": {"type": "object"}}, headers=t.h("admin")
    )
    assert r.status_code == 201, r.text
    url = f"{t.base}/collections/docs/records"
    small = await limited.post(url, json={"data": {"text": "x"}}, headers=t.h("member"))
    body = json.dumps({"data": {"text": "x" * (3 * 65_536)}})  # 3 units and a bit: 4
    big = await limited.post(url, content=body, headers={**t.h("member"), "Content-Type": "application/json"})
    assert small.status_code == big.status_code == 201, big.text
    assert int(small.headers["RateLimit-Remaining"]) - int(big.headers["RateLimit-Remaining"]) == 4
    # Nine more of them need 36 units this minute, which holds 35 more: the last is refused.
    answers = [
        await limited.post(url, content=body, headers={**t.h("member"), "Content-Type": "application/json"})
        for _ in range(9)
    ]
    assert 429 in [a.status_code for a in answers]


async def test_a_plan_change_applies_at_once(limited: httpx.AsyncClient, operator_key: str) -> None:
    t = await _tenant(limited, operator_key, "tiny")
    codes = [(await limited.get(t.base, headers=t.h("viewer"))).status_code for _ in range(6)]
    assert codes[-1] == 429
    r = await limited.patch(f"/v1/tenants/{t.id}", json={"plan": "free"}, headers=bearer(operator_key))
    assert r.status_code == 200 and r.json()["plan"] == "free"
    assert (await limited.get(t.base, headers=t.h("viewer"))).status_code == 200


async def test_unknown_plan_is_422(limited: httpx.AsyncClient, operator_key: str) -> None:
    t = await make_tenant(limited, operator_key)
    r = await limited.patch(f"/v1/tenants/{t.id}", json={"plan": "platinum"}, headers=bearer(operator_key))
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "/plan"
    r = await limited.post(
        "/v1/tenants", json={"name": "x", "slug": "plan-less-x", "plan": "pro"}, headers=bearer(operator_key)
    )
    assert r.status_code == 422  # this deployment's plans file has no "pro"


async def _collection(t: TenantFixture) -> None:
    r = await t.http.post(
        f"{t.base}/collections",
        json={"name": "notes", "schema": {"type": "object", "properties": {"text": {"type": "string"}}}},
        headers=t.h("admin"),
    )
    assert r.status_code == 201, r.text


async def _count(t: TenantFixture) -> int:
    r = await t.http.get(f"{t.base}/collections/notes/records?limit=200", headers=t.h("viewer"))
    return len(r.json()["items"])


async def test_record_quota_refuses_the_write_and_keeps_nothing(
    limited: httpx.AsyncClient, operator_key: str
) -> None:
    t = await _tenant(limited, operator_key, "few-records")
    await _collection(t)
    for i in range(3):
        r = await limited.post(
            f"{t.base}/collections/notes/records", json={"data": {"text": str(i)}}, headers=t.h("member")
        )
        assert r.status_code == 201, r.text
    audit_before = (await limited.get(f"{t.base}/audit-events?limit=200", headers=t.h("admin"))).json()[
        "items"
    ]
    r = await limited.post(
        f"{t.base}/collections/notes/records", json={"data": {"text": "x"}}, headers=t.h("member")
    )
    assert r.status_code == 403
    body = r.json()
    assert body["type"].endswith("/quota-max-records") and body["quota"] == "max_records"
    assert await _count(t) == 3
    audit_after = (await limited.get(f"{t.base}/audit-events?limit=200", headers=t.h("admin"))).json()[
        "items"
    ]
    assert len(audit_after) == len(audit_before)
    # Deleting one makes room again.
    first = (await limited.get(f"{t.base}/collections/notes/records", headers=t.h("viewer"))).json()["items"][
        0
    ]
    assert (
        await limited.delete(f"{t.base}/collections/notes/records/{first['id']}", headers=t.h("member"))
    ).status_code == 204
    r = await limited.post(
        f"{t.base}/collections/notes/records", json={"data": {"text": "y"}}, headers=t.h("member")
    )
    assert r.status_code == 201


async def test_stored_bytes_quota(limited: httpx.AsyncClient, operator_key: str) -> None:
    t = await _tenant(limited, operator_key, "few-bytes")
    await _collection(t)
    r = await limited.post(
        f"{t.base}/collections/notes/records", json={"data": {"text": "a" * 100}}, headers=t.h("member")
    )
    assert r.status_code == 201
    r = await limited.post(
        f"{t.base}/collections/notes/records", json={"data": {"text": "b" * 700}}, headers=t.h("member")
    )
    assert r.status_code == 403
    assert r.json()["type"].endswith("/quota-max-stored-bytes")
    assert await _count(t) == 1


async def test_concurrent_writers_never_pass_the_record_cap(
    limited: httpx.AsyncClient, operator_key: str
) -> None:
    import asyncio

    t = await _tenant(limited, operator_key, "few-records")
    await _collection(t)

    async def create(i: int) -> int:
        r = await limited.post(
            f"{t.base}/collections/notes/records", json={"data": {"text": str(i)}}, headers=t.h("member")
        )
        return r.status_code

    codes = await asyncio.gather(*(create(i) for i in range(10)))
    assert sorted(codes) == [201] * 3 + [403] * 7
    assert await _count(t) == 3


def test_plans_file_errors_name_file_and_key(tmp_path: Path) -> None:
    assert set(load_plans(None)) == {"free", "pro", "enterprise"}
    cases: list[tuple[str, str]] = [
        ("[plans.a]\nrequests_per_minute = 1\n", "missing"),
        (PLANS.replace("burst = 1000\n", "burst = -5\n"), "tiny].burst"),
        (PLANS.replace("monthly_price_eur = 9", 'monthly_price_eur = "x"'), "monthly_price_eur"),
        ("plans = 1", "no plans"),
        ("[plans.a\n", "not valid TOML"),
        ("[other]\n", "unknown top-level"),
    ]
    for text, expected in cases:
        path = tmp_path / "p.toml"
        path.write_text(text)
        with pytest.raises(PlansError) as info:
            load_plans(path)
        assert expected in str(info.value) and str(path) in str(info.value)
    with pytest.raises(PlansError):
        load_plans(tmp_path / "missing.toml")
