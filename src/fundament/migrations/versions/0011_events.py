"""events: the transactional outbox of changes, webhook endpoints and their deliveries

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

A write inserts its change into event_pending in its own transaction (like audit_pending:
numbering there would hold the tenant's counter locked through COMMIT and serialise its
writers); the sequencer moves committed changes into events, numbering them gap-free per
tenant under event_heads' row lock, and fans them out to webhook_deliveries and jobs in
that same transaction. ``n`` orders pending changes (ULIDs of one millisecond do not).
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TENANT_PREDICATE = "tenant_id = current_setting('fundament.tenant_id', true)"
APP_ROLE = "fundament_app"


def _isolate(table: str, grants: str) -> str:
    return f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {table}
            USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE});
        GRANT {grants} ON {table} TO {APP_ROLE};
    """


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        """
        CREATE SEQUENCE event_pending_n;
        CREATE TABLE event_pending (
            tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            n           bigint NOT NULL DEFAULT nextval('event_pending_n'),
            id          text NOT NULL,
            at          timestamptz NOT NULL,
            type        text NOT NULL,
            collection  text NOT NULL,
            record_id   text,
            data        jsonb NOT NULL,
            PRIMARY KEY (tenant_id, n)
        );
        CREATE TABLE event_heads (
            tenant_id   text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
            seq         bigint NOT NULL
        );
        CREATE TABLE events (
            tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            seq         bigint NOT NULL,
            id          text NOT NULL,
            at          timestamptz NOT NULL,
            type        text NOT NULL,
            collection  text NOT NULL,
            record_id   text,
            data        jsonb NOT NULL,
            PRIMARY KEY (tenant_id, seq)
        );
        CREATE UNIQUE INDEX events_by_id ON events (tenant_id, id);
        CREATE INDEX events_by_at ON events (tenant_id, at);
        CREATE TABLE webhooks (
            tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id              text NOT NULL,
            url             text NOT NULL,
            events          text[] NOT NULL,
            collections     text[],
            enabled         boolean NOT NULL,
            disabled_reason text,
            secret          bytea NOT NULL,
            previous_secret bytea,
            previous_until  timestamptz,
            created_at      timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id)
        );
        CREATE TABLE webhook_deliveries (
            tenant_id    text NOT NULL,
            id           text NOT NULL,
            webhook_id   text NOT NULL,
            event_id     text NOT NULL,
            event_seq    bigint NOT NULL,
            status       text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts     integer NOT NULL DEFAULT 0,
            log          jsonb NOT NULL DEFAULT '[]',
            created_at   timestamptz NOT NULL,
            updated_at   timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (tenant_id, webhook_id, id);
        CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (tenant_id) WHERE status = 'pending';
        """
    )
    # UPDATE: an erasure redacts the subject's earlier events to their record ids.
    op.execute(_isolate("event_pending", "SELECT, INSERT, UPDATE, DELETE"))
    op.execute(f"GRANT USAGE ON SEQUENCE event_pending_n TO {APP_ROLE}")
    op.execute(_isolate("event_heads", "SELECT, INSERT, UPDATE"))
    op.execute(_isolate("events", "SELECT, INSERT, UPDATE, DELETE"))
    op.execute(_isolate("webhooks", "SELECT, INSERT, UPDATE, DELETE"))
    op.execute(_isolate("webhook_deliveries", "SELECT, INSERT, UPDATE, DELETE"))
    # The sequencer's sweep after a crash must find every tenant with committed changes
    # left unnumbered; the changes themselves stay tenant-only, so it gets their tenants'
    # ids through this function (which runs as the tables' owner) and nothing else.
    op.execute(
        f"""
        CREATE FUNCTION fundament_event_backlog(older_than interval) RETURNS SETOF text
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS
            $$ SELECT DISTINCT tenant_id FROM event_pending WHERE at < now() - older_than $$;
        REVOKE ALL ON FUNCTION fundament_event_backlog(interval) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION fundament_event_backlog(interval) TO {APP_ROLE};
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS fundament_event_backlog(interval);"
        " DROP TABLE IF EXISTS webhook_deliveries, webhooks, events, event_heads, event_pending;"
        " DROP SEQUENCE IF EXISTS event_pending_n"
    )
