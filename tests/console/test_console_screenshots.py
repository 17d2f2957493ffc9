"""Screenshots of the tenant admin's main views, for docs/console.md.

Always taken (into the test's temporary folder: each must be a real PNG of a rendered page);
copied into docs/console/ when FUNDAMENT_CONSOLE_SCREENSHOTS=1:

    FUNDAMENT_CONSOLE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/console/test_console_screenshots.py
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from playwright.async_api import expect

DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
SCHEMA = {
    "type": "object",
    "properties": {
        "email": {"type": "string"},
        "name": {"type": "string"},
        "plan": {"enum": ["free", "team", "enterprise"]},
        "seats": {"type": "integer", "minimum": 1},
    },
    "required": ["email"],
    "additionalProperties": False,
}
PEOPLE = [
    ("ada@acme.example", "Ada Lovelace", "enterprise", 40),
    ("grace@acme.example", "Grace Hopper", "team", 12),
    ("alan@acme.example", "Alan Turing", "free", 1),
    ("edsger@acme.example", "Edsger Dijkstra", "team", 8),
    ("barbara@acme.example", "Barbara Liskov", "enterprise", 25),
]


def seed(console: Any, tenant: Any) -> None:
    admin = tenant.keys["admin"]
    base = f"/v1/tenants/{tenant.id}"
    body = {
        "name": "customers",
        "schema": SCHEMA,
        "indexes": ["email", "seats"],
        "personal_fields": ["email", "name"],
        "subject_field": "email",
        "retention_days": 730,
        "purpose": "Billing and support of customer accounts",
        "legal_basis": "Contract (Art. 6(1)(b) GDPR)",
    }
    assert console.api("POST", f"{base}/collections", admin, json=body).status_code == 201
    for email, name, plan, seats in PEOPLE:
        data = {"email": email, "name": name, "plan": plan, "seats": seats}
        r = console.api("POST", f"{base}/collections/customers/records", tenant.keys["member"], json={"data": data})
        assert r.status_code == 201, r.text
    for email, role in (("ops@acme.example", "admin"), ("support@acme.example", "member")):
        assert console.api("POST", f"{base}/users", admin, json={"email": email, "role": role}).status_code == 201


async def test_screenshots_of_the_tenant_admins_views(
    page: Any, signed_in: Any, console: Any, new_tenant: Any, tmp_path: Path
) -> None:
    tenant = new_tenant("acme")
    seed(console, tenant)
    await page.set_viewport_size({"width": 1280, "height": 860})
    shots: list[Path] = []

    async def shot(name: str) -> None:
        path = tmp_path / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
        shots.append(path)

    await page.goto(console.url + "/")
    await shot("sign-in")
    await signed_in(page, tenant.keys["admin"])
    t = f"{console.url}/t/{tenant.id}"

    await page.goto(f"{t}/keys")
    await page.get_by_label("Name").fill("billing service")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_label("Secret")).to_be_visible()
    await shot("keys")

    await page.goto(f"{t}/users")
    await shot("users")

    await page.goto(f"{t}/collections/customers")
    await page.get_by_label("Schema", exact=False).fill(
        json.dumps({**SCHEMA, "properties": {**SCHEMA["properties"], "seats": {"type": "count"}}}, indent=2)
    )
    await page.get_by_role("button", name="Save collection").click()
    await expect(page.locator("#e-schema")).to_be_visible()
    await shot("schema-editor")

    await page.goto(f"{t}/collections/customers/records?filter=seats+ge+10&sort=-seats")
    await expect(page.locator("#results tbody tr")).to_have_count(3)
    await shot("records")

    await page.goto(f"{t}/audit")
    await expect(page.locator("#verify-badge")).to_contain_text("Chain verified")
    await shot("audit")

    await page.goto(f"{t}/privacy")
    await page.get_by_label("Subject (value of a subject field)").fill("alan@acme.example")
    await page.get_by_role("button", name="Request export").click()
    await expect(page.get_by_role("link", name="Download the export (JSON)")).to_be_visible(timeout=20_000)
    await shot("privacy-export")

    if os.environ.get("FUNDAMENT_CONSOLE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for path in shots:
            shutil.copyfile(path, DOCS / path.name)
