from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        # Two processes starting at once (several workers, a rolling deploy) must not
        # both run the same migration: serialise on an advisory lock.
        connection.exec_driver_sql("SELECT pg_advisory_lock(724201)")
        try:
            context.configure(connection=connection, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(724201)")
            connection.commit()


run_migrations_online()
