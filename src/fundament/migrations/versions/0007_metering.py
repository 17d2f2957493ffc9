"""usage metering roll-ups, storage samples, active keys; FinOps bill lines and capacity

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Usage rows are tenant-owned (a tenant reads its own), and the operator reads all of them
# for the FinOps report; the flush of one instance writes many tenants in one statement.
_PREDICATE = (
    "tenant_id = current_setting('fundament.tenant_id', true)"
    " OR current_setting('fundament.operator', true) = 'on'"
)


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        """
        CREATE TABLE usage_hourly (
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            hour          timestamptz NOT NULL,
            feature       text NOT NULL,
            status_class  text NOT NULL,
            requests      bigint NOT NULL,
            server_ms     double precision NOT NULL,
            db_ms         double precision NOT NULL,
            bytes_in      bigint NOT NULL,
            bytes_out     bigint NOT NULL,
            PRIMARY KEY (tenant_id, hour, feature, status_class)
        );
        CREATE INDEX usage_hourly_hour ON usage_hourly (hour);

        CREATE TABLE usage_keys (
            tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            month       date NOT NULL,
            key_id      text NOT NULL,
            requests    bigint NOT NULL,
            last_seen   timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, month, key_id)
        );

        CREATE TABLE storage_hourly (
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            hour          timestamptz NOT NULL,
            records       bigint NOT NULL,
            stored_bytes  bigint NOT NULL,
            measured_at   timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, hour)
        );

        CREATE TABLE focus_charges (
            id            bigserial PRIMARY KEY,
            imported_at   timestamptz NOT NULL,
            source        text NOT NULL,
            period_start  timestamptz NOT NULL,
            service_name  text NOT NULL,
            resource_id   text NOT NULL,
            billed_cost   numeric NOT NULL,
            currency      text NOT NULL,
            tags          jsonb NOT NULL
        );
        CREATE INDEX focus_charges_period ON focus_charges (period_start);

        CREATE TABLE capacity_measurements (
            id              bigserial PRIMARY KEY,
            measured_at     timestamptz NOT NULL,
            machine         text NOT NULL,
            rps_per_worker  double precision NOT NULL,
            p99_ms          double precision NOT NULL,
            target_p99_ms   double precision NOT NULL,
            workers         integer NOT NULL,
            details         jsonb NOT NULL
        );
        GRANT SELECT, INSERT, DELETE ON focus_charges, capacity_measurements TO fundament_app;
        GRANT USAGE ON SEQUENCE focus_charges_id_seq, capacity_measurements_id_seq TO fundament_app;
        """
    )
    for table in ("usage_hourly", "usage_keys", "storage_hourly"):
        op.execute(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON {table}
                USING ({_PREDICATE}) WITH CHECK ({_PREDICATE});
            GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO fundament_app;
            """
        )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS capacity_measurements, focus_charges, storage_hourly, usage_keys, usage_hourly"
    )
