"""The wallet queries: each money movement is one statement that checks, updates and records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class WalletRow:
    id: uuid.UUID
    currency: str
    balance_minor: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OperationRow:
    id: int
    wallet_id: uuid.UUID
    operation_type: str
    amount_minor: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Movement:
    """The stored operation, or None with the wallet's currency (None: no such wallet) as seen
    by the statement, so the caller can tell a refused check from a wrong currency guess."""

    operation: OperationRow | None
    wallet_currency: str | None


# The wallet row is created or updated and the operation recorded in one statement, so the row
# lock is held for one statement only. ON CONFLICT makes racing first deposits add up instead of
# failing; its WHERE refuses a deposit in another currency or above the balance limit.
_DEPOSIT = text(
    """
    WITH wallet AS (
        INSERT INTO wallets AS w (id, currency, balance_minor)
        VALUES (:wallet_id, :currency, :amount_minor)
        ON CONFLICT (id) DO UPDATE
            SET balance_minor = w.balance_minor + EXCLUDED.balance_minor, updated_at = now()
            WHERE w.currency = EXCLUDED.currency
              AND w.balance_minor + EXCLUDED.balance_minor <= :max_balance_minor
        RETURNING w.id
    ), operation AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor)
        SELECT id, 'DEPOSIT', :amount_minor FROM wallet
        RETURNING id, created_at
    )
    SELECT operation.id, operation.created_at,
           (SELECT currency FROM wallets WHERE id = :wallet_id) AS wallet_currency
    FROM (VALUES (1)) AS one LEFT JOIN operation ON true
    """
)

# The UPDATE's WHERE is re-checked on the newest row version after waiting for the lock, so
# parallel withdrawals can never take the balance below zero. When nothing matched, the wallet's
# currency (read on the statement's snapshot) tells a missing wallet from a short balance.
_WITHDRAW = text(
    """
    WITH wallet AS (
        UPDATE wallets SET balance_minor = balance_minor - :amount_minor, updated_at = now()
        WHERE id = :wallet_id AND currency = :currency AND balance_minor >= :amount_minor
        RETURNING id
    ), operation AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor)
        SELECT id, 'WITHDRAW', :amount_minor FROM wallet
        RETURNING id, created_at
    )
    SELECT operation.id, operation.created_at,
           (SELECT currency FROM wallets WHERE id = :wallet_id) AS wallet_currency
    FROM (VALUES (1)) AS one LEFT JOIN operation ON true
    """
)

_GET_WALLET = text(
    "SELECT id, currency, balance_minor, created_at, updated_at FROM wallets WHERE id = :wallet_id"
)

_CREATE_WALLET = text(
    """
    INSERT INTO wallets (id, currency) VALUES (:wallet_id, :currency)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, currency, balance_minor, created_at, updated_at
    """
)

# Absent filters take values that match everything, so one plan serves every page: an index
# range scan on (wallet_id, id DESC) that starts right below the cursor.
_OPERATIONS_PAGE = text(
    """
    SELECT id, wallet_id, operation_type, amount_minor, created_at
    FROM operations
    WHERE wallet_id = :wallet_id
      AND id < :before_id
      AND operation_type = ANY(:operation_types)
      AND created_at > :created_after
      AND created_at < :created_before
    ORDER BY id DESC
    LIMIT :limit
    """
)


async def get_wallet(connection: AsyncConnection, wallet_id: uuid.UUID) -> WalletRow | None:
    row = (await connection.execute(_GET_WALLET, {"wallet_id": wallet_id})).one_or_none()
    return None if row is None else WalletRow(*row)


async def create_wallet(
    connection: AsyncConnection, wallet_id: uuid.UUID, currency: str
) -> WalletRow | None:
    """The new wallet, or None when one with this id exists already."""
    params = {"wallet_id": wallet_id, "currency": currency}
    row = (await connection.execute(_CREATE_WALLET, params)).one_or_none()
    return None if row is None else WalletRow(*row)


async def deposit(
    connection: AsyncConnection,
    wallet_id: uuid.UUID,
    currency: str,
    amount_minor: int,
    max_balance_minor: int,
) -> Movement:
    params = {"currency": currency, "max_balance_minor": max_balance_minor}
    return await _move(connection, _DEPOSIT, "DEPOSIT", wallet_id, amount_minor, params)


async def withdraw(
    connection: AsyncConnection, wallet_id: uuid.UUID, currency: str, amount_minor: int
) -> Movement:
    params = {"currency": currency}
    return await _move(connection, _WITHDRAW, "WITHDRAW", wallet_id, amount_minor, params)


async def operations_page(
    connection: AsyncConnection,
    wallet_id: uuid.UUID,
    *,
    before_id: int,
    operation_types: list[str],
    created_after: datetime,
    created_before: datetime,
    limit: int,
) -> list[OperationRow]:
    params = {
        "wallet_id": wallet_id,
        "before_id": before_id,
        "operation_types": operation_types,
        "created_after": created_after,
        "created_before": created_before,
        "limit": limit,
    }
    rows = (await connection.execute(_OPERATIONS_PAGE, params)).all()
    return [OperationRow(*row) for row in rows]


async def schema_revision(connection: AsyncConnection) -> str | None:
    result = await connection.execute(text("SELECT version_num FROM alembic_version"))
    return result.scalar_one_or_none()


async def _move(
    connection: AsyncConnection,
    statement: TextClause,
    operation_type: str,
    wallet_id: uuid.UUID,
    amount_minor: int,
    extra: dict[str, Any],
) -> Movement:
    params = {"wallet_id": wallet_id, "amount_minor": amount_minor, **extra}
    row: Row[Any] = (await connection.execute(statement, params)).one()
    if row.id is None:
        return Movement(operation=None, wallet_currency=row.wallet_currency)
    operation = OperationRow(row.id, wallet_id, operation_type, amount_minor, row.created_at)
    return Movement(operation=operation, wallet_currency=row.wallet_currency)
