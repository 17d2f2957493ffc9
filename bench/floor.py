"""The floor: the least an ASGI server can do to answer the benchmark's requests.

A bare ASGI callable (no framework, no auth, no validation) running the *same SQL* as
Fundament in the same transaction shape (BEGIN; set_config tenant scope; statement;
COMMIT) through asyncpg as the same unprivileged role. Fundament's figures are reported
as a ratio to this, so the ratio shows what the framework and our features cost.

Run: FLOOR_DSN=... FLOOR_TENANT=tnt_... uvicorn bench.floor:app --loop uvloop --http httptools
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from fundament.platform.ids import new_id
from fundament.records._slots import COLUMNS, slot_values_sql

DSN = os.environ.get("FLOOR_DSN", "")
TENANT = os.environ.get("FLOOR_TENANT", "")
COLLECTION = os.environ.get("FLOOR_COLLECTION", "contacts")

SCOPE = "SELECT set_config('fundament.tenant_id', $1, true), set_config('fundament.operator', $2, true)"
RETURNING = "id, data::text AS data, version, created_at, updated_at"
GET = f"SELECT {RETURNING} FROM records WHERE tenant_id = $1 AND collection = $2 AND id = $3"
LIST = (
    "SELECT r.id, r.data::text, r.version, r.created_at, r.updated_at, r.created_at AS _s0,"
    " r.id AS _s1 FROM records r WHERE r.tenant_id = $1 AND r.collection = $2"
    " AND (r.i1 = fundament_index_key($3::jsonb) AND (r.data #> '{score}') = $3::jsonb)"
    " AND EXISTS (SELECT 1 FROM collections c WHERE c.tenant_id = $1 AND c.name = $2"
    " AND c.indexes = '[\"email\", \"score\"]'::jsonb)"
    " ORDER BY r.created_at ASC, r.id ASC LIMIT $4"
)
# The same statement as records.service: the index slots are filled from the collection row.
CREATE = (
    f"INSERT INTO records (tenant_id, collection, id, data, version, created_at, updated_at, {COLUMNS})"
    f" SELECT c.tenant_id, c.name, $3, $4::jsonb, 1, $5, $5, {', '.join(slot_values_sql('$4::jsonb', 'c.indexes'))}"
    " FROM collections c"
    " WHERE c.tenant_id = $1 AND c.name = $2 AND c.version = $6 FOR KEY SHARE"
    f" RETURNING {RETURNING}"
)

pool: asyncpg.Pool | None = None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _record(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "data": orjson.Fragment(row[1]),
        "version": row[2],
        "created_at": _iso(row[3]),
        "updated_at": _iso(row[4]),
    }


async def _send(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _keep_session(conn: asyncpg.Connection) -> None:
    pass


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # As Fundament's pool: connections go back without asyncpg's reset query.
                pool = await asyncpg.create_pool(DSN, min_size=4, max_size=32, reset=_keep_session)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if pool is not None:
                    await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert pool is not None
    path: str = scope["path"]
    method: str = scope["method"]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(SCOPE, TENANT, "")
        if method == "GET" and path.startswith("/records/"):
            row = await conn.fetchrow(GET, TENANT, COLLECTION, path[9:])
            if row is None:
                await _send(send, 404, b"{}")
                return
            await _send(send, 200, orjson.dumps(_record(row)))
        elif method == "GET" and path == "/records":
            qs = scope["query_string"].decode()
            score = qs.partition("score=")[2] or "0"
            rows = await conn.fetch(LIST, TENANT, COLLECTION, score, 51)
            items = [_record(r) for r in rows[:50]]
            await _send(send, 200, orjson.dumps({"items": items, "next_cursor": None}))
        elif method == "POST" and path == "/records":
            body = b""
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # wrk closed the connection at the end of a run
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            data = orjson.loads(body)["data"]
            now = datetime.now(UTC)
            row = await conn.fetchrow(
                CREATE, TENANT, COLLECTION, new_id("rec"), orjson.dumps(data).decode(), now, 1
            )
            await _send(send, 201, orjson.dumps(_record(row)))
        else:
            await _send(send, 404, b"{}")
