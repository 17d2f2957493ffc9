"""The tenant admin's pages in Chromium: keys, users, collections (schema editor), records
(filter grammar), audit (verify badge), privacy (export download, erasure). Each page is
checked with axe-core."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.async_api import expect

SCHEMA = {
    "type": "object",
    "properties": {"email": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["email"],
    "additionalProperties": False,
}


def collection(console: Any, tenant: Any, name: str = "contacts") -> None:
    body = {"name": name, "schema": SCHEMA, "indexes": ["score"], "personal_fields": ["email"], "subject_field": "email"}
    r = console.api("POST", f"/v1/tenants/{tenant.id}/collections", tenant.keys["admin"], json=body)
    assert r.status_code == 201, r.text


def record(console: Any, tenant: Any, data: dict[str, Any], name: str = "contacts") -> str:
    r = console.api("POST", f"/v1/tenants/{tenant.id}/collections/{name}/records", tenant.keys["member"], json={"data": data})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_creating_a_key_shows_its_secret_once_and_revoking_it_ends_it(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, axe_check: Any
) -> None:
    tenant = new_tenant("keys")
    await signed_in(page, tenant.keys["admin"])
    await page.get_by_role("link", name="Keys").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    await axe_check(page)
    await page.get_by_label("Name").fill("ci deploy")
    await page.get_by_label("Role").select_option("member")
    await page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret")
    await expect(secret).to_be_visible()
    key = await secret.input_value()
    await axe_check(page)
    # The secret works on the API, and is shown on this answer only.
    r = console.api("GET", f"/v1/tenants/{tenant.id}/collections", key)
    assert r.status_code == 200
    await page.goto(page.url)
    await expect(page.get_by_label("Secret")).to_have_count(0)
    assert key not in await page.content()
    row = page.get_by_role("row").filter(has_text="ci deploy")
    await expect(row).to_contain_text("member")

    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Revoke ci deploy").click()
    await expect(page.get_by_role("status")).to_have_text("Key revoked.")
    await expect(page.get_by_role("row").filter(has_text="ci deploy")).to_have_count(0)
    assert console.api("GET", f"/v1/tenants/{tenant.id}/collections", key).status_code == 401


async def test_a_key_above_the_admins_role_is_refused_with_the_apis_problem(
    page: Any, signed_in: Any, new_tenant: Any
) -> None:
    tenant = new_tenant("keys-owner")
    await signed_in(page, tenant.keys["admin"])
    await page.goto(page.url + "keys")
    await page.get_by_label("Name").fill("too strong")
    await page.get_by_label("Role").select_option("owner")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("alert").first).to_contain_text("403")
    await expect(page.get_by_label("Secret")).to_have_count(0)


async def test_users_are_added_and_deleted(page: Any, signed_in: Any, new_tenant: Any, axe_check: Any) -> None:
    tenant = new_tenant("users")
    await signed_in(page, tenant.keys["admin"])
    await page.get_by_role("link", name="Users").click()
    await page.get_by_label("Email").fill("ada@example.com")
    await page.get_by_label("Name (optional)").fill("Ada")
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_role("status")).to_have_text("User created.")
    row = page.get_by_role("row").filter(has_text="ada@example.com")
    await expect(row.get_by_label("Role of ada@example.com")).to_have_value("member")
    # Times are <time> elements, read to the second.
    created = row.locator("time")
    await expect(created).to_have_count(1)
    assert (await created.get_attribute("datetime") or "").startswith(str(await created.inner_text())[:10])
    await axe_check(page)
    await row.get_by_label("Role of ada@example.com").select_option("admin")
    await row.get_by_role("button", name="Change the role of ada@example.com").click()
    await expect(page.get_by_role("status")).to_have_text("User's role changed.")
    await expect(row.get_by_label("Role of ada@example.com")).to_have_value("admin")
    # Above the admin's own role: the API's 403, shown.
    await row.get_by_label("Role of ada@example.com").select_option("owner")
    await row.get_by_role("button", name="Change the role of ada@example.com").click()
    await expect(page.get_by_role("alert").first).to_contain_text("403")
    # The API's 422 about the email lands next to the email field (an address the browser's
    # own check lets through but the API's 254-character limit refuses).
    await page.get_by_label("Email").fill("a" * 64 + "@" + ".".join(c * 63 for c in "bcd"))
    await page.get_by_role("button", name="Add user").click()
    await expect(page.locator("#e-email")).to_be_visible()
    await expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    await axe_check(page)
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete ada@example.com").click()
    await expect(page.get_by_role("status")).to_have_text("User deleted.")
    await expect(page.get_by_role("row").filter(has_text="ada@example.com")).to_have_count(0)


async def test_the_schema_editor_shows_the_apis_errors_next_to_the_field(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, axe_check: Any
) -> None:
    tenant = new_tenant("schema")
    await signed_in(page, tenant.keys["admin"])
    await page.get_by_role("link", name="Collections").click()
    await axe_check(page)
    await page.get_by_label("Name", exact=True).fill("people")
    await page.get_by_label("Indexes").fill("score")
    await page.get_by_role("button", name="Create collection").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Collection people")
    await expect(page.get_by_role("status")).to_have_text("Collection created.")

    schema = page.get_by_label("Schema", exact=False)
    # Not JSON: said on the field, nothing sent.
    await schema.fill("{not json")
    await page.get_by_role("button", name="Save collection").click()
    await expect(page.locator("#e-schema")).to_contain_text("Not JSON")
    # JSON, but not a valid JSON Schema: the API's 422, next to the schema field.
    await page.get_by_label("Schema", exact=False).fill(json.dumps({"type": "object", "properties": {"a": {"type": "nonsense"}}}))
    await page.get_by_role("button", name="Save collection").click()
    errors = page.locator("#e-schema")
    await expect(errors).to_be_visible()
    await expect(page.get_by_label("Schema", exact=False)).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Schema", exact=False)).to_have_attribute("aria-describedby", "e-schema")
    await axe_check(page)
    # Retention as typed: the API refuses a non-number, the error sits by that field.
    await page.get_by_label("Schema", exact=False).fill(json.dumps(SCHEMA))
    await page.get_by_label("Retention (days)").fill("soon")
    await page.get_by_role("button", name="Save collection").click()
    await expect(page.locator("#e-retention_days")).to_be_visible()
    # Fixed: saved, and the API has the new schema.
    await page.get_by_label("Retention (days)").fill("30")
    await page.get_by_role("button", name="Save collection").click()
    await expect(page.get_by_role("status")).to_have_text("Collection saved.")
    got = console.api("GET", f"/v1/tenants/{tenant.id}/collections/people", tenant.keys["admin"]).json()
    assert got["schema"] == SCHEMA and got["retention_days"] == 30
    # A schema the stored records would fail: the API's 409, naming the record, by the schema.
    record_id = record(console, tenant, {"email": "x@example.com"}, name="people")
    stricter = {**SCHEMA, "required": ["email", "score"]}
    await page.get_by_label("Schema", exact=False).fill(json.dumps(stricter))
    await page.get_by_role("button", name="Save collection").click()
    await expect(page.locator("#e-schema")).to_contain_text(record_id)


async def test_the_records_browser_filters_and_shows_a_bad_filters_problem(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, axe_check: Any
) -> None:
    tenant = new_tenant("records")
    collection(console, tenant)
    for i in range(5):
        record(console, tenant, {"email": f"p{i}@example.com", "score": i * 10})
    await signed_in(page, tenant.keys["admin"])
    await page.goto(f"{console.url}/t/{tenant.id}/collections")
    await page.get_by_role("link", name="Browse contacts").click()
    rows = page.locator("#results tbody tr")
    await expect(rows).to_have_count(5)
    await axe_check(page)
    # htmx swaps the results in place and puts the filter in the address.
    await page.get_by_label("Filter").fill('score gt 15 and email ew "@example.com"')
    await page.get_by_label("Sort").fill("-score")
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("p4@example.com")
    assert "filter=score" in page.url
    # A malformed filter: the API's 400 next to the filter field, not a 500.
    await page.get_by_label("Filter").fill("score gt")
    async with page.expect_response(lambda r: "/records" in r.url) as answer:
        await page.get_by_role("button", name="Apply").click()
    assert (await answer.value).status == 400
    await expect(page.locator("#query-problem")).to_contain_text("filter")
    await page.reload()
    await expect(page.locator("#e-filter")).to_be_visible()
    await axe_check(page)
    # A record that fails the schema: the API's 422 by the data field.
    await page.get_by_label("Data (JSON)").fill(json.dumps({"score": "high"}))
    await page.get_by_role("button", name="Add record").click()
    await expect(page.locator("#e-data")).to_be_visible()
    await page.get_by_label("Data (JSON)").fill(json.dumps({"email": "new@example.com", "score": 99}))
    await page.get_by_role("button", name="Add record").click()
    await expect(page.get_by_role("status")).to_have_text("Record created.")
    await expect(page.locator("#results tbody tr")).to_have_count(6)


async def test_the_audit_log_lists_events_and_verifies_the_chain(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, axe_check: Any
) -> None:
    tenant = new_tenant("audit")
    collection(console, tenant)
    record(console, tenant, {"email": "a@example.com", "score": 1})
    await signed_in(page, tenant.keys["admin"])
    await page.get_by_role("link", name="Audit log").click()
    # The badge is loaded by htmx from the verify page.
    await expect(page.locator("#verify-badge")).to_contain_text("Chain verified")
    await expect(page.get_by_role("row").filter(has_text="record.created")).to_have_count(1)
    await axe_check(page)
    await page.get_by_label("Action").fill("collection.created")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody tr")).to_contain_text("collection.created")


async def test_privacy_export_downloads_and_erasure_erases(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, axe_check: Any
) -> None:
    tenant = new_tenant("privacy")
    collection(console, tenant)
    record(console, tenant, {"email": "erin@example.com", "score": 7})
    record(console, tenant, {"email": "other@example.com", "score": 8})
    await signed_in(page, tenant.keys["admin"])
    await page.get_by_role("link", name="Privacy").click()
    await expect(page.get_by_role("row").filter(has_text="contacts")).to_have_count(1)
    await axe_check(page)

    await page.get_by_label("Subject (value of a subject field)").fill("erin@example.com")
    await page.get_by_role("button", name="Request export").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Export request")
    # Polled by htmx until the worker is done.
    link = page.get_by_role("link", name="Download the export (JSON)")
    await expect(link).to_be_visible(timeout=20_000)
    await axe_check(page)
    async with page.expect_download() as download:
        await link.click()
    path = await (await download.value).path()
    exported = json.loads(Path(path).read_text())  # noqa: ASYNC240 (a small file the test just got)
    assert exported["subject"] == "erin@example.com"
    assert "erin@example.com" in json.dumps(exported["records"]) and "other@example.com" not in json.dumps(exported)

    await page.get_by_role("link", name="Back to privacy requests").click()
    await page.get_by_label("Subject to erase").fill("erin@example.com")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Request erasure").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Erasure request")
    await expect(page.locator("#request")).to_contain_text("contacts: 1", timeout=20_000)
    left = console.api("GET", f"/v1/tenants/{tenant.id}/collections/contacts/records", tenant.keys["admin"]).json()
    assert [r["data"]["email"] for r in left["items"]] == ["other@example.com"]


async def test_a_record_is_edited_and_a_stale_save_is_refused(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, axe_check: Any
) -> None:
    tenant = new_tenant("record")
    collection(console, tenant)
    record_id = record(console, tenant, {"email": "kim@example.com", "score": 1})
    await signed_in(page, tenant.keys["admin"])
    await page.goto(f"{console.url}/t/{tenant.id}/collections/contacts/records")
    await page.get_by_role("link", name=record_id).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Record {record_id}")
    await axe_check(page)
    data = page.get_by_label("Data (JSON)")
    await data.fill(json.dumps({"email": "kim@example.com", "score": 2}))
    await page.get_by_role("button", name="Save record").click()
    await expect(page.get_by_role("status")).to_have_text("Record saved.")
    # Someone else changes it while the page is open: the save is the API's 412.
    url = f"/v1/tenants/{tenant.id}/collections/contacts/records/{record_id}"
    r = console.api("PUT", url, tenant.keys["member"], json={"data": {"email": "kim@example.com", "score": 50}})
    assert r.status_code == 200
    await page.get_by_label("Data (JSON)").fill(json.dumps({"email": "kim@example.com", "score": 3}))
    await page.get_by_role("button", name="Save record").click()
    await expect(page.get_by_role("alert")).to_contain_text("412")
    assert console.api("GET", url, tenant.keys["admin"]).json()["data"]["score"] == 50
    # Saved again, knowingly, over the version now shown.
    await page.get_by_role("button", name="Save record").click()
    await expect(page.get_by_role("status")).to_have_text("Record saved.")
    assert console.api("GET", url, tenant.keys["admin"]).json()["data"]["score"] == 3
    # Data the schema refuses: the API's 422 by the field.
    await page.get_by_label("Data (JSON)").fill(json.dumps({"email": 7}))
    await page.get_by_role("button", name="Save record").click()
    await expect(page.locator("#e-data")).to_contain_text("/email")


async def test_the_pages_work_without_javascript(browser: Any, console: Any, new_tenant: Any) -> None:
    tenant = new_tenant("nojs")
    collection(console, tenant)
    for i in range(3):
        record(console, tenant, {"email": f"n{i}@example.com", "score": i})
    context = await browser.new_context(java_script_enabled=False)
    try:
        page = await context.new_page()
        await page.goto(console.url + "/")
        await page.get_by_label("API key").fill(tenant.keys["admin"])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(tenant.name)
        # The filter form reloads the page instead of swapping the table in.
        await page.goto(f"{console.url}/t/{tenant.id}/collections/contacts/records")
        await page.get_by_label("Filter").fill("score ge 1")
        await page.get_by_role("button", name="Apply").click()
        await expect(page.locator("#results tbody tr")).to_have_count(2)
        # The audit badge is a link to the verification page.
        await page.goto(f"{console.url}/t/{tenant.id}/audit")
        await page.get_by_role("link", name="Verify the hash chain").click()
        await expect(page.locator("#verify-badge")).to_contain_text("Chain verified")
        # Forms post as forms: a key is made (no confirmation dialog without script).
        await page.goto(f"{console.url}/t/{tenant.id}/keys")
        await page.get_by_label("Name").fill("no script")
        await page.get_by_role("button", name="Create key").click()
        await expect(page.get_by_label("Secret")).to_be_visible()
    finally:
        await context.close()
