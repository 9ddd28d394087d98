"""The API key queries: keys are found by the hash of the secret, never by the secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


_INSERT = text(
    """
    INSERT INTO api_keys (name, key_hash, scopes, expires_at)
    VALUES (:name, :key_hash, :scopes, :expires_at)
    RETURNING id, name, scopes, created_at, expires_at, revoked_at
    """
)

# A key that exists already, even revoked, is left as it is: a revoked bootstrap key stays revoked.
_INSERT_IF_ABSENT = text(
    """
    INSERT INTO api_keys (name, key_hash, scopes) VALUES (:name, :key_hash, :scopes)
    ON CONFLICT (key_hash) DO NOTHING
    RETURNING id
    """
)

_BY_HASH = text(
    """
    SELECT id, name, scopes, created_at, expires_at, revoked_at
    FROM api_keys WHERE key_hash = :key_hash
    """
)

_ALL = text("SELECT id, name, scopes, created_at, expires_at, revoked_at FROM api_keys ORDER BY id")

_REVOKE = text(
    """
    UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = :id
    RETURNING id, name, scopes, created_at, expires_at, revoked_at
    """
)

_ANY = text("SELECT EXISTS (SELECT 1 FROM api_keys)")


async def insert(
    connection: AsyncConnection,
    name: str,
    key_hash: bytes,
    scopes: list[str],
    expires_at: datetime | None,
) -> ApiKeyRow:
    params = {"name": name, "key_hash": key_hash, "scopes": scopes, "expires_at": expires_at}
    return ApiKeyRow(*(await connection.execute(_INSERT, params)).one())


async def insert_if_absent(
    connection: AsyncConnection, name: str, key_hash: bytes, scopes: list[str]
) -> bool:
    """True when the key was added, False when a key with this hash existed already."""
    params = {"name": name, "key_hash": key_hash, "scopes": scopes}
    return (await connection.execute(_INSERT_IF_ABSENT, params)).scalar_one_or_none() is not None


async def by_hash(connection: AsyncConnection, key_hash: bytes) -> ApiKeyRow | None:
    row = (await connection.execute(_BY_HASH, {"key_hash": key_hash})).one_or_none()
    return None if row is None else ApiKeyRow(*row)


async def all_keys(connection: AsyncConnection) -> list[ApiKeyRow]:
    return [ApiKeyRow(*row) for row in (await connection.execute(_ALL)).all()]


async def revoke(connection: AsyncConnection, key_id: int) -> ApiKeyRow | None:
    row = (await connection.execute(_REVOKE, {"id": key_id})).one_or_none()
    return None if row is None else ApiKeyRow(*row)


async def any_exist(connection: AsyncConnection) -> bool:
    return bool((await connection.execute(_ANY)).scalar_one())
