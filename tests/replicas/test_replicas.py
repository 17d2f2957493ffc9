"""Reads on a real streaming replica: read-your-writes through the consistency token, a
paused replica, a stopped one, and the lag in /metrics."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import TenantFixture, bearer, make_tenant
from fundament.platform import Database, RequestContext, Settings
from replicas.conftest import Cluster, healthy, next_poll, replicated_app, wait_for

TOKEN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")
COLLECTION = {
    "name": "notes",
    "schema": {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "text": {"type": "string"}},
        "required": ["n"],
    },
}


class Where:
    """Where this app's read transactions ran, from the replica set's observations."""

    def __init__(self, db: Database) -> None:
        assert db.replicas is not None
        self.totals: dict[str, int] = {}
        db.replicas.observers.append(self._add)

    def _add(self, observation: Any) -> None:
        for served, count in observation.reads.items():
            self.totals[served] = self.totals.get(served, 0) + count


async def tenant_with_notes(client: httpx.AsyncClient, operator_key: str) -> TenantFixture:
    tenant = await make_tenant(client, operator_key)
    r = await client.post(f"{tenant.base}/collections", json=COLLECTION, headers=tenant.h("admin"))
    assert r.status_code == 201, r.text
    return tenant


async def test_every_read_through_the_token_sees_its_write(cluster: Cluster, settings: Settings) -> None:
    async with replicated_app(cluster, settings) as (client, db):
        where = Where(db)
        tenant = await tenant_with_notes(client, cluster.operator_key)
        records = f"{tenant.base}/collections/notes/records"
        failures: list[str] = []
        pairs = itertools.count()

        async def writer_reader(worker: int) -> None:
            record_id: str | None = None
            version = 0
            while next(pairs) < 1000:
                version += 1
                body = {"data": {"n": version, "text": f"w{worker}"}}
                if record_id is None:
                    w = await client.post(records, json=body, headers=tenant.h("member"))
                    assert w.status_code == 201, w.text
                    record_id = w.json()["id"]
                else:
                    w = await client.put(f"{records}/{record_id}", json=body, headers=tenant.h("member"))
                    assert w.status_code == 200, w.text
                token = w.headers["fundament-consistency"]
                assert TOKEN.match(token), token
                r = await client.get(
                    f"{records}/{record_id}",
                    headers={**tenant.h("viewer"), "Fundament-Consistency": token},
                )
                if r.status_code != 200 or r.json()["data"]["n"] != version:
                    failures.append(f"{record_id} v{version}: {r.status_code} {r.text[:200]}")
                if version == 25:  # a fresh record now and then: reads of creations too
                    record_id, version = None, 0

        await asyncio.gather(*(writer_reader(i) for i in range(8)))
        await next_poll(db)
    assert failures == [], failures[:5]
    # Both ways were taken: the replica served the reads it had replayed, the primary the rest.
    assert where.totals.get("replica", 0) > 0, where.totals
    assert sum(where.totals.values()) >= 1000, where.totals


async def metric(client: httpx.AsyncClient, operator_key: str, name: str, replica: str) -> float | None:
    r = await client.get("/metrics", headers=bearer(operator_key))
    assert r.status_code == 200
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("replica") == replica:
                return float(sample.value)
    return None


async def test_a_paused_replica_sends_token_reads_to_the_primary(
    cluster: Cluster, settings: Settings
) -> None:
    async with replicated_app(cluster, settings) as (client, db):
        assert db.replicas is not None
        where = Where(db)
        tenant = await tenant_with_notes(client, cluster.operator_key)
        records = f"{tenant.base}/collections/notes/records"
        before = await client.post(records, json={"data": {"n": 1}}, headers=tenant.h("member"))
        await wait_for(
            lambda: db.replicas.status()[0].replayed >= _position(before),  # type: ignore[union-attr]
            what="the replica to replay the first write",
        )
        async with cluster.replay_paused():
            after = await client.post(records, json={"data": {"n": 2}}, headers=tenant.h("member"))
            assert after.status_code == 201
            token = {"Fundament-Consistency": after.headers["fundament-consistency"]}
            new, old = f"{records}/{after.json()['id']}", f"{records}/{before.json()['id']}"
            for _ in range(20):
                # With the token: the primary, so the write is there.
                r = await client.get(new, headers={**tenant.h("viewer"), **token})
                assert r.status_code == 200 and r.json()["data"] == {"n": 2}, r.text
                # Without: the paused replica, which still serves what it had.
                r = await client.get(old, headers=tenant.h("viewer"))
                assert r.status_code == 200 and r.json()["data"] == {"n": 1}, r.text
                r = await client.get(new, headers=tenant.h("viewer"))
                assert r.status_code == 404, "an untokened read went to the replica, which lacks it"
            await next_poll(db)
            assert where.totals["primary_behind"] >= 20 and where.totals["replica"] >= 40, where.totals

            # The lag is in /metrics: bytes at once, seconds as the pause goes on.
            name = db.replicas.status()[0].name
            await wait_for(
                lambda: _above(client, cluster.operator_key, "fundament_db_replica_lag_bytes", name, 0),
                what="lag bytes in /metrics",
            )
            await wait_for(
                lambda: _above(client, cluster.operator_key, "fundament_db_replica_lag_seconds", name, 0.3),
                what="lag seconds in /metrics",
            )
            assert await metric(client, cluster.operator_key, "fundament_db_replica_replay_paused", name) == 1
            assert await metric(client, cluster.operator_key, "fundament_db_replica_healthy", name) == 1
        # Resumed, it catches up, and its lag returns to 0.
        await wait_for(
            lambda: _equals(client, cluster.operator_key, "fundament_db_replica_lag_bytes", name, 0),
            what="the replica to catch up",
        )


async def test_a_replica_past_the_lag_limit_is_skipped_until_it_catches_up(
    cluster: Cluster, settings: Settings
) -> None:
    async with replicated_app(cluster, settings, replica_max_lag_seconds=0.5) as (client, db):
        assert db.replicas is not None
        where = Where(db)
        tenant = await tenant_with_notes(client, cluster.operator_key)
        records = f"{tenant.base}/collections/notes/records"
        async with cluster.replay_paused():
            w = await client.post(records, json={"data": {"n": 1}}, headers=tenant.h("member"))
            await wait_for(lambda: not healthy(db), what="the lagging replica to be skipped")
            status = db.replicas.status()[0]
            assert status.reason is not None and "lags" in status.reason, status
            # Untokened, and still it sees the write: no replica is fit, so the primary serves.
            for _ in range(10):
                r = await client.get(f"{records}/{w.json()['id']}", headers=tenant.h("viewer"))
                assert r.status_code == 200, r.text
            await next_poll(db)
            assert where.totals["primary_no_replica"] >= 10, where.totals
        await wait_for(lambda: healthy(db), what="the replica to serve again once caught up")


@pytest.mark.slow
async def test_stopping_the_replica_fails_no_request(cluster: Cluster, settings: Settings) -> None:
    async with replicated_app(cluster, settings) as (client, db):
        assert db.replicas is not None
        where = Where(db)
        tenant = await tenant_with_notes(client, cluster.operator_key)
        records = f"{tenant.base}/collections/notes/records"
        ids = []
        for n in range(20):
            w = await client.post(records, json={"data": {"n": n}}, headers=tenant.h("member"))
            ids.append(w.json()["id"])
        token = {"Fundament-Consistency": w.headers["fundament-consistency"]}
        await wait_for(lambda: db.replicas.status()[0].replayed >= _position(w), what="replay")
        statuses: list[int] = []
        stopped = asyncio.Event()

        async def reader(worker: int) -> None:
            after_stop = 0
            for i in itertools.count():
                headers = {**tenant.h("viewer"), **(token if i % 2 else {})}
                if i % 3 == 0:
                    r = await client.get(records, params={"limit": 5}, headers=headers)
                else:
                    r = await client.get(f"{records}/{ids[(worker + i) % len(ids)]}", headers=headers)
                statuses.append(r.status_code)
                if stopped.is_set():
                    after_stop += 1
                    if after_stop >= 100:
                        return
                if i > 20_000:  # bounded, whatever happens
                    return

        readers = [asyncio.create_task(reader(i)) for i in range(6)]
        await asyncio.sleep(0.3)  # reads are flowing through the replica
        await asyncio.to_thread(cluster.stop_replica_now)
        stopped.set()
        await asyncio.gather(*readers)
        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        assert not healthy(db)
        await next_poll(db)
        served_before_restart = dict(where.totals)
        assert served_before_restart["replica"] > 0, served_before_restart

        # Back up, it is used again.
        await asyncio.to_thread(cluster.start_replica_again)
        await wait_for(lambda: healthy(db), what="the restarted replica to serve again")
        for i in range(20):
            r = await client.get(f"{records}/{ids[i]}", headers=tenant.h("viewer"))
            assert r.status_code == 200
        await next_poll(db)
        assert where.totals["replica"] > served_before_restart["replica"], where.totals


async def test_a_read_moves_to_the_primary_when_its_replica_connection_dies(
    cluster: Cluster, settings: Settings
) -> None:
    async with replicated_app(cluster, settings) as (_client, db):
        async with db.transaction(RequestContext(request_id="test"), read_only=True) as tx:
            assert await tx.conn.fetchval("SELECT pg_is_in_recovery()") is True
            pid = await tx.conn.fetchval("SELECT pg_backend_pid()")
            await cluster.replica_sql(f"SELECT pg_terminate_backend({int(pid)})")
            # The same transaction goes on, on the primary.
            assert await tx.conn.fetchval("SELECT pg_is_in_recovery()") is False
            assert await tx.conn.fetchval("SELECT current_setting('transaction_read_only')") == "on"
        await wait_for(lambda: healthy(db), what="the replica to be taken back")


async def test_keys_and_tenants_are_looked_up_on_the_primary(cluster: Cluster, settings: Settings) -> None:
    """A cache fill must not read a lagging replica: a key made a moment ago works, and
    one revoked a moment ago is refused, although the replica knows neither change."""
    async with replicated_app(cluster, settings) as (client, db):
        tenant = await tenant_with_notes(client, cluster.operator_key)
        async with cluster.replay_paused():
            made = await client.post(
                f"{tenant.base}/api-keys", json={"name": "new", "role": "viewer"}, headers=tenant.h("admin")
            )
            assert made.status_code == 201
            fresh = bearer(made.json()["key"])
            r = await client.get(f"{tenant.base}/collections/notes", headers=fresh)
            assert r.status_code == 200, r.text
            revoked = await client.delete(
                f"{tenant.base}/api-keys/{made.json()['id']}", headers=tenant.h("admin")
            )
            assert revoked.status_code == 204
            r = await client.get(f"{tenant.base}/collections/notes", headers=fresh)
            assert r.status_code == 401, r.text
            assert healthy(db)  # the replica was there to use all along


def _position(response: httpx.Response) -> int:
    high, low = response.headers["fundament-consistency"].split("/")
    return int(high, 16) << 32 | int(low, 16)


async def _above(client: httpx.AsyncClient, key: str, name: str, replica: str, floor: float) -> bool:
    value = await metric(client, key, name, replica)
    return value is not None and value > floor


async def _equals(client: httpx.AsyncClient, key: str, name: str, replica: str, target: float) -> bool:
    return await metric(client, key, name, replica) == target
