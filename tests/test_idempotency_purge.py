"""Expired idempotency keys are purged in small batches that never wait for a writer."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from wallet_api.ledger.ledger import Ledger
from wallet_api.settings import Settings
from wallet_api.storage.database import Database


async def test_purge_removes_expired_keys_only(db: asyncpg.Connection, database_url: str) -> None:
    await db.execute(
        """
        INSERT INTO idempotency_keys (caller, key, fingerprint, outcome, expires_at)
        SELECT 0, 'purge-old-' || n, sha256(''::bytea), '{}'::jsonb, now() - interval '1 hour'
        FROM generate_series(1, 2500) n
        UNION ALL
        SELECT 0, 'purge-fresh-' || n, sha256(''::bytea), '{}'::jsonb, now() + interval '1 hour'
        FROM generate_series(1, 10) n
        """
    )
    database = Database(Settings(), database_url)
    ledger = Ledger(database, default_currency="USD", idempotency_ttl=timedelta(hours=24))
    try:
        purged = [await ledger.purge_expired_idempotency_keys() for _ in range(4)]
    finally:
        await database.dispose()

    assert purged[:3] == [1000, 1000, 500] or sum(purged) >= 2500
    assert (
        await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE key LIKE 'purge-old-%'") == 0
    )
    fresh = await db.fetchval(
        "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'purge-fresh-%'"
    )
    assert fresh == 10
