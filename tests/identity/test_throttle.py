"""Failed authentication is throttled in memory: wrong keys cost (almost) no database work,
and keys in use, or of other tenants, keep working through a flood."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import TenantFixture, bearer, make_tenant
from fundament.app import create_app
from fundament.identity import FailureThrottle
from fundament.platform import AuthenticationThrottled, Settings, T, Unauthenticated
from fundament.platform.ids import new_id
from servers import Server, server_env

PROBLEM = "application/problem+json"
ATTACKER = "203.0.113.7"

PLANS = Path(__file__).parent.parent / "data" / "plans-roomy.toml"


@asynccontextmanager
async def own_app(admin_dsn: str, settings: Settings) -> AsyncIterator[Any]:
    """An app of its own, so the throttle's counters start empty."""
    application = create_app(settings, admin_dsn=admin_dsn)
    async with application.router.lifespan_context(application):
        yield application


async def tenants(app: Any, operator_key: str, n: int = 2) -> list[TenantFixture]:
    """Made from an address of their own, through the app under test."""
    async with client_at(app, "192.0.2.250") as c:
        made = [await make_tenant(c, operator_key) for _ in range(n)]
    return made


def client_at(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://fundament.test")


def forged(tenant_id: str) -> str:
    """A key of the right shape for ``tenant_id`` with a secret nobody issued."""
    return f"fdk_{tenant_id[4:]}_{secrets.token_urlsafe(32)}"


def assert_throttled(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"] == T.AUTH_THROTTLED
    assert int(r.headers["retry-after"]) >= 1


async def test_a_flood_of_wrong_secrets_costs_no_lookups(
    admin_dsn: str, settings: Settings, operator_key: str
) -> None:
    async with (
        own_app(admin_dsn, settings) as app,
        client_at(app, ATTACKER) as attacker,
        client_at(app, "198.51.100.20") as elsewhere,
        client_at(app, "192.0.2.1") as owner,
    ):
        victim, bystander = await tenants(app, operator_key)
        url = f"{victim.base}/collections"
        # the victim's viewer key is in use (so this process knows it) before the flood
        assert (await owner.get(url, headers=victim.h("viewer"))).status_code == 200
        lookups = app.services.authenticator.lookups

        answers = [await attacker.get(url, headers=bearer(forged(victim.id))) for _ in range(400)]

        statuses = Counter(r.status_code for r in answers)
        assert set(statuses) <= {401, 429} and statuses[429] >= 390, statuses
        for r in answers:
            if r.status_code == 429:
                assert_throttled(r)
        assert app.services.authenticator.lookups - lookups <= 2
        # another tenant's key, never seen by this process, works from another address
        r = await elsewhere.get(f"{bystander.base}/collections", headers=bystander.h("viewer"))
        assert r.status_code == 200, r.text
        # the victim's key in use works too, even from the flooding address
        r = await attacker.get(url, headers=victim.h("viewer"))
        assert r.status_code == 200, r.text
        # the price, by choice: a key of the flooded tenant this process has not yet seen
        # waits until the flood's minute is over, from any address
        assert_throttled(await elsewhere.get(url, headers=victim.h("admin")))


async def test_a_concurrent_flood_is_bounded_like_a_sequential_one(
    admin_dsn: str, settings: Settings, operator_key: str
) -> None:
    async with own_app(admin_dsn, settings) as app, client_at(app, ATTACKER) as attacker:
        victim, bystander = await tenants(app, operator_key)
        url = f"{victim.base}/collections"
        lookups = app.services.authenticator.lookups
        answers = await asyncio.gather(
            *(attacker.get(url, headers=bearer(forged(victim.id))) for _ in range(200))
        )
        statuses = Counter(r.status_code for r in answers)
        assert set(statuses) <= {401, 429} and statuses[429] >= 190, statuses
        assert app.services.authenticator.lookups - lookups <= settings.auth_key_id_failures_per_minute

        # a cold cache under a burst of one valid key: one lookup, every request served
        async with client_at(app, "198.51.100.21") as other:
            lookups = app.services.authenticator.lookups
            answers = await asyncio.gather(
                *(
                    other.get(f"{bystander.base}/collections", headers=bystander.h("member"))
                    for _ in range(50)
                )
            )
            assert {r.status_code for r in answers} == {200}
            assert app.services.authenticator.lookups - lookups == 1


async def test_one_address_trying_many_tenants_is_throttled_by_address(
    admin_dsn: str, settings: Settings, operator_key: str
) -> None:
    async with (
        own_app(admin_dsn, settings) as app,
        client_at(app, ATTACKER) as attacker,
        client_at(app, "198.51.100.22") as elsewhere,
    ):
        (victim,) = await tenants(app, operator_key, 1)
        url = f"{victim.base}/collections"
        # a key in use from the address that is about to flood
        assert (await attacker.get(url, headers=victim.h("viewer"))).status_code == 200
        limit = settings.auth_address_failures_per_minute
        lookups = app.services.authenticator.lookups
        answers = []
        for _ in range(100):
            made_up = new_id("tnt")
            answers.append(
                await attacker.get(f"/v1/tenants/{made_up}/collections", headers=bearer(forged(made_up)))
            )
        statuses = Counter(r.status_code for r in answers)
        assert statuses == {401: limit, 429: 100 - limit}, statuses
        assert app.services.authenticator.lookups - lookups == limit
        # strings of no key's shape count too: they cost nothing, but could guess a token
        assert_throttled(await attacker.get("/v1/tenants", headers=bearer("not-a-key")))
        # another address is not affected: a wrong key there is still a plain 401
        made_up = new_id("tnt")
        r = await elsewhere.get(f"/v1/tenants/{made_up}/collections", headers=bearer(forged(made_up)))
        assert r.status_code == 401
        # from the flooding address the key in use still works; a key new to this process waits
        assert (await attacker.get(url, headers=victim.h("viewer"))).status_code == 200
        assert_throttled(await attacker.get(url, headers=victim.h("member")))
        assert (await elsewhere.get(url, headers=victim.h("member"))).status_code == 200


async def test_a_revoked_key_used_over_and_over_is_refused_from_memory(
    admin_dsn: str, settings: Settings, operator_key: str
) -> None:
    async with own_app(admin_dsn, settings) as app, client_at(app, "192.0.2.2") as c:
        (victim,) = await tenants(app, operator_key, 1)
        r = await c.post(
            f"{victim.base}/api-keys", json={"name": "old", "role": "viewer"}, headers=victim.h("admin")
        )
        created = r.json()
        url = f"{victim.base}/collections"
        assert (await c.get(url, headers=bearer(created["key"]))).status_code == 200
        r = await c.delete(f"{victim.base}/api-keys/{created['id']}", headers=victim.h("admin"))
        assert r.status_code == 204
        lookups = app.services.authenticator.lookups
        answers = [await c.get(url, headers=bearer(created["key"])) for _ in range(50)]
        # 401 every time (the client learns its key is dead, not to retry), one lookup
        assert {r.status_code for r in answers} == {401}
        assert app.services.authenticator.lookups - lookups == 1
        # and it did not use up the tenant's or the address's budget for new keys
        assert (await c.get(url, headers=victim.h("member"))).status_code == 200


# --- the tables themselves, on a clock of our own --------------------------------------------


def test_windows_close_a_minute_after_they_open() -> None:
    throttle = FailureThrottle(per_address=3, per_key_id=100, cooldown_seconds=0)
    for i in range(3):
        attempt = throttle.admit(client="192.0.2.9", key_id=f"tnt_{i}", digest=None, now=0.0)
        throttle.failed(attempt, 0.0)
    with pytest.raises(AuthenticationThrottled) as refused:
        throttle.admit(client="192.0.2.9", key_id="tnt_x", digest=None, now=59.5)
    assert refused.value.headers["Retry-After"] == "1"
    throttle.admit(client="192.0.2.9", key_id="tnt_x", digest=None, now=60.0)


def test_a_found_key_is_not_a_failure() -> None:
    throttle = FailureThrottle(per_address=2, per_key_id=2, cooldown_seconds=0)
    for _ in range(10):
        throttle.succeeded(throttle.admit(client="192.0.2.9", key_id="tnt_a", digest=b"k", now=1.0))
    throttle.admit(client="192.0.2.9", key_id="tnt_a", digest=b"k", now=1.0)


def test_a_key_that_failed_is_refused_with_401_and_its_id_cools_down() -> None:
    throttle = FailureThrottle(per_address=100, per_key_id=100, cooldown_seconds=1.0, bad_key_seconds=30)
    throttle.failed(throttle.admit(client=None, key_id="tnt_a", digest=b"bad", now=0.0), 0.0)
    with pytest.raises(Unauthenticated):
        throttle.admit(client=None, key_id="tnt_a", digest=b"bad", now=10.0)
    with pytest.raises(AuthenticationThrottled):
        throttle.admit(client=None, key_id="tnt_a", digest=b"other", now=0.5)
    throttle.admit(client=None, key_id="tnt_a", digest=b"other", now=1.0)


def test_ipv6_clients_are_counted_per_64() -> None:
    throttle = FailureThrottle(per_address=2, per_key_id=100, cooldown_seconds=0)
    for host in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
        throttle.failed(throttle.admit(client=host, key_id=None, digest=None, now=0.0), 0.0)
    with pytest.raises(AuthenticationThrottled):
        throttle.admit(client="2001:db8:1:2::abcd", key_id=None, digest=None, now=1.0)
    throttle.admit(client="2001:db8:1:3::1", key_id=None, digest=None, now=1.0)


def test_the_tables_are_bounded() -> None:
    throttle = FailureThrottle(per_address=1, per_key_id=1, cooldown_seconds=5, max_entries=100)
    for i in range(10_000):
        attempt = throttle.admit(
            client=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", key_id=f"tnt_{i}", digest=None, now=0.0
        )
        throttle.failed(attempt, 0.0)
    tables = (throttle._addresses._table, throttle._key_ids._table, throttle._cooling._table)
    assert all(len(t) <= 100 for t in tables)


def test_behind_a_trusted_proxy_the_forwarded_address_is_throttled(admin_dsn: str, tmp_path: Path) -> None:
    """A real `fundament serve` (uvicorn reads X-Forwarded-For there, not in the app): from
    a listed proxy each forwarded client has its own budget, so one client's flood does not
    lock out everyone behind the load balancer; from anywhere else the header is ignored,
    so no client can dodge the throttle by naming a new address each time."""
    env = server_env(admin_dsn, PLANS)
    env["FUNDAMENT_AUTH_ADDRESS_FAILURES_PER_MINUTE"] = "3"
    trusted = Server("proxied", {**env, "FUNDAMENT_FORWARDED_ALLOW_IPS": "127.0.0.1"}, tmp_path)
    direct = Server("direct", env, tmp_path)
    try:
        for server in (trusted, direct):
            server.wait_ready()

        def fail(server: Server, client: str) -> int:
            made_up = new_id("tnt")
            headers = {**bearer(forged(made_up)), "X-Forwarded-For": f"192.0.2.7, {client}"}
            return httpx.get(f"{server.base}/v1/tenants/{made_up}/collections", headers=headers).status_code

        # Behind the proxy: 203.0.113.1 is throttled after 3, 203.0.113.2 is not.
        assert [fail(trusted, "203.0.113.1") for _ in range(4)] == [401, 401, 401, 429]
        assert fail(trusted, "203.0.113.2") == 401
        # Direct: every address named in the header is the same peer, 127.0.0.1.
        statuses = [fail(direct, f"203.0.113.{i}") for i in range(1, 5)]
        assert statuses == [401, 401, 401, 429]
    finally:
        trusted.stop()
        direct.stop()
