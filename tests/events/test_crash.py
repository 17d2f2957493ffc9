"""A real `fundament serve` killed (SIGKILL) in the middle of a delivery: after the restart
the event is delivered, with the same webhook-id and a valid signature, once its short lease
has run out (not an export's five minutes)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from events.receiver import receiver
from servers import Server, bearer, server_env

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

PLANS = Path(__file__).parent.parent / "data" / "plans-roomy.toml"


def env(admin_dsn: str) -> dict[str, str]:
    out = server_env(admin_dsn, PLANS)
    out.update(
        FUNDAMENT_WORKER="true",
        FUNDAMENT_WEBHOOK_ALLOW_PRIVATE="true",
        FUNDAMENT_WEBHOOK_TIMEOUT_SECONDS="2",
        FUNDAMENT_WEBHOOK_RETRY_SCHEDULE="0.2",
        FUNDAMENT_JOB_POLL_SECONDS="0.2",
    )
    return out


async def test_a_delivery_survives_a_killed_server(admin_dsn, operator_key, tmp_path):
    async with receiver() as rx:
        rx.delay = None  # the first request is never answered: the server dies meanwhile
        first = Server("events-a", env(admin_dsn), tmp_path)
        try:
            await asyncio.to_thread(first.wait_ready)
            async with httpx.AsyncClient(base_url=first.base, timeout=10) as c:
                op = bearer(operator_key)
                r = await c.post("/v1/tenants", json={"name": "crash", "slug": f"crash-{time.time_ns()}"}, headers=op)
                tenant = r.json()["id"]
                key = (
                    await c.post(f"/v1/tenants/{tenant}/api-keys", json={"name": "a", "role": "admin"}, headers=op)
                ).json()["key"]
                h = bearer(key)
                hook = (
                    await c.post(
                        f"/v1/tenants/{tenant}/webhooks",
                        json={"url": rx.url(), "events": ["record.created"]},
                        headers=h,
                    )
                ).json()
                await c.post(f"/v1/tenants/{tenant}/collections", json={"name": "c", "schema": {"type": "object"}}, headers=h)
                r = await c.post(f"/v1/tenants/{tenant}/collections/c/records", json={"data": {"n": 1}}, headers=h)
                assert r.status_code == 201, r.text
            [cut] = await rx.wait_for(1)
        finally:
            first.kill()
        rx.delay = 0.0
        killed = time.monotonic()
        second = Server("events-b", env(admin_dsn), tmp_path)
        try:
            await asyncio.to_thread(second.wait_ready)
            again = (await rx.wait_for(2, within=60))[1]
            took = time.monotonic() - killed
            assert again.headers["webhook-id"] == cut.headers["webhook-id"]
            Verifier(hook["secret"]).verify(again.body, again.headers)
            assert took < 30, took  # lease: the 2 s timeout and 5 s; well inside the 90 s bound
        finally:
            second.stop()
