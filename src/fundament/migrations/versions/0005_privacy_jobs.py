"""privacy requests and a durable job queue

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TENANT_PREDICATE = "tenant_id = current_setting('fundament.tenant_id', true)"


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        f"""
        CREATE TABLE privacy_requests (
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id            text NOT NULL,
            kind          text NOT NULL CHECK (kind IN ('export', 'erasure')),
            subject       text,            -- cleared once an erasure is done
            subject_hash  bytea NOT NULL,  -- keyed hash: names the subject without revealing it
            status        text NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
            created_at    timestamptz NOT NULL,
            due_at        timestamptz NOT NULL,
            completed_at  timestamptz,
            result        jsonb,
            PRIMARY KEY (tenant_id, id)
        );
        ALTER TABLE privacy_requests ENABLE ROW LEVEL SECURITY;
        ALTER TABLE privacy_requests FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON privacy_requests
            USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE});
        GRANT SELECT, INSERT, UPDATE ON privacy_requests TO fundament_app;

        -- The job queue holds only ids (no tenant data), so workers can claim across
        -- tenants; the work itself then runs inside the tenant's RLS scope.
        CREATE TABLE jobs (
            id            bigserial PRIMARY KEY,
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            kind          text NOT NULL,
            ref           text NOT NULL,
            run_at        timestamptz NOT NULL,
            locked_until  timestamptz,
            attempts      integer NOT NULL DEFAULT 0,
            last_error    text,
            done_at       timestamptz
        );
        CREATE INDEX jobs_due ON jobs (run_at) WHERE done_at IS NULL;
        CREATE UNIQUE INDEX jobs_one_open ON jobs (tenant_id, kind, ref) WHERE done_at IS NULL;
        GRANT SELECT, INSERT, UPDATE ON jobs TO fundament_app;
        GRANT USAGE ON SEQUENCE jobs_id_seq TO fundament_app;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS jobs, privacy_requests")
