"""Every migration can be undone: down to an empty database and up again."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from fundament.migrations import current_head, downgrade, migrate, migration_state


def test_every_migration_goes_down_and_up_again(server_dsn: str) -> None:
    name = f"fundament_down_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    dsn = make_url(server_dsn).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(dsn)
        assert migration_state(dsn) == current_head()
        downgrade(dsn, "base")
        assert migration_state(dsn) is None

        async def tables() -> list[str]:
            conn = await asyncpg.connect(dsn)
            try:
                rows = await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
                return [r["tablename"] for r in rows]
            finally:
                await conn.close()

        assert asyncio.run(tables()) == []
        migrate(dsn)
        assert migration_state(dsn) == current_head()
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
