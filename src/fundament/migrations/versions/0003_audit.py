"""audit: hash-chained, append-only events per tenant, chain heads, platform events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APP_ROLE = "fundament_app"
TENANT_PREDICATE = "tenant_id = current_setting('fundament.tenant_id', true)"


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        f"""
        CREATE TABLE audit_heads (
            tenant_id   text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
            seq         bigint NOT NULL,
            hash        bytea NOT NULL
        );
        CREATE TABLE audit_events (
            tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            seq         bigint NOT NULL,
            id          text NOT NULL,
            at          timestamptz NOT NULL,
            actor_type  text NOT NULL,
            actor_id    text,
            action      text NOT NULL,
            target_type text NOT NULL,
            target_id   text NOT NULL,
            request_id  text,
            details     jsonb NOT NULL DEFAULT '{{}}',
            prev_hash   bytea NOT NULL,
            hash        bytea NOT NULL,
            PRIMARY KEY (tenant_id, seq)
        );
        CREATE INDEX audit_events_action ON audit_events (tenant_id, action, seq);
        CREATE INDEX audit_events_target ON audit_events (tenant_id, target_id, seq);
        CREATE INDEX audit_events_at ON audit_events (tenant_id, at);

        -- Events that outlive their tenant (offboarding): no personal data, no RLS.
        CREATE TABLE platform_events (
            id          text PRIMARY KEY,
            at          timestamptz NOT NULL,
            actor_type  text NOT NULL,
            actor_id    text,
            action      text NOT NULL,
            target_type text NOT NULL,
            target_id   text NOT NULL,
            request_id  text
        );

        -- Append-only, also against the table owner: an UPDATE or DELETE is refused unless
        -- the tenant itself is being deleted (offboarding cascades). Sanctioned erasure of
        -- personal values will get its own narrow path.
        CREATE FUNCTION audit_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
        CREATE FUNCTION platform_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'platform events are append-only' USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER platform_events_append_only BEFORE UPDATE OR DELETE ON platform_events
            FOR EACH ROW EXECUTE FUNCTION platform_events_append_only();

        GRANT SELECT, INSERT ON audit_events TO {APP_ROLE};
        GRANT SELECT, INSERT, UPDATE ON audit_heads TO {APP_ROLE};
        GRANT SELECT, INSERT ON platform_events TO {APP_ROLE};
        """
    )
    for table in ("audit_heads", "audit_events"):
        op.execute(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON {table}
                USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE});
            """
        )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS audit_events, audit_heads, platform_events CASCADE")
    op.execute("DROP FUNCTION IF EXISTS audit_events_append_only(), platform_events_append_only()")
