"""The transfer queries: the wallets change in one statement, with their rows already locked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class TransferRow:
    id: uuid.UUID
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    currency: str
    amount_minor: int
    created_at: datetime


# A batch of transfers, checked by the caller under the lock of every wallet they touch, in one
# statement: one INSERT of the transfers, one UPDATE per wallet by the sum of its movements,
# one INSERT of both legs of every transfer, in arrival order.
_RECORD_MANY = """
    WITH batch AS (
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[])
             WITH ORDINALITY AS b(id, from_wallet_id, to_wallet_id, amount_minor, ord)
    ), moved AS (
        INSERT INTO transfers (id, from_wallet_id, to_wallet_id, amount_minor)
        SELECT id, from_wallet_id, to_wallet_id, amount_minor FROM batch ORDER BY ord
        RETURNING created_at
    ), deltas AS (
        SELECT wallet_id, sum(delta) AS delta FROM (
            SELECT from_wallet_id AS wallet_id, -amount_minor AS delta FROM batch
            UNION ALL
            SELECT to_wallet_id, amount_minor FROM batch
        ) movements GROUP BY wallet_id
    ), balances AS (
        UPDATE wallets w SET balance_minor = w.balance_minor + deltas.delta, updated_at = now()
        FROM deltas WHERE w.id = deltas.wallet_id
    ), legs AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor, transfer_id)
        SELECT leg.wallet_id, leg.operation_type, batch.amount_minor, batch.id
        FROM batch CROSS JOIN LATERAL (
            VALUES (1, batch.from_wallet_id, 'TRANSFER_OUT'), (2, batch.to_wallet_id, 'TRANSFER_IN')
        ) AS leg(n, wallet_id, operation_type)
        ORDER BY batch.ord, leg.n
    )
    SELECT min(created_at) FROM moved
    """

_GET = text(
    """
    SELECT t.id, t.from_wallet_id, t.to_wallet_id, w.currency, t.amount_minor, t.created_at
    FROM transfers t JOIN wallets w ON w.id = t.from_wallet_id
    WHERE t.id = :id
    """
)


async def record_transfers(
    connection: asyncpg.Connection, transfers: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, int]]
) -> datetime:
    """Record transfers (id, from, to, amount) checked under their wallets' locks; returns their
    creation time, the transaction's."""
    ids, sources, targets, amounts = (list(column) for column in zip(*transfers, strict=True))
    return await connection.fetchval(_RECORD_MANY, ids, sources, targets, amounts)


async def get_transfer(connection: AsyncConnection, transfer_id: uuid.UUID) -> TransferRow | None:
    row = (await connection.execute(_GET, {"id": transfer_id})).one_or_none()
    return None if row is None else TransferRow(*row)
