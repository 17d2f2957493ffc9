"""cells: the cells a tenant may be placed on, and the placement directory

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

Both live in the control database (the first cell, FUNDAMENT_DATABASE_URL), which is a cell
itself: it has no row in ``cells``, and a tenant whose ``cell`` is NULL is on it, so an
installation that never adds a cell has nothing here and routes nothing. Every cell runs
the same migrations; ``cells`` stays empty on the others.

``dsn`` is the admin DSN the migrations use; the request role reads only ``app_dsn`` (the
request role's DSN, derived when the cell is added), so a request-path connection never
sees an admin password. Moving a tenant is switching its one ``tenants.cell``.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

APP_ROLE = "fundament_app"


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        f"""
        CREATE TABLE cells (
            name          text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{{0,39}}$'),
            region        text NOT NULL,
            dsn           text NOT NULL,
            app_dsn       text NOT NULL,
            replica_dsns  text[] NOT NULL DEFAULT '{{}}',
            created_at    timestamptz NOT NULL DEFAULT now()
        );
        GRANT SELECT (name, region, app_dsn, replica_dsns, created_at) ON cells TO {APP_ROLE};

        -- The placement directory: NULL is the control cell. Moving a tenant is one UPDATE.
        ALTER TABLE tenants ADD COLUMN cell text REFERENCES cells (name);
        CREATE INDEX tenants_by_cell ON tenants (cell) WHERE cell IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP INDEX IF EXISTS tenants_by_cell; ALTER TABLE tenants DROP COLUMN IF EXISTS cell;"
        " DROP TABLE IF EXISTS cells"
    )
