"""mark the jsonb comparison functions LEAKPROOF so filters use indexes under RLS

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Under row-level security PostgreSQL evaluates the policy before any user condition that
is not LEAKPROOF, and such a condition can then not drive an index scan. The jsonb
functions behind ``data #> '{score}' = $1`` are not marked LEAKPROOF in the catalog, so
every filter on a data field scanned the tenant's whole collection (measured: 30 ms
instead of 0.3 ms on 100,000 records). These functions raise no error and have no side
effect that depends on the row's value, which is what LEAKPROOF certifies; marking them
does not weaken the policy. Only a superuser may do so: elsewhere (e.g. managed servers)
the migration leaves them alone and filters still work, without the index.
See docs/adr/0003-leakproof-jsonb.md.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FUNCTIONS = (
    "jsonb_extract_path(jsonb, text[])",
    "jsonb_eq(jsonb, jsonb)",
    "jsonb_ne(jsonb, jsonb)",
    "jsonb_lt(jsonb, jsonb)",
    "jsonb_le(jsonb, jsonb)",
    "jsonb_gt(jsonb, jsonb)",
    "jsonb_ge(jsonb, jsonb)",
    "jsonb_cmp(jsonb, jsonb)",
    "jsonb_typeof(jsonb)",
)


def upgrade(app_password: str | None = None) -> None:
    statements = " ".join(f"ALTER FUNCTION pg_catalog.{f} LEAKPROOF;" for f in FUNCTIONS)
    op.execute(
        f"""
        DO $$ BEGIN
          IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            {statements}
          ELSE
            RAISE NOTICE 'not a superuser: jsonb filters will not use declared indexes under RLS';
          END IF;
        END $$;
        """
    )


def downgrade() -> None:
    pass
