"""Programmatic Alembic entry points (the CLI and the embedded start use these)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).parent


def _sqlalchemy_url(dsn: str) -> str:
    url = make_url(dsn)
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _config(dsn: str, app_password: str | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", _sqlalchemy_url(dsn).replace("%", "%%"))
    cfg.attributes["app_password"] = app_password
    return cfg


def migrate(dsn: str, *, app_password: str | None = None, revision: str = "head") -> None:
    """Upgrade the database at ``dsn`` (an admin DSN) to ``revision``."""
    command.upgrade(_config(dsn, app_password), revision)


def current_head() -> str:
    script = ScriptDirectory.from_config(_config("postgresql://x@localhost/x", None))
    head = script.get_current_head()
    assert head is not None
    return head


def migration_state(dsn: str) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    engine = create_engine(_sqlalchemy_url(dsn))
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar()
            if exists is None:
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
