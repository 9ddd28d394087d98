"""Idempotency keys past their time: purged in small batches that never wait for a write.

Keys are claimed and answered inside the engine's batches (`storage/batch.py`)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Small batches that skip locked rows: a purge never waits for, nor blocks, a write.
_PURGE_BATCH = text(
    """
    DELETE FROM idempotency_keys WHERE (caller, key) IN (
        SELECT caller, key FROM idempotency_keys WHERE expires_at <= now()
        LIMIT :batch FOR UPDATE SKIP LOCKED
    )
    """
)


async def purge_expired(connection: AsyncConnection, batch: int = 1000) -> int:
    result = await connection.execute(_PURGE_BATCH, {"batch": batch})
    return result.rowcount
