"""The hold reads; holds are written only by an engine batch (`storage/batch.py`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class HoldRow:
    id: uuid.UUID
    wallet_id: uuid.UUID
    currency: str
    amount_minor: int
    status: str
    captured_minor: int | None
    expires_at: datetime
    created_at: datetime
    lapsed: bool
    reference: str | None = None
    metadata: str | None = None  # JSON


# A HoldRow's columns, in its order, of HOLDS_WITH_CURRENCY. A hold past its expiry reads as
# lapsed (EXPIRED) at once, before the engine or the sweep marks it.
HOLD_COLUMNS = """
    h.id, h.wallet_id, w.currency, h.amount_minor, h.status, h.captured_minor, h.expires_at,
    h.created_at, h.status = 'ACTIVE' AND h.expires_at <= now() AS lapsed, h.reference,
    h.metadata::text
    """
HOLDS_WITH_CURRENCY = "holds h JOIN wallets w ON w.id = h.wallet_id"

_GET_HOLD = text(f"SELECT {HOLD_COLUMNS} FROM {HOLDS_WITH_CURRENCY} WHERE h.id = :id")

_WALLET_OF_HOLD = "SELECT wallet_id FROM holds WHERE id = $1"

_WALLETS_WITH_LAPSED_HOLDS = text(
    """
    SELECT DISTINCT wallet_id FROM holds
    WHERE status = 'ACTIVE' AND expires_at <= now()
    LIMIT :limit
    """
)


async def get_hold(connection: AsyncConnection, hold_id: uuid.UUID) -> HoldRow | None:
    row = (await connection.execute(_GET_HOLD, {"id": hold_id})).one_or_none()
    return None if row is None else HoldRow(*row)


async def wallet_of_hold(connection: asyncpg.Connection, hold_id: uuid.UUID) -> uuid.UUID | None:
    wallet_id: uuid.UUID | None = await connection.fetchval(_WALLET_OF_HOLD, hold_id)
    return wallet_id


async def wallets_with_lapsed_holds(connection: AsyncConnection, limit: int) -> list[uuid.UUID]:
    rows = (await connection.execute(_WALLETS_WITH_LAPSED_HOLDS, {"limit": limit})).all()
    return [row.wallet_id for row in rows]
