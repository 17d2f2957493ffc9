"""Who sees which console page: tenant A's keys never see or change tenant B's pages (the
API's 404, rendered), a viewer cannot do an admin's actions, the operator sees every tenant.

Plain HTTP with a real session (cookie and CSRF token), so the matrix is cheap to run; the
browser tests cover the same pages rendered."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.async_api import expect

from console_session import Browserless

SCHEMA = {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]}


def seed(console: Any, tenant: Any) -> dict[str, str]:
    """A collection, a record, a user and a finished export in ``tenant``: every page has
    something of the tenant's to leak."""
    admin = tenant.keys["admin"]
    base = f"/v1/tenants/{tenant.id}"
    body = {"name": "contacts", "schema": SCHEMA, "personal_fields": ["email"], "subject_field": "email"}
    assert console.api("POST", f"{base}/collections", admin, json=body).status_code == 201
    secret = f"{tenant.slug}@example.com"
    r = console.api("POST", f"{base}/collections/contacts/records", admin, json={"data": {"email": secret}})
    record_id = r.json()["id"]
    user_id = console.api("POST", f"{base}/users", admin, json={"email": secret, "role": "viewer"}).json()["id"]
    export_id = console.api("POST", f"{base}/privacy/exports", admin, json={"subject": secret}).json()["id"]
    deadline = time.monotonic() + 20
    while console.api("GET", f"{base}/privacy/exports/{export_id}", admin).json()["status"] == "pending":
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.2)
    key_id = console.api("GET", f"{base}/api-keys", admin).json()["items"][0]["id"]
    return {"record": record_id, "user": user_id, "export": export_id, "key": key_id, "secret": secret}


def pages(tenant_id: str, ids: dict[str, str]) -> list[str]:
    t = f"/console/t/{tenant_id}"
    return [
        f"{t}/",
        f"{t}/keys",
        f"{t}/users",
        f"{t}/collections",
        f"{t}/collections/contacts",
        f"{t}/collections/contacts/records",
        f"{t}/collections/contacts/records/{ids['record']}",
        f"{t}/audit",
        f"{t}/audit/verify",
        f"{t}/privacy",
        f"{t}/privacy/exports/{ids['export']}",
        f"{t}/privacy/exports/{ids['export']}/download",
    ]


def actions(tenant_id: str, ids: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    t = f"/console/t/{tenant_id}"
    schema = '{"type": "object"}'
    return [
        (f"{t}/keys", {"name": "intruder", "role": "viewer"}),
        (f"{t}/keys/{ids['key']}/revoke", {}),
        (f"{t}/users", {"email": "intruder@example.com", "role": "viewer"}),
        (f"{t}/users/{ids['user']}", {"role": "admin"}),
        (f"{t}/users/{ids['user']}/delete", {}),
        (f"{t}/collections", {"name": "intruded", "schema": schema}),
        (f"{t}/collections/contacts", {"schema": schema}),
        (f"{t}/collections/contacts/records", {"data": '{"email": "intruder@example.com"}'}),
        (f"{t}/collections/contacts/records/{ids['record']}", {"data": '{"email": "changed@example.com"}'}),
        (f"{t}/collections/contacts/records/{ids['record']}/delete", {}),
        (f"{t}/privacy", {"kind": "erasures", "subject": ids["secret"]}),
        (f"{t}/collections/contacts/delete", {}),
    ]


def state(console: Any, tenant: Any) -> Any:
    base = f"/v1/tenants/{tenant.id}"
    return [
        console.api("GET", f"{base}{path}").json()["items"]
        for path in ("/api-keys", "/users", "/collections", "/collections/contacts/records")
    ]


async def test_one_tenants_keys_never_see_nor_change_another_tenants_pages(
    console: Any, new_tenant: Any
) -> None:
    a, b = new_tenant("iso-a"), new_tenant("iso-b")
    ids_a, ids_b = seed(console, a), seed(console, b)
    before = state(console, b)
    async with httpx.AsyncClient(base_url=console.base, timeout=30) as client:
        for role in ("viewer", "member", "admin", "owner"):
            s = Browserless(client)
            await s.sign_in(a.keys[role])
            for path in pages(b.id, ids_b):
                r = await s.request("GET", path)
                assert r.status_code == 404, (role, path, r.status_code)
                # Nothing of B's: not its name, slug, data, nor a link to any of its pages.
                for leak in (b.id, b.slug, ids_b["secret"], b.name):
                    assert leak not in r.text, (role, path, leak)
            for path, data in actions(b.id, ids_b):
                r = await s.post(path, data)
                assert r.status_code == 404, (role, path, r.status_code, r.text[:300])
            # The same paths of A's own tenant answer (so the 404s above are about B).
            r = await s.request("GET", f"/console/t/{a.id}/collections/contacts/records")
            assert r.status_code == 200 and ids_a["secret"] in r.text
    assert state(console, b) == before

    async with httpx.AsyncClient(base_url=console.base, timeout=30) as client:
        s = Browserless(client)
        await s.sign_in(console.operator_key)
        for tenant, ids in ((a, ids_a), (b, ids_b)):
            for path in pages(tenant.id, ids):
                r = await s.request("GET", path)
                assert r.status_code == 200, (path, r.status_code)
            r = await s.request("GET", f"/console/t/{tenant.id}/collections/contacts/records")
            assert ids["secret"] in r.text


async def test_a_viewer_reads_but_cannot_act_as_an_admin(console: Any, new_tenant: Any) -> None:
    t = new_tenant("viewer")
    ids = seed(console, t)
    before = state(console, t)
    base = f"/console/t/{t.id}"
    async with httpx.AsyncClient(base_url=console.base, timeout=30) as client:
        s = Browserless(client)
        await s.sign_in(t.keys["viewer"])
        for path in (f"{base}/", f"{base}/collections", f"{base}/collections/contacts", f"{base}/collections/contacts/records"):
            assert (await s.request("GET", path)).status_code == 200, path
        for path in (f"{base}/keys", f"{base}/users", f"{base}/audit", f"{base}/privacy", f"{base}/privacy/exports/{ids['export']}/download"):
            r = await s.request("GET", path)
            assert r.status_code == 403, (path, r.status_code)
            assert "admin" in r.text
        for path, data in actions(t.id, ids):
            r = await s.post(path, data)
            assert r.status_code == 403, (path, r.status_code, r.text[:300])
        # An operator page is not there for a tenant key at all.
        assert (await s.request("GET", "/console/operator")).status_code == 404
    assert state(console, t) == before


async def test_in_the_browser_another_tenants_page_is_not_found(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, axe_check: Any
) -> None:
    tenant_a = new_tenant("a")
    tenant_b = new_tenant("b")
    await signed_in(page, tenant_a.keys["admin"])
    answer = await page.goto(f"{console.url}/t/{tenant_b.id}/keys")
    assert answer.status == 404
    await expect(page.get_by_role("alert")).to_contain_text("No such tenant")
    assert tenant_b.name not in await page.content()
    await axe_check(page)


async def test_a_tenants_data_is_shown_as_text_and_injected_script_does_not_run(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, browser: Any
) -> None:
    t = new_tenant("xss")
    schema = {"type": "object", "properties": {"email": {"type": "string"}}}
    base = f"/v1/tenants/{t.id}"
    assert console.api("POST", f"{base}/collections", t.keys["admin"], json={"name": "c", "schema": schema}).status_code == 201
    payload = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    r = console.api("POST", f"{base}/collections/c/records", t.keys["admin"], json={"data": {"email": payload}})
    assert r.status_code == 201
    await signed_in(page, t.keys["admin"])
    await page.goto(f"{console.url}/t/{t.id}/collections/c/records")
    # Escaped by the template: the payload is text in the table, no element of it exists.
    await expect(page.locator("#results tbody")).to_contain_text("onerror")
    assert await page.locator("#results img, #results script").count() == 0
    assert await page.evaluate("() => window.pwned") is None

    # And were markup ever to get through, the CSP refuses inline script and handlers
    # (a context of its own: the violations it reports are the point here).
    context = await browser.new_context()
    try:
        other = await context.new_page()
        violations: list[str] = []
        other.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        await other.goto(console.url + "/")
        await other.evaluate(
            """() => { document.body.insertAdjacentHTML('beforeend', '<img src="data:," onerror="window.pwned=1">');
                       const s = document.createElement('script'); s.textContent = 'window.pwned=2';
                       document.body.appendChild(s); }"""
        )
        await other.wait_for_timeout(200)
        assert await other.evaluate("() => window.pwned") is None
        assert violations, "the browser reported no CSP violation"
    finally:
        await context.close()
