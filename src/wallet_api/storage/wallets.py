"""The wallet queries: each money movement is one statement that checks, updates and records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, TextClause, text
from sqlalchemy.ext.asyncio import AsyncEngine

from wallet_api.storage.errors import unavailable_as_storage_error


@dataclass(frozen=True, slots=True)
class WalletRow:
    id: uuid.UUID
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
class Refusal:
    """Why a movement changed nothing: the wallet is missing, or the check on its balance failed."""

    wallet_exists: bool


# The wallet row is created or updated and the operation recorded in one statement, so the row
# lock is held for one statement only. ON CONFLICT makes racing first deposits add up instead of
# failing; the WHERE keeps the balance within its limit.
_DEPOSIT = text(
    """
    WITH wallet AS (
        INSERT INTO wallets AS w (id, balance_minor) VALUES (:wallet_id, :amount_minor)
        ON CONFLICT (id) DO UPDATE
            SET balance_minor = w.balance_minor + EXCLUDED.balance_minor, updated_at = now()
            WHERE w.balance_minor + EXCLUDED.balance_minor <= :max_balance_minor
        RETURNING w.id
    ), operation AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor)
        SELECT id, 'DEPOSIT', :amount_minor FROM wallet
        RETURNING id, created_at
    )
    SELECT operation.id, operation.created_at
    FROM wallet CROSS JOIN operation
    """
)

# The UPDATE's WHERE is re-checked on the newest row version after waiting for the lock, so
# parallel withdrawals can never take the balance below zero. When nothing matched, the EXISTS
# (evaluated on the statement's snapshot) tells a missing wallet from a short balance.
_WITHDRAW = text(
    """
    WITH wallet AS (
        UPDATE wallets SET balance_minor = balance_minor - :amount_minor, updated_at = now()
        WHERE id = :wallet_id AND balance_minor >= :amount_minor
        RETURNING id
    ), operation AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor)
        SELECT id, 'WITHDRAW', :amount_minor FROM wallet
        RETURNING id, created_at
    )
    SELECT operation.id, operation.created_at,
           EXISTS (SELECT 1 FROM wallets WHERE id = :wallet_id) AS wallet_exists
    FROM (VALUES (1)) AS one
    LEFT JOIN wallet ON true
    LEFT JOIN operation ON true
    """
)

_GET_WALLET = text(
    "SELECT id, balance_minor, created_at, updated_at FROM wallets WHERE id = :wallet_id"
)


class WalletStore:
    """The wallet tables, reached through one pool; every movement runs as one atomic statement."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # A single statement is atomic on its own: no BEGIN/COMMIT round trips around it.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def get_wallet(self, wallet_id: uuid.UUID) -> WalletRow | None:
        with unavailable_as_storage_error():
            async with self._autocommit.connect() as connection:
                result = await connection.execute(_GET_WALLET, {"wallet_id": wallet_id})
                row = result.one_or_none()
        return None if row is None else WalletRow(*row)

    async def deposit(
        self, wallet_id: uuid.UUID, amount_minor: int, max_balance_minor: int
    ) -> OperationRow | None:
        """The stored deposit, or None when it would take the balance above `max_balance_minor`."""
        params = {"max_balance_minor": max_balance_minor}
        row = await self._move(_DEPOSIT, wallet_id, amount_minor, params)
        return None if row is None else _operation_row(row, wallet_id, "DEPOSIT", amount_minor)

    async def withdraw(self, wallet_id: uuid.UUID, amount_minor: int) -> OperationRow | Refusal:
        row = await self._move(_WITHDRAW, wallet_id, amount_minor, {})
        assert row is not None
        if row.id is None:
            return Refusal(wallet_exists=row.wallet_exists)
        return _operation_row(row, wallet_id, "WITHDRAW", amount_minor)

    async def _move(
        self, statement: TextClause, wallet_id: uuid.UUID, amount_minor: int, extra: dict[str, int]
    ) -> Row[Any] | None:
        params = {"wallet_id": wallet_id, "amount_minor": amount_minor, **extra}
        with unavailable_as_storage_error():
            async with self._autocommit.connect() as connection:
                result = await connection.execute(statement, params)
                return result.one_or_none()

    async def schema_revision(self) -> str | None:
        with unavailable_as_storage_error():
            async with self._autocommit.connect() as connection:
                result = await connection.execute(text("SELECT version_num FROM alembic_version"))
                return result.scalar_one_or_none()


def _operation_row(
    row: Row[Any], wallet_id: uuid.UUID, operation_type: str, amount_minor: int
) -> OperationRow:
    return OperationRow(
        id=row.id,
        wallet_id=wallet_id,
        operation_type=operation_type,
        amount_minor=amount_minor,
        created_at=row.created_at,
    )
