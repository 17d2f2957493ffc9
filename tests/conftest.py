"""Shared fixtures: a real PostgreSQL, the app over ASGI, fresh tenants per test.

Without FUNDAMENT_DATABASE_URL the suite starts its own embedded PostgreSQL (stopped even
if pytest is killed: see fundament.platform.embedded); with it, the suite creates and
later drops a database of its own on that server.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from fundament.app import create_app
from fundament.identity import create_operator_key
from fundament.migrations import migrate
from fundament.platform import Settings


def _server_dsn(tmp_root: Path) -> Iterator[str]:
    external = os.environ.get("FUNDAMENT_DATABASE_URL")
    if external:
        yield external
        return
    from fundament.platform import EmbeddedPostgres

    with EmbeddedPostgres(tmp_root / "pg") as pg:
        yield pg.dsn


@pytest.fixture(scope="session")
def server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _server_dsn(tmp_path_factory.mktemp("embedded"))


@contextmanager
def fresh_database(server_dsn: str, prefix: str = "fundament_test") -> Iterator[str]:
    """An empty database on the server of ``server_dsn`` (its DSN), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_dsn).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def admin_dsn(server_dsn: str) -> Iterator[str]:
    """A fresh, migrated database for this test session."""
    with fresh_database(server_dsn) as dsn:
        migrate(dsn)
        yield dsn


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(
        key_cache_ttl_seconds=30.0,
        pool_min_size=2,
        pool_max_size=10,
        worker=False,
        master_key="test-master-key",
        plans=Path(__file__).parent / "data" / "plans-roomy.toml",
        access_log=False,
    )


@pytest.fixture(scope="session")
async def app(admin_dsn: str, settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings, admin_dsn=admin_dsn)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def serving(admin_dsn: str, settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own (settings changed by ``overrides``), started, with a client."""
    application = create_app(settings.model_copy(update=overrides), admin_dsn=admin_dsn)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://fundament.test") as client:
            yield client


@asynccontextmanager
async def table_locked(admin_dsn: str, table: str) -> AsyncIterator[None]:
    """Hold ``table`` in ACCESS EXCLUSIVE mode: every query on it waits until the block ends."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        async with conn.transaction():
            await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fundament.test") as c:
        yield c


@pytest.fixture(scope="session")
async def operator_key(admin_dsn: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        _, key = await create_operator_key(conn, name="tests")
    finally:
        await conn.close()
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class TenantFixture:
    """A tenant with one key per role, created through the API."""

    id: str
    slug: str
    keys: dict[str, str]
    http: httpx.AsyncClient

    @property
    def base(self) -> str:
        return f"/v1/tenants/{self.id}"

    def h(self, role: str = "owner") -> dict[str, str]:
        return bearer(self.keys[role])

    async def collection(self, name: str = "contacts", **extra: Any) -> dict[str, Any]:
        body = {
            "name": name,
            "schema": {
                "type": "object",
                "properties": {
                    "email": {"type": "string"},
                    "score": {"type": "integer"},
                    "vip": {"type": "boolean"},
                    "address": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
                "required": ["email"],
                "additionalProperties": False,
            },
            "indexes": ["email", "score"],
            "personal_fields": ["email"],
            "subject_field": "email",
            "retention_days": 365,
            **extra,
        }
        r = await self.http.post(f"{self.base}/collections", json=body, headers=self.h("admin"))
        assert r.status_code == 201, r.text
        return r.json()

    async def record(self, data: dict[str, Any], collection: str = "contacts") -> dict[str, Any]:
        r = await self.http.post(
            f"{self.base}/collections/{collection}/records",
            json={"data": data},
            headers=self.h("member"),
        )
        assert r.status_code == 201, r.text
        return r.json()


async def make_tenant(
    http: httpx.AsyncClient, operator_key: str, *, region: str | None = None
) -> TenantFixture:
    slug = f"t-{uuid.uuid4().hex[:12]}"
    body = {"name": f"Tenant {slug}", "slug": slug, **({"region": region} if region else {})}
    r = await http.post("/v1/tenants", json=body, headers=bearer(operator_key))
    assert r.status_code == 201, r.text
    tenant_id = r.json()["id"]
    keys: dict[str, str] = {}
    for role in ("viewer", "member", "admin", "owner"):
        r = await http.post(
            f"/v1/tenants/{tenant_id}/api-keys",
            json={"name": role, "role": role},
            headers=bearer(operator_key),
        )
        assert r.status_code == 201, r.text
        keys[role] = r.json()["key"]
    return TenantFixture(tenant_id, slug, keys, http)


@pytest.fixture
async def tenant(http: httpx.AsyncClient, operator_key: str) -> TenantFixture:
    return await make_tenant(http, operator_key)


@pytest.fixture
async def other_tenant(http: httpx.AsyncClient, operator_key: str) -> TenantFixture:
    return await make_tenant(http, operator_key)
