"""Alembic migrations for every module's tables, roles and row-level security policies.

Run with ``fundament migrate`` (or on start in embedded mode). They must run as a role that
may create roles and tables; the request path later connects as ``fundament_app``, which
owns nothing, is not superuser and has no BYPASSRLS, so the policies below bind it.
Migrations are written expand/contract: a rolling deploy never sees a column vanish.
"""

from fundament.migrations.runner import (
    applied_revision,
    current_head,
    default_app_password,
    downgrade,
    known_revisions,
    migrate,
    migration_state,
)

__all__ = [
    "applied_revision",
    "current_head",
    "default_app_password",
    "downgrade",
    "known_revisions",
    "migrate",
    "migration_state",
]
