"""subject data keys for personal values in the audit trail (crypto-shredding)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        """
        CREATE TABLE subject_keys (
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            subject_hash  bytea NOT NULL,
            wrapped_key   bytea,          -- NULL once shredded
            created_at    timestamptz NOT NULL,
            shredded_at   timestamptz,
            PRIMARY KEY (tenant_id, subject_hash)
        );
        ALTER TABLE subject_keys ENABLE ROW LEVEL SECURITY;
        ALTER TABLE subject_keys FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON subject_keys
            USING (tenant_id = current_setting('fundament.tenant_id', true))
            WITH CHECK (tenant_id = current_setting('fundament.tenant_id', true));
        GRANT SELECT, INSERT, UPDATE ON subject_keys TO fundament_app;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS subject_keys")
