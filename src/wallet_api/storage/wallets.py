"""The wallet queries: each money movement is one statement that checks, updates and records.

The statements on the hot path (a balance, a deposit, a withdrawal, a batch) run on the asyncpg
driver directly, with $n parameters: the benchmark showed SQLAlchemy's layer costing about a
third of a read's throughput. The others go through SQLAlchemy Core.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class WalletRow:
    id: uuid.UUID
    currency: str
    balance_minor: int
    held_minor: int
    lapsed_held_minor: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OperationRow:
    id: int
    wallet_id: uuid.UUID
    operation_type: str
    amount_minor: int
    created_at: datetime
    transfer_id: uuid.UUID | None = None
    hold_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Movement:
    """The stored operation, or None with the wallet's currency (None: no such wallet) as seen
    by the statement, so the caller can tell a refused check from a wrong currency guess, and
    whether one of the wallet's holds has lapsed without being released yet."""

    operation: OperationRow | None
    wallet_currency: str | None
    holds_lapsed: bool = False


# The wallet row is created or updated and the operation recorded in one statement, so the row
# lock is held for one statement only. ON CONFLICT makes racing first deposits add up instead of
# failing; its WHERE refuses a deposit in another currency or above the balance limit.
_DEPOSIT = """
    WITH wallet AS (
        INSERT INTO wallets AS w (id, currency, balance_minor)
        VALUES ($1, $2, $3)
        ON CONFLICT (id) DO UPDATE
            SET balance_minor = w.balance_minor + EXCLUDED.balance_minor, updated_at = now()
            WHERE w.currency = EXCLUDED.currency
              AND w.balance_minor + EXCLUDED.balance_minor <= $4
        RETURNING w.id
    ), operation AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor)
        SELECT id, 'DEPOSIT', $3 FROM wallet
        RETURNING id, created_at
    )
    SELECT operation.id, operation.created_at,
           (SELECT currency FROM wallets WHERE id = $1) AS wallet_currency,
           false AS holds_lapsed
    FROM (VALUES (1)) AS one LEFT JOIN operation ON true
    """

# The UPDATE's WHERE is re-checked on the newest row version after waiting for the lock, so
# parallel withdrawals can never take the available balance (balance less active holds) below
# zero. Everything it checks is in the wallet row; while holds_expire_at is in the future no hold
# has lapsed, and once it is not, the withdrawal waits for the lapsed holds to be released. When
# nothing matched, the wallet as the statement's snapshot saw it tells why.
_WITHDRAW = """
    WITH wallet AS (
        UPDATE wallets SET balance_minor = balance_minor - $3, updated_at = now()
        WHERE id = $1 AND currency = $2
          AND balance_minor - held_minor >= $3
          AND (holds_expire_at IS NULL OR holds_expire_at > now())
        RETURNING id
    ), operation AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor)
        SELECT id, 'WITHDRAW', $3 FROM wallet
        RETURNING id, created_at
    )
    SELECT operation.id, operation.created_at, seen.currency AS wallet_currency,
           COALESCE(seen.holds_expire_at <= now(), false) AS holds_lapsed
    FROM (VALUES (1)) AS one
    LEFT JOIN operation ON true
    LEFT JOIN (SELECT currency, holds_expire_at FROM wallets WHERE id = $1) seen ON true
    """

# Holds that lapsed but were not released yet still count in held_minor; a read treats them as
# released at once. Only a wallet whose holds_expire_at has passed pays for the sum.
_GET_WALLET = """
    SELECT w.id, w.currency, w.balance_minor, w.held_minor,
           CASE WHEN w.holds_expire_at <= now() THEN (
               SELECT COALESCE(sum(h.amount_minor), 0) FROM holds h
               WHERE h.wallet_id = w.id AND h.status = 'ACTIVE' AND h.expires_at <= now()
           ) ELSE 0 END AS lapsed_held_minor,
           w.created_at, w.updated_at
    FROM wallets w WHERE w.id = $1
    """

_CREATE_WALLET = text(
    """
    INSERT INTO wallets (id, currency) VALUES (:wallet_id, :currency)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, currency, balance_minor, held_minor, 0, created_at, updated_at
    """
)

# Absent filters take values that match everything, so one plan serves every page: an index
# range scan on (wallet_id, id DESC) that starts right below the cursor.
_OPERATIONS_PAGE = text(
    """
    SELECT id, wallet_id, operation_type, amount_minor, created_at, transfer_id, hold_id
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


@dataclass(frozen=True, slots=True)
class LockedWallet:
    """A wallet row locked by this transaction: what it holds cannot change until commit."""

    id: uuid.UUID
    currency: str
    balance_minor: int
    held_minor: int
    holds_lapsed: bool

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.held_minor


# Rows are locked in id order, the one order every transaction follows: two transfers in
# opposite directions queue behind each other instead of deadlocking.
_LOCK_WALLETS = text(
    """
    SELECT id, currency, balance_minor, held_minor,
           COALESCE(holds_expire_at <= now(), false) AS holds_lapsed
    FROM wallets WHERE id = ANY(:wallet_ids)
    ORDER BY id
    FOR UPDATE
    """
)


async def lock_wallets(
    connection: AsyncConnection, wallet_ids: list[uuid.UUID]
) -> dict[uuid.UUID, LockedWallet]:
    rows = (await connection.execute(_LOCK_WALLETS, {"wallet_ids": wallet_ids})).all()
    return {row.id: LockedWallet(*row) for row in rows}


async def get_wallet(connection: asyncpg.Connection, wallet_id: uuid.UUID) -> WalletRow | None:
    row = await connection.fetchrow(_GET_WALLET, wallet_id)
    return None if row is None else WalletRow(*row)


async def create_wallet(
    connection: AsyncConnection, wallet_id: uuid.UUID, currency: str
) -> WalletRow | None:
    """The new wallet, or None when one with this id exists already."""
    params = {"wallet_id": wallet_id, "currency": currency}
    row = (await connection.execute(_CREATE_WALLET, params)).one_or_none()
    return None if row is None else WalletRow(*row)


async def deposit(
    connection: asyncpg.Connection,
    wallet_id: uuid.UUID,
    currency: str,
    amount_minor: int,
    max_balance_minor: int,
) -> Movement:
    row = await connection.fetchrow(_DEPOSIT, wallet_id, currency, amount_minor, max_balance_minor)
    return _movement(row, "DEPOSIT", wallet_id, amount_minor)


async def withdraw(
    connection: asyncpg.Connection, wallet_id: uuid.UUID, currency: str, amount_minor: int
) -> Movement:
    row = await connection.fetchrow(_WITHDRAW, wallet_id, currency, amount_minor)
    return _movement(row, "WITHDRAW", wallet_id, amount_minor)


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


def _movement(
    row: asyncpg.Record, operation_type: str, wallet_id: uuid.UUID, amount_minor: int
) -> Movement:
    if row["id"] is None:
        return Movement(None, row["wallet_currency"], holds_lapsed=row["holds_lapsed"])
    operation = OperationRow(row["id"], wallet_id, operation_type, amount_minor, row["created_at"])
    return Movement(operation=operation, wallet_currency=row["wallet_currency"])


# A batch of deposits and withdrawals for one wallet in one statement: the wallet row is locked
# once and updated once, and every operation row is inserted by one INSERT, in arrival order. The
# WHERE holds the balance limit and the available balance at every step of the running sum, so
# the statement changes nothing unless every operation in the batch may land.
_APPLY_BATCH = """
    WITH batch AS (
        SELECT b.operation_type, b.amount_minor, b.ord,
               sum(CASE WHEN b.operation_type = 'DEPOSIT' THEN b.amount_minor
                        ELSE -b.amount_minor END) OVER (ORDER BY b.ord) AS running
        FROM unnest($3::text[], $4::bigint[])
             WITH ORDINALITY AS b(operation_type, amount_minor, ord)
    ), bounds AS (
        SELECT sum(CASE WHEN operation_type = 'DEPOSIT' THEN amount_minor
                        ELSE -amount_minor END) AS delta,
               LEAST(min(running), 0) AS lowest, GREATEST(max(running), 0) AS highest
        FROM batch
    ), wallet AS (
        UPDATE wallets w SET balance_minor = w.balance_minor + bounds.delta, updated_at = now()
        FROM bounds
        WHERE w.id = $1 AND w.currency = $2
          AND w.balance_minor - w.held_minor + bounds.lowest >= 0
          AND w.balance_minor + bounds.highest <= $5
          AND (w.holds_expire_at IS NULL OR w.holds_expire_at > now())
        RETURNING w.id
    ), inserted AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor)
        SELECT wallet.id, batch.operation_type, batch.amount_minor
        FROM wallet CROSS JOIN batch
        ORDER BY batch.ord
        RETURNING id, created_at
    )
    SELECT id, created_at FROM inserted ORDER BY id
    """


# Deposits and withdrawals on different wallets, one each, in one statement. Every row goes
# through the INSERT ... ON CONFLICT in wallet id order, so rows are locked in the one order
# every transaction follows. The proposed row of a withdrawal carries balance 0 (the CHECK
# constraints hold for it) and is proposed only for a wallet that exists, so it always takes
# the UPDATE path, where the signed delta comes from the batch. Each row's WHERE is the check
# of its single statement; a refused one changes nothing, and the snapshot's view of its wallet
# tells the caller why.
_APPLY_ACROSS = """
    WITH batch AS (
        SELECT b.wallet_id, b.currency, b.operation_type, b.amount_minor, b.limit_minor, b.ord,
               CASE WHEN b.operation_type = 'DEPOSIT' THEN b.amount_minor
                    ELSE -b.amount_minor END AS delta
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
             WITH ORDINALITY AS b(wallet_id, currency, operation_type, amount_minor, limit_minor,
                                  ord)
    ), landed AS (
        INSERT INTO wallets AS w (id, currency, balance_minor)
        SELECT batch.wallet_id, batch.currency, GREATEST(batch.delta, 0) FROM batch
        WHERE batch.delta > 0 OR EXISTS (SELECT 1 FROM wallets e WHERE e.id = batch.wallet_id)
        ORDER BY batch.wallet_id
        ON CONFLICT (id) DO UPDATE
            SET balance_minor = w.balance_minor + (SELECT delta FROM batch WHERE wallet_id = w.id),
                updated_at = now()
            WHERE w.currency = EXCLUDED.currency
              AND w.balance_minor + (SELECT delta FROM batch WHERE wallet_id = w.id)
                  <= (SELECT limit_minor FROM batch WHERE wallet_id = w.id)
              AND w.balance_minor - w.held_minor
                  + (SELECT delta FROM batch WHERE wallet_id = w.id) >= 0
              AND (EXCLUDED.balance_minor > 0
                   OR w.holds_expire_at IS NULL OR w.holds_expire_at > now())
        RETURNING w.id
    ), operation AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor)
        SELECT batch.wallet_id, batch.operation_type, batch.amount_minor
        FROM batch JOIN landed ON landed.id = batch.wallet_id
        ORDER BY batch.ord
        RETURNING id, wallet_id, created_at
    )
    SELECT operation.id, operation.created_at, seen.currency AS wallet_currency,
           COALESCE(seen.holds_expire_at <= now(), false) AS holds_lapsed
    FROM batch
    LEFT JOIN operation ON operation.wallet_id = batch.wallet_id
    LEFT JOIN wallets seen ON seen.id = batch.wallet_id
    ORDER BY batch.ord
    """


@dataclass(frozen=True, slots=True)
class Move:
    """A deposit or a withdrawal of one wallet, for `apply_across`."""

    wallet_id: uuid.UUID
    currency: str
    operation_type: str
    amount_minor: int
    max_balance_minor: int


async def apply_across(connection: asyncpg.Connection, moves: list[Move]) -> list[Movement]:
    """Each move (on distinct wallets) as its single statement would decide it, in one."""
    rows = await connection.fetch(
        _APPLY_ACROSS,
        [move.wallet_id for move in moves],
        [move.currency for move in moves],
        [move.operation_type for move in moves],
        [move.amount_minor for move in moves],
        [move.max_balance_minor for move in moves],
    )
    return [
        _movement(row, move.operation_type, move.wallet_id, move.amount_minor)
        for row, move in zip(rows, moves, strict=True)
    ]


async def apply_batch(
    connection: asyncpg.Connection,
    wallet_id: uuid.UUID,
    currency: str,
    operations: list[tuple[str, int]],
    max_balance_minor: int,
) -> list[OperationRow] | None:
    """All of `operations` (type, amount) in arrival order, or None and nothing changed."""
    rows = await connection.fetch(
        _APPLY_BATCH,
        wallet_id,
        currency,
        [operation_type for operation_type, _ in operations],
        [amount_minor for _, amount_minor in operations],
        max_balance_minor,
    )
    if not rows:
        return None
    # Identity values are drawn in insertion order, so ascending ids follow the arrival order.
    return [
        OperationRow(row["id"], wallet_id, operation_type, amount_minor, row["created_at"])
        for row, (operation_type, amount_minor) in zip(rows, operations, strict=True)
    ]
