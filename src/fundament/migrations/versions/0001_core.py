"""core: roles, tenants, keys, users, collections, records, idempotency, RLS

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APP_ROLE = "fundament_app"

#: Tables owned by a tenant: tenant_id leads the primary key and every index, and
#: row-level security is enabled and FORCED so even the table owner is bound.
TENANT_TABLES = ("api_keys", "users", "collections", "records", "idempotency_keys")

# current_setting(..., true) returns NULL when unset, and NULL never equals a tenant
# id: a transaction that forgot to set the tenant sees nothing at all.
TENANT_PREDICATE = "tenant_id = current_setting('fundament.tenant_id', true)"


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END $$;
        """
    )
    if app_password:
        op.execute(f"ALTER ROLE {APP_ROLE} PASSWORD '{app_password.replace(chr(39), chr(39) * 2)}'")
    op.execute(f'GRANT CONNECT ON DATABASE "{op.get_bind().engine.url.database}" TO {APP_ROLE}')
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")

    op.execute(
        """
        CREATE TABLE tenants (
            id          text PRIMARY KEY,
            slug        text NOT NULL UNIQUE,
            name        text NOT NULL,
            region      text NOT NULL,
            plan        text NOT NULL,
            status      text NOT NULL CHECK (status IN ('active', 'suspended')),
            created_at  timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL
        );

        CREATE TABLE operator_keys (
            id          text PRIMARY KEY,
            name        text NOT NULL,
            prefix      text NOT NULL,
            secret_hash bytea NOT NULL UNIQUE,
            created_at  timestamptz NOT NULL,
            revoked_at  timestamptz
        );

        CREATE TABLE api_keys (
            tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id          text NOT NULL,
            name        text NOT NULL,
            role        text NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
            prefix      text NOT NULL,
            secret_hash bytea NOT NULL,
            created_at  timestamptz NOT NULL,
            expires_at  timestamptz,
            revoked_at  timestamptz,
            PRIMARY KEY (tenant_id, id),
            UNIQUE (tenant_id, secret_hash)
        );

        CREATE TABLE users (
            tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id          text NOT NULL,
            email       text NOT NULL,
            name        text,
            role        text NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
            created_at  timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id)
        );
        CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, lower(email));

        CREATE TABLE collections (
            tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            name            text NOT NULL,
            id              text NOT NULL,
            schema          jsonb NOT NULL,
            indexes         jsonb NOT NULL DEFAULT '[]',
            personal_fields jsonb NOT NULL DEFAULT '[]',
            subject_field   text,
            retention_days  integer,
            purpose         text,
            legal_basis     text,
            on_erasure      text NOT NULL DEFAULT 'delete',
            version         integer NOT NULL DEFAULT 1,
            created_at      timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, name)
        );

        CREATE TABLE records (
            tenant_id   text NOT NULL,
            collection  text NOT NULL,
            id          text NOT NULL,
            data        jsonb NOT NULL,
            version     integer NOT NULL DEFAULT 1,
            created_at  timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, collection, id),
            FOREIGN KEY (tenant_id, collection)
                REFERENCES collections (tenant_id, name) ON DELETE CASCADE
        );
        CREATE INDEX records_created ON records (tenant_id, collection, created_at, id);
        CREATE INDEX records_updated ON records (tenant_id, collection, updated_at, id);

        CREATE TABLE idempotency_keys (
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            key           text NOT NULL,
            scope         text NOT NULL,
            request_hash  bytea NOT NULL,
            status        integer NOT NULL,
            headers       jsonb NOT NULL,
            body          bytea NOT NULL,
            created_at    timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, key)
        );
        CREATE INDEX idempotency_keys_created ON idempotency_keys (tenant_id, created_at);
        """
    )

    # The tenant registry: a tenant key sees only its own row; an operator sees all.
    op.execute(
        f"""
        ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
        ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_self ON tenants
            USING (id = current_setting('fundament.tenant_id', true)
                   OR current_setting('fundament.operator', true) = 'on')
            WITH CHECK (current_setting('fundament.operator', true) = 'on'
                        OR id = current_setting('fundament.tenant_id', true));
        GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO {APP_ROLE};
        GRANT SELECT ON operator_keys TO {APP_ROLE};
        """
    )
    for table in TENANT_TABLES:
        op.execute(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON {table}
                USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE});
            GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE};
            """
        )
    op.execute(f"GRANT SELECT ON alembic_version TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS idempotency_keys, records, collections, users, api_keys, "
        "operator_keys, tenants CASCADE"
    )
