"""tenant CORS origins: the browser origins allowed to call a tenant's paths

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

``tenants.cors_origins`` holds exact origins (``https://app.example.com``), normalised as
browsers send them in ``Origin``; empty by default, so no tenant's behaviour changes.
Expand only: code that does not know the column never selects it. The request-path role's
table-wide grant on ``tenants`` covers the new column.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade(app_password: str | None = None) -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN IF NOT EXISTS cors_origins text[] NOT NULL DEFAULT '{}'")


def downgrade() -> None:
    op.execute("ALTER TABLE tenants DROP COLUMN IF EXISTS cors_origins")
