"""Shadow mode, the Diffy model: the client gets legacy's answer, Fundament's is compared off
the client's path; learned noise is not a mismatch, a renamed field is."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn  # noqa: F401  (the rig's server)

from conftest import bearer
from fundament.app import create_app
from fundament.platform import Settings
from gateway.conftest import (
    await_for,
    customer_route,
    customers_tenant,
    free_port,
    gateway_config,
    served,
    write_config,
)


@pytest.fixture
async def key_env(
    monkeypatch: pytest.MonkeyPatch, http: httpx.AsyncClient, operator_key: str
) -> tuple[str, Any]:
    tenant = await customers_tenant(http, operator_key)
    name = f"GATEWAY_TEST_KEY_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv(name, tenant.keys["viewer"])
    return name, tenant


def gateway_app(settings: Settings, admin_dsn: str, config: Path) -> Any:
    return create_app(settings.model_copy(update={"gateway_config": config}), admin_dsn=admin_dsn)


async def report(client: httpx.AsyncClient, operator_key: str) -> dict[str, dict[str, Any]]:
    r = await client.get("/v1/gateway/routes", headers=bearer(operator_key))
    assert r.status_code == 200, r.text
    return {row["match"]: row for row in r.json()["items"]}


async def test_planted_difference_found_and_learned_noise_is_not_a_mismatch(
    tmp_path: Path,
    legacy: str,
    key_env: tuple[str, Any],
    settings: Settings,
    admin_dsn: str,
    operator_key: str,
) -> None:
    env, tenant = key_env
    config = tmp_path / "gateway.toml"
    routes = customer_route("GET /api/customers/{id}", "shadow") + customer_route(
        "GET /api/v2/customers/{id}", "shadow"
    )
    write_config(config, gateway_config(legacy, tenant.id, env, routes))
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for n in range(6):
                cid = n % 3 + 1
                r = await client.get(f"/api/customers/{cid}")
                assert r.status_code == 200
                assert "served_at" in r.json()  # legacy's answer, not Fundament's
                r = await client.get(f"/api/v2/customers/{cid}")
                assert r.status_code == 200 and "full_name" in r.json()

            async def settled() -> Any:
                rows = await report(client, operator_key)
                done = all(
                    rows[k]["compared"] == 6
                    for k in ("GET /api/customers/{id}", "GET /api/v2/customers/{id}")
                )
                return rows if done else None

            rows = await await_for(settled)
    same = rows["GET /api/customers/{id}"]
    # Two legacy answers differ in served_at and request_id: noise, so Fundament's lacking
    # them is no mismatch; everything else (name, email, tier, customer_id) is the same.
    assert {"/served_at", "/request_id"} <= set(same["noise"])
    assert same["mismatches"] == 0 and same["mismatch_rate"] == 0.0 and same["examples"] == []
    assert same["failed"] == 0 and same["dropped"] == 0
    planted = rows["GET /api/v2/customers/{id}"]
    assert planted["mismatches"] == 6 and planted["mismatch_rate"] == 1.0
    example = planted["examples"][-1]
    paths = {d["path"]: d for d in example["differences"]}
    assert set(paths) == {"/full_name", "/name"}
    assert paths["/full_name"]["fundament"] == "(absent)" and paths["/name"]["legacy"] == "(absent)"
    assert example["legacy_status"] == 200 and example["fundament_status"] == 200
    for row in (same, planted):
        assert row["mode"] == "shadow" and row["requests"] == 6
        assert row["legacy_p50_ms"] is not None and row["fundament_p99_ms"] is not None
    assert rows["(unmatched)"]["requests"] == 0


async def test_personal_fields_are_redacted_in_examples(
    tmp_path: Path,
    legacy: str,
    key_env: tuple[str, Any],
    settings: Settings,
    admin_dsn: str,
    operator_key: str,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env, tenant = key_env
    # Fundament's copy of customer 1 has another e-mail address: a mismatch on a personal field.
    r = await http.get(
        f"{tenant.base}/collections/customers/records?filter=customer_id eq 1", headers=tenant.h()
    )
    record = r.json()["items"][0]
    r = await http.patch(
        f"{tenant.base}/collections/customers/records/{record['id']}",
        json={"email": "other@example.com"},
        headers={**tenant.h("member"), "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    config = tmp_path / "gateway.toml"
    write_config(
        config, gateway_config(legacy, tenant.id, env, customer_route("GET /api/customers/{id}", "shadow"))
    )
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            caplog.set_level(logging.WARNING, logger="fundament.gateway")
            legacy_token = {"Authorization": "Bearer legacy-session-secret"}
            assert (await client.get("/api/customers/1", headers=legacy_token)).status_code == 200

            async def mismatched() -> Any:
                row = (await report(client, operator_key))["GET /api/customers/{id}"]
                return row if row["compared"] == 1 else None

            row = await await_for(mismatched)
            metrics = (await client.get("/metrics", headers=bearer(operator_key))).text
    assert row["mismatches"] == 1
    [difference] = row["examples"][0]["differences"]
    assert difference == {"path": "/email", "legacy": "[redacted]", "fundament": "[redacted]"}
    # The mismatch is counted per route, and a sample is logged, redacted.
    assert (
        'fundament_gateway_shadow_comparisons_total{outcome="mismatch",route="GET /api/customers/{id}"}'
        in (metrics)
        or 'fundament_gateway_shadow_comparisons_total{route="GET /api/customers/{id}",outcome="mismatch"}'
        in metrics
    )
    [sample] = [r for r in caplog.records if r.name == "fundament.gateway" and "differ" in r.getMessage()]
    assert sample.gateway_route == "GET /api/customers/{id}"  # type: ignore[attr-defined]
    assert sample.request_headers["authorization"] == "[redacted]"  # type: ignore[attr-defined]
    assert sample.differences == [{"path": "/email", "legacy": "[redacted]", "fundament": "[redacted]"}]  # type: ignore[attr-defined]
    assert "other@example.com" not in repr(sample.__dict__) and "ada@example.com" not in repr(sample.__dict__)


async def test_writes_are_not_shadowed_unless_the_route_allows(
    tmp_path: Path,
    legacy: str,
    key_env: tuple[str, Any],
    settings: Settings,
    admin_dsn: str,
    operator_key: str,
) -> None:
    env, tenant = key_env
    config = tmp_path / "gateway.toml"
    routes = '\n[[routes]]\nmatch = "POST /api/customers"\nmode = "shadow"\n'
    write_config(config, gateway_config(legacy, tenant.id, env, routes))
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            r = await client.post("/api/customers", json={"name": "Barbara Liskov"})
            assert r.status_code == 201
            await asyncio.sleep(0.3)
            row = (await report(client, operator_key))["POST /api/customers"]
    assert row["requests"] == 1 and row["compared"] == 0 and row["failed"] == 0


@pytest.mark.parametrize("fundament", ["slow", "dead"])
async def test_a_slow_or_dead_fundament_never_slows_or_fails_a_client(
    fundament: str,
    tmp_path: Path,
    legacy: str,
    key_env: tuple[str, Any],
    settings: Settings,
    admin_dsn: str,
    operator_key: str,
) -> None:
    env, tenant = key_env

    async def sleeping(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(5)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})

    config = tmp_path / "gateway.toml"

    def configure(url: str) -> None:
        write_config(
            config,
            gateway_config(
                legacy,
                tenant.id,
                env,
                customer_route("GET /api/customers/{id}", "shadow"),
                fundament=f'url = "{url}"\nread_timeout = 10\ntotal_timeout = 10\nconnect_timeout = 1',
                shadow="max_concurrency = 2",
            ),
        )

    if fundament == "slow":
        with served(sleeping) as slow_url:
            configure(slow_url)
            with served(gateway_app(settings, admin_dsn, config)) as base:
                rows = await _drive(base, operator_key, settled=6)
    else:
        configure(f"http://127.0.0.1:{free_port()}")  # nothing listens there
        with served(gateway_app(settings, admin_dsn, config)) as base:
            rows = await _drive(base, operator_key, settled=8)
    row = rows["GET /api/customers/{id}"]
    assert row["requests"] == 8 and row["compared"] == 0 and row["mismatches"] == 0
    if fundament == "slow":
        # Two shadow requests wait on the sleeping Fundament; the others were dropped, not queued.
        assert row["dropped"] == 6
    else:
        # Each shadow request failed at once (or, two already failing, was dropped).
        assert row["failed"] + row["dropped"] == 8 and row["failed"] >= 2


async def _drive(base: str, operator_key: str, settled: int) -> dict[str, dict[str, Any]]:
    """Eight requests in a row: each is answered by legacy, with legacy's answer, long before
    the sleeping Fundament (5 s) would have answered even one."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        started = time.monotonic()
        for n in range(8):
            r = await client.get(f"/api/customers/{n % 3 + 1}")
            assert r.status_code == 200 and "served_at" in r.json(), r.text
        assert time.monotonic() - started < 4, "a client waited for Fundament"

        async def counted() -> Any:
            rows = await report(client, operator_key)
            row = rows["GET /api/customers/{id}"]
            return rows if row["dropped"] + row["failed"] >= settled else None

        return await await_for(counted)
