"""The reads behind statements, balances as of an instant, the lists of transfers, holds and
wallets, and the lookup of a reference: each one index range, whatever the length of the
history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from wallet_api.storage.holds import HOLD_COLUMNS, HOLDS_WITH_CURRENCY, HoldRow
from wallet_api.storage.transfers import TRANSFER_COLUMNS, TRANSFERS_WITH_CURRENCY, TransferRow
from wallet_api.storage.wallets import OPERATION_COLUMNS, OperationRow, WalletRow

# The balance right after the last operation at or before an instant: one step down the
# (wallet_id, created_at, id) index.
_BALANCE_AT = """
    SELECT balance_after, created_at FROM operations
    WHERE wallet_id = $1 AND created_at <= $2
    ORDER BY created_at DESC, id DESC
    LIMIT 1
    """

# What holds reserved at an instant: those placed by then that had not ended yet.
_HELD_AT = """
    SELECT COALESCE(sum(amount_minor), 0) FROM holds
    WHERE wallet_id = $1 AND created_at <= $2 AND expires_at > $2
      AND (status = 'ACTIVE' OR updated_at > $2)
    """

# Money in and out between two instants. A REVERSAL goes the other way from the operation it
# reverses (rules.credits); tests/test_statements.py checks this CASE against it.
_TOTALS = """
    SELECT
        COALESCE(sum(o.amount_minor) FILTER (WHERE o.operation_type = ANY($4::text[])
            OR (o.operation_type = 'REVERSAL' AND NOT r.operation_type = ANY($4::text[]))), 0),
        COALESCE(sum(o.amount_minor) FILTER (WHERE NOT o.operation_type = ANY($4::text[])
            AND NOT (o.operation_type = 'REVERSAL' AND NOT r.operation_type = ANY($4::text[]))),
            0)
    FROM operations o LEFT JOIN operations r ON r.id = o.reverses_id
    WHERE o.wallet_id = $1 AND o.created_at >= $2 AND o.created_at < $3
    """

_LINES = f"""
    SELECT {OPERATION_COLUMNS}
    FROM operations o
    WHERE wallet_id = $1 AND (created_at, id) > ($2, $3) AND created_at < $4
    ORDER BY created_at, id
    LIMIT $5
    """

# Newest first, from the two indexes of a wallet's transfers (as payer and as payee).
_TRANSFERS = f"""
    SELECT {TRANSFER_COLUMNS}
    FROM (
        (SELECT * FROM transfers WHERE from_wallet_id = $1 AND (created_at, id) < ($2, $3)
         ORDER BY created_at DESC, id DESC LIMIT $4)
        UNION ALL
        (SELECT * FROM transfers WHERE to_wallet_id = $1 AND (created_at, id) < ($2, $3)
         ORDER BY created_at DESC, id DESC LIMIT $4)
    ) AS t JOIN wallets w ON w.id = t.from_wallet_id
    ORDER BY t.created_at DESC, t.id DESC
    LIMIT $4
    """

_HOLDS = f"""
    SELECT {HOLD_COLUMNS}
    FROM {HOLDS_WITH_CURRENCY}
    WHERE h.wallet_id = $1 AND (h.created_at, h.id) < ($2, $3)
      AND ($4::text IS NULL
           OR CASE WHEN h.status = 'ACTIVE' AND h.expires_at <= now() THEN 'EXPIRED'
                   ELSE h.status END = $4)
    ORDER BY h.created_at DESC, h.id DESC
    LIMIT $5
    """

# A reference in every wallet, newest first: migration 0010's indexes, and transfers' unique one.
_OPERATIONS_WITH_REFERENCE = f"""
    SELECT {OPERATION_COLUMNS}, w.currency
    FROM operations o JOIN wallets w ON w.id = o.wallet_id
    WHERE o.reference = $1
    ORDER BY o.created_at DESC, o.id DESC
    LIMIT $2
    """

_TRANSFERS_WITH_REFERENCE = f"""
    SELECT {TRANSFER_COLUMNS}
    FROM {TRANSFERS_WITH_CURRENCY}
    WHERE t.reference = $1
    ORDER BY t.created_at DESC, t.id DESC
    LIMIT $2
    """

_HOLDS_WITH_REFERENCE = f"""
    SELECT {HOLD_COLUMNS}
    FROM {HOLDS_WITH_CURRENCY}
    WHERE h.reference = $1
    ORDER BY h.created_at DESC, h.id DESC
    LIMIT $2
    """

_WALLETS = """
    SELECT id, currency, balance_minor, held_minor, 0, created_at, updated_at
    FROM wallets WHERE id > $1 ORDER BY id LIMIT $2
    """


async def balance_at(
    connection: asyncpg.Connection, wallet_id: uuid.UUID, at: datetime
) -> tuple[int, datetime] | None:
    """The balance after the last operation at or before `at`, and that operation's time."""
    row = await connection.fetchrow(_BALANCE_AT, wallet_id, at)
    return None if row is None else (row[0], row[1])


async def held_at(connection: asyncpg.Connection, wallet_id: uuid.UUID, at: datetime) -> int:
    held: int = await connection.fetchval(_HELD_AT, wallet_id, at)
    return held


async def totals(
    connection: asyncpg.Connection,
    wallet_id: uuid.UUID,
    start: datetime,
    end: datetime,
    credit_types: Sequence[str],
) -> tuple[int, int]:
    """Money in and money out of the wallet in [start, end)."""
    row = await connection.fetchrow(_TOTALS, wallet_id, start, end, list(credit_types))
    return row[0], row[1]


async def lines(
    connection: asyncpg.Connection,
    wallet_id: uuid.UUID,
    after: tuple[datetime, int],
    end: datetime,
    limit: int,
) -> list[OperationRow]:
    """The operations after `after` (a time and an id) and before `end`, oldest first."""
    rows = await connection.fetch(_LINES, wallet_id, *after, end, limit)
    return [OperationRow(*row) for row in rows]


async def transfers(
    connection: asyncpg.Connection,
    wallet_id: uuid.UUID,
    before: tuple[datetime, uuid.UUID],
    limit: int,
) -> list[TransferRow]:
    rows = await connection.fetch(_TRANSFERS, wallet_id, *before, limit)
    return [TransferRow(*row) for row in rows]


async def holds(
    connection: asyncpg.Connection,
    wallet_id: uuid.UUID,
    before: tuple[datetime, uuid.UUID],
    status: str | None,
    limit: int,
) -> list[HoldRow]:
    rows = await connection.fetch(_HOLDS, wallet_id, *before, status, limit)
    return [HoldRow(*row) for row in rows]


async def wallets(connection: asyncpg.Connection, after: uuid.UUID, limit: int) -> list[WalletRow]:
    return [WalletRow(*row) for row in await connection.fetch(_WALLETS, after, limit)]


async def operations_with_reference(
    connection: asyncpg.Connection, reference: str, limit: int
) -> list[tuple[OperationRow, str]]:
    """The operations carrying `reference`, in any wallet, each with its wallet's currency."""
    rows = await connection.fetch(_OPERATIONS_WITH_REFERENCE, reference, limit)
    return [(OperationRow(*row[:-1]), row[-1]) for row in rows]


async def transfers_with_reference(
    connection: asyncpg.Connection, reference: str, limit: int
) -> list[TransferRow]:
    rows = await connection.fetch(_TRANSFERS_WITH_REFERENCE, reference, limit)
    return [TransferRow(*row) for row in rows]


async def holds_with_reference(
    connection: asyncpg.Connection, reference: str, limit: int
) -> list[HoldRow]:
    rows = await connection.fetch(_HOLDS_WITH_REFERENCE, reference, limit)
    return [HoldRow(*row) for row in rows]
