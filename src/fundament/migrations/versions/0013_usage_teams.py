"""usage per collection (for teams owning collections) and a latency histogram (for p99)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

Expand only, so instances still running the previous code keep flushing: they never name
the new column (its default is an empty histogram, which the reader skips) nor the new
table. ``usage_collections_hourly`` holds, for the routes under ``/collections/{name}``,
the same roll-up split by collection name; ``usage_hourly`` keeps the per-route totals.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_PREDICATE = (
    "tenant_id = current_setting('fundament.tenant_id', true)"
    " OR current_setting('fundament.operator', true) = 'on'"
)


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        f"""
        ALTER TABLE usage_hourly ADD COLUMN IF NOT EXISTS latency bigint[] NOT NULL DEFAULT '{{}}';

        CREATE TABLE usage_collections_hourly (
            tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            hour        timestamptz NOT NULL,
            feature     text NOT NULL,
            collection  text NOT NULL,
            requests    bigint NOT NULL,
            errors      bigint NOT NULL,
            server_ms   double precision NOT NULL,
            db_ms       double precision NOT NULL,
            PRIMARY KEY (tenant_id, hour, feature, collection)
        );
        CREATE INDEX usage_collections_hourly_hour ON usage_collections_hourly (hour);
        ALTER TABLE usage_collections_hourly ENABLE ROW LEVEL SECURITY;
        ALTER TABLE usage_collections_hourly FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON usage_collections_hourly
            USING ({_PREDICATE}) WITH CHECK ({_PREDICATE});
        GRANT SELECT, INSERT, UPDATE, DELETE ON usage_collections_hourly TO fundament_app;
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS usage_collections_hourly;"
        " ALTER TABLE usage_hourly DROP COLUMN IF EXISTS latency"
    )
