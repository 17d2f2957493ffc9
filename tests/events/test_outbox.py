"""The outbox: one event per change, written with it, numbered gap-free per tenant."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import asyncpg
import orjson
import pytest

from fundament import privacy
from fundament.jobs import Worker
from fundament.platform import RequestContext

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def events_of(conn, tenant_id: str, count: int, within: float = 10.0) -> list[asyncpg.Record]:
    """The tenant's numbered events once there are ``count`` (the sequencer runs after commit)."""
    deadline = time.monotonic() + within
    while True:
        rows = await conn.fetch(
            "SELECT seq, id, type, collection, record_id, data FROM events WHERE tenant_id = $1 ORDER BY seq",
            tenant_id,
        )
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.02)


async def test_every_change_is_one_event_with_the_record_after_it(http, tenant, admin_conn):
    await tenant.collection()
    rec = await tenant.record({"email": "ada@example.com", "score": 1})
    url = f"{tenant.base}/collections/contacts/records/{rec['id']}"
    r = await http.patch(url, json={"score": 2}, headers=tenant.h("member"))
    assert r.status_code == 200, r.text
    r = await http.put(url, json={"data": {"email": "ada@example.org"}}, headers=tenant.h("member"))
    assert r.status_code == 200, r.text
    r = await http.delete(url, headers=tenant.h("member"))
    assert r.status_code == 204
    r = await http.patch(
        f"{tenant.base}/collections/contacts", json={"purpose": "CRM"}, headers=tenant.h("admin")
    )
    assert r.status_code == 200, r.text
    r = await http.delete(f"{tenant.base}/collections/contacts", headers=tenant.h("admin"))
    assert r.status_code == 204

    rows = await events_of(admin_conn, tenant.id, 7)
    assert [r["seq"] for r in rows] == list(range(1, 8))
    assert [r["type"] for r in rows] == [
        "collection.created",
        "record.created",
        "record.updated",
        "record.updated",
        "record.deleted",
        "collection.updated",
        "collection.deleted",
    ]
    data = [orjson.loads(r["data"]) for r in rows]
    assert data[0] == {"name": "contacts"}
    assert data[1] == {"email": "ada@example.com", "score": 1}
    assert data[2] == {"email": "ada@example.com", "score": 2}
    assert data[3] == {"email": "ada@example.org"}
    assert data[4] == {"id": rec["id"]}
    assert rows[1]["record_id"] == rec["id"] and rows[1]["collection"] == "contacts"
    assert rows[0]["record_id"] is None
    assert len({r["id"] for r in rows}) == 7


async def test_a_refused_write_leaves_no_event(http, tenant, admin_conn):
    await tenant.collection()
    r = await http.post(
        f"{tenant.base}/collections/contacts/records", json={"data": {"score": 1}}, headers=tenant.h("member")
    )
    assert r.status_code == 422
    await tenant.record({"email": "a@example.com"})
    rows = await events_of(admin_conn, tenant.id, 2)
    assert [r["type"] for r in rows] == ["collection.created", "record.created"]


async def test_seq_is_gap_free_per_tenant_under_concurrent_writes(http, tenant, other_tenant, admin_conn):
    await tenant.collection()
    await other_tenant.collection()

    async def write(t, i: int) -> None:
        await t.record({"email": f"u{i}@example.com", "score": i})

    await asyncio.gather(*(write(t, i) for i in range(40) for t in (tenant, other_tenant)))
    for t in (tenant, other_tenant):
        rows = await events_of(admin_conn, t.id, 41)
        assert [r["seq"] for r in rows] == list(range(1, 42))
        assert sorted(orjson_score(r) for r in rows[1:]) == list(range(40))
    pending = await admin_conn.fetchval(
        "SELECT count(*) FROM event_pending WHERE tenant_id = ANY($1)", [tenant.id, other_tenant.id]
    )
    assert pending == 0


def orjson_score(row) -> int:
    return int(orjson.loads(row["data"])["score"])


async def test_changes_a_crashed_process_left_unnumbered_are_swept(app, tenant, admin_conn):
    # A committed change whose process died before numbering it: only the sweep finds it.
    await admin_conn.execute(
        "INSERT INTO event_pending (tenant_id, id, at, type, collection, record_id, data)"
        " VALUES ($1, 'evt_01JCRASHED0000000000000000', now() - interval '1 minute', 'record.created',"
        " 'contacts', 'rec_01JCRASHED0000000000000000', '{\"email\": \"x\"}')",
        tenant.id,
    )
    assert await app.services.events.sequencer.sweep() >= 1
    rows = await events_of(admin_conn, tenant.id, 1)
    assert [(r["seq"], r["id"]) for r in rows] == [(1, "evt_01JCRASHED0000000000000000")]


async def test_events_past_retention_are_pruned_by_a_job(app, tenant, admin_conn):
    await tenant.collection()
    await tenant.record({"email": "old@example.com"})
    rows = await events_of(admin_conn, tenant.id, 2)
    assert len(rows) == 2
    await admin_conn.execute(
        "UPDATE events SET at = now() - interval '100 hours' WHERE tenant_id = $1 AND seq = 1", tenant.id
    )
    job = await admin_conn.fetchrow(
        "SELECT run_at FROM jobs WHERE tenant_id = $1 AND kind = 'events.prune' AND done_at IS NULL", tenant.id
    )
    assert job is not None
    worker = app.services.events.worker
    later = job["run_at"] + timedelta(seconds=1)
    solo = Worker(worker.db, {"events.prune": worker.handlers["events.prune"]}, clock=lambda: later)
    assert await solo.run_once() >= 1
    rows = await events_of(admin_conn, tenant.id, 1)
    assert [r["seq"] for r in rows] == [2]


async def test_another_tenant_never_reads_the_events(app, tenant, other_tenant):
    await tenant.collection()
    await tenant.record({"email": "secret@example.com"})
    await asyncio.sleep(0.2)
    db = app.services.db
    async with db.transaction(RequestContext(request_id="t"), tenant_id=other_tenant.id, read_only=True) as tx:
        assert await tx.conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant.id) == 0
        assert await tx.conn.fetchval("SELECT count(*) FROM events") == 0


async def test_an_erasure_redacts_the_subjects_earlier_events(app, http, tenant, admin_conn):
    await tenant.collection()
    ada = await tenant.record({"email": "ada@example.com", "score": 1})
    bob = await tenant.record({"email": "bob@example.com", "score": 2})
    await events_of(admin_conn, tenant.id, 3)
    r = await http.post(
        f"{tenant.base}/privacy/erasures", json={"subject": "ada@example.com"}, headers=tenant.h("admin")
    )
    assert r.status_code == 202, r.text
    solo = Worker(app.services.db, privacy.handlers(app.services.privacy_secret))
    assert await solo.run_once() >= 1
    rows = await events_of(admin_conn, tenant.id, 4)
    by_record = {}
    for row in rows:
        by_record.setdefault(row["record_id"], []).append((row["type"], orjson.loads(row["data"])))
    assert by_record[ada["id"]] == [("record.created", {"id": ada["id"]}), ("record.deleted", {"id": ada["id"]})]
    assert by_record[bob["id"]] == [("record.created", {"email": "bob@example.com", "score": 2})]
