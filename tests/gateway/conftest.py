"""The gateway's test rig: the example legacy app (Flask) and servers on 127.0.0.1 in
threads of their own, each with its own event loop, as separate processes would be."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from werkzeug.serving import make_server

from conftest import TenantFixture, make_tenant

ROOT = Path(__file__).resolve().parents[2]


def load_legacy() -> Any:
    spec = importlib.util.spec_from_file_location("legacy_example", ROOT / "examples" / "legacy" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LEGACY = load_legacy()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def legacy_server() -> Iterator[str]:
    """The example legacy app on werkzeug's threaded server."""
    server = make_server("127.0.0.1", 0, LEGACY.create_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture(scope="module")
def legacy() -> Iterator[str]:
    with legacy_server() as url:
        yield url


@contextmanager
def served(app: Any, port: int | None = None) -> Iterator[str]:
    """``app`` on uvicorn (httptools) in a thread with its own loop; its lifespan runs there."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="httptools",
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=1,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def write_config(path: Path, text: str) -> None:
    """Replace the file at once (as an editor that saves atomically does)."""
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


CUSTOMERS_SCHEMA = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "integer"},
        "name": {"type": "string"},
        "email": {"type": "string"},
        "tier": {"type": "string"},
    },
    "required": ["customer_id"],
    "additionalProperties": False,
}


async def customers_tenant(http: httpx.AsyncClient, operator_key: str) -> TenantFixture:
    """A tenant whose `customers` collection holds the legacy app's seed customers."""
    tenant = await make_tenant(http, operator_key)
    r = await http.post(
        f"{tenant.base}/collections",
        json={
            "name": "customers",
            "schema": CUSTOMERS_SCHEMA,
            "indexes": ["customer_id"],
            "personal_fields": ["email"],
        },
        headers=tenant.h("admin"),
    )
    assert r.status_code == 201, r.text
    for customer in LEGACY.SEED:
        await tenant.record(customer, collection="customers")
    return tenant


def customer_route(match: str, mode: str, extra: str = "") -> str:
    return f"""
[[routes]]
match = "{match}"
mode = "{mode}"
personal = ["/email"]
{extra}
[routes.fundament]
path = "/v1/tenants/{{tenant}}/collections/customers/records"
query = {{ filter = "customer_id eq {{id}}" }}
pick = "/items/0/data"
"""


def gateway_config(
    legacy: str, tenant: str, key_env: str, routes: str, fundament: str = "", shadow: str = ""
) -> str:
    return f"""
[gateway]
reload_seconds = 0.1

[legacy]
url = "{legacy}"
read_timeout = 5

[fundament]
tenant = "{tenant}"
key_env = "{key_env}"
{fundament}

[shadow]
{shadow}
{routes}
"""


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


async def await_for(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
