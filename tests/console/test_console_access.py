"""Signing in and out, the session cookie, CSRF and the security headers, in Chromium."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from console_session import Browserless


async def test_sign_in_with_a_tenant_key_shows_the_tenants_pages(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, axe_check: Any
) -> None:
    tenant_a = new_tenant("a")
    await signed_in(page, tenant_a.keys["admin"])
    assert page.url == f"{console.url}/t/{tenant_a.id}/"
    assert await page.get_by_role("heading", level=1).inner_text() == tenant_a.name
    nav = page.get_by_role("navigation", name="Main")
    assert await nav.get_by_role("link", name="Keys").is_visible()
    # The operator's pages are not offered to a tenant key.
    assert await nav.get_by_role("link", name="Tenants").count() == 0
    await axe_check(page)

    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["fundament_console"]
    assert session["httpOnly"] is True
    assert session["secure"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/console"
    # Sealed: the key is not in the cookie, nor in the page's storage, nor readable by script.
    assert tenant_a.keys["admin"] not in session["value"]
    storage = await page.evaluate("() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert tenant_a.keys["admin"] not in storage
    assert await page.evaluate("() => document.cookie") == ""

    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign out").click()
    assert page.url == f"{console.url}/?notice=signed-out"
    # The sign-in form's fresh (anonymous) session replaced the signed-in one.
    assert session["value"] not in {c["value"] for c in await page.context.cookies()}
    await page.goto(f"{console.url}/t/{tenant_a.id}/keys")
    assert await page.get_by_label("API key").is_visible()
    assert "Sign in to see that page." in await page.get_by_role("status").inner_text()


async def test_revoking_the_sessions_key_ends_the_session(
    page: Any, signed_in: Any, console: Any, new_tenant: Any
) -> None:
    tenant_a = new_tenant("a")
    r = console.api("POST", f"/v1/tenants/{tenant_a.id}/api-keys", json={"name": "short-lived", "role": "admin"})
    key, key_id = r.json()["key"], r.json()["id"]
    await signed_in(page, key)
    await page.get_by_role("link", name="Keys").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    assert console.api("DELETE", f"/v1/tenants/{tenant_a.id}/api-keys/{key_id}").status_code == 204
    await page.get_by_role("link", name="Users").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("sign in again")
    await page.get_by_role("link", name="Fundament console").click()
    await expect(page.get_by_label("API key")).to_be_visible()


async def test_signing_in_and_moving_around_by_keyboard_alone(
    page: Any, console: Any, new_tenant: Any
) -> None:
    tenant_a = new_tenant("a")
    await page.goto(console.url + "/")
    # The first Tab reaches the skip link, the next ones the form, in order.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("API key")).to_be_focused()
    await page.keyboard.type(tenant_a.keys["admin"])
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text(tenant_a.name)
    keys = page.get_by_role("navigation", name="Main").get_by_role("link", name="Keys")
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await keys.evaluate("link => link === document.activeElement"):
            break
    await expect(keys).to_be_focused()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    await expect(keys).to_have_attribute("aria-current", "page")


async def test_a_wrong_key_is_refused_on_the_form(page: Any, signed_in: Any, axe_check: Any) -> None:
    await signed_in(page, "fk_not_a_key")
    assert "Unknown" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_label("API key").is_visible()
    await axe_check(page)


async def test_every_answer_carries_the_security_headers(console: Any) -> None:
    async with httpx.AsyncClient(base_url=console.base) as client:
        for path in ("/console/", "/console/static/console.css", "/console/static/htmx.min.js", "/console/nope"):
            r = await client.get(path)
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["x-content-type-options"] == "nosniff"
        r = await client.get("/console")
        assert r.status_code == 308 and r.headers["location"] == "/console/"
        # The router's own refusals carry them too.
        for method, path in (("DELETE", "/console/"), ("POST", "/console/static/console.css")):
            r = await client.request(method, path)
            assert r.status_code == 405 and "GET" in r.headers["allow"]
            assert "script-src 'self'" in r.headers["content-security-policy"]


async def test_a_post_without_the_csrf_token_is_refused(console: Any, new_tenant: Any) -> None:
    tenant_a = new_tenant("a")
    # Plain HTTP (not the browser): a forged cross-site form is exactly a POST without the token.
    async with httpx.AsyncClient(base_url=console.base) as client:
        b = Browserless(client)
        await b.request("GET", "/console/")
        r = await b.request("POST", "/console/sign-in", data={"key": tenant_a.keys["admin"]})
        assert r.status_code == 403, r.text
        assert "CSRF" in r.text
        # With the session's token the same form signs in.
        token = await b.csrf("/console/")
        r = await b.request("POST", "/console/sign-in", data={"key": tenant_a.keys["admin"], "csrf": token})
        assert r.status_code == 303, r.text
        # Signed in, a write without the token (or with a wrong one) is refused and writes nothing.
        before = console.api("GET", f"/v1/tenants/{tenant_a.id}/api-keys").json()["items"]
        for data in ({"name": "csrf-less", "role": "viewer"}, {"name": "csrf-less", "role": "viewer", "csrf": token}):
            r = await b.request("POST", f"/console/t/{tenant_a.id}/keys", data=data)
            assert r.status_code == 403
        after = console.api("GET", f"/v1/tenants/{tenant_a.id}/api-keys").json()["items"]
        assert len(after) == len(before)
        # The token issued at sign-in (the one before is dead) lets the same form through.
        token = await b.csrf(f"/console/t/{tenant_a.id}/keys")
        r = await b.request("POST", f"/console/t/{tenant_a.id}/keys", data={"name": "with-token", "role": "viewer", "csrf": token})
        assert r.status_code == 201
        # Without the cookie, the token alone is nothing: back to sign-in.
        r = await client.post(f"/console/t/{tenant_a.id}/keys", data={"name": "no-cookie", "role": "viewer", "csrf": token})
        assert r.status_code == 303 and r.headers["location"].startswith("/console/?")
