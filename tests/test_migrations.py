"""The migrations build the schema from empty and take it down cleanly."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from tests.support import plain_dsn, scratch_database
from wallet_api.storage import migrations


async def user_tables(url: str) -> set[str]:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
    finally:
        await connection.close()


def test_migrations_upgrade_from_empty_and_downgrade_to_nothing(admin_url: str) -> None:
    with scratch_database(admin_url) as url:
        assert asyncio.run(user_tables(url)) == set()
        migrations.upgrade(url)
        assert asyncio.run(user_tables(url)) >= {"wallets", "operations", "alembic_version"}
        migrations.upgrade(url)  # a second run finds nothing to do
        migrations.downgrade(url, "base")
        assert asyncio.run(user_tables(url)) == {"alembic_version"}
        migrations.upgrade(url)
        assert "wallets" in asyncio.run(user_tables(url))


INSERT_OPERATION = (
    "INSERT INTO operations (wallet_id, operation_type, amount_minor, balance_after)"
    " VALUES ($1, 'DEPOSIT', $2, $2)"
)


async def test_database_refuses_negative_balances_and_edits_of_operations(
    db: asyncpg.Connection,
) -> None:
    wallet_id = uuid.uuid4()
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("INSERT INTO wallets (id, balance_minor) VALUES ($1, -1)", wallet_id)
    await db.execute("INSERT INTO wallets (id, balance_minor) VALUES ($1, 5)", wallet_id)
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(INSERT_OPERATION, wallet_id, 0)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute(INSERT_OPERATION, uuid.uuid4(), 5)
    await db.execute(INSERT_OPERATION, wallet_id, 5)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("UPDATE operations SET amount_minor = 6 WHERE wallet_id = $1", wallet_id)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("DELETE FROM operations WHERE wallet_id = $1", wallet_id)
