"""The CORS policy's lookups: what a key-less preflight may cost (tests/tenancy/test_cors.py
has the HTTP behaviour against a real database)."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from fundament.platform import CorsPolicy, new_id, parse_origin

APP = "https://app.example.com"


class Tenants:
    """The policy's port, holding some tenants and counting the lookups it is asked for."""

    def __init__(self, held: dict[str, tuple[str, ...]], stored: dict[str, tuple[str, ...]]) -> None:
        self.held = held
        self.stored = stored
        self.lookups: list[str] = []

    def held_origins(self, tenant_id: str) -> Collection[str] | None:
        return self.held.get(tenant_id)

    async def cors_origins(self, tenant_id: str) -> Collection[str] | None:
        self.lookups.append(tenant_id)
        if tenant_id == "tnt_01JD0000000000000000000BAD":
            raise ConnectionError("database gone")
        return self.stored.get(tenant_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_unknown_tenants_cost_a_bounded_number_of_lookups() -> None:
    held, stored = new_id("tnt"), new_id("tnt")
    tenants = Tenants({held: (APP,)}, {stored: (APP,)})
    clock = Clock()
    policy = CorsPolicy(tenants, unknown_ttl_seconds=10, unknown_per_second=3, clock=clock)
    assert await policy.allows(APP, f"/v1/tenants/{held}/collections") is True
    assert await policy.allows("https://other.example.com", f"/v1/tenants/{held}") is False
    assert tenants.lookups == []  # a tenant this process holds costs nothing
    # Not an id: no lookup either.
    assert await policy.allows(APP, "/v1/tenants/nope/collections") is False
    assert tenants.lookups == []
    # An unknown id is looked up once, then remembered.
    unknown = [new_id("tnt") for _ in range(5)]
    assert await policy.allows(APP, f"/v1/tenants/{unknown[0]}") is False
    assert await policy.allows(APP, f"/v1/tenants/{unknown[0]}/records") is False
    assert tenants.lookups == [unknown[0]]
    # Three unknown ids in one second: no more lookups of tenants not held until the next.
    for tenant in unknown[1:]:
        assert await policy.allows(APP, f"/v1/tenants/{tenant}") is False
    assert tenants.lookups == unknown[:3]
    assert await policy.allows(APP, f"/v1/tenants/{stored}") is False
    assert await policy.allows(APP, f"/v1/tenants/{held}") is True
    clock.now += 1
    assert await policy.allows(APP, f"/v1/tenants/{stored}") is True
    # Remembered for the TTL only.
    clock.now += 10
    assert await policy.allows(APP, f"/v1/tenants/{unknown[0]}") is False
    assert tenants.lookups[-1] == unknown[0]


async def test_a_failed_lookup_is_no_origin_not_an_error() -> None:
    policy = CorsPolicy(Tenants({}, {}))
    assert await policy.allows(APP, "/v1/tenants/tnt_01JD0000000000000000000BAD/collections") is False


async def test_operator_origins() -> None:
    tenant = new_id("tnt")
    tenants = Tenants({tenant: (APP,)}, {})
    console = "https://console.example.com"
    policy = CorsPolicy(tenants, operator_origins=(console,))
    assert await policy.allows(console, "/v1/tenants") is True
    assert await policy.allows(console, f"/v1/tenants/{tenant}/collections") is True
    assert await policy.allows(console, "/v1/finops/report") is True
    assert await policy.allows(APP, "/v1/finops/report") is False
    # Without operator origins, operator paths do not depend on the origin at all.
    plain = CorsPolicy(tenants)
    assert await plain.allows(console, "/v1/tenants") is None
    assert await plain.allows(console, "/healthz") is None
    assert await plain.allows(APP, f"/v1/tenants/{tenant}") is True


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://App.Example.com:443", "https://app.example.com"),
        ("HTTP://localhost:80", "http://localhost"),
        ("http://localhost:05173", "http://localhost:5173"),
        ("https://[0:0:0:0:0:0:0:1]:8443", "https://[::1]:8443"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
        ("https://my_host.internal", "https://my_host.internal"),
    ],
)
def test_origins_are_normalised_as_browsers_send_them(given: str, stored: str) -> None:
    assert parse_origin(given) == stored


@pytest.mark.parametrize(
    "bad",
    ["*", "https://*.example.com", "null", "https://a.example.com/", "https://a.example.com?x", "file://x",
     "https://a.example.com:0", "https://a.example.com:", "https://[::1", "https://1.2.3", "https://a..b",
     "https://a.example.com#top", "https://a\\b", "https://" + "a" * 300, "https://a b"],
)
def test_origins_that_no_browser_sends_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_origin(bad)
