"""Moving a tenant between cells online (issue #11, item 3), end to end on real databases.

The installation: a control database of this module's (``main``, eu-central-1) and the cells
``eu2`` (eu-central-1), ``eu3`` (eu-central-1, the one made unreachable) and ``us1``
(us-east-1), each another database on the suite's PostgreSQL server, added by the CLI.
The app, its client and the operator key are test_cells' fixtures (over this module's
``cells_env``). A move runs as the durable job it is: the tests run a worker with a :class:`Mover` of
their own (settle 0.1 s; an ``interrupt`` to fail or kill it at a step) over the app's
databases. The isolation suite runs at the end on tenants populated on ``main`` and then
moved to ``eu2``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from cells import test_cells
from cells.test_cells import CellsEnv, _on_server, fundament
from conftest import TenantFixture, bearer, make_tenant
from fundament import jobs
from fundament.cells import MOVE_JOB, MOVED, STAYS, Mover
from fundament.migrations import migrate
from fundament.platform import utcnow

EU, US = "eu-central-1", "us-east-1"
CELLS = {"eu2": EU, "eu3": EU, "us1": US}


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
            env.cells[name] = dsn
        env.cells["main"] = env.control
        asyncio.run(_fill(env.control))
        yield env
    finally:


        for name in env.made:
            asyncio.run(_on_server(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _fill(control: str) -> None:
    """Make eu2 and eu3 look full to placement (a tenant on each with a terabyte sampled),
    so a new tenant of eu-central-1 is placed on main and the tests move it from there."""
    conn = await asyncpg.connect(control)
    try:
        await conn.execute("SELECT set_config('fundament.operator', 'on', false)")
        for cell in ("eu2", "eu3"):
            tenant_id = f"tnt_{uuid.uuid4().hex[:26].upper()}"
            await conn.execute(
                "INSERT INTO tenants (id, slug, name, region, plan, status, created_at, updated_at, cell)"
                " VALUES ($1, $2, 'full', $3, 'free', 'active', now(), now(), $4)",
                tenant_id,
                f"full-{cell}",
                EU,
                cell,
            )
            await conn.execute(
                "INSERT INTO storage_hourly (tenant_id, hour, records, stored_bytes, measured_at)"
                " VALUES ($1, date_trunc('hour', now()) + interval '1 day', 1, 1000000000000, now())",
                tenant_id,
            )
    finally:
        await conn.close()


# The app, its client and the operator key: test_cells' fixtures, over this module's cells_env.
globals().update({name: getattr(test_cells, name) for name in ("cells_app", "http", "operator_key")})


class Moves:
    """Starts moves through the API and runs their jobs with a Mover of the test's."""

    def __init__(self, http: httpx.AsyncClient, operator_key: str, app: Any, control: str) -> None:
        self.http = http
        self.key = operator_key
        self.mover = Mover(control, app.services.cells, settle_seconds=0.1)
        self.worker = jobs.Worker(app.services.db, {MOVE_JOB: self.mover.handler()})

    async def start(self, tenant: TenantFixture, to: str) -> httpx.Response:
        return await self.http.post(f"{tenant.base}/move", json={"to": to}, headers=bearer(self.key))

    async def get(self, tenant: TenantFixture, move_id: str) -> dict[str, Any]:
        r = await self.http.get(f"{tenant.base}/moves/{move_id}", headers=bearer(self.key))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def move(self, tenant: TenantFixture, to: str) -> dict[str, Any]:
        r = await self.start(tenant, to)
        assert r.status_code == 202, r.text
        assert await self.worker.run_once() >= 1
        return await self.get(tenant, r.json()["id"])


@pytest.fixture
def moves(http: httpx.AsyncClient, operator_key: str, cells_app: Any, cells_env: CellsEnv) -> Iterator[Moves]:
    m = Moves(http, operator_key, cells_app, cells_env.control)
    yield m
    m.mover.interrupt = None


async def _count(dsn: str, table: str, tenant_id: str, where: str = "") -> int:
    conn = await asyncpg.connect(dsn)
    try:
        column = "id" if table == "tenants" else "tenant_id"
        n: int = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1 {where}", tenant_id)
        return n
    finally:
        await conn.close()


async def _rows_of(dsn: str, tenant_id: str, *, registry: bool) -> dict[str, int]:
    """The tenant's rows per moved table on a database (its registry row left out where
    ``registry``: the control database keeps it)."""
    counts = {t.name: await _count(dsn, t.name, tenant_id) for t in MOVED}
    counts["jobs"] = await _count(dsn, "jobs", tenant_id, f"AND kind <> '{MOVE_JOB}'")
    if registry:
        counts.pop("tenants")
    return {t: n for t, n in counts.items() if n}


async def _sealed(dsn: str, tenant_id: str) -> None:
    """Wait (5 s at most) until the audit sealer and the change sequencer have taken the
    tenant's pending rows: row counts compared before and after a move are then stable."""
    for _ in range(100):
        if not await _count(dsn, "audit_pending", tenant_id) and not await _count(dsn, "event_pending", tenant_id):
            return
        await asyncio.sleep(0.05)


async def _populate(t: TenantFixture, http: httpx.AsyncClient, n: int = 5) -> list[dict[str, Any]]:
    await t.collection()
    made = [await t.record({"email": f"p{i}@m.example", "score": i}) for i in range(n)]
    await http.post(f"{t.base}/users", json={"email": "u@m.example", "role": "viewer"}, headers=t.h("admin"))
    await http.post(
        f"{t.base}/collections/contacts/records",
        json={"data": {"email": "idem@m.example"}},
        headers={**t.h("member"), "Idempotency-Key": "populate-1"},
    )
    return made


async def _verify(http: httpx.AsyncClient, t: TenantFixture) -> dict[str, Any]:
    r = await http.get(f"{t.base}/audit-events/verify", headers=t.h("admin"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _cell_of(http: httpx.AsyncClient, t: TenantFixture, key: str) -> str:
    r = await http.get(t.base, headers=bearer(key))
    cell: str = r.json()["cell"]
    return cell


# --- the schema: every tenant table is moved or stays ----------------------------------------
async def test_every_table_naming_a_tenant_is_moved_or_stays(cells_env: CellsEnv) -> None:
    """A migration that adds a tenant table must say whether a move takes it."""
    conn = await asyncpg.connect(cells_env.control)
    try:
        tables = {
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND column_name = 'tenant_id'"
            )
        }
    finally:
        await conn.close()
    classified = {t.name for t in MOVED} | set(STAYS) | {"jobs"}
    assert tables - classified == set()


# --- a move ------------------------------------------------------------------------------------
async def test_a_move_copies_verifies_switches_and_empties_the_source(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, cells_app: Any, moves: Moves
) -> None:
    t = await make_tenant(http, operator_key, region=EU)
    assert await _cell_of(http, t, operator_key) == "main"
    made = await _populate(t, http)
    await cells_app.services.meter.flush()
    await _sealed(cells_env.control, t.id)
    before_rows = await _rows_of(cells_env.control, t.id, registry=True)
    chain_before = await _verify(http, t)
    assert chain_before["valid"] and chain_before["count"] > 0
    r = await http.get("/v1/finops/report", headers=bearer(operator_key))
    usage_before = {x["tenant_id"]: x for x in r.json()["tenants"]}[t.id]

    r = await moves.start(t, "eu2")
    assert r.status_code == 202, r.text
    job = r.json()
    assert {"id", "status", "tenant", "from", "to"} <= set(job)
    assert (job["status"], job["tenant"], job["from"], job["to"]) == ("pending", t.id, "main", "eu2")
    assert r.headers["location"] == f"{t.base}/moves/{job['id']}"
    assert await moves.worker.run_once() >= 1
    done = await moves.get(t, job["id"])
    assert done["status"] == "done", done
    assert done["error"] is None and done["freeze_ms"] is not None and done["rows_copied"] > 0

    # Served from eu2, whole: every record, the idempotency key, the chain (which verifies).
    assert await _cell_of(http, t, operator_key) == "eu2"
    for rec in made:
        r = await http.get(f"{t.base}/collections/contacts/records/{rec['id']}", headers=t.h("viewer"))
        assert r.status_code == 200 and r.json()["data"]["email"] == rec["data"]["email"], r.text
    chain = await _verify(http, t)
    assert chain["valid"] and chain["count"] >= chain_before["count"] and chain["head"], chain
    assert await _rows_of(cells_env.cells["eu2"], t.id, registry=False) == {"tenants": 1, **before_rows}
    # The source keeps nothing of the tenant but its registry row (and usage, which stays home).
    assert await _rows_of(cells_env.control, t.id, registry=True) == {}
    assert await _count(cells_env.control, "tenants", t.id) == 1
    # Writes land on eu2; the usage history is the tenant's still (kept in the control database).
    r = await http.post(
        f"{t.base}/collections/contacts/records",
        json={"data": {"email": "idem@m.example"}},
        headers={**t.h("member"), "Idempotency-Key": "populate-1"},
    )
    assert r.status_code == 201 and r.headers.get("idempotent-replayed") == "true", r.headers
    after = await t.record({"email": "after@m.example"})
    assert await _count(cells_env.cells["eu2"], "records", t.id) == len(made) + 2
    assert after["id"]
    await cells_app.services.meter.flush()
    r = await http.get("/v1/finops/report", headers=bearer(operator_key))
    usage_after = {x["tenant_id"]: x for x in r.json()["tenants"]}[t.id]
    assert usage_after["usage"]["requests"] >= usage_before["usage"]["requests"] > 0, (usage_before, usage_after)
    assert await _count(cells_env.cells["eu2"], "usage_hourly", t.id) == 0


async def test_a_tenant_moves_back_home_and_on_again(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, moves: Moves
) -> None:
    t = await make_tenant(http, operator_key, region=EU)
    await _populate(t, http, 3)
    assert (await moves.move(t, "eu2"))["status"] == "done"
    assert (await moves.move(t, "main"))["status"] == "done"
    assert await _cell_of(http, t, operator_key) == "main"
    assert await _rows_of(cells_env.cells["eu2"], t.id, registry=False) == {}
    await t.record({"email": "home@m.example"})
    assert (await _verify(http, t))["valid"]
    assert (await moves.move(t, "eu2"))["status"] == "done"  # a cell it had left takes it again
    await t.record({"email": "again@m.example"})
    assert await _count(cells_env.cells["eu2"], "records", t.id) == 3 + 1 + 2
    assert (await _verify(http, t))["valid"]


async def test_refused_moves_are_clear_problems(
    http: httpx.AsyncClient, operator_key: str, moves: Moves
) -> None:
    t = await make_tenant(http, operator_key, region=EU)
    for to, said in (("us1", "region"), ("nowhere", "no cell"), ("main", "already")):
        r = await moves.start(t, to)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["errors"][0]["path"] == "/to" and said in (problem["detail"] + problem["errors"][0]["message"])
    assert await _cell_of(http, t, operator_key) == "main"
    for body in ({}, {"to": 5}, {"to": "eu2", "extra": 1}, {"to": ""}):
        r = await http.post(f"{t.base}/move", json=body, headers=bearer(operator_key))
        assert r.status_code == 422, (body, r.text)
    r = await http.post(f"{t.base}/move", content=b"{", headers={**bearer(operator_key), "content-type": "application/json"})
    assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")
    r = await moves.start(t, "eu2")
    assert r.status_code == 202
    again = await moves.start(t, "eu2")
    assert again.status_code == 409 and r.json()["id"] in again.json()["detail"], again.text
    assert (await http.post(f"{t.base}/move", json={"to": "eu2"}, headers=t.h("owner"))).status_code == 403
    r = await http.get(f"{t.base}/moves/mov_nope", headers=bearer(operator_key))
    assert r.status_code == 404
    r = await http.post("/v1/tenants/tnt_nope/move", json={"to": "eu2"}, headers=bearer(operator_key))
    assert r.status_code == 404
    await moves.worker.run_once()



async def test_the_cli_moves_a_tenant_and_waits(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, moves: Moves
) -> None:
    t = await make_tenant(http, operator_key, region=EU)
    await _populate(t, http, 2)
    cli = asyncio.create_task(
        asyncio.to_thread(fundament, cells_env.control, "tenants", "move", t.slug, "--to", "eu2", "--wait", "--timeout", "60")
    )
    for _ in range(200):  # bounded: the worker a running instance would have
        if await moves.worker.run_once():
            break
        await asyncio.sleep(0.1)
    done = await cli
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert (job["status"], job["tenant"], job["from"], job["to"]) == ("done", t.id, "main", "eu2"), job
    assert f"{job['id']}: done" in done.stderr
    assert await _cell_of(http, t, operator_key) == "eu2"
    for args, said in (
        ((t.slug, "--to", "us1"), "region"),
        ((t.slug, "--to", "eu2"), "already"),
        (("no-such-tenant", "--to", "eu2"), "No tenant"),
    ):
        refused = await asyncio.to_thread(fundament, cells_env.control, "tenants", "move", *args)
        assert refused.returncode == 2 and said in refused.stderr, (args, refused.stderr)

# --- under load ------------------------------------------------------------------------------
WRITERS, PER_WRITER, LOAD_SECONDS = 4, 150, 40.0


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def test_a_move_under_write_load_loses_and_duplicates_nothing(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, moves: Moves
) -> None:
    """Creates (with idempotency keys) and updates on the moving tenant from a bounded client
    loop, before, during and after the move: every request succeeds, every acknowledged write
    is on the target afterwards and none twice. The freeze and the writes' wait are measured
    and printed (docs/benchmarks.md has the figures), not asserted."""
    t = await make_tenant(http, operator_key, region=EU)
    bystander = await make_tenant(http, operator_key, region=EU)
    await t.collection()
    await bystander.collection()
    seeded = [await t.record({"email": f"seed{i}@m.example", "score": 0}) for i in range(20)]
    base = f"{t.base}/collections/contacts/records"
    created: dict[str, str] = {}  # idempotency key -> record id, as acknowledged
    updated: dict[str, int] = {}  # record id -> last acknowledged score
    failed: list[tuple[str, int, str]] = []
    write_ms: list[tuple[float, float]] = []  # (start, ms)
    other_ms: list[tuple[float, float]] = []
    moving = asyncio.Event()
    finished = asyncio.Event()

    async def writer(w: int) -> None:
        after = 0
        deadline = time.monotonic() + LOAD_SECONDS
        for i in range(PER_WRITER):
            if time.monotonic() > deadline or after >= 15:
                return
            if finished.is_set():
                after += 1
            key = f"w{w}-{i}"
            began = time.monotonic()
            r = await http.post(
                base, json={"data": {"email": f"{key}@m.example", "score": i}},
                headers={**t.h("member"), "Idempotency-Key": key},
            )
            write_ms.append((began, (time.monotonic() - began) * 1000))
            if r.status_code != 201:
                failed.append(("create", r.status_code, r.text))
                continue
            created[key] = r.json()["id"]
            # Odd: one of the writer's own five seeds (no two writers update one record).
            target = seeded[w * 5 + (i // 2) % 5]["id"] if i % 2 else created[key]
            began = time.monotonic()
            r = await http.patch(f"{base}/{target}", json={"score": 1000 + i}, headers=t.h("member"))
            write_ms.append((began, (time.monotonic() - began) * 1000))
            if r.status_code != 200:
                failed.append(("update", r.status_code, r.text))
                continue
            updated[target] = 1000 + i

    async def other() -> None:
        for _ in range(400):
            if finished.is_set():
                return
            began = time.monotonic()
            r = await http.get(f"{bystander.base}/collections/contacts/records", headers=bystander.h("viewer"))
            other_ms.append((began, (time.monotonic() - began) * 1000))
            assert r.status_code == 200
            await asyncio.sleep(0.01)

    async def mover() -> dict[str, Any]:
        await asyncio.sleep(1.0)  # the load runs a moment on the source first
        r = await moves.start(t, "eu2")
        assert r.status_code == 202, r.text
        moving.set()
        began = time.monotonic()
        await moves.worker.run_once()
        job = await moves.get(t, r.json()["id"])
        job["_window"] = (began, time.monotonic())
        finished.set()
        return job

    results = await asyncio.gather(mover(), other(), *(writer(w) for w in range(WRITERS)))
    job = results[0]
    assert job["status"] == "done", job
    assert failed == [], failed[:5]
    assert len(created) > 50
    # Every acknowledged write is on the target, once.
    conn = await asyncpg.connect(cells_env.cells["eu2"])
    try:
        rows = {
            r["id"]: r
            for r in await conn.fetch("SELECT id, data FROM records WHERE tenant_id = $1", t.id)
        }
    finally:
        await conn.close()
    assert len(rows) == len(seeded) + len(created)
    assert set(created.values()) <= set(rows)
    for rec_id, score in updated.items():
        assert json.loads(rows[rec_id]["data"])["score"] == score, rec_id
    # A retried create (same idempotency key) after the move answers the same record.
    for key in list(created)[:10]:
        r = await http.post(
            base, json={"data": {"email": f"{key}@m.example", "score": int(key.split("-")[1])}},
            headers={**t.h("member"), "Idempotency-Key": key},
        )
        assert r.status_code == 201 and r.json()["id"] == created[key], r.text
    assert await _rows_of(cells_env.control, t.id, registry=True) == {}
    assert (await _verify(http, t))["valid"]
    # The figures: the freeze as the mover measured it, the writes' longest wait during the
    # move, the bystander's p99 before and during it.
    start, end = job["_window"]
    during = [ms for at, ms in write_ms if start <= at <= end]
    before = [ms for at, ms in other_ms if at < start]
    meanwhile = [ms for at, ms in other_ms if start <= at <= end]
    print(
        f"\nmove under load: freeze {job['freeze_ms']:.1f} ms; move {1000 * (end - start):.0f} ms;"
        f" {len(created)} creates + {len(updated)} records updated, 0 failed;"
        f" writes during the move: {len(during)}, longest {max(during, default=0):.1f} ms,"
        f" p99 {_p99(during):.1f} ms; bystander p99 before {_p99(before):.1f} ms,"
        f" during {_p99(meanwhile):.1f} ms"
    )


# --- failures --------------------------------------------------------------------------------
def _fail_at(step: str) -> Callable[[str, asyncpg.Connection], Awaitable[None]]:
    async def interrupt(name: str, conn: asyncpg.Connection) -> None:
        if name == step:
            raise RuntimeError(f"injected failure at {name}")

    return interrupt


async def _whole_on_main(http: httpx.AsyncClient, t: TenantFixture, key: str, env: CellsEnv, rows: dict[str, int]) -> None:
    assert await _cell_of(http, t, key) == "main"
    await _sealed(env.control, t.id)
    assert await _rows_of(env.control, t.id, registry=True) == rows
    assert await _rows_of(env.cells["eu2"], t.id, registry=False) == {}
    assert await _count(env.control, "tenant_departures", t.id) == 0
    assert (await _verify(http, t))["valid"]
    await t.record({"email": "still@m.example"})  # serving, writes included


@pytest.mark.parametrize("step", ["copying", "catching_up", "freezing", "verifying", "switching", "departed"])
async def test_a_move_failing_at_any_step_leaves_the_tenant_whole_on_the_source(
    step: str, http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, moves: Moves
) -> None:
    t = await make_tenant(http, operator_key, region=EU)
    await _populate(t, http, 3)
    await _sealed(cells_env.control, t.id)
    rows = await _rows_of(cells_env.control, t.id, registry=True)
    moves.mover.interrupt = _fail_at(step)
    job = await moves.move(t, "eu2")
    assert job["status"] == "failed" and f"injected failure at {step}" in job["error"], job
    await _whole_on_main(http, t, operator_key, cells_env, rows)
    moves.mover.interrupt = None
    assert (await moves.move(t, "eu2"))["status"] == "done"  # and it can move after all


async def test_a_copy_that_does_not_verify_is_not_switched(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, moves: Moves
) -> None:
    t = await make_tenant(http, operator_key, region=EU)
    await _populate(t, http, 3)
    await _sealed(cells_env.control, t.id)
    rows = await _rows_of(cells_env.control, t.id, registry=True)

    async def lose_a_record(name: str, target: asyncpg.Connection) -> None:
        if name == "verifying":
            async with target.transaction():
                await target.execute("SELECT set_config('fundament.tenant_id', $1, true)", t.id)
                await target.execute(
                    "DELETE FROM records WHERE ctid = (SELECT ctid FROM records WHERE tenant_id = $1 LIMIT 1)", t.id
                )

    moves.mover.interrupt = lose_a_record
    job = await moves.move(t, "eu2")
    assert job["status"] == "failed" and "records: 4 on the source, 3 on the target" in job["error"], job
    await _whole_on_main(http, t, operator_key, cells_env, rows)


async def test_an_unreachable_target_fails_the_move_cleanly(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, moves: Moves
) -> None:
    t = await make_tenant(http, operator_key, region=EU)
    await _populate(t, http, 2)
    await _sealed(cells_env.control, t.id)
    rows = await _rows_of(cells_env.control, t.id, registry=True)
    conn = await asyncpg.connect(cells_env.control)
    try:
        await conn.execute("UPDATE cells SET dsn = 'postgresql://postgres@127.0.0.1:1/gone' WHERE name = 'eu3'")
        job = await moves.move(t, "eu3")
    finally:
        await conn.execute("UPDATE cells SET dsn = $1 WHERE name = 'eu3'", cells_env.cells["eu3"])
        await conn.close()
    assert job["status"] == "failed" and "target cell 'eu3' does not answer" in job["error"], job
    await _whole_on_main(http, t, operator_key, cells_env, rows)


async def _end_the_mover(cells_env: CellsEnv) -> int:
    """Terminate the mover's sessions, as a process that died would leave them."""
    conn = await asyncpg.connect(cells_env.control)
    try:
        ended: int = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'fundament-mover'"
        )
    finally:
        await conn.close()
    return ended


@pytest.mark.parametrize("step", ["catching_up", "departed"])
async def test_a_mover_that_dies_is_taken_over_by_the_next_run(
    step: str, http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, cells_app: Any, moves: Moves
) -> None:
    """The move is a durable job: its worker dies at ``step`` (its sessions end: the freeze's
    lock with them); the job's lease runs out, the next run finds where the move was (the
    directory not switched) and starts it over. Killed after the departure was recorded,
    the tenant's writes are refused meanwhile (503, never written where nothing reads)."""
    t = await make_tenant(http, operator_key, region=EU)
    made = await _populate(t, http, 3)
    reached = asyncio.Event()

    async def hang(name: str, conn: asyncpg.Connection) -> None:
        if name == step:
            reached.set()
            await asyncio.sleep(3600)

    moves.mover.interrupt = hang
    r = await moves.start(t, "eu2")
    assert r.status_code == 202
    run = asyncio.create_task(moves.worker.run_once())
    await asyncio.wait_for(reached.wait(), 30)
    assert await _end_the_mover(cells_env) >= 2
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    moves.mover.interrupt = None
    assert (await moves.get(t, r.json()["id"]))["status"] in ("catching_up", "switching")
    assert await _cell_of(http, t, operator_key) == "main"
    got = await http.get(f"{t.base}/collections/contacts/records/{made[0]['id']}", headers=t.h("viewer"))
    assert got.status_code == 200
    if step == "departed":
        w = await http.post(f"{t.base}/collections/contacts/records", json={"data": {"email": "x@m.example"}}, headers=t.h("member"))
        assert w.status_code == 503, w.text
    later = jobs.Worker(
        cells_app.services.db, {MOVE_JOB: moves.mover.handler()}, clock=lambda: utcnow() + timedelta(hours=1)
    )
    assert await later.run_once() >= 1
    job = await moves.get(t, r.json()["id"])
    assert job["status"] == "done", job
    assert await _cell_of(http, t, operator_key) == "eu2"
    assert await _count(cells_env.cells["eu2"], "records", t.id) == 4
    assert (await _verify(http, t))["valid"]


async def test_a_clean_up_that_fails_is_finished_by_the_next_run(
    http: httpx.AsyncClient, operator_key: str, cells_env: CellsEnv, cells_app: Any, moves: Moves
) -> None:
    t = await make_tenant(http, operator_key, region=EU)
    await _populate(t, http, 2)
    moves.mover.interrupt = _fail_at("cleaning")
    job = await moves.move(t, "eu2")
    assert job["status"] == "switching"  # switched; the source's rows not deleted yet
    assert await _cell_of(http, t, operator_key) == "eu2"
    await t.record({"email": "served@m.example"})
    assert await _count(cells_env.cells["eu2"], "records", t.id) == 4
    moves.mover.interrupt = None
    later = jobs.Worker(
        cells_app.services.db, {MOVE_JOB: moves.mover.handler()}, clock=lambda: utcnow() + timedelta(hours=1)
    )
    assert await later.run_once() >= 1
    assert (await moves.get(t, job["id"]))["status"] == "done"
    assert await _rows_of(cells_env.control, t.id, registry=True) == {}


# --- the isolation suite, on tenants moved to eu2 ---------------------------------------------
@pytest.fixture(scope="module")
def admin_dsn(cells_env: CellsEnv) -> str:
    """For the isolation suite's row-level checks: the database its tenants were moved to."""
    return cells_env.cells["eu2"]


@pytest.fixture
async def tenant(http: httpx.AsyncClient, operator_key: str) -> TenantFixture:
    return await make_tenant(http, operator_key, region=EU)


@pytest.fixture
async def other_tenant(http: httpx.AsyncClient, operator_key: str) -> TenantFixture:
    return await make_tenant(http, operator_key, region=EU)


def _isolation_suite() -> dict[str, Any]:
    """The isolation suite's tests, with its ``populated`` (tenant A with one of everything,
    B the intruder) made on main and then both moved to eu2."""
    path = Path(__file__).parents[1] / "isolation" / "test_isolation.py"
    spec = importlib.util.spec_from_file_location("isolation_after_a_move", path)
    assert spec is not None and spec.loader is not None
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    populate = suite.populated._get_wrapped_function()

    @pytest.fixture
    async def populated(http: httpx.AsyncClient, tenant: TenantFixture, other_tenant: TenantFixture, moves: Moves) -> Any:
        made = await populate(http, tenant, other_tenant)
        for t in (tenant, other_tenant):
            assert await _cell_of(http, t, moves.key) == "main"
            assert (await moves.move(t, "eu2"))["status"] == "done"
        return made

    tests = {n: v for n, v in vars(suite).items() if n.startswith("test_") or n == "app_conn"}
    return {**tests, "populated": populated}


globals().update(_isolation_suite())
