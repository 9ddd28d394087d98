"""The wallet reads, and the one write outside the engine: opening an empty wallet.

A balance is read on the asyncpg driver directly, with $n parameters: the benchmark showed
SQLAlchemy's layer costing about a third of a read's throughput. The others go through
SQLAlchemy Core. Money moves only in an engine batch (`storage/batch.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

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
    balance_after: int = 0
    reverses_id: int | None = None
    reference: str | None = None
    metadata: str | None = None  # JSON


# An OperationRow's columns, in its order, of `operations o`.
OPERATION_COLUMNS = """
    o.id, o.wallet_id, o.operation_type, o.amount_minor, o.created_at, o.transfer_id, o.hold_id,
    o.balance_after, o.reverses_id, o.reference, o.metadata::text
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

# The number is the decision's, drawn as the engine draws its own: the wallet.created event is
# recorded under it.
_CREATE_WALLET = """
    INSERT INTO wallets (id, currency) VALUES ($1, $2)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, currency, balance_minor, held_minor, 0, created_at, updated_at,
              nextval('operations_id_seq')
    """

# Three shapes of one query, so that each gets the plan that fits it: without a time filter
# an index range scan on (wallet_id, id DESC) that starts right below the cursor (the time
# index would scan the whole history and sort it); with one, whichever index the planner
# prefers; with a reference, its own index.
_OPERATIONS_PAGE = text(
    f"""
    SELECT {OPERATION_COLUMNS}
    FROM operations o
    WHERE wallet_id = :wallet_id
      AND id < :before_id
      AND operation_type = ANY(:operation_types)
    ORDER BY id DESC
    LIMIT :limit
    """
)

_OPERATIONS_PAGE_IN_TIME = text(
    f"""
    SELECT {OPERATION_COLUMNS}
    FROM operations o
    WHERE wallet_id = :wallet_id
      AND id < :before_id
      AND operation_type = ANY(:operation_types)
      AND created_at > :created_after
      AND created_at < :created_before
    ORDER BY id DESC
    LIMIT :limit
    """
)

_OPERATIONS_PAGE_BY_REFERENCE = text(
    f"""
    SELECT {OPERATION_COLUMNS}
    FROM operations o
    WHERE wallet_id = :wallet_id
      AND reference = :reference
      AND id < :before_id
      AND operation_type = ANY(:operation_types)
      AND created_at > :created_after
      AND created_at < :created_before
    ORDER BY id DESC
    LIMIT :limit
    """
)


async def wallet_of_operation(
    connection: asyncpg.Connection, operation_id: int
) -> uuid.UUID | None:
    query = "SELECT wallet_id FROM operations WHERE id = $1"
    wallet_id: uuid.UUID | None = await connection.fetchval(query, operation_id)
    return wallet_id


async def get_wallet(connection: asyncpg.Connection, wallet_id: uuid.UUID) -> WalletRow | None:
    row = await connection.fetchrow(_GET_WALLET, wallet_id)
    return None if row is None else WalletRow(*row)


async def create_wallet(
    connection: asyncpg.Connection, wallet_id: uuid.UUID, currency: str
) -> tuple[WalletRow, int] | None:
    """The new wallet and the number of its decision, or None when the id is taken."""
    row = await connection.fetchrow(_CREATE_WALLET, wallet_id, currency)
    return None if row is None else (WalletRow(*row[:7]), row[7])


async def operations_page(
    connection: AsyncConnection,
    wallet_id: uuid.UUID,
    *,
    before_id: int,
    operation_types: list[str],
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int,
    reference: str | None = None,
) -> list[OperationRow]:
    """A page of the wallet's operations below `before_id`, newest first; an absent time
    filter or reference matches everything."""
    params: dict[str, object] = {
        "wallet_id": wallet_id,
        "before_id": before_id,
        "operation_types": operation_types,
        "limit": limit,
    }
    statement = _OPERATIONS_PAGE
    if reference is not None or created_after is not None or created_before is not None:
        params["created_after"] = created_after or datetime.min.replace(tzinfo=UTC)
        params["created_before"] = created_before or datetime.max.replace(tzinfo=UTC)
        statement = _OPERATIONS_PAGE_IN_TIME
    if reference is not None:
        statement, params["reference"] = _OPERATIONS_PAGE_BY_REFERENCE, reference
    rows = (await connection.execute(statement, params)).all()
    return [OperationRow(*row) for row in rows]


_SCHEMA_AND_WRITABLE = text(
    "SELECT (SELECT version_num FROM alembic_version), "
    "current_setting('transaction_read_only') = 'off'"
)


async def schema_revision_if_writable(connection: AsyncConnection) -> str | None:
    """The schema's revision, or None on a server that takes no writes (a standby, which a
    failover may have left a pooled connection on)."""
    revision, writable = (await connection.execute(_SCHEMA_AND_WRITABLE)).one()
    return revision if writable else None
