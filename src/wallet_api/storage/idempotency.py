"""Idempotency keys: claimed, answered and purged in the same transactions as the money."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from wallet_api.storage.errors import sqlstate

LOCK_NOT_AVAILABLE = "55P03"


class KeyBusy(Exception):
    """Another transaction held the key for longer than the lock timeout."""


@dataclass(frozen=True, slots=True)
class StoredKey:
    fingerprint: bytes
    status_code: int
    response_body: bytes


# A key still being answered by another transaction makes this INSERT wait for that transaction
# (the unique index), so a concurrent retry sees the finished answer, never a half-done one.
# An expired key is taken over as if it were new.
_CLAIM = text(
    """
    INSERT INTO idempotency_keys AS k (key, fingerprint, status_code, response_body, expires_at)
    VALUES (:key, :fingerprint, 0, '', now() + CAST(:ttl AS interval))
    ON CONFLICT (key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, created_at = now(),
            expires_at = EXCLUDED.expires_at
        WHERE k.expires_at <= now()
    RETURNING true
    """
)

_STORED = text(
    "SELECT fingerprint, status_code, response_body FROM idempotency_keys WHERE key = :key"
)

_ANSWER = text(
    """
    UPDATE idempotency_keys SET status_code = :status_code, response_body = :response_body
    WHERE key = :key
    """
)

# Small batches that skip locked rows: a purge never waits for, nor blocks, a write.
_PURGE_BATCH = text(
    """
    DELETE FROM idempotency_keys WHERE key IN (
        SELECT key FROM idempotency_keys WHERE expires_at <= now()
        LIMIT :batch FOR UPDATE SKIP LOCKED
    )
    """
)


async def claim(
    connection: AsyncConnection, key: str, fingerprint: bytes, ttl: timedelta
) -> StoredKey | None:
    """None when this transaction now owns the key; else the answer stored under it."""
    params = {"key": key, "fingerprint": fingerprint, "ttl": ttl}
    try:
        claimed = (await connection.execute(_CLAIM, params)).scalar_one_or_none()
    except DBAPIError as error:
        if sqlstate(error) == LOCK_NOT_AVAILABLE:
            raise KeyBusy(key) from error
        raise
    if claimed:
        return None
    row = (await connection.execute(_STORED, {"key": key})).one()
    return StoredKey(*row)


async def answer(
    connection: AsyncConnection, key: str, status_code: int, response_body: bytes
) -> None:
    params = {"key": key, "status_code": status_code, "response_body": response_body}
    await connection.execute(_ANSWER, params)


async def purge_expired(connection: AsyncConnection, batch: int = 1000) -> int:
    result = await connection.execute(_PURGE_BATCH, {"batch": batch})
    return result.rowcount
