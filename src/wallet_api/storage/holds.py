"""The hold queries; every one runs with the hold's wallet row already locked by the caller."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from wallet_api.storage.wallets import OperationRow


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


_GET_HOLD = text(
    """
    SELECT h.id, h.wallet_id, w.currency, h.amount_minor, h.status, h.captured_minor,
           h.expires_at, h.created_at, h.status = 'ACTIVE' AND h.expires_at <= now() AS lapsed
    FROM holds h JOIN wallets w ON w.id = h.wallet_id
    WHERE h.id = :id
    """
)

_LOCK_HOLD = text(
    """
    SELECT h.id, h.wallet_id, w.currency, h.amount_minor, h.status, h.captured_minor,
           h.expires_at, h.created_at, h.status = 'ACTIVE' AND h.expires_at <= now() AS lapsed
    FROM holds h JOIN wallets w ON w.id = h.wallet_id
    WHERE h.id = :id
    FOR UPDATE OF h
    """
)

_WALLET_OF_HOLD = text("SELECT wallet_id FROM holds WHERE id = :id")

_CREATE_HOLD = text(
    """
    WITH hold AS (
        INSERT INTO holds (id, wallet_id, amount_minor, expires_at)
        VALUES (:id, :wallet_id, :amount_minor, now() + make_interval(secs => :seconds))
        RETURNING id, expires_at
    )
    UPDATE wallets w
    SET held_minor = w.held_minor + :amount_minor,
        holds_expire_at = LEAST(w.holds_expire_at, hold.expires_at),
        updated_at = now()
    FROM hold WHERE w.id = :wallet_id
    """
)

_CAPTURE = text(
    """
    WITH hold AS (
        UPDATE holds SET status = 'CAPTURED', captured_minor = :captured_minor, updated_at = now()
        WHERE id = :id
        RETURNING id, wallet_id, amount_minor
    ), wallet AS (
        UPDATE wallets w
        SET balance_minor = w.balance_minor - :captured_minor,
            held_minor = w.held_minor - hold.amount_minor,
            updated_at = now()
        FROM hold WHERE w.id = hold.wallet_id
        RETURNING w.id
    )
    INSERT INTO operations (wallet_id, operation_type, amount_minor, hold_id)
    SELECT wallet_id, 'HOLD_CAPTURE', :captured_minor, id FROM hold
    RETURNING id, wallet_id, operation_type, amount_minor, created_at, transfer_id, hold_id
    """
)

_VOID = text(
    """
    WITH hold AS (
        UPDATE holds SET status = 'VOIDED', updated_at = now()
        WHERE id = :id
        RETURNING wallet_id, amount_minor
    )
    UPDATE wallets w
    SET held_minor = w.held_minor - hold.amount_minor, updated_at = now()
    FROM hold WHERE w.id = hold.wallet_id
    """
)

# The caller holds the wallet's lock and this statement's snapshot was taken after it was granted,
# so it sees every hold of the wallet as it is: the new lower bound of their expiries is exact.
_RELEASE_LAPSED = text(
    """
    WITH lapsed AS (
        UPDATE holds SET status = 'EXPIRED', updated_at = now()
        WHERE wallet_id = :wallet_id AND status = 'ACTIVE' AND expires_at <= now()
        RETURNING amount_minor
    )
    UPDATE wallets
    SET held_minor = held_minor - (SELECT COALESCE(sum(amount_minor), 0) FROM lapsed),
        holds_expire_at = (
            SELECT min(expires_at) FROM holds
            WHERE wallet_id = :wallet_id AND status = 'ACTIVE' AND expires_at > now()
        )
    WHERE id = :wallet_id
    RETURNING (SELECT count(*) FROM lapsed) AS released
    """
)

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


async def wallet_of_hold(connection: AsyncConnection, hold_id: uuid.UUID) -> uuid.UUID | None:
    return (await connection.execute(_WALLET_OF_HOLD, {"id": hold_id})).scalar_one_or_none()


async def lock_hold(connection: AsyncConnection, hold_id: uuid.UUID) -> HoldRow:
    return HoldRow(*(await connection.execute(_LOCK_HOLD, {"id": hold_id})).one())


async def create_hold(
    connection: AsyncConnection,
    hold_id: uuid.UUID,
    wallet_id: uuid.UUID,
    amount_minor: int,
    expires_in_seconds: int,
) -> None:
    params = {
        "id": hold_id,
        "wallet_id": wallet_id,
        "amount_minor": amount_minor,
        "seconds": expires_in_seconds,
    }
    await connection.execute(_CREATE_HOLD, params)


async def capture_hold(
    connection: AsyncConnection, hold_id: uuid.UUID, captured_minor: int
) -> OperationRow:
    params = {"id": hold_id, "captured_minor": captured_minor}
    return OperationRow(*(await connection.execute(_CAPTURE, params)).one())


async def void_hold(connection: AsyncConnection, hold_id: uuid.UUID) -> None:
    await connection.execute(_VOID, {"id": hold_id})


async def release_lapsed_holds(connection: AsyncConnection, wallet_id: uuid.UUID) -> int:
    """Mark the wallet's lapsed holds EXPIRED and free their funds; the wallet must be locked."""
    result = await connection.execute(_RELEASE_LAPSED, {"wallet_id": wallet_id})
    return result.scalar_one()


async def wallets_with_lapsed_holds(connection: AsyncConnection, limit: int) -> list[uuid.UUID]:
    rows = (await connection.execute(_WALLETS_WITH_LAPSED_HOLDS, {"limit": limit})).all()
    return [row.wallet_id for row in rows]
