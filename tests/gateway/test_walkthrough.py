"""docs/gateway.md's walkthrough: the example legacy app's customers API strangled route by
route — everything legacy, the data copied, the reads shadowed until they match, then
flipped to Fundament, while what has not moved (writes, orders) stays on legacy."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import make_tenant
from fundament.platform import Settings
from gateway.conftest import LEGACY, ROOT, await_for, gateway_config, served, write_config
from gateway.test_shadow import gateway_app, report


def load_migrate() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "legacy_migrate", ROOT / "examples" / "legacy" / "migrate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def routes(mode: str) -> str:
    """The walkthrough's table: the customers reads, in ``mode``."""
    return f"""
[[routes]]
match = "GET /api/customers/{{id}}"
mode = "{mode}"
personal = ["/email"]
[routes.fundament]
path = "/v1/tenants/{{tenant}}/collections/customers/records"
query = {{ filter = "customer_id eq {{id}}" }}
pick = "/items/0/data"

[[routes]]
match = "GET /api/customers"
mode = "{mode}"
personal = ["/*/email"]
[routes.fundament]
path = "/v1/tenants/{{tenant}}/collections/customers/records"
query = {{ sort = "customer_id" }}
pick = "/items/*/data"
"""


async def test_the_customers_api_strangled_route_by_route(
    tmp_path: Path,
    legacy: str,
    settings: Settings,
    admin_dsn: str,
    operator_key: str,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = await make_tenant(http, operator_key)
    env = f"GATEWAY_WALKTHROUGH_KEY_{uuid.uuid4().hex[:6].upper()}"
    monkeypatch.setenv(env, tenant.keys["viewer"])
    config = tmp_path / "gateway.toml"
    write_config(config, gateway_config(legacy, tenant.id, env, ""))  # 1. every route legacy
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            assert "served_at" in (await client.get("/api/customers/1")).json()

            # 2. the data: legacy's customers copied into Fundament (twice: nothing more the second time)
            migrate = load_migrate()

            def copy() -> int:
                with (
                    httpx.Client(base_url=legacy) as old,
                    httpx.Client(
                        base_url=base, headers={"Authorization": f"Bearer {tenant.keys['admin']}"}
                    ) as new,
                ):
                    return int(migrate.migrate(old, new, tenant.id))

            assert await asyncio.to_thread(copy) == len(LEGACY.SEED)
            assert await asyncio.to_thread(copy) == 0

            # 3. the reads in shadow: clients still get legacy's answers, Fundament's are compared
            write_config(config, gateway_config(legacy, tenant.id, env, routes("shadow")))
            await await_for(lambda: _mode(client, operator_key, "shadow"))
            for _ in range(2):
                assert len((await client.get("/api/customers")).json()) == 3
                for cid in (1, 2, 3):
                    assert "served_at" in (await client.get(f"/api/customers/{cid}")).json()

            async def compared() -> Any:
                rows = await report(client, operator_key)
                done = (
                    rows["GET /api/customers/{id}"]["compared"] == 6
                    and rows["GET /api/customers"]["compared"] == 2
                )
                return rows if done else None

            rows = await await_for(compared)
            for match in ("GET /api/customers/{id}", "GET /api/customers"):
                assert rows[match]["mismatches"] == 0, rows[match]["examples"]
            assert "/*/served_at" in rows["GET /api/customers"]["noise"]

            # 4. flipped: Fundament answers, in legacy's shape
            write_config(config, gateway_config(legacy, tenant.id, env, routes("fundament")))
            await await_for(lambda: _mode(client, operator_key, "fundament"))
            one = (await client.get("/api/customers/2")).json()
            assert one == {k: v for k, v in LEGACY.SEED[1].items()}
            listed = (await client.get("/api/customers")).json()
            assert [c["customer_id"] for c in listed] == [1, 2, 3] and "served_at" not in listed[0]
            r = await client.get("/api/customers/99")
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"

            # 5. what has not moved is still legacy's
            assert (await client.post("/api/customers", json={"name": "Barbara Liskov"})).status_code == 201
            assert (await client.get("/api/orders")).json()[0]["order_id"] == 100


async def _mode(client: httpx.AsyncClient, operator_key: str, mode: str) -> bool:
    row = (await report(client, operator_key)).get("GET /api/customers/{id}")
    return row is not None and row["mode"] == mode
