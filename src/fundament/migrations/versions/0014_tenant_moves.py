"""tenant moves: the moves' state, the per-tenant write gate, and where a tenant has left

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

On every cell (the control database included: it is a cell too):

- ``tenant_departures``: a tenant that moved away from this database, and where to. Written
  by the mover while it holds the tenant's writes frozen, just before the directory
  switches; kept afterwards, so a write sent here by an instance that has not seen the
  switch yet is turned away (and sent on) instead of landing where nothing reads it.
- ``fundament_write_gate(tenant)``: every write transaction of a tenant on a cell calls it
  first. It takes the tenant's advisory lock *shared* (writers never wait for each other)
  and answers the cell the tenant left for, if it did. The mover takes the same lock
  exclusively for the freeze: writers then wait, across every instance, and are not
  refused. VOLATILE plpgsql: its second statement takes a fresh snapshot (READ COMMITTED),
  so a writer that waited through a freeze sees the departure written during it.
- The audit trail's append-only trigger also lets the owner delete a tenant's events from
  a database the tenant has left (its chain was verified on the target first), or from a
  target whose copy is being discarded after a failed move (``fundament.move_cleanup``
  set to the tenant's id, which only a role with DELETE on the table, its owner, can use).

In the control database, ``tenant_moves``: each move's state, which the API answers and
the move job advances. Expand only: code of the previous release never calls the gate.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

APP_ROLE = "fundament_app"
#: The advisory lock's first key ("FUND"); the second is hashtext(tenant id). A collision
#: only makes another tenant's writers wait through a freeze (at most a second).
LOCK_SPACE = 1179995716


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        f"""
        CREATE TABLE tenant_departures (
            tenant_id  text PRIMARY KEY,
            to_cell    text NOT NULL,
            move_id    text NOT NULL,
            at         timestamptz NOT NULL DEFAULT now()
        );

        CREATE FUNCTION fundament_write_gate(tenant text) RETURNS text
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
        DECLARE
            gone text;
        BEGIN
            PERFORM pg_advisory_xact_lock_shared({LOCK_SPACE}, hashtext(tenant));
            SELECT to_cell INTO gone FROM tenant_departures WHERE tenant_id = tenant;
            RETURN gone;
        END $$;
        REVOKE ALL ON FUNCTION fundament_write_gate(text) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION fundament_write_gate(text) TO {APP_ROLE};

        CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND (
               NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
               OR EXISTS (SELECT 1 FROM tenant_departures WHERE tenant_id = OLD.tenant_id)
               OR current_setting('fundament.move_cleanup', true) = OLD.tenant_id) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
        END $$;

        CREATE TABLE tenant_moves (
            id           text PRIMARY KEY,
            tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            from_cell    text NOT NULL,
            to_cell      text NOT NULL,
            status       text NOT NULL CHECK (status IN
                             ('pending', 'copying', 'catching_up', 'switching', 'done', 'failed')),
            error        text,
            freeze_ms    double precision,
            rows_copied  bigint NOT NULL DEFAULT 0,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            finished_at  timestamptz
        );
        CREATE UNIQUE INDEX tenant_moves_one_running ON tenant_moves (tenant_id)
            WHERE status NOT IN ('done', 'failed');
        ALTER TABLE tenant_moves ENABLE ROW LEVEL SECURITY;
        ALTER TABLE tenant_moves FORCE ROW LEVEL SECURITY;
        CREATE POLICY operator_only ON tenant_moves
            USING (current_setting('fundament.operator', true) = 'on')
            WITH CHECK (current_setting('fundament.operator', true) = 'on');
        GRANT SELECT, INSERT ON tenant_moves TO {APP_ROLE};
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS tenant_moves;
        DROP FUNCTION IF EXISTS fundament_write_gate(text);
        DROP TABLE IF EXISTS tenant_departures;
        CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
