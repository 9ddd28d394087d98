"""The transfer reads; transfers are written only by an engine batch (`storage/batch.py`)."""

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
    reference: str | None = None
    metadata: str | None = None  # JSON


# A TransferRow's columns, in its order, of TRANSFERS_WITH_CURRENCY (a transfer's currency is
# its wallets').
TRANSFER_COLUMNS = """
    t.id, t.from_wallet_id, t.to_wallet_id, w.currency, t.amount_minor, t.created_at,
    t.reference, t.metadata::text
    """
TRANSFERS_WITH_CURRENCY = "transfers t JOIN wallets w ON w.id = t.from_wallet_id"

_GET = text(f"SELECT {TRANSFER_COLUMNS} FROM {TRANSFERS_WITH_CURRENCY} WHERE t.id = :id")

_WALLETS = "SELECT from_wallet_id, to_wallet_id FROM transfers WHERE id = $1"


async def wallets_of(
    connection: asyncpg.Connection, transfer_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID] | None:
    row = await connection.fetchrow(_WALLETS, transfer_id)
    return None if row is None else (row[0], row[1])


async def get_transfer(connection: AsyncConnection, transfer_id: uuid.UUID) -> TransferRow | None:
    row = (await connection.execute(_GET, {"id": transfer_id})).one_or_none()
    return None if row is None else TransferRow(*row)
