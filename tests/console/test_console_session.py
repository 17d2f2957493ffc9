"""The session cookie and the console's answers to bad input, without a browser."""

from __future__ import annotations

import time
from typing import Any

import httpx

from console_session import Browserless
from fundament.console.core import Session, open_session, seal_session
from fundament.platform import Principal

MASTER = b"m" * 32


def signed_in_session() -> Session:
    return Session.for_principal("fdk_secret", Principal("tenant_key", "key_1", "admin", "tnt_1"))


def test_a_sealed_session_opens_only_untouched_under_its_master_key_and_before_it_expires() -> None:
    session = signed_in_session()
    cookie = seal_session(MASTER, session)
    assert "fdk_secret" not in cookie and "tnt_1" not in cookie
    assert open_session(MASTER, cookie) == session
    # One character changed anywhere: no session.
    for i in (0, len(cookie) // 2, len(cookie) - 1):
        flipped = cookie[:i] + ("A" if cookie[i] != "A" else "B") + cookie[i + 1 :]
        assert open_session(MASTER, flipped) is None
    assert open_session(b"n" * 32, cookie) is None
    assert open_session(MASTER, "") is None and open_session(MASTER, "not base64 !!") is None
    assert open_session(MASTER, "A" * 5000) is None
    session.expires = int(time.time()) - 1
    assert open_session(MASTER, seal_session(MASTER, session)) is None


async def test_bad_input_gets_a_page_or_a_redirect_never_a_500(console: Any, new_tenant: Any) -> None:
    tenant_a = new_tenant("a")
    t = f"/console/t/{tenant_a.id}"
    async with httpx.AsyncClient(base_url=console.base, timeout=30) as client:
        s = Browserless(client)
        await s.sign_in(tenant_a.keys["admin"])
        for path in (
            f"{t}/collections/contacts/records?limit=abc",
            f"{t}/collections/contacts/records?cursor=garbage",
            f"{t}/collections/NOPE/records",
            f"{t}/collections/%00/records",
            f"{t}/privacy/nonsense/req_1",
            f"{t}/privacy/exports/req_nothere",
            f"{t}/privacy/lookup?kind=exports&id=",
            f"{t}/audit?at_from=yesterday",
            f"{t}/users?cursor=%ff%fe",
            "/console/t/%2e%2e/keys",
            "/console/static/../core.py",
        ):
            r = await s.request("GET", path)
            assert 300 <= r.status_code < 500, (path, r.status_code, r.text[:300])
            assert "content-security-policy" in r.headers
        posts: list[tuple[str, Any]] = [
            (f"{t}/keys", {"content": b"\xff\xfe=\xff", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
            (f"{t}/keys", {"json": {"name": "x", "role": "viewer", "csrf": s.token}}),
            (f"{t}/keys", {"data": {"csrf": s.token, "name": "x" * 10_000, "role": "emperor"}}),
            (f"{t}/collections", {"data": {"csrf": s.token, "name": "ok", "schema": "[1, 2"}}),
            (f"{t}/collections", {"data": {"csrf": s.token, "name": "BAD NAME", "schema": "{}", "retention_days": "-3"}}),
            (f"{t}/collections/contacts/records", {"data": {"csrf": s.token, "data": "null"}}),
            (f"{t}/privacy", {"data": {"csrf": s.token, "kind": "sideways", "subject": "x"}}),
            (f"{t}/privacy", {"data": {"csrf": s.token, "kind": "exports", "subject": ""}}),
            (f"{t}/keys", {"content": b"csrf=" + s.token.encode() + b"&" + b"a=b&" * 300_000,
                           "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
        ]
        for path, kwargs in posts:
            r = await s.request("POST", path, **kwargs)
            assert 300 <= r.status_code < 500, (path, r.status_code, r.text[:300])
        # Still signed in after all that.
        assert (await s.request("GET", f"{t}/keys")).status_code == 200


async def test_sign_in_redirects_only_inside_the_console(console: Any, new_tenant: Any) -> None:
    tenant_a = new_tenant("a")
    async with httpx.AsyncClient(base_url=console.base, timeout=30) as client:
        for target, expected in (
            (f"/console/t/{tenant_a.id}/users", f"/console/t/{tenant_a.id}/users"),
            ("//evil.example/console/", f"/console/t/{tenant_a.id}/"),
            ("https://evil.example/", f"/console/t/{tenant_a.id}/"),
            ("/console//evil.example", f"/console/t/{tenant_a.id}/"),
        ):
            s = Browserless(client)
            token = await s.csrf("/console/")
            data = {"key": tenant_a.keys["admin"], "csrf": token, "next": target}
            r = await s.request("POST", "/console/sign-in", data=data)
            assert r.status_code == 303 and r.headers["location"] == expected, (target, r.headers.get("location"))
        # A cookie that does not open is no session: sign in first.
        r = await client.get(f"/console/t/{tenant_a.id}/keys", headers={"Cookie": "fundament_console=forged"})
        assert r.status_code == 303 and r.headers["location"].startswith("/console/?")


async def test_the_sign_in_page_warns_when_the_browser_would_drop_the_cookie(console: Any) -> None:
    async with httpx.AsyncClient(base_url=console.base, timeout=30) as client:
        assert "plain http" not in (await client.get("/console/")).text
        r = await client.get("/console/", headers={"Host": "console.example.com"})
        assert "plain http" in r.text
        r = await client.get("/console/", headers={"Host": "localhost:8000"})
        assert "plain http" not in r.text


async def test_a_suspended_tenants_key_sees_that_it_is_suspended(console: Any, new_tenant: Any) -> None:
    t = new_tenant("suspended")
    async with httpx.AsyncClient(base_url=console.base, timeout=30) as client:
        s = Browserless(client)
        await s.sign_in(t.keys["admin"])
        assert (await s.request("GET", f"/console/t/{t.id}/keys")).status_code == 200
        assert console.api("PATCH", f"/v1/tenants/{t.id}", json={"status": "suspended"}).status_code == 200
        for path in ("/keys", "/collections", "/collections/c/records", "/audit"):
            r = await s.request("GET", f"/console/t/{t.id}{path}")
            assert r.status_code == 403 and "suspended" in r.text, (path, r.status_code)
