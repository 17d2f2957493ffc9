"""Cells end to end: added by the CLI to a control database of this module's (the suite's
own database never gets a cell, so the rest of the suite runs as an installation without
cells), a new tenant placed on a cell of its region with its rows in that database and none
in the control one, served there, never placed across regions.

The isolation suite runs here too (imported below), with both tenants on the cell ``ap1``
and its row-level checks on that cell's database.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from conftest import TenantFixture, bearer, make_tenant
from fundament.app import create_app
from fundament.identity import create_operator_key
from fundament.migrations import current_head, migrate
from fundament.platform import Settings

#: The control database is of eu-central-1 (the default region); us-east-1 has two cells,
#: so placement picks the emptiest; ap-southeast-2 has one, where the isolation suite runs.
US, AP, NOWHERE = "us-east-1", "ap-southeast-2", "sa-east-1"
CELLS = {"us1": US, "us2": US, "ap1": AP}


async def _on_server(server_dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def fundament(control_dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    env["FUNDAMENT_DATABASE_URL"] = control_dsn
    return subprocess.run(
        [sys.executable, "-m", "fundament.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@dataclass
class CellsEnv:
    server: str
    control: str = ""
    cells: dict[str, str] = field(default_factory=dict)  # name -> admin DSN
    made: list[str] = field(default_factory=list)

    def new_database(self) -> str:
        name = f"fundament_cell_{uuid.uuid4().hex[:10]}"
        asyncio.run(_on_server(self.server, f'CREATE DATABASE "{name}"'))
        self.made.append(name)
        return make_url(self.server).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def cells_env(server_dsn: str) -> Iterator[CellsEnv]:
    env = CellsEnv(server_dsn)
    try:
        env.control = env.new_database()
        migrate(env.control)
        for name, region in CELLS.items():
            dsn = env.new_database()
            done = fundament(env.control, "cells", "add", name, "--dsn", dsn, "--region", region)
            assert done.returncode == 0, done.stderr
            assert f"added cell {name} ({region})" in done.stdout
            env.cells[name] = dsn
        yield env
    finally:
        for name in env.made:
            asyncio.run(_on_server(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
async def cells_app(cells_env: CellsEnv, settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings, admin_dsn=cells_env.control)
    async with application.router.lifespan_context(application):
        yield application


# --- the isolation suite's fixtures, on this module's installation ---------------------------
@pytest.fixture(scope="module")
async def http(cells_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=cells_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fundament.test") as c:
        yield c


@pytest.fixture(scope="module")
async def operator_key(cells_env: CellsEnv) -> str:
    conn = await asyncpg.connect(cells_env.control)
    try:
        _, key = await create_operator_key(conn, name="cells tests")
    finally:
        await conn.close()
    return key


@pytest.fixture(scope="module")
def admin_dsn(cells_env: CellsEnv) -> str:
    """For the isolation suite's row-level checks: the database of the cell its tenants are on."""
    return cells_env.cells["ap1"]


@pytest.fixture
async def tenant(http: httpx.AsyncClient, operator_key: str) -> TenantFixture:
    return await placed_tenant(http, operator_key, AP)


@pytest.fixture
async def other_tenant(http: httpx.AsyncClient, operator_key: str) -> TenantFixture:
    return await placed_tenant(http, operator_key, AP)


async def placed_tenant(http: httpx.AsyncClient, operator_key: str, region: str) -> TenantFixture:
    """A tenant of ``region`` with one key per role, created through the API."""
    return await make_tenant(http, operator_key, region=region)


async def _count(dsn: str, table: str, tenant_id: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        column = "id" if table == "tenants" else "tenant_id"
        n: int = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", tenant_id)
        return n
    finally:
        await conn.close()


# --- adding cells ----------------------------------------------------------------------------
def test_cells_add_refuses_duplicates_dead_dsns_and_the_control_database(cells_env: CellsEnv) -> None:
    some_cell = cells_env.cells["us1"]
    for args, said in (
        (("us1", "--dsn", cells_env.new_database(), "--region", US), "exists already"),
        (("main", "--dsn", cells_env.new_database(), "--region", US), "control database"),
        (("us9", "--dsn", some_cell, "--region", US), "is the cell 'us1' already"),
        (("us9", "--dsn", cells_env.control, "--region", US), "is the control database"),
        (("us9", "--dsn", "postgresql://postgres@127.0.0.1:1/none", "--region", US), "does not answer"),
        (("us9", "--dsn", cells_env.new_database(), "--region", "Mars"), "is not a region"),
        (("Bad_Name", "--dsn", cells_env.new_database(), "--region", US), "a cell's name is"),
    ):
        done = fundament(cells_env.control, "cells", "add", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert said in done.stderr, (args, done.stderr)
        assert "not added" in done.stderr


def test_cells_are_migrated_when_added_and_by_migrate(cells_env: CellsEnv) -> None:
    async def revision(dsn: str) -> str:
        conn = await asyncpg.connect(dsn)
        try:
            value: str = await conn.fetchval("SELECT version_num FROM alembic_version")
            return value
        finally:
            await conn.close()

    for dsn in cells_env.cells.values():
        assert asyncio.run(revision(dsn)) == current_head()
    done = fundament(cells_env.control, "migrate")
    assert done.returncode == 0, done.stderr
    for name in CELLS:
        assert f"cell {name}:" in done.stderr


# --- placement -----------------------------------------------------------------------------
async def test_a_tenant_lands_on_a_cell_of_its_region_with_its_rows_there(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv
) -> None:
    t = await placed_tenant(http, operator_key, AP)
    r = await http.get(t.base, headers=t.h("viewer"))
    assert r.status_code == 200 and r.json()["cell"] == "ap1" and r.json()["region"] == AP
    await t.collection()
    rec = await t.record({"email": "a@ap.example", "score": 1})
    r = await http.get(f"{t.base}/audit-events/verify", headers=t.h("admin"))
    assert r.status_code == 200 and r.json()["valid"] is True and r.json()["count"] >= 3, r.text
    cell, control = cells_env.cells["ap1"], cells_env.control
    for table in ("tenants", "api_keys", "collections", "records", "audit_events"):
        assert await _count(cell, table, t.id) >= 1, table
    for table in ("api_keys", "collections", "records", "audit_events", "audit_pending", "users"):
        assert await _count(control, table, t.id) == 0, table
    assert await _count(control, "tenants", t.id) == 1  # the registry, which routes
    # The chain on the cell starts with the tenant's creation.
    r = await http.get(f"{t.base}/audit-events", params={"limit": 200}, headers=t.h("admin"))
    assert "tenant.created" in {e["action"] for e in r.json()["items"]}
    assert rec["id"]


async def test_cli_audit_verify_reads_a_tenant_on_a_cell(
    cells_env: CellsEnv, http: httpx.AsyncClient, operator_key: str
) -> None:
    t = await placed_tenant(http, operator_key, AP)
    await t.collection()
    done = fundament(cells_env.control, "audit", "verify", "--tenant", t.slug)
    assert done.returncode == 0, done.stderr
    assert '"valid": true' in done.stdout and '"count": 0' not in done.stdout


async def test_a_renamed_tenant_on_a_cell_is_renamed_there_too(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv
) -> None:
    t = await placed_tenant(http, operator_key, AP)
    r = await http.patch(t.base, json={"name": "Renamed", "cell": "ap1"}, headers=t.h("owner"))
    assert r.status_code == 200 and r.json()["name"] == "Renamed", r.text
    r = await http.get(f"{t.base}/privacy/processing-record", headers=t.h("admin"))
    assert r.json()["controller"]["name"] == "Renamed"
    r = await http.patch(t.base, json={"cell": "main"}, headers=bearer(operator_key))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "/cell"


async def test_storage_is_measured_on_the_cell_and_kept_at_home(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, cells_app: Any
) -> None:
    t = await placed_tenant(http, operator_key, AP)
    await t.collection()
    await t.record({"email": "bytes@ap.example"})
    assert await cells_app.services.meter.measure_storage() >= 1
    conn = await asyncpg.connect(cells_env.control)
    try:
        stored = await conn.fetchval("SELECT stored_bytes FROM storage_hourly WHERE tenant_id = $1", t.id)
    finally:
        await conn.close()
    assert stored and stored > 0
    assert await _count(cells_env.cells["ap1"], "storage_hourly", t.id) == 0


async def test_records_crud_and_lists_on_a_cell(http: httpx.AsyncClient, operator_key: str) -> None:
    t = await placed_tenant(http, operator_key, US)
    await t.collection()
    base = f"{t.base}/collections/contacts/records"
    rec = await t.record({"email": "x@us.example", "score": 1})
    r = await http.get(f"{base}/{rec['id']}", headers=t.h("viewer"))
    assert r.status_code == 200 and r.json()["data"]["score"] == 1
    r = await http.patch(
        f"{base}/{rec['id']}", json={"score": 2}, headers={**t.h("member"), "If-Match": r.headers["etag"]}
    )
    assert r.status_code == 200, r.text
    r = await http.get(base, params={"filter": "score eq 2"}, headers=t.h("viewer"))
    assert [x["id"] for x in r.json()["items"]] == [rec["id"]]
    r = await http.post(
        base, json={"data": {"email": "y@us.example"}}, headers={**t.h("member"), "Idempotency-Key": "k-1"}
    )
    again = await http.post(
        base, json={"data": {"email": "y@us.example"}}, headers={**t.h("member"), "Idempotency-Key": "k-1"}
    )
    assert again.json()["id"] == r.json()["id"]
    r = await http.delete(f"{base}/{rec['id']}", headers=t.h("member"))
    assert r.status_code == 204
    r = await http.get(f"{t.base}/audit-events/verify", headers=t.h("admin"))
    assert r.json()["valid"] is True


async def test_a_region_without_a_cell_is_refused_and_the_control_region_stays_home(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv
) -> None:
    slug = f"n-{uuid.uuid4().hex[:10]}"
    r = await http.post(
        "/v1/tenants", json={"name": "N", "slug": slug, "region": NOWHERE}, headers=bearer(operator_key)
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert NOWHERE in problem["detail"] and "fundament cells add" in problem["detail"]
    assert problem["errors"][0]["path"] == "/region"
    r = await http.get("/v1/tenants", params={"limit": 200}, headers=bearer(operator_key))
    assert slug not in {t["slug"] for t in r.json()["items"]}
    home = await placed_tenant(http, operator_key, "eu-central-1")
    r = await http.get(home.base, headers=home.h("viewer"))
    assert r.json()["cell"] == "main"


async def test_never_placed_across_regions(http: httpx.AsyncClient, operator_key: str) -> None:
    seen: dict[str, set[str]] = {}
    for region in (US, AP, "eu-central-1", US, AP):
        t = await placed_tenant(http, operator_key, region)
        cell = (await http.get(t.base, headers=bearer(operator_key))).json()["cell"]
        seen.setdefault(region, set()).add(cell)
    assert seen[US] <= {"us1", "us2"} and seen[AP] == {"ap1"} and seen["eu-central-1"] == {"main"}


async def test_the_emptiest_cell_of_the_region_gets_the_new_tenant(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv
) -> None:
    first = await placed_tenant(http, operator_key, US)
    cell = (await http.get(first.base, headers=bearer(operator_key))).json()["cell"]
    other = "us2" if cell == "us1" else "us1"
    # Metering's latest sample says the first tenant's cell holds far more.
    conn = await asyncpg.connect(cells_env.control)
    try:
        await conn.execute(
            "INSERT INTO storage_hourly (tenant_id, hour, records, stored_bytes, measured_at)"
            " VALUES ($1, date_trunc('hour', now()), 1, 1000000000, now())",
            first.id,
        )
    finally:
        await conn.close()
    for _ in range(3):
        t = await placed_tenant(http, operator_key, US)
        assert (await http.get(t.base, headers=bearer(operator_key))).json()["cell"] == other


async def test_jobs_of_a_tenant_on_a_cell_run(
    http: httpx.AsyncClient, operator_key: str, cells_app: Any
) -> None:
    """The worker serves every cell's queue: a privacy export of a tenant on a cell is done."""
    t = await placed_tenant(http, operator_key, AP)
    await t.collection()
    await t.record({"email": "ada@ap.example"})
    r = await http.post(f"{t.base}/privacy/exports", json={"subject": "ada@ap.example"}, headers=t.h("admin"))
    assert r.status_code == 202, r.text
    assert await cells_app.services.job_worker.run_once() >= 1
    r = await http.get(f"{t.base}/privacy/exports/{r.json()['id']}", headers=t.h("admin"))
    assert r.json()["status"] == "done", r.text


async def test_a_cell_added_while_serving_is_used_at_once(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, cells_app: Any
) -> None:
    """`cells add` notifies every instance: the running app opens the cell and places there."""
    region = "ap-northeast-1"
    dsn = await asyncio.to_thread(cells_env.new_database)
    done = await asyncio.to_thread(
        fundament, cells_env.control, "cells", "add", "tokyo", "--dsn", dsn, "--region", region
    )
    assert done.returncode == 0, done.stderr
    for _ in range(100):  # bounded: 10 s
        if cells_app.services.cells.is_open("tokyo"):
            break
        await asyncio.sleep(0.1)
    t = await placed_tenant(http, operator_key, region)
    assert (await http.get(t.base, headers=t.h("viewer"))).json()["cell"] == "tokyo"
    await t.collection()
    assert await _count(dsn, "collections", t.id) == 1


async def test_without_cells_nothing_routes(cells_env: CellsEnv, settings: Settings) -> None:
    """An installation without an added cell has no router: the hot path pays nothing."""
    dsn = await asyncio.to_thread(cells_env.new_database)
    await asyncio.to_thread(migrate, dsn)
    application = create_app(settings, admin_dsn=dsn)
    async with application.router.lifespan_context(application):
        assert application.services.db.router is None
        assert [c.name for c in application.services.cells.cells()] == ["main"]


async def _listeners(server_dsn: str, database: str) -> int:
    conn = await asyncpg.connect(server_dsn)
    try:
        value: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN %'", database
        )
        return value
    finally:
        await conn.close()


async def test_an_instance_opens_each_cell_once_and_closes_it(cells_env: CellsEnv, settings: Settings) -> None:
    """The start's refresh and the one the control database's first notification sets off
    do not both open a cell: one listener per cell while the app runs, none after it."""
    cell = make_url(cells_env.cells["ap1"]).database
    assert cell is not None
    before = await _listeners(cells_env.server, cell)
    application = create_app(settings, admin_dsn=cells_env.control)
    async with application.router.lifespan_context(application):
        await asyncio.sleep(1.5)  # the control listener's first "*" and its refresh
        during = await _listeners(cells_env.server, cell)
    for _ in range(50):  # bounded: 5 s for the server to see the connections go
        after = await _listeners(cells_env.server, cell)
        if after == before:
            break
        await asyncio.sleep(0.1)
    assert (during, after) == (before + 1, before)


# --- operators ----------------------------------------------------------------------------
async def test_cells_list_api_and_cli(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv
) -> None:
    await placed_tenant(http, operator_key, AP)
    r = await http.get("/v1/cells", headers=bearer(operator_key))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    items = {c["name"]: c for c in body["items"]}
    names = [c["name"] for c in body["items"]]
    assert names[0] == "main" and names[1:] == sorted(names[1:]) and {"ap1", "us1", "us2"} <= set(names)
    assert items["main"]["region"] == "eu-central-1" and items["ap1"]["region"] == AP
    assert items["ap1"]["tenants"] >= 1 and all(c["status"] == "available" for c in items.values())
    assert set(items["ap1"]) == {"name", "region", "tenants", "stored_bytes", "status"}
    done = fundament(cells_env.control, "cells", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "region", "tenants", "stored", "bytes", "status"]
    assert [line.split()[0] for line in lines[1:]] == names
    # A tenant key is not an operator's.
    t = await placed_tenant(http, operator_key, AP)
    assert (await http.get("/v1/cells", headers=t.h("owner"))).status_code == 403


async def test_tenant_lists_and_finops_span_every_cell(http: httpx.AsyncClient, operator_key: str) -> None:
    on_cell = await placed_tenant(http, operator_key, AP)
    at_home = await placed_tenant(http, operator_key, "eu-central-1")
    await http.post(
        f"{on_cell.base}/users", json={"email": "u@ap.example", "role": "viewer"}, headers=on_cell.h("admin")
    )
    listed: dict[str, str] = {}
    cursor = None
    for _ in range(50):
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        r = await http.get("/v1/tenants", params=params, headers=bearer(operator_key))
        listed |= {t["id"]: t["cell"] for t in r.json()["items"]}
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert listed[on_cell.id] == "ap1" and listed[at_home.id] == "main"
    r = await http.get("/v1/finops/report", headers=bearer(operator_key))
    assert r.status_code == 200, r.text
    tenants = {t["tenant_id"]: t for t in r.json()["tenants"]}
    assert on_cell.id in tenants and at_home.id in tenants
    assert tenants[on_cell.id]["active_users"] == 1


async def test_offboarding_a_tenant_on_a_cell_deletes_its_rows_there(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv
) -> None:
    t = await placed_tenant(http, operator_key, AP)
    await t.collection()
    await t.record({"email": "gone@ap.example"})
    r = await http.delete(t.base, headers=bearer(operator_key))
    assert r.status_code == 202, r.text
    assert (await http.get(t.base, headers=bearer(operator_key))).status_code == 404
    for table in ("tenants", "records", "collections", "api_keys", "audit_events"):
        assert await _count(cells_env.cells["ap1"], table, t.id) == 0, table
    assert await _count(cells_env.control, "tenants", t.id) == 0
    r = await http.get(f"{t.base}/collections", headers=t.h("viewer"))
    assert r.status_code == 401


async def test_tenants_on_different_cells_are_isolated(http: httpx.AsyncClient, operator_key: str) -> None:
    a = await placed_tenant(http, operator_key, AP)
    b = await placed_tenant(http, operator_key, "eu-central-1")
    await a.collection()
    rec = await a.record({"email": "secret@a.example"})
    r = await http.get(f"{a.base}/collections/contacts/records/{rec['id']}", headers=b.h("owner"))
    assert r.status_code == 404
    await b.collection()
    r = await http.get(f"{b.base}/collections/contacts/records/{rec['id']}", headers=b.h("owner"))
    assert r.status_code == 404
    r = await http.get(f"{b.base}/collections/contacts/records", headers=b.h("viewer"))
    assert r.json()["items"] == []


def _isolation_suite() -> dict[str, Any]:
    """The isolation suite's tests and fixtures, to run here on the cell ap1 with this
    module's fixtures (``http``, ``tenant``, ``other_tenant``, ``admin_dsn``) under them."""
    path = Path(__file__).parents[1] / "isolation" / "test_isolation.py"
    spec = importlib.util.spec_from_file_location("isolation_on_a_cell", path)
    assert spec is not None and spec.loader is not None
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    return {n: v for n, v in vars(suite).items() if n.startswith("test_") or n in ("populated", "app_conn")}


globals().update(_isolation_suite())
