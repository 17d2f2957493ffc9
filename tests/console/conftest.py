"""The console's browser tests: one `fundament serve` on 127.0.0.1 and one Chromium per session.

Playwright drives Debian's Chromium (/usr/bin/chromium; Playwright's own browser download is
not reachable), headless, through pytest-playwright-asyncio: tests are ``async def`` and
``await`` the page. Not the sync pytest-playwright: its dispatcher leaves an event loop
marked running in the main thread for the rest of the session, so every async test after
the first browser test would fail. Each test gets a fresh browser context (cookies and
storage of its own) through ``page``; this conftest makes every page fail its test on a CSP
violation, a script error, or a request to anything but the server under test.

Fixtures:
- ``console``: the server, on a database of its own (``console.base``, ``console.url``,
  ``console.operator_key``, ``console.api(method, path, key=operator, json=...)``).
- ``tenant_a``, ``tenant_b``: two tenants, each with a key per role (``.keys["admin"]``);
  ``new_tenant(label)`` makes a fresh one.
- ``signed_in(page, key)``: signs ``page`` in with ``key`` through the sign-in form.
- ``axe_check(page)``: runs axe-core on the page; fails on a serious or critical violation.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from fundament.identity import create_operator_key
from fundament.migrations import migrate
from servers import Server, server_env

CHROMIUM = os.environ.get("FUNDAMENT_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PLANS = Path(__file__).parent.parent / "data" / "plans-roomy.toml"

if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@dataclass
class ConsoleServer:
    server: Server
    operator_key: str

    @property
    def base(self) -> str:
        return self.server.base

    @property
    def url(self) -> str:
        return self.server.base + "/console"

    def api(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.operator_key}"}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kwargs)


@dataclass
class ConsoleTenant:
    id: str
    slug: str
    name: str
    keys: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def console_dsn(server_dsn: str) -> Iterator[str]:
    """A database of the console server's own: its job worker (on, for privacy requests)
    must not run other tests' jobs, and its tenants must not show in their lists."""
    name = f"fundament_console_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    dsn = make_url(server_dsn).set(database=name).render_as_string(hide_password=False)
    migrate(dsn)
    yield dsn
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
async def console_operator_key(console_dsn: str) -> str:
    conn = await asyncpg.connect(console_dsn)
    try:
        _, key = await create_operator_key(conn, name="console-tests")
    finally:
        await conn.close()
    return key


@pytest.fixture(scope="session")
def console(
    console_dsn: str, console_operator_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleServer]:
    env = server_env(console_dsn, PLANS)
    # The worker runs privacy exports and erasures, which the privacy page shows finished.
    env.update(FUNDAMENT_WORKER="true", FUNDAMENT_JOB_POLL_SECONDS="0.2")
    env.update(FUNDAMENT_POOL_MIN_SIZE="1", FUNDAMENT_POOL_MAX_SIZE="4")
    server = Server("console", env, tmp_path_factory.mktemp("console"))
    try:
        server.wait_ready()
        yield ConsoleServer(server, console_operator_key)
    finally:
        server.stop()


def make_console_tenant(console: ConsoleServer, label: str) -> ConsoleTenant:
    slug = f"{label}-{uuid.uuid4().hex[:8]}"
    r = console.api("POST", "/v1/tenants", json={"name": f"Tenant {label.upper()}", "slug": slug})
    assert r.status_code == 201, r.text
    tenant = ConsoleTenant(r.json()["id"], slug, r.json()["name"])
    for role in ("viewer", "member", "admin", "owner"):
        r = console.api("POST", f"/v1/tenants/{tenant.id}/api-keys", json={"name": f"{role} key", "role": role})
        assert r.status_code == 201, r.text
        tenant.keys[role] = r.json()["key"]
    return tenant


@pytest.fixture
def new_tenant(console: ConsoleServer) -> Callable[[str], ConsoleTenant]:
    """A fresh tenant per call (a key per role), for tests that change what they look at."""
    return lambda label="t": make_console_tenant(console, label)


@pytest.fixture(scope="session")
def tenant_a(console: ConsoleServer) -> ConsoleTenant:
    return make_console_tenant(console, "a")


@pytest.fixture(scope="session")
def tenant_b(console: ConsoleServer) -> ConsoleTenant:
    return make_console_tenant(console, "b")


# --- pytest-playwright-asyncio's fixtures, pointed at Debian's Chromium and the server ---------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start;
    # --disable-dev-shm-usage: a container's small /dev/shm otherwise crashes its renderers.
    args = ["--no-sandbox", "--disable-dev-shm-usage"]
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": args}


@pytest.fixture(scope="session")
def base_url(console: ConsoleServer) -> str:
    return console.base


@pytest.fixture
async def page(page: Any, console: ConsoleServer) -> AsyncIterator[Any]:
    """pytest-playwright's page, failing the test on a CSP violation, a page error, or a
    request leaving the server (no asset may come from anywhere else)."""
    foreign: list[str] = []
    problems: list[str] = []

    def on_request(request: Any) -> None:
        if not (request.url.startswith(console.base + "/") or request.url.startswith("data:")):
            foreign.append(request.url)

    def on_console(message: Any) -> None:
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "Refused to" in text):
            problems.append(text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    yield page
    assert not foreign, f"requests outside the server: {foreign}"
    assert not problems, f"CSP violations or script errors: {problems}"


@pytest.fixture
def signed_in(console: ConsoleServer) -> Callable[[Any, str], Awaitable[Any]]:
    async def sign_in(page: Any, key: str) -> Any:
        await page.goto(console.url + "/")
        await page.get_by_label("API key").fill(key)
        async with page.expect_navigation():
            await page.get_by_role("button", name="Sign in").click()
        return page

    return sign_in


@pytest.fixture(scope="session")
def axe_source() -> str:
    return AXE.read_text()


@pytest.fixture
def axe_check(axe_source: str) -> Callable[[Any], Awaitable[list[dict[str, Any]]]]:
    """axe-core (committed minified under tests/console/vendor) run in the page. Evaluated
    through the DevTools protocol, which the page's CSP does not govern, so the page keeps
    its own policy while it is checked."""

    async def check(page: Any) -> list[dict[str, Any]]:
        if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
            await page.evaluate(axe_source)
        result = await page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target)}))"
        )
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not bad, f"axe-core on {page.url}: {bad}"
        return list(result)

    return check
