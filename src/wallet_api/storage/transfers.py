"""The transfer queries: both wallets change in one statement, with both rows already locked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

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


_RECORD = text(
    """
    WITH transfer AS (
        INSERT INTO transfers (id, from_wallet_id, to_wallet_id, amount_minor)
        VALUES (:id, :from_wallet_id, :to_wallet_id, :amount_minor)
        RETURNING id, created_at
    ), debit AS (
        UPDATE wallets SET balance_minor = balance_minor - :amount_minor, updated_at = now()
        WHERE id = :from_wallet_id
    ), credit AS (
        UPDATE wallets SET balance_minor = balance_minor + :amount_minor, updated_at = now()
        WHERE id = :to_wallet_id
    ), legs AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor, transfer_id)
        SELECT :from_wallet_id, 'TRANSFER_OUT', :amount_minor, id FROM transfer
        UNION ALL
        SELECT :to_wallet_id, 'TRANSFER_IN', :amount_minor, id FROM transfer
    )
    SELECT created_at FROM transfer
    """
)

_GET = text(
    """
    SELECT t.id, t.from_wallet_id, t.to_wallet_id, w.currency, t.amount_minor, t.created_at
    FROM transfers t JOIN wallets w ON w.id = t.from_wallet_id
    WHERE t.id = :id
    """
)


async def record_transfer(
    connection: AsyncConnection,
    transfer_id: uuid.UUID,
    from_wallet_id: uuid.UUID,
    to_wallet_id: uuid.UUID,
    amount_minor: int,
) -> datetime:
    """Move the money and write the transfer with its two operations; returns its creation time."""
    params = {
        "id": transfer_id,
        "from_wallet_id": from_wallet_id,
        "to_wallet_id": to_wallet_id,
        "amount_minor": amount_minor,
    }
    return (await connection.execute(_RECORD, params)).scalar_one()


async def get_transfer(connection: AsyncConnection, transfer_id: uuid.UUID) -> TransferRow | None:
    row = (await connection.execute(_GET, {"id": transfer_id})).one_or_none()
    return None if row is None else TransferRow(*row)
