"""index slots: a fixed set of shared indexes instead of one per declared field path

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Until now every distinct field path any tenant declared built one more expression index
on the shared records table: the index count grew with tenants' declarations, every
insert of every tenant paid for all of them, and one tenant's index on ``w`` made another
tenant's long value in ``w`` fail (btree entries are limited to ~2.7 kB). Now the table
has eight slot columns with one partial index each, filled only for collections that
declare indexes, with values bounded by ``fundament_index_key``. See
docs/adr/0008-index-slots.md.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SLOTS = 8

# Bounded and monotone in jsonb's order (a <= b implies key(a) <= key(b)), so a slot is
# a safe pre-filter and sort prefix for the real value. Strings keep 200 characters (at
# most 800 bytes: far inside btree's ~2.7 kB entry limit); numbers are rounded to 30
# decimals (when they have more) and clamped to ±1e100; arrays and objects collapse to one key per type.
KEY_FUNCTION = """
CREATE OR REPLACE FUNCTION fundament_index_key(v jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT CASE jsonb_typeof(v)
    WHEN 'string' THEN CASE WHEN length(v #>> '{}') > 200
                            THEN to_jsonb(left(v #>> '{}', 200)) ELSE v END
    WHEN 'number' THEN to_jsonb(round(greatest(least(v::numeric, 1e100), -1e100),
                                      least(scale(v::numeric), 30)))
    WHEN 'boolean' THEN v
    WHEN 'array' THEN '[]'::jsonb
    WHEN 'object' THEN '{}'::jsonb
    ELSE 'null'::jsonb
  END
$fn$
"""


def _assignments() -> str:
    return ", ".join(
        f"i{n} = CASE WHEN jsonb_array_length(c.indexes) > {n} THEN"
        f" fundament_index_key(r.data #> string_to_array(c.indexes ->> {n}, '.')) END"
        for n in range(SLOTS)
    )


def upgrade(app_password: str | None = None) -> None:
    op.execute(KEY_FUNCTION)
    op.execute(
        "ALTER TABLE records " + ", ".join(f"ADD COLUMN IF NOT EXISTS i{n} jsonb" for n in range(SLOTS))
    )
    # Fill the slots of existing records, tenant by tenant: the table's row-level security
    # is forced, so an owner that is not a superuser sees a tenant's rows only in its scope.
    op.execute(
        f"""
        DO $$
        DECLARE t text;
        BEGIN
          FOR t IN SELECT id FROM tenants LOOP
            PERFORM set_config('fundament.tenant_id', t, true);
            UPDATE records r SET {_assignments()}
              FROM collections c
             WHERE c.tenant_id = t AND r.tenant_id = t AND r.collection = c.name
               AND jsonb_array_length(c.indexes) > 0;
          END LOOP;
          PERFORM set_config('fundament.tenant_id', '', true);
        END $$;
        """
    )
    op.execute(
        """
        DO $$
        DECLARE idx text;
        BEGIN
          FOR idx IN SELECT indexname FROM pg_indexes
                      WHERE tablename = 'records' AND indexname LIKE 'records\\_f\\_%' LOOP
            EXECUTE format('DROP INDEX IF EXISTS %I', idx);
          END LOOP;
        END $$;
        """
    )
    for n in range(SLOTS):
        op.execute(
            f"CREATE INDEX IF NOT EXISTS records_i{n} ON records (tenant_id, collection, i{n})"
            f" WHERE i{n} IS NOT NULL"
        )


def downgrade() -> None:
    for n in range(SLOTS):
        op.execute(f"DROP INDEX IF EXISTS records_i{n}")
    op.execute("ALTER TABLE records " + ", ".join(f"DROP COLUMN IF EXISTS i{n}" for n in range(SLOTS)))
    op.execute("DROP FUNCTION IF EXISTS fundament_index_key(jsonb)")
