"""Alembic environment: runs the versions on the async engine under an advisory lock."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from wallet_api.storage.primary import primary_connector

# Several replicas may start at once; only one migrates, the others wait and find nothing to do.
MIGRATION_LOCK_KEY = 0x77616C6C6574  # "wallet"


def run_versions(connection: Connection) -> None:
    # The lock and every version share one transaction: all of it lands, or none of it.
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """`wallet-api migrate --sql`: the SQL for a DBA to read or run, no database needed."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    # On a cluster, the primary, found as the service's pools find it.
    connector = primary_connector(url)
    options = {} if connector is None else {"async_creator": connector}
    engine = create_async_engine(url, poolclass=NullPool, **options)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_versions)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
