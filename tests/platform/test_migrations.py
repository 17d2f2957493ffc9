"""Every migration can be undone: down to an empty database and up again."""

from __future__ import annotations

import asyncio

import asyncpg

from conftest import fresh_database
from fundament.migrations import current_head, downgrade, migrate, migration_state


async def _tables(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        return [r["tablename"] for r in rows]
    finally:
        await conn.close()


def test_every_migration_goes_down_and_up_again(server_dsn: str) -> None:
    with fresh_database(server_dsn, "fundament_down") as dsn:
        migrate(dsn)
        assert migration_state(dsn) == current_head()
        downgrade(dsn, "base")
        assert migration_state(dsn) is None
        assert asyncio.run(_tables(dsn)) == []
        migrate(dsn)
        assert migration_state(dsn) == current_head()
