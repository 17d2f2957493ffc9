from __future__ import annotations

import asyncpg
import pytest


@pytest.fixture
async def admin_conn(admin_dsn):
    conn = await asyncpg.connect(admin_dsn)
    yield conn
    await conn.close()
