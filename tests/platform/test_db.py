"""The transaction helper: commit on success, roll back on error, hooks, tenant scope."""

from __future__ import annotations

import pytest

from fundament.app import app_dsn
from fundament.platform import Database, Principal, RequestContext, ServiceUnavailable, Settings, utcnow

AUDIT_COLUMNS = {
    "id": "text",
    "at": "timestamptz",
    "actor_type": "text",
    "actor_id": "text",
    "action": "text",
    "target_type": "text",
    "target_id": "text",
    "request_id": "text",
    "details": "jsonb",
}


@pytest.fixture
async def db(admin_dsn):
    database = Database(app_dsn(Settings(), admin_dsn), min_size=1, max_size=3)
    await database.open()
    yield database
    await database.close()


def ctx(tenant_id: str | None = None) -> RequestContext:
    return RequestContext("req_test", Principal("tenant_key", "key_x", "owner", tenant_id), tenant_id)


async def _users(db, tenant_id):
    async with db.transaction(ctx(tenant_id)) as tx:
        return await tx.conn.fetchval("SELECT count(*) FROM users WHERE tenant_id = $1", tenant_id)


INSERT = (
    "INSERT INTO users (tenant_id, id, email, role, created_at, updated_at)"
    " VALUES ($1, $2, $3, 'viewer', now(), now())"
)


async def test_commit_and_rollback(db, tenant):
    async with db.transaction(ctx(tenant.id)) as tx:
        await tx.conn.execute(INSERT, tenant.id, "usr_01JD0000000000000000000001", "a@x")
    assert await _users(db, tenant.id) == 1
    with pytest.raises(RuntimeError):
        async with db.transaction(ctx(tenant.id)) as tx:
            await tx.conn.execute(INSERT, tenant.id, "usr_01JD0000000000000000000002", "b@x")
            raise RuntimeError("boom")
    assert await _users(db, tenant.id) == 1


async def test_hooks_see_events_and_can_veto(db, tenant):
    seen = []

    async def hook(tx):
        seen.extend(tx.events)
        if any(e.action == "veto" for e in tx.events):
            raise ServiceUnavailable("hook refused")

    db.before_commit.append(hook)
    async with db.transaction(ctx(tenant.id)) as tx:
        await tx.conn.execute(INSERT, tenant.id, "usr_01JD0000000000000000000003", "c@x")
        tx.emit("user.created", "user", "usr_01JD0000000000000000000003")
    assert [e.action for e in seen] == ["user.created"] and seen[0].tenant_id == tenant.id
    with pytest.raises(ServiceUnavailable):
        async with db.transaction(ctx(tenant.id)) as tx:
            await tx.conn.execute(INSERT, tenant.id, "usr_01JD0000000000000000000004", "d@x")
            tx.emit("veto", "user", "usr_01JD0000000000000000000004")
    assert await _users(db, tenant.id) == 1  # the hook's failure rolled the write back


async def test_tenant_unset_after_commit(db, tenant):
    async with db.transaction(ctx(tenant.id)) as tx:
        conn = tx.conn
        assert await conn.fetchval("SELECT current_setting('fundament.tenant_id', true)") == tenant.id
    async with db.pool.acquire() as raw:
        assert await raw.fetchval("SELECT current_setting('fundament.tenant_id', true)") in ("", None)


async def test_invalidation_reaches_local_handlers_after_commit(db, tenant):
    got = []
    db.on_invalidate(got.append)
    with pytest.raises(RuntimeError):
        async with db.transaction(ctx(tenant.id)) as tx:
            tx.invalidate("key:nope")
            raise RuntimeError
    assert "key:nope" not in got
    async with db.transaction(ctx(tenant.id)) as tx:
        tx.invalidate("key:yes")
    assert "key:yes" in got


async def test_operator_transaction_sees_every_tenant_but_no_tenant_only_table(db, tenant, other_tenant):
    async with db.operator_transaction("test.operator") as tx:
        assert tx.ctx.principal is None and tx.ctx.request_id == "test.operator"
        assert tx.tenant_id is None
        seen = await tx.conn.fetchval(
            "SELECT count(*) FROM tenants WHERE id = ANY($1::text[])", [tenant.id, other_tenant.id]
        )
        # users' policy knows no operator: the scope is the tenants' rows, not theirs.
        users = await tx.conn.fetchval("SELECT count(*) FROM users")
    assert (seen, users) == (2, 0)
    # A context without an operator key never gets the operator scope, whatever it names.
    async with db.transaction(RequestContext("req_plain")) as tx:
        assert await tx.conn.fetchval("SELECT count(*) FROM tenants") == 0
    async with db.pool.acquire() as raw:
        assert await raw.fetchval("SELECT current_setting('fundament.operator', true)") in ("", None)


async def test_a_pooled_connection_keeps_no_scope_after_its_transaction(admin_dsn) -> None:
    """Connections go back to the pool without asyncpg's reset query (db._keep_session):
    nothing a transaction set may outlive it, and an abandoned one is rolled back."""
    import asyncio

    one = Database(app_dsn(Settings(), admin_dsn), min_size=1, max_size=1)
    await one.open()
    try:
        async with one.transaction(ctx("tnt_a")) as tx:
            assert await tx.conn.fetchval("SELECT current_setting('fundament.tenant_id')") == "tnt_a"
        async with one.pool.acquire() as conn:  # the same, only connection
            assert await conn.fetchval("SELECT current_setting('fundament.tenant_id', true)") in ("", None)

        async def abandoned() -> None:
            async with one.transaction(ctx("tnt_b")):
                await asyncio.sleep(10)

        task = asyncio.create_task(abandoned())
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with one.pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_setting('fundament.tenant_id', true)") in ("", None)
    finally:
        await one.close()


async def test_staged_rows_go_in_after_the_hooks_in_one_statement_in_their_order(db, tenant):
    """Rows hooks stage land at commit, two tables' in one statement, each table's rows in
    the order staged (the change events' order)."""
    columns = {"id": "text", "at": "timestamptz", "type": "text", "collection": "text", "data": "jsonb"}
    ids = [f"evt_01JD00000000000000000000{i:02d}" for i in range(3)]

    async def stage_events(tx):
        if tx.events:
            tx.stage("event_pending", columns, [(i, utcnow(), "record.created", "c", "{}") for i in ids])

    async def stage_audit(tx):
        row = ("evt_01JD0000000000000000000099", utcnow(), "system", None, "x.made", "x", "x_1", None, "{}")
        if tx.events:
            tx.stage("audit_pending", AUDIT_COLUMNS, [row])

    db.before_commit.extend([stage_events, stage_audit])
    try:
        async with db.transaction(ctx(tenant.id)) as tx:
            tx.emit("x.made", "x", "x_1")  # the hooks stage their rows for it
        async with db.transaction(ctx(tenant.id)) as tx:
            # Where they are now: a running app's sweep may have numbered or sealed them
            # since (in one batch each, keeping their order).
            staged = await tx.conn.fetch(
                "SELECT id FROM (SELECT id, 0 AS part, seq AS o FROM events WHERE tenant_id = $1"
                " UNION ALL SELECT id, 1, n FROM event_pending WHERE tenant_id = $1) AS e"
                " WHERE id = ANY($2::text[]) ORDER BY part, o",
                tenant.id,
                ids,
            )
            audited = await tx.conn.fetchval(
                "SELECT (SELECT count(*) FROM audit_pending WHERE tenant_id = $1 AND action = 'x.made')"
                " + (SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'x.made')",
                tenant.id,
            )
    finally:
        del db.before_commit[-2:]
    assert [r["id"] for r in staged] == ids
    assert audited == 1
