"""Webhooks: endpoints, signed deliveries (verified with `standardwebhooks`), retries, 410,
the SSRF guard and tenant isolation, against a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from conftest import make_tenant, serving
from events.receiver import receiver
from fundament.events import AddressRefused, check_url
from fundament.events.delivery import Sender

pytestmark = pytest.mark.asyncio(loop_scope="session")

FAST = {
    "worker": True,
    "webhook_allow_private": True,
    "webhook_retry_schedule": "0.1,0.1,0.1",
    "job_poll_seconds": 0.05,
}


@asynccontextmanager
async def deliveries(admin_dsn, settings, **overrides: Any):
    """An app that sends deliveries (to 127.0.0.1), with a short retry schedule."""
    async with serving(admin_dsn, settings, **(FAST | overrides)) as client:
        yield client


async def hook(client, tenant, url: str, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "events": ["record.created", "record.updated", "record.deleted"], **extra}
    r = await client.post(f"{tenant.base}/webhooks", json=body, headers=tenant.h("admin"))
    assert r.status_code == 201, r.text
    return r.json()


async def deliveries_of(client, tenant, webhook_id: str, want: str, within: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + within
    while True:
        r = await client.get(f"{tenant.base}/webhooks/{webhook_id}/deliveries", headers=tenant.h("admin"))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if (items and all(d["status"] == want for d in items)) or time.monotonic() > deadline:
            return items
        await asyncio.sleep(0.05)


async def test_endpoints_are_created_listed_changed_and_deleted(admin_dsn, settings, http, operator_key):
    async with deliveries(admin_dsn, settings) as client:
        tenant = await make_tenant(client, operator_key)
        created = await hook(client, tenant, "http://127.0.0.1:9/hook", collections=["contacts"])
        assert created["secret"].startswith("whsec_")
        assert created["enabled"] is True and created["collections"] == ["contacts"]
        base = f"{tenant.base}/webhooks"
        got = (await client.get(f"{base}/{created['id']}", headers=tenant.h("admin"))).json()
        assert "secret" not in got and got["url"] == "http://127.0.0.1:9/hook"
        listed = (await client.get(base, headers=tenant.h("admin"))).json()
        assert [w["id"] for w in listed["items"]] == [created["id"]]
        r = await client.patch(
            f"{base}/{created['id']}", json={"enabled": False, "collections": None}, headers=tenant.h("admin")
        )
        assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["collections"] is None
        r = await client.patch(f"{base}/{created['id']}", json={"url": None}, headers=tenant.h("admin"))
        assert r.status_code == 422
        # A member may not manage webhooks; another tenant does not see them.
        assert (await client.get(base, headers=tenant.h("member"))).status_code == 403
        other = await make_tenant(client, operator_key)
        r = await client.get(f"{other.base}/webhooks/{created['id']}", headers=other.h("admin"))
        assert r.status_code == 404
        assert (await client.delete(f"{base}/{created['id']}", headers=tenant.h("admin"))).status_code == 204
        assert (await client.get(f"{base}/{created['id']}", headers=tenant.h("admin"))).status_code == 404


async def test_a_change_is_delivered_signed_and_verifiable(admin_dsn, settings, operator_key):
    async with receiver() as rx, deliveries(admin_dsn, settings) as client:
        tenant = await make_tenant(client, operator_key)
        created = await hook(client, tenant, rx.url())
        tenant.http = client
        await tenant.collection()
        rec = await tenant.record({"email": "ada@example.com"})
        [got] = await rx.wait_for(1)
        payload = Verifier(created["secret"]).verify(got.body, got.headers)
        assert payload["type"] == "record.created"
        event = payload["data"]
        assert event["record_id"] == rec["id"] and event["data"] == {"email": "ada@example.com"}
        assert event["seq"] == 2 and event["collection"] == "contacts"
        assert got.headers["webhook-id"] == event["id"]
        assert got.headers["content-type"] == "application/json"
        [d] = await deliveries_of(client, tenant, created["id"], "delivered")
        assert d["attempt"] == 1 and d["response_status"] == 200 and d["event_id"] == event["id"]
        assert d["attempts"][0]["response"] == "ok"


async def test_a_500_is_retried_with_the_same_webhook_id_and_retry_after_is_honoured(
    admin_dsn, settings, operator_key
):
    async with receiver() as rx, deliveries(admin_dsn, settings) as client:
        rx.script = [(500, {}, b"boom"), (503, {"Retry-After": "1"}, b"busy")]
        tenant = await make_tenant(client, operator_key)
        created = await hook(client, tenant, rx.url())
        tenant.http = client
        await tenant.collection()
        await tenant.record({"email": "ada@example.com"})
        first, second, third = await rx.wait_for(3)
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
        assert third.at - second.at >= 0.95  # Retry-After: 1 beat the 0.1 s schedule
        assert second.at - first.at < 0.9
        [d] = await deliveries_of(client, tenant, created["id"], "delivered")
        assert [a["response_status"] for a in d["attempts"]] == [500, 503, 200]
        assert d["attempts"][0]["response"] == "boom"
        Verifier(created["secret"]).verify(third.body, third.headers)


async def test_after_the_last_retry_the_delivery_fails_and_can_be_replayed(admin_dsn, settings, operator_key):
    async with receiver() as rx, deliveries(admin_dsn, settings) as client:
        rx.script = [(500, {}, b"x")] * 4
        tenant = await make_tenant(client, operator_key)
        created = await hook(client, tenant, rx.url())
        tenant.http = client
        await tenant.collection()
        await tenant.record({"email": "ada@example.com"})
        await rx.wait_for(4)
        [d] = await deliveries_of(client, tenant, created["id"], "failed")
        assert d["status"] == "failed" and d["attempt"] == 4
        r = await client.post(
            f"{tenant.base}/webhooks/{created['id']}/deliveries/{d['id']}/replay", headers=tenant.h("admin")
        )
        assert r.status_code == 202, r.text
        got = await rx.wait_for(5)
        assert got[4].headers["webhook-id"] == got[0].headers["webhook-id"]
        [d] = await deliveries_of(client, tenant, created["id"], "delivered")
        assert d["status"] == "delivered" and len(d["attempts"]) == 5


async def test_a_410_disables_the_endpoint(admin_dsn, settings, operator_key):
    async with receiver() as rx, deliveries(admin_dsn, settings) as client:
        rx.script = [(410, {}, b"gone")]
        tenant = await make_tenant(client, operator_key)
        created = await hook(client, tenant, rx.url())
        tenant.http = client
        await tenant.collection()
        await tenant.record({"email": "ada@example.com"})
        await rx.wait_for(1)
        [d] = await deliveries_of(client, tenant, created["id"], "failed")
        assert d["attempt"] == 1
        got = (await client.get(f"{tenant.base}/webhooks/{created['id']}", headers=tenant.h("admin"))).json()
        assert got["enabled"] is False and "410" in got["disabled_reason"]
        await tenant.record({"email": "bob@example.com"})
        await asyncio.sleep(0.5)
        assert len(rx.requests) == 1


async def test_a_rotated_secret_signs_beside_the_old_one(admin_dsn, settings, operator_key):
    async with receiver() as rx, deliveries(admin_dsn, settings) as client:
        tenant = await make_tenant(client, operator_key)
        created = await hook(client, tenant, rx.url())
        r = await client.post(
            f"{tenant.base}/webhooks/{created['id']}/rotate-secret", headers=tenant.h("admin")
        )
        assert r.status_code == 200, r.text
        new = r.json()["secret"]
        assert new != created["secret"] and new.startswith("whsec_")
        tenant.http = client
        await tenant.collection()
        await tenant.record({"email": "ada@example.com"})
        [got] = await rx.wait_for(1)
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        Verifier(new).verify(got.body, got.headers)
        Verifier(created["secret"]).verify(got.body, got.headers)


async def test_filters_and_tenant_isolation(admin_dsn, settings, operator_key):
    async with receiver() as rx, deliveries(admin_dsn, settings) as client:
        a = await make_tenant(client, operator_key)
        b = await make_tenant(client, operator_key)
        await hook(client, a, rx.url("/a"), collections=["contacts"])
        await hook(client, b, rx.url("/b"))
        for t in (a, b):
            t.http = client
            await t.collection()
            await t.collection("notes", schema={"type": "object"}, indexes=[], personal_fields=[],
                               subject_field=None)
        await a.record({"email": "a@example.com"})
        await a.record({"n": 1}, collection="notes")  # not a's collection filter
        await b.record({"email": "b@example.com"})
        got = await rx.wait_for(2)
        await asyncio.sleep(0.5)
        by_path = {r.path: orjson.loads(r.body)["data"] for r in rx.requests}
        assert len(rx.requests) == 2 and set(by_path) == {"/a", "/b"}
        assert by_path["/a"]["data"] == {"email": "a@example.com"}
        assert by_path["/b"]["data"] == {"email": "b@example.com"}
        assert got


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
    ],
)
async def test_private_addresses_are_refused_at_creation(http, tenant, url):
    r = await http.post(
        f"{tenant.base}/webhooks",
        json={"url": url.format(port=8080), "events": ["record.created"]},
        headers=tenant.h("admin"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "/url"


async def test_private_addresses_are_refused_at_delivery():
    async with receiver() as rx:
        sender = Sender(allow_private=False, timeout=5)
        try:
            for url in (
                rx.url(),
                f"http://localhost:{rx.port}/hook",
                "http://169.254.169.254/latest/meta-data",
                "http://10.0.0.1/hook",
                "http://[::ffff:127.0.0.1]/hook",
            ):
                outcome = await sender.post(url, [(b"content-type", b"application/json")], b"{}")
                assert outcome.status is None and "private" in (outcome.error or ""), outcome
        finally:
            await sender.close()
        assert rx.requests == []
        with pytest.raises(AddressRefused):
            await check_url(f"http://localhost:{rx.port}/", allow_private=False)
        await check_url(f"http://localhost:{rx.port}/", allow_private=True)


async def test_the_plan_caps_endpoints(admin_dsn, settings, operator_key, tmp_path):
    plans = tmp_path / "plans.toml"
    text = settings.plans.read_text().replace("max_webhooks = 1000000", "max_webhooks = 1")
    plans.write_text(text)
    async with deliveries(admin_dsn, settings, plans=plans) as client:
        tenant = await make_tenant(client, operator_key)
        await hook(client, tenant, "http://127.0.0.1:9/a")
        r = await client.post(
            f"{tenant.base}/webhooks",
            json={"url": "http://127.0.0.1:9/b", "events": ["record.created"]},
            headers=tenant.h("admin"),
        )
        assert r.status_code == 403 and r.json()["type"].endswith("/quota-max-webhooks")


async def test_in_flight_deliveries_are_capped_by_the_plan(admin_dsn, settings, operator_key, tmp_path):
    plans = tmp_path / "plans.toml"
    plans.write_text(settings.plans.read_text().replace("monthly_price_eur", "max_inflight_deliveries = 1\nmonthly_price_eur"))
    async with receiver() as rx, deliveries(admin_dsn, settings, plans=plans, webhook_workers=4) as client:
        rx.delay = 0.2
        tenant = await make_tenant(client, operator_key)
        created = await hook(client, tenant, rx.url())
        tenant.http = client
        await tenant.collection()
        for i in range(3):
            await tenant.record({"email": f"u{i}@example.com"})
        got = await rx.wait_for(3)
        await deliveries_of(client, tenant, created["id"], "delivered")
        spans = sorted((r.at, r.answered) for r in got)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end is not None and start >= end - 0.01, spans  # one at a time


async def test_a_delivery_cut_off_by_a_crash_is_sent_again_with_the_same_id(
    admin_dsn, settings, operator_key, admin_conn
):
    async with receiver() as rx:
        rx.delay = None  # the first request hangs: the sending process dies meanwhile
        async with deliveries(admin_dsn, settings, webhook_timeout_seconds=30) as client:
            tenant = await make_tenant(client, operator_key)
            created = await hook(client, tenant, rx.url())
            tenant.http = client
            await tenant.collection()
            await tenant.record({"email": "ada@example.com"})
            [first] = await rx.wait_for(1)
        # The process is gone mid-request: its transaction rolled back, the job's lease is left.
        d = await admin_conn.fetchrow(
            "SELECT id, status, attempts FROM webhook_deliveries WHERE webhook_id = $1", created["id"]
        )
        assert (d["status"], d["attempts"]) == ("pending", 0)
        lease = await admin_conn.fetchval(
            "SELECT locked_until - now() FROM jobs WHERE kind = 'webhook.deliver' AND ref = $1", d["id"]
        )
        assert lease.total_seconds() <= 45  # the sending timeout and a margin, not an export's lease
        # Waiting out the lease, as a restarted process would.
        await admin_conn.execute(
            "UPDATE jobs SET locked_until = now() WHERE kind = 'webhook.deliver' AND ref = $1", d["id"]
        )
        rx.delay = 0.0
        async with deliveries(admin_dsn, settings) as client:
            second = (await rx.wait_for(2))[1]
            assert second.headers["webhook-id"] == first.headers["webhook-id"]
            Verifier(created["secret"]).verify(second.body, second.headers)
            [d] = await deliveries_of(client, tenant, created["id"], "delivered")
            assert d["attempt"] == 1


async def test_a_tenant_with_a_slow_endpoint_leaves_senders_to_the_others(admin_dsn, settings, operator_key):
    async with receiver() as slow, receiver() as fast, deliveries(admin_dsn, settings, webhook_workers=2) as client:
        slow.delay = 0.4
        a = await make_tenant(client, operator_key)
        b = await make_tenant(client, operator_key)
        await hook(client, a, slow.url())
        await hook(client, b, fast.url())
        for t in (a, b):
            t.http = client
            await t.collection()
        for i in range(3):
            await a.record({"email": f"a{i}@example.com"})
        await b.record({"email": "b@example.com"})
        [theirs] = await fast.wait_for(1)
        mine = await slow.wait_for(3)
        # Of two senders a's deliveries get one at a time; b's went out meanwhile.
        assert theirs.at < mine[2].at
        assert all(r.answered is None or r.answered <= s.at + 0.01 for r, s in itertools.pairwise(mine))
