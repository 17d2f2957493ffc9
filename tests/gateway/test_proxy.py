"""The gateway as a reverse proxy: headers, streaming, upstream failures as problems, a
route table that reloads, flips under load that lose no request, and the report."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from conftest import bearer
from fundament.cli import cli
from fundament.gateway import ConfigError, load_config
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
from gateway.test_shadow import gateway_app, report


@pytest.fixture
async def tenant_key(
    monkeypatch: pytest.MonkeyPatch, http: httpx.AsyncClient, operator_key: str
) -> tuple[str, Any]:
    tenant = await customers_tenant(http, operator_key)
    name = f"GATEWAY_TEST_KEY_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv(name, tenant.keys["viewer"])
    return name, tenant


async def test_headers_hop_by_hop_forwarded_and_traceparent(
    tmp_path: Path, legacy: str, settings: Settings, admin_dsn: str
) -> None:
    config = tmp_path / "gateway.toml"
    write_config(config, f'[legacy]\nurl = "{legacy}"\n')
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.get(
                "/api/headers",
                headers={
                    "Connection": "keep-alive, X-Hop",
                    "X-Hop": "for this connection only",
                    "X-Kept": "yes",
                    "X-Forwarded-For": "203.0.113.7",
                    "traceparent": f"00-{trace}-00f067aa0ba902b7-01",
                },
            )
            assert r.status_code == 200
            seen = r.json()
            assert "x-hop" not in seen and seen["x-kept"] == "yes"
            assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
            assert seen["x-forwarded-proto"] == "http"
            assert seen["x-forwarded-host"] == base.removeprefix("http://")
            version, trace_id, parent, flags = seen["traceparent"].split("-")
            assert (version, trace_id, flags) == ("00", trace, "01") and parent != "00f067aa0ba902b7"
            assert "transfer-encoding" not in r.headers or r.headers["transfer-encoding"] == "chunked"
            # Without a traceparent the gateway starts a trace.
            started = (await client.get("/api/headers")).json()["traceparent"]
            assert len(started.split("-")[1]) == 32
            # Fundament's own paths are Fundament's, not legacy's.
            assert (await client.get("/healthz")).status_code == 200


async def test_upstream_failures_are_problems(
    tmp_path: Path, legacy: str, settings: Settings, admin_dsn: str
) -> None:
    config = tmp_path / "gateway.toml"
    write_config(config, f'[legacy]\nurl = "http://127.0.0.1:{free_port()}"\nconnect_timeout = 1\n')
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.get("/api/customers/1")
    assert r.status_code == 502 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "/problems/bad-gateway"
    write_config(config, f'[legacy]\nurl = "{legacy}"\nread_timeout = 0.3\n')
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.get("/api/slow?seconds=2")
            assert r.status_code == 504 and r.json()["type"] == "/problems/gateway-timeout"
            assert r.json()["status"] == 504
            # The pool is not poisoned by the timed-out exchange.
            assert (await client.get("/api/orders")).status_code == 200


async def test_request_bodies_stream_through(
    tmp_path: Path, legacy: str, settings: Settings, admin_dsn: str
) -> None:
    config = tmp_path / "gateway.toml"
    write_config(config, f'[legacy]\nurl = "{legacy}"\n')
    size = 24 << 20

    async def body() -> AsyncIterator[bytes]:
        chunk = b"y" * (1 << 16)
        for _ in range(size // len(chunk)):
            yield chunk

    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            r = await client.post("/api/echo", content=body(), headers={"Content-Length": str(size)})
            assert r.status_code == 200 and r.json() == {"received": size}
            r = await client.post("/api/echo", content=body())  # chunked
            assert r.status_code == 200 and r.json() == {"received": size}


async def test_flip_legacy_shadow_fundament_under_load_fails_no_request(
    tmp_path: Path,
    legacy: str,
    tenant_key: tuple[str, Any],
    settings: Settings,
    admin_dsn: str,
    operator_key: str,
) -> None:
    env, tenant = tenant_key
    config = tmp_path / "gateway.toml"
    match = "GET /api/customers/{id}"

    def table(mode: str) -> str:
        return gateway_config(legacy, tenant.id, env, customer_route(match, mode))

    write_config(config, table("legacy"))
    failures: list[str] = []
    answers = {"legacy": 0, "fundament": 0}
    stop = asyncio.Event()

    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:

            async def load(worker: int) -> None:
                for n in range(3000):  # bounded; stopped long before
                    if stop.is_set():
                        return
                    try:
                        r = await client.get(f"/api/customers/{(worker + n) % 3 + 1}")
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))
                        continue
                    body = r.json() if r.status_code == 200 else None
                    if body is None or "name" not in body:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        answers["legacy" if "served_at" in body else "fundament"] += 1

            async def mode_is(mode: str) -> bool:
                return (await report(client, operator_key))[match]["mode"] == mode

            workers = [asyncio.create_task(load(w)) for w in range(6)]
            try:
                await asyncio.sleep(0.5)
                for mode in ("shadow", "fundament"):
                    write_config(config, table(mode))
                    await await_for(lambda mode=mode: mode_is(mode))
                    await asyncio.sleep(0.7)
            finally:
                stop.set()
                await asyncio.gather(*workers)
            row = (await report(client, operator_key))[match]
    assert failures == []
    assert answers["legacy"] > 0 and answers["fundament"] > 0, answers
    assert row["requests"] == answers["legacy"] + answers["fundament"]
    assert row["compared"] > 0 and row["mismatches"] == 0


async def test_a_broken_table_is_not_loaded(
    tmp_path: Path, legacy: str, settings: Settings, admin_dsn: str, operator_key: str
) -> None:
    config = tmp_path / "gateway.toml"
    good = f'[gateway]\nreload_seconds = 0.1\n[legacy]\nurl = "{legacy}"\n[[routes]]\nmatch = "GET /api/orders"\n'
    write_config(config, good)
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/api/orders")).status_code == 200
            write_config(config, good + 'mode = "sideways"\n')
            await asyncio.sleep(0.5)
            rows = await report(client, operator_key)
            assert rows["GET /api/orders"]["mode"] == "legacy" and rows["GET /api/orders"]["requests"] == 1
            assert (await client.get("/api/orders")).status_code == 200


async def test_report_is_for_operators_and_the_cli_shows_it(
    tmp_path: Path,
    legacy: str,
    tenant_key: tuple[str, Any],
    settings: Settings,
    admin_dsn: str,
    operator_key: str,
    http: httpx.AsyncClient,
) -> None:
    env, tenant = tenant_key
    config = tmp_path / "gateway.toml"
    routes = (
        customer_route("GET /api/v2/customers/{id}", "shadow") + '[[routes]]\nmatch = "GET /api/orders"\n'
    )
    write_config(config, gateway_config(legacy, tenant.id, env, routes))
    # This server runs no gateway: its report is a 404 problem.
    r = await http.get("/v1/gateway/routes", headers=bearer(operator_key))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/v1/gateway/routes")).status_code == 401
            assert (await client.get("/v1/gateway/routes", headers=tenant.h("owner"))).status_code == 403
            for path in ("/api/v2/customers/1", "/api/orders", "/api/orders", "/api/nothing-routes-here"):
                await client.get(path)

            async def compared() -> bool:
                return (await report(client, operator_key))["GET /api/v2/customers/{id}"]["compared"] == 1

            await await_for(compared)
            rows = await report(client, operator_key)
            assert [r["match"] for r in rows.values()] == [
                "GET /api/v2/customers/{id}",
                "GET /api/orders",
                "(unmatched)",
            ]
            assert rows["GET /api/orders"]["share"] == 0.5 and rows["(unmatched)"]["requests"] == 1
            result = await asyncio.to_thread(
                CliRunner().invoke, cli, ["gateway", "report", "--url", base, "--key", operator_key]
            )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["MATCH", "MODE", "SHARE"]
    assert any(line.startswith("GET /api/orders") and "50.0%" in line for line in lines)
    assert "GET /api/v2/customers/{id}: latest mismatches" in result.output
    assert "/full_name: legacy 'Ada Lovelace', fundament '(absent)'" in result.output


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[legacy]\n", "[legacy] url"),
        ('[legacy]\nurl = "ftp://x"\n', "http:// or https://"),
        ('[legacy]\nurl = "http://x"\nwat = 1\n', "wat"),
        ('[legacy]\nurl = "http://x"\n[[routes]]\nmatch = "/api"\n', "METHODS PATH"),
        ('[legacy]\nurl = "http://x"\n[[routes]]\nmatch = "FETCH /api"\n', "unknown method"),
        (
            '[legacy]\nurl = "http://x"\n[[routes]]\nmatch = "GET /a"\nmode = "fundament"\n'
            '[routes.fundament]\npath = "/v1/{nope}"\n',
            "{nope}",
        ),
        ('[legacy]\nurl = "http://x"\n[[routes]]\nmatch = "GET /a"\n[[routes]]\nmatch = "GET /a"\n', "twice"),
        ("[legacy\n", "not TOML"),
    ],
)
def test_config_errors_say_what_is_wrong(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(path)
    assert says in str(caught.value)


def test_the_cli_refuses_a_broken_table(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("[legacy]\n")
    result = CliRunner().invoke(cli, ["gateway", "--config", str(path)])
    assert result.exit_code == 2 and "[legacy] url" in result.output
    assert CliRunner().invoke(cli, ["gateway"]).exit_code == 2
    # `fundament serve` with the setting checks the table before anything starts, as it does
    # the plans.
    served_broken = CliRunner().invoke(cli, ["serve"], env={"FUNDAMENT_GATEWAY_CONFIG": str(path)})
    assert served_broken.exit_code == 2 and "FUNDAMENT_GATEWAY_CONFIG" in served_broken.output


async def test_an_upstream_closing_idle_connections_fails_no_request(
    tmp_path: Path, settings: Settings, admin_dsn: str
) -> None:
    """An upstream that closes a kept-alive connection while it sits idle in the pool (as
    servers do after their keep-alive timeout): the next request takes a new connection."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()  # idle: closed without a word, the way keep-alive timeouts do

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = tmp_path / "gateway.toml"
    write_config(config, f'[legacy]\nurl = "http://127.0.0.1:{port}"\n')
    try:
        with served(gateway_app(settings, admin_dsn, config)) as base:
            async with httpx.AsyncClient(base_url=base) as client:
                for _ in range(3):
                    r = await client.get("/anything")
                    assert r.status_code == 200 and r.json() == {}
                    await asyncio.sleep(0.2)
    finally:
        server.close()
        await server.wait_closed()
    assert connections == 3


async def test_fundament_routes_by_prefix_stream_as_they_are_and_heads_pass(
    tmp_path: Path,
    legacy: str,
    tenant_key: tuple[str, Any],
    settings: Settings,
    admin_dsn: str,
    http: httpx.AsyncClient,
) -> None:
    env, tenant = tenant_key
    r = await http.get(
        f"{tenant.base}/collections/customers/records?filter=customer_id eq 3", headers=tenant.h()
    )
    record = r.json()["items"][0]
    routes = """
[[routes]]
match = "GET /records/*"
mode = "fundament"
[routes.fundament]
path = "/v1/tenants/{tenant}/collections/customers/records/"

[[routes]]
match = "POST /api/customers"
mode = "fundament"
[routes.fundament]
path = "/v1/tenants/{tenant}/collections/customers/records"
pick = "/data"
"""
    config = tmp_path / "gateway.toml"
    write_config(config, gateway_config(legacy, tenant.id, env, routes, shadow="max_body_bytes = 64"))
    with served(gateway_app(settings, admin_dsn, config)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            # A prefix's remainder is appended; without pick, Fundament's answer as it is.
            r = await client.get(f"/records/{record['id']}")
            assert r.status_code == 200 and r.json()["data"]["customer_id"] == 3 and "etag" in r.headers
            # A body a picked route must read whole, over its limit: 413, nothing sent on.
            r = await client.post("/api/customers", json={"data": {"name": "x" * 100}})
            assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
            # HEAD through the proxy: legacy's headers, no body.
            r = await client.head("/api/customers/1")
            assert (
                r.status_code == 200 and r.content == b"" and r.headers["content-type"] == "application/json"
            )
