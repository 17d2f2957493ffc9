"""audit: events are written pending in the write's transaction and sealed into the chain

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Chaining inside the write transaction held the tenant's chain head locked through COMMIT,
so one tenant's writes serialised on the WAL flush (create throughput fell to 36% of the
same server without audit). Now the write inserts its event into audit_pending, in the same
transaction; a sealer moves pending events into the append-only chain in batches.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TENANT_PREDICATE = "tenant_id = current_setting('fundament.tenant_id', true)"


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        f"""
        CREATE TABLE audit_pending (
            tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id          text NOT NULL,
            at          timestamptz NOT NULL,
            actor_type  text NOT NULL,
            actor_id    text,
            action      text NOT NULL,
            target_type text NOT NULL,
            target_id   text NOT NULL,
            request_id  text,
            details     jsonb NOT NULL DEFAULT '{{}}',
            PRIMARY KEY (tenant_id, id)
        );
        ALTER TABLE audit_pending ENABLE ROW LEVEL SECURITY;
        ALTER TABLE audit_pending FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON audit_pending
            USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE});
        GRANT SELECT, INSERT, DELETE ON audit_pending TO fundament_app;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS audit_pending")
