"""CORS: a tenant admin's allowed origins, answered on preflights and on every response, on
the fast paths and through FastAPI alike (the ``app`` fixture runs each test both ways)."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import pytest
from pydantic import ValidationError

from conftest import TenantFixture, bearer, make_tenant, serving
from fundament.app import create_app
from fundament.platform import Settings

APP = "https://app.example.com"
OTHER = "https://evil.example.net"
ALLOW_ORIGIN = "access-control-allow-origin"


async def _allow(tenant: TenantFixture, *origins: str, role: str = "admin") -> httpx.Response:
    r = await tenant.http.put(f"{tenant.base}/cors", json={"allowed_origins": list(origins)}, headers=tenant.h(role))
    assert r.status_code == 200, r.text
    return r


def _preflight(origin: str, method: str = "POST", headers: str = "authorization, content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


def _assert_allowed(r: httpx.Response, origin: str) -> None:
    assert r.headers.get(ALLOW_ORIGIN) == origin, (r.status_code, dict(r.headers))
    assert "Origin" in r.headers.get_list("vary")
    assert "access-control-allow-credentials" not in r.headers


def _assert_refused(r: httpx.Response) -> None:
    assert not any(h.startswith("access-control-allow-") for h in r.headers), dict(r.headers)


async def test_preflight_of_an_allowed_origin_needs_no_key(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    await tenant.collection()
    rec = await tenant.record({"email": "a@example.com"})
    await _allow(tenant, APP, "http://localhost:5173")
    records = f"{tenant.base}/collections/contacts/records"
    for path, method, methods in (
        (records, "POST", {"GET", "POST"}),
        (f"{records}/{rec['id']}", "PUT", {"GET", "PUT", "PATCH", "DELETE"}),
        (tenant.base, "PATCH", {"GET", "PATCH", "DELETE"}),
        (f"{tenant.base}/cors", "PUT", {"GET", "PUT"}),
    ):
        r = await http.options(path, headers=_preflight(APP, method))
        assert r.status_code == 204, (path, r.text)
        _assert_allowed(r, APP)
        assert set(r.headers["access-control-allow-methods"].split(", ")) == methods | {"OPTIONS"}
        allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key", "if-match", "if-none-match"} <= allowed
        assert "fundament-consistency" in allowed  # a browser client echoes its token
        assert r.headers["access-control-max-age"] == "600"
        assert r.content == b""
    r = await http.options(records, headers=_preflight("http://localhost:5173", "GET"))
    _assert_allowed(r, "http://localhost:5173")


async def test_preflight_of_another_origin_or_tenant_is_refused(
    http: httpx.AsyncClient, tenant: TenantFixture, operator_key: str
) -> None:
    other = await make_tenant(http, operator_key)
    await _allow(tenant, APP)
    await _allow(other, OTHER)
    for path, origin in (
        (f"{tenant.base}/collections", OTHER),  # allowed for another tenant only
        (f"{tenant.base}/collections", "https://app.example.com:8443"),  # exact: the port counts
        (f"{tenant.base}/collections", "http://app.example.com"),  # and the scheme
        (f"{other.base}/collections", APP),
        ("/v1/tenants/tnt_01JD0000000000000000000000/collections", APP),  # no such tenant
        ("/v1/tenants/nope/collections", APP),
        ("/v1/tenants", APP),  # operator paths: no operator origins set
    ):
        r = await http.options(path, headers=_preflight(origin, "GET"))
        assert r.status_code == 204, (path, r.text)
        _assert_refused(r)
    # A path that serves nothing: 404, still without a key.
    r = await http.options(f"{tenant.base}/nothing-here", headers=_preflight(APP))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


async def test_actual_answers_carry_the_origin_errors_included(
    http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    await tenant.collection()
    await _allow(tenant, APP)
    records = f"{tenant.base}/collections/contacts/records"
    h = {**tenant.h("member"), "Origin": APP}
    created = await http.post(records, json={"data": {"email": "b@example.com"}}, headers=h)
    got = await http.get(f"{records}/{created.json()['id']}", headers=h)
    listed = await http.get(records, headers=h)
    answers = {
        "create (fast path)": (created, 201),
        "get (fast path)": (got, 200),
        "list (fast path)": (listed, 200),
        "collections": (await http.get(f"{tenant.base}/collections", headers=h), 200),
        "422": (await http.post(records, json={"data": {"email": 5}}, headers=h), 422),
        "404": (await http.get(f"{records}/rec_01JD0000000000000000000000", headers=h), 404),
        "401": (await http.get(records, headers={**bearer("fdk_nope"), "Origin": APP}), 401),
        "403": (await http.get(f"{tenant.base}/audit-events", headers=h), 403),
        "405": (await http.put(records, json={}, headers=h), 405),
        "413": (
            await http.post(records, content=b"x", headers={**h, "Content-Length": str(10**9)}),
            413,
        ),
    }
    for name, (r, status) in answers.items():
        assert r.status_code == status, (name, r.text)
        _assert_allowed(r, APP)
        exposed = {v.strip().lower() for v in r.headers["access-control-expose-headers"].split(",")}
        assert {"etag", "location", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= exposed, name
        assert {"ratelimit-policy", "retry-after", "x-request-id", "fundament-consistency"} <= exposed, name
    assert created.headers["etag"] and created.headers["location"]
    # Another origin: told the answer varies by origin, and nothing else.
    r = await http.get(records, headers={**tenant.h("member"), "Origin": OTHER})
    assert r.status_code == 200 and r.headers.get_list("vary") == ["Origin"]
    _assert_refused(r)
    assert "access-control-expose-headers" not in r.headers
    # No Origin (server to server): no CORS headers at all.
    r = await http.get(records, headers=tenant.h("member"))
    assert r.status_code == 200 and "vary" not in r.headers and ALLOW_ORIGIN not in r.headers


async def test_a_throttled_answer_carries_the_origin(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    await _allow(tenant, APP)
    ulid = tenant.id.removeprefix("tnt_")
    statuses = []
    for _ in range(15):
        wrong = f"fdk_{ulid}_{secrets.token_urlsafe(32)}"
        r = await http.get(f"{tenant.base}/collections", headers={**bearer(wrong), "Origin": APP})
        statuses.append(r.status_code)
        _assert_allowed(r, APP)
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    assert "retry-after" in r.headers["access-control-expose-headers"].lower()


async def test_plain_options_answers_allow(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    r = await http.options(f"{tenant.base}/collections")
    assert r.status_code == 204
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    assert "vary" not in r.headers
    r = await http.options("/healthz", headers={"Origin": APP})
    assert r.status_code == 204 and r.headers["allow"] == "GET, OPTIONS"
    assert "vary" not in r.headers and ALLOW_ORIGIN not in r.headers
    assert (await http.options("/v1/nothing")).status_code == 404


async def test_origins_are_set_by_admins_and_validated(
    http: httpx.AsyncClient, tenant: TenantFixture, operator_key: str
) -> None:
    url = f"{tenant.base}/cors"
    assert (await http.get(url, headers=tenant.h("admin"))).json() == {"allowed_origins": []}
    r = await _allow(tenant, "https://App.Example.COM:443", "http://localhost:80", "http://[0:0::1]:3000", APP)
    stored = ["https://app.example.com", "http://localhost", "http://[::1]:3000"]
    assert r.json() == {"allowed_origins": stored}
    assert (await http.get(url, headers=tenant.h("owner"))).json() == {"allowed_origins": stored}
    # The tenant object keeps its contract shape.
    assert "cors_origins" not in (await http.get(tenant.base, headers=tenant.h("viewer"))).json()
    for bad, word in (
        ("*", "wildcard"),
        ("https://*.example.com", "wildcard"),
        ("https://app.example.com/", "path"),
        ("https://app.example.com/app", "path"),
        ("ftp://app.example.com", "scheme"),
        ("app.example.com", "scheme://host"),
        ("null", "null"),
        ("https://user@app.example.com", "user"),
        ("https://app.example.com:99999", "port"),
        ("https://bücher.example", "xn--"),
        ("https://-bad-.example.com", "host"),
        ("", "scheme://host"),
    ):
        r = await http.put(url, json={"allowed_origins": [APP, bad]}, headers=tenant.h("admin"))
        assert r.status_code == 422, (bad, r.text)
        (error,) = r.json()["errors"]
        assert error["path"] == "/allowed_origins/1" and word in error["message"], (bad, error)
    too_many = [f"https://a{i}.example.com" for i in range(21)]
    for body in ({"allowed_origins": too_many}, {"allowed_origins": APP}, {}, {"allowed_origins": [], "x": 1}):
        r = await http.put(url, json=body, headers=tenant.h("admin"))
        assert r.status_code == 422, (body, r.text)
    # Nothing refused was stored.
    assert (await http.get(url, headers=tenant.h("admin"))).json() == {"allowed_origins": stored}
    # Roles: members and viewers may not; another tenant's admin learns nothing; operators may.
    for role in ("member", "viewer"):
        assert (await http.get(url, headers=tenant.h(role))).status_code == 403
        r = await http.put(url, json={"allowed_origins": []}, headers=tenant.h(role))
        assert r.status_code == 403
    other = await make_tenant(http, operator_key)
    assert (await http.get(url, headers=other.h("admin"))).status_code == 404
    r = await http.put(url, json={"allowed_origins": [OTHER]}, headers=bearer(operator_key))
    assert r.status_code == 200 and r.json() == {"allowed_origins": [OTHER]}
    events = await http.get(
        f"{tenant.base}/audit-events", params={"action": "tenant.cors_updated"}, headers=tenant.h("admin")
    )
    assert events.status_code == 200, events.text
    assert len(events.json()["items"]) == 2


async def test_a_change_applies_here_and_on_another_instance(
    http: httpx.AsyncClient, tenant: TenantFixture, admin_dsn: str, settings: Settings
) -> None:
    path = f"{tenant.base}/collections"
    await _allow(tenant, APP)
    other_app = create_app(settings, admin_dsn=admin_dsn)
    async with other_app.router.lifespan_context(other_app):
        transport = httpx.ASGITransport(app=other_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as other:
            # Warm the other instance's tenant cache with the old list.
            _assert_allowed(await other.options(path, headers=_preflight(APP, "GET")), APP)
            await _allow(tenant, OTHER)
            _assert_refused(await http.options(path, headers=_preflight(APP, "GET")))
            _assert_allowed(await http.options(path, headers=_preflight(OTHER, "GET")), OTHER)
            started = time.monotonic()
            while ALLOW_ORIGIN in (await other.options(path, headers=_preflight(APP, "GET"))).headers:
                assert time.monotonic() - started < 1.0, "the change did not reach the other instance"
                await asyncio.sleep(0.02)
            _assert_allowed(await other.options(path, headers=_preflight(OTHER, "GET")), OTHER)
    await _allow(tenant)
    _assert_refused(await http.options(path, headers=_preflight(OTHER, "GET")))


async def test_operator_origins_apply_to_every_path(
    admin_dsn: str, settings: Settings, operator_key: str
) -> None:
    console = "https://console.example.com"
    async with serving(admin_dsn, settings, cors_operator_origins=f"{console}, https://ops.example.com:443") as client:
        t = await make_tenant(client, operator_key)
        for path in ("/v1/tenants", t.base, f"{t.base}/collections"):
            r = await client.options(path, headers=_preflight(console, "GET"))
            assert r.status_code == 204
            _assert_allowed(r, console)
            _assert_allowed(await client.options(path, headers=_preflight("https://ops.example.com", "GET")),
                            "https://ops.example.com")
            r = await client.options(path, headers=_preflight(APP, "GET"))
            _assert_refused(r)
            assert r.headers.get_list("vary") == ["Origin"]
        r = await client.get("/v1/tenants", headers={**bearer(operator_key), "Origin": console})
        assert r.status_code == 200
        _assert_allowed(r, console)


def test_operator_origins_are_checked_at_start() -> None:
    assert Settings(cors_operator_origins="").cors_operator_origins is None
    parsed = Settings(cors_operator_origins=" https://A.example.com:443 ,http://localhost:3000,").cors_operator_origins
    assert parsed == "https://a.example.com,http://localhost:3000"
    for bad in ("*", "https://console.example.com/", "console.example.com"):
        with pytest.raises(ValidationError, match="cors_operator_origins"):
            Settings(cors_operator_origins=bad)
