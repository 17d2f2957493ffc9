"""Programmatic Alembic entry points (the CLI and the embedded start use these)."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).parent
APP_ROLE = "fundament_app"


def _sqlalchemy_url(dsn: str) -> str:
    url = make_url(dsn)
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _config(dsn: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", _sqlalchemy_url(dsn).replace("%", "%%"))
    return cfg


def default_app_password(admin_dsn: str) -> str | None:
    """The ``fundament_app`` password when none is configured, or None if ``admin_dsn`` has none.

    Derived from the admin password (HMAC-SHA-256), so whoever holds the admin DSN (the
    migrations, the server) knows it without a second secret to keep, while the
    application's DSN, which travels further, reveals nothing of the admin password.
    """
    password = make_url(admin_dsn).password
    if not password:
        return None
    return hmac.new(str(password).encode(), APP_ROLE.encode(), "sha256").hexdigest()


def migrate(dsn: str, *, app_password: str | None = None, revision: str = "head") -> None:
    """Upgrade the database at ``dsn`` (an admin DSN) to ``revision``, then see to the
    password of ``fundament_app``.

    ``app_password`` is set on every run, so a changed setting takes effect. Without it the
    role gets :func:`default_app_password` only if it has no password yet (checked when
    ``dsn`` is a superuser's): a password set some other way, for a
    ``FUNDAMENT_APP_DATABASE_URL`` the migrating job does not see, is left alone.
    """
    command.upgrade(_config(dsn), revision)
    if app_password:
        _set_app_password(dsn, app_password, only_if_unset=False)
    else:
        derived = default_app_password(dsn)
        if derived:
            _set_app_password(dsn, derived, only_if_unset=True)


def downgrade(dsn: str, revision: str) -> None:
    """Take the database at ``dsn`` (an admin DSN) back to ``revision`` (``base``: empty),
    to roll a release back. What the undone migrations created is dropped with its data."""
    command.downgrade(_config(dsn), revision)


def _set_app_password(dsn: str, password: str, *, only_if_unset: bool) -> None:
    engine = create_engine(_sqlalchemy_url(dsn))
    try:
        with engine.connect() as conn:
            role = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}).scalar()
            if role is None:
                return
            if only_if_unset:
                superuser = text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                if not conn.execute(superuser).scalar():
                    return  # pg_authid, which says whether a role has a password, is superusers' only
                unset = text("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = :r")
                if not conn.execute(unset, {"r": APP_ROLE}).scalar():
                    return
            # libpq hashes it here: only the SCRAM verifier reaches the server (and its log).
            pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
            verifier: str = pgconn.encrypt_password(
                password.encode(), APP_ROLE.encode(), b"scram-sha-256"
            ).decode()
            conn.exec_driver_sql(f"ALTER ROLE {APP_ROLE} PASSWORD '{verifier}'")
            conn.commit()
    finally:
        engine.dispose()


def current_head() -> str:
    script = ScriptDirectory.from_config(_config("postgresql://x@localhost/x"))
    head = script.get_current_head()
    assert head is not None
    return head


def known_revisions() -> frozenset[str]:
    """Every revision this release has a migration for."""
    script = ScriptDirectory.from_config(_config("postgresql://x@localhost/x"))
    return frozenset(rev.revision for rev in script.walk_revisions())


async def applied_revision(conn: Any) -> str | None:
    """The revision the database is at, on an asyncpg connection of the request path's
    pool (readiness asks on every probe); an unmigrated database raises."""
    value: str | None = await conn.fetchval("SELECT version_num FROM alembic_version")
    return value


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
