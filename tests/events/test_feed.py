"""Server-sent event streams over real HTTP (uvicorn on 127.0.0.1): order, exact resumption,
filters, isolation, revocation, the per-tenant bound, and instance to instance."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from conftest import bearer, make_tenant
from fundament.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")


@asynccontextmanager
async def instance(admin_dsn, settings, **overrides: Any) -> AsyncIterator[tuple[str, Any]]:
    """A started app behind a real uvicorn on 127.0.0.1: its base URL and the app."""
    app = create_app(settings.model_copy(update=overrides), admin_dsn=admin_dsn)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class Sse:
    """An open stream, read event by event."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, within: float = 5.0) -> dict[str, Any] | None:
        """The next event, or None when the stream ended."""
        fields: dict[str, Any] = {}
        async with asyncio.timeout(within):
            async for line in self.lines:
                if line == "":
                    if "data" in fields:
                        fields["data"] = orjson.loads(fields["data"])
                        return fields
                    continue
                if line.startswith(":"):
                    self.comments.append(line)
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value
        return None

    async def events(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            event = await self.next(within)
            assert event is not None, f"the stream ended after {len(out)} events"
            out.append(event)
        return out


@asynccontextmanager
async def sse(client: httpx.AsyncClient, path: str, key: str, **headers: str) -> AsyncIterator[Sse]:
    async with client.stream("GET", path, headers={**bearer(key), **headers}) as r:
        assert r.status_code == 200, (await r.aread()).decode()
        assert r.headers["content-type"].startswith("text/event-stream")
        yield Sse(r)


async def write(client, tenant, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        r = await client.post(
            f"{tenant.base}/collections/contacts/records",
            json={"data": {"email": f"u{i}@example.com", "score": i}},
            headers=tenant.h("member"),
        )
        assert r.status_code == 201, r.text


@pytest.fixture
async def served(admin_dsn, settings, operator_key):
    async with instance(admin_dsn, settings) as (base, app), httpx.AsyncClient(base_url=base, timeout=10) as c:
        tenant = await make_tenant(c, operator_key)
        tenant.http = c
        await tenant.collection()
        # Numbered once a stream from the start shows it: later streams start after it.
        async with sse(c, f"{tenant.base}/events?after=0", tenant.keys["admin"]) as stream:
            assert (await stream.events(1))[0]["event"] == "collection.created"
        yield c, tenant, app


async def test_a_stream_sends_each_change_once_in_order_across_reconnects(served):
    client, tenant, _ = served
    path = f"{tenant.base}/collections/contacts/events"
    seen: list[dict[str, Any]] = []
    async with sse(client, path, tenant.keys["viewer"]) as stream:
        await write(client, tenant, 5)
        seen += await stream.events(5)
    await write(client, tenant, 5, start=5)  # while nobody listens
    async with sse(client, path, tenant.keys["viewer"], **{"Last-Event-ID": seen[-1]["id"]}) as stream:
        seen += await stream.events(5)
        await write(client, tenant, 3, start=10)
        seen += await stream.events(3)
    async with sse(client, f"{path}?after={seen[7]['id']}", tenant.keys["viewer"]) as stream:
        again = await stream.events(5)
    seqs = [int(e["id"]) for e in seen]
    assert seqs == list(range(seqs[0], seqs[0] + 13))
    assert [e["data"]["data"]["score"] for e in seen] == list(range(13))
    assert all(e["event"] == "record.created" and e["data"]["seq"] == int(e["id"]) for e in seen)
    assert [e["id"] for e in again] == [e["id"] for e in seen[8:13]]


async def test_a_filter_applies_to_the_record_after_the_change(served):
    client, tenant, _ = served
    path = f"{tenant.base}/collections/contacts/events?filter=score%20ge%203"
    async with sse(client, path, tenant.keys["viewer"]) as stream:
        await write(client, tenant, 6)
        got = await stream.events(3)
    assert [e["data"]["data"]["score"] for e in got] == [3, 4, 5]
    r = await client.get(
        f"{tenant.base}/collections/contacts/events?filter=score%20zz%201", headers=tenant.h("viewer")
    )
    assert r.status_code == 400 and r.json()["type"].endswith("/invalid-filter")
    r = await client.get(f"{tenant.base}/collections/nope/events", headers=tenant.h("viewer"))
    assert r.status_code == 404


async def test_a_tenant_stream_never_carries_another_tenants_change(served, operator_key):
    client, a, _ = served
    b = await make_tenant(client, operator_key)
    b.http = client
    await b.collection()
    assert (await client.get(f"{a.base}/events", headers=b.h("admin"))).status_code == 404
    assert (await client.get(f"{a.base}/events", headers=a.h("viewer"))).status_code == 403
    async with sse(client, f"{b.base}/events?after=1", b.keys["admin"]) as theirs, sse(
        client, f"{a.base}/events", a.keys["admin"]
    ) as ours:
        await write(client, a, 3)
        await write(client, b, 1)
        mine = await ours.events(3)
        [other] = await theirs.events(1)
    assert {e["data"]["data"]["email"] for e in mine} == {"u0@example.com", "u1@example.com", "u2@example.com"}
    assert other["data"]["collection"] == "contacts" and other["data"]["seq"] == 2
    assert all(e["data"]["record_id"] != other["data"]["record_id"] for e in mine)


async def test_a_revoked_keys_stream_ends_within_a_second(served, operator_key):
    client, tenant, _ = served
    r = await client.post(
        f"{tenant.base}/api-keys", json={"name": "watcher", "role": "viewer"}, headers=tenant.h("admin")
    )
    key = r.json()
    async with sse(client, f"{tenant.base}/collections/contacts/events", key["key"]) as stream:
        r = await client.delete(f"{tenant.base}/api-keys/{key['id']}", headers=tenant.h("admin"))
        assert r.status_code == 204
        began = time.monotonic()
        assert await stream.next(within=3) is None
        assert time.monotonic() - began < 1.5


async def test_open_streams_are_bounded_per_tenant(served):
    client, tenant, app = served
    limit = (await app.services.events.config.plans.plan_of(tenant.id)).max_open_streams
    path = f"{tenant.base}/collections/contacts/events"
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(limit):
            await stack.enter_async_context(sse(client, path, tenant.keys["viewer"]))
        r = await client.get(path, headers=tenant.h("viewer"))
        assert r.status_code == 429 and r.headers["Retry-After"]
    async with sse(client, path, tenant.keys["viewer"]):  # closed ones give their slot back
        pass


async def test_a_quiet_stream_gets_keep_alive_comments(served):
    client, tenant, app = served
    app.services.events.feeds.keepalive_seconds = 0.2
    try:
        async with sse(client, f"{tenant.base}/collections/contacts/events", tenant.keys["viewer"]) as stream:
            await asyncio.sleep(1.3)
            await write(client, tenant, 1)
            await stream.events(1)
            assert ": keep-alive" in stream.comments
    finally:
        app.services.events.feeds.keepalive_seconds = 15.0


async def test_an_event_written_on_one_instance_reaches_a_stream_on_another(admin_dsn, settings, operator_key):
    async with (
        instance(admin_dsn, settings) as (base_a, _),
        instance(admin_dsn, settings) as (base_b, _),
        httpx.AsyncClient(base_url=base_a, timeout=10) as a,
        httpx.AsyncClient(base_url=base_b, timeout=10) as b,
    ):
        tenant = await make_tenant(a, operator_key)
        tenant.http = a
        await tenant.collection()
        async with sse(b, f"{tenant.base}/collections/contacts/events?after=1", tenant.keys["viewer"]) as stream:
            await asyncio.sleep(0.2)
            latencies = []
            for i in range(10):
                began = time.monotonic()
                await write(a, tenant, 1, start=i)
                [event] = await stream.events(1)
                latencies.append(time.monotonic() - began)
                assert event["data"]["data"]["score"] == i
        # Woken by NOTIFY, not found by the once-a-second look.
        assert sorted(latencies)[5] < 0.5, latencies


async def test_a_thousand_changes_reach_a_client_that_disconnects_twice_exactly_once_in_order(served):
    client, tenant, _ = served
    path = f"{tenant.base}/collections/contacts/events"

    async def writer() -> None:
        for start in range(0, 1000, 25):
            await asyncio.gather(*(write(client, tenant, 1, start=i) for i in range(start, start + 25)))

    seen: list[dict[str, Any]] = []
    writing = asyncio.create_task(writer())
    try:
        last: dict[str, str] = {}
        for stop in (300, 700, 1000):
            async with sse(client, path, tenant.keys["viewer"], **last) as stream:
                seen += await stream.events(stop - len(seen), within=30)
            last = {"Last-Event-ID": seen[-1]["id"]}
        await writing
    finally:
        writing.cancel()
    seqs = [int(e["id"]) for e in seen]
    assert seqs == list(range(seqs[0], seqs[0] + 1000))
    assert sorted(e["data"]["data"]["score"] for e in seen) == list(range(1000))
