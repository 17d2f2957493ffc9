"""What a tenant move costs by the tenant's size: the freeze (its writes' wait) and the move.

    FUNDAMENT_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/move.py [--rows 1000 10000 50000]

On that server it creates a control database and one cell (both eu-central-1, databases
of their own, dropped at the end), runs the app in-process, and for each size makes a tenant
with that many records (written in bulk on its cell, plus what the API writes for a tenant,
its keys and audit trail) and moves it to the other cell with an idle write load of none:
the freeze measured here is the mover's own (lock taken to lock released). Prints a Markdown
table; tests/cells/test_moves.py measures the freeze under a write load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from fundament import jobs
from fundament.app import create_app
from fundament.cells import MOVE_JOB, Mover
from fundament.identity import create_operator_key
from fundament.migrations import migrate
from fundament.platform import Settings, set_scope

ROOT = Path(__file__).resolve().parents[1]


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _bulk_records(dsn: str, tenant_id: str, rows: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await set_scope(conn, tenant_id=tenant_id)
            await conn.execute(
                "INSERT INTO records (tenant_id, collection, id, data, created_at, updated_at)"
                " SELECT $1, 'contacts', 'rec_' || lpad(i::text, 26, '0'),"
                " jsonb_build_object('email', 'p' || i || '@bench.example', 'score', i), now(), now()"
                " FROM generate_series(1, $2) AS i",
                tenant_id,
                rows,
            )
    finally:
        await conn.close()


async def run(server: str, sizes: list[int]) -> list[tuple[int, int, float, float]]:
    made: list[str] = []

    def database() -> str:
        name = f"fundament_bench_move_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(server).set(database=name).render_as_string(hide_password=False)

    control = await asyncio.to_thread(database)
    cell = await asyncio.to_thread(database)
    try:
        await asyncio.to_thread(migrate, control)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
        env["FUNDAMENT_DATABASE_URL"] = control
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "fundament.cli", "cells", "add", "eu2", "--dsn", cell, "--region", "eu-central-1"],
            env=env, check=True, capture_output=True,
        )
        dsns = {"main": control, "eu2": cell}
        settings = Settings(
            worker=False, master_key="bench-master-key", access_log=False, pool_min_size=1, pool_max_size=4,
            plans=ROOT / "tests" / "data" / "plans-roomy.toml",
        )
        app = create_app(settings, admin_dsn=control)
        conn = await asyncpg.connect(control)
        _, key = await create_operator_key(conn, name="bench")
        await conn.close()
        out = []
        async with app.router.lifespan_context(app):
            mover = Mover(control, app.services.cells)
            worker = jobs.Worker(app.services.db, {MOVE_JOB: mover.handler()})
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as http:
                op = {"Authorization": f"Bearer {key}"}
                for rows in sizes:
                    r = await http.post("/v1/tenants", json={"name": "B", "slug": f"b-{uuid.uuid4().hex[:8]}"}, headers=op)
                    tenant = r.json()
                    r = await http.post(
                        f"/v1/tenants/{tenant['id']}/collections",
                        json={"name": "contacts", "schema": {"type": "object"}},
                        headers=op,
                    )
                    assert r.status_code == 201, r.text
                    await _bulk_records(dsns[tenant["cell"]], tenant["id"], rows)
                    to = "eu2" if tenant["cell"] == "main" else "main"
                    r = await http.post(f"/v1/tenants/{tenant['id']}/move", json={"to": to}, headers=op)
                    began = time.monotonic()
                    await worker.run_once()
                    took = time.monotonic() - began
                    move = (await http.get(f"/v1/tenants/{tenant['id']}/moves/{r.json()['id']}", headers=op)).json()
                    assert move["status"] == "done", move
                    out.append((rows, move["rows_copied"], move["freeze_ms"], took - mover._settle))
        return out
    finally:
        for name in made:
            await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000, 50000])
    args = parser.parse_args()
    server = os.environ.get("FUNDAMENT_DATABASE_URL")
    if not server:
        sys.exit("set FUNDAMENT_DATABASE_URL to a PostgreSQL server's admin DSN (databases are made on it)")
    results = asyncio.run(run(server, args.rows))
    print("| records | rows copied | freeze (ms) | move without the 1 s settle (s) |")
    print("|---:|---:|---:|---:|")
    for rows, copied, freeze, took in results:
        print(f"| {rows} | {copied} | {freeze:.1f} | {took:.2f} |")


if __name__ == "__main__":
    main()
