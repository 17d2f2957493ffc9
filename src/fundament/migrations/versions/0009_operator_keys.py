"""operator keys expire and are managed through the API; a key's prefix is its beginning

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

- ``operator_keys.expires_at``: an operator key can be given a lifetime, like a tenant key.
- The request-path role may create and revoke operator keys (``/v1/operator-keys``), only
  in an operator's scope: row-level security checks ``fundament.operator`` on writes.
  Reads stay open to it, because authentication looks keys up before any scope exists.
- ``api_keys.prefix`` was ``fdk_`` + the secret's first 8 characters, which is not how the
  key begins (``fdk_<tenant ulid>_<secret>``). It now is the key's first 39 characters,
  rebuilt here from the parts stored (the tenant id and the old prefix's 8 characters).
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

APP_ROLE = "fundament_app"
_OPERATOR = "current_setting('fundament.operator', true) = 'on'"


def upgrade(app_password: str | None = None) -> None:
    op.execute(
        f"""
        ALTER TABLE operator_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz;
        ALTER TABLE operator_keys ENABLE ROW LEVEL SECURITY;
        CREATE POLICY operator_keys_read ON operator_keys FOR SELECT USING (true);
        CREATE POLICY operator_keys_create ON operator_keys FOR INSERT WITH CHECK ({_OPERATOR});
        CREATE POLICY operator_keys_revoke ON operator_keys FOR UPDATE
            USING ({_OPERATOR}) WITH CHECK ({_OPERATOR});
        GRANT INSERT (id, name, prefix, secret_hash, created_at, expires_at) ON operator_keys
            TO {APP_ROLE};
        GRANT UPDATE (revoked_at) ON operator_keys TO {APP_ROLE};
        """
    )
    # Tenant by tenant: api_keys' row-level security is forced, so an owner that is not a
    # superuser sees a tenant's rows only in that tenant's scope.
    op.execute(
        """
        DO $$
        DECLARE t text;
        BEGIN
          PERFORM set_config('fundament.operator', 'on', true);
          FOR t IN SELECT id FROM tenants LOOP
            PERFORM set_config('fundament.tenant_id', t, true);
            UPDATE api_keys SET prefix = 'fdk_' || substr(tenant_id, 5) || '_' || substr(prefix, 5)
             WHERE tenant_id = t AND length(prefix) = 12;
          END LOOP;
          PERFORM set_config('fundament.tenant_id', '', true);
          PERFORM set_config('fundament.operator', '', true);
        END $$;
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DO $$
        DECLARE t text;
        BEGIN
          PERFORM set_config('fundament.operator', 'on', true);
          FOR t IN SELECT id FROM tenants LOOP
            PERFORM set_config('fundament.tenant_id', t, true);
            UPDATE api_keys SET prefix = 'fdk_' || right(prefix, 8)
             WHERE tenant_id = t AND length(prefix) = 39;
          END LOOP;
          PERFORM set_config('fundament.tenant_id', '', true);
          PERFORM set_config('fundament.operator', '', true);
        END $$;
        REVOKE INSERT, UPDATE ON operator_keys FROM {APP_ROLE};
        DROP POLICY IF EXISTS operator_keys_revoke ON operator_keys;
        DROP POLICY IF EXISTS operator_keys_create ON operator_keys;
        DROP POLICY IF EXISTS operator_keys_read ON operator_keys;
        ALTER TABLE operator_keys DISABLE ROW LEVEL SECURITY;
        ALTER TABLE operator_keys DROP COLUMN IF EXISTS expires_at;
        """
    )
