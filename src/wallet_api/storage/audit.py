"""The audit's reads: wallets in id order with the sum of their operations, batch by batch;
and the record of each audit's outcome (verify_runs)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

FIRST_WALLET_ID = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class WalletTotals:
    id: uuid.UUID
    currency: str
    balance_minor: int
    operations_total_minor: int
    operations: int
    held_minor: int
    active_holds_minor: int
    # operations whose balance_after is not the balance their wallet's operations add up to
    # right after them, in id order
    balances_after_wrong: int = 0


# One statement per batch: each wallet's balance and its operations are read on one snapshot,
# so the check holds even while money keeps moving. The active holds are summed for the whole
# batch at once: a per-wallet subquery lets the planner scan every hold once per wallet when
# most holds belong to a few wallets (its statistics then promise thousands of holds each).
_WALLET_BATCH = text(
    """
    WITH batch AS (
        SELECT id, currency, balance_minor, held_minor FROM wallets
        WHERE id > :after_id
        ORDER BY id
        LIMIT :batch
    ), held AS (
        SELECT wallet_id, sum(amount_minor) AS total FROM holds
        WHERE status = 'ACTIVE' AND wallet_id IN (SELECT id FROM batch)
        GROUP BY wallet_id
    )
    SELECT w.id, w.currency, w.balance_minor,
           COALESCE(t.total, 0) AS operations_total_minor, COALESCE(t.count, 0) AS operations,
           w.held_minor, COALESCE(held.total, 0) AS active_holds_minor,
           COALESCE(t.wrong, 0) AS balances_after_wrong
    FROM batch w
    LEFT JOIN LATERAL (
        SELECT sum(signed) AS total, count(*) AS count,
               count(*) FILTER (WHERE balance_after <> running) AS wrong
        FROM (
            SELECT o.balance_after, s.signed, sum(s.signed) OVER (ORDER BY o.id) AS running
            FROM operations o
            LEFT JOIN operations r ON r.id = o.reverses_id
            -- rules.credits: a REVERSAL goes the other way from what it reverses
            CROSS JOIN LATERAL (
                SELECT CASE WHEN o.operation_type = ANY(:credit_types)
                              OR (o.operation_type = 'REVERSAL'
                                  AND NOT r.operation_type = ANY(:credit_types))
                            THEN o.amount_minor ELSE -o.amount_minor END AS signed
            ) s
            WHERE o.wallet_id = w.id
        ) running
    ) t ON true
    LEFT JOIN held ON held.wallet_id = w.id
    ORDER BY w.id
    """
)

_ORPHANS = text(
    """
    SELECT o.wallet_id, count(*) AS operations
    FROM operations o LEFT JOIN wallets w ON w.id = o.wallet_id
    WHERE w.id IS NULL
    GROUP BY o.wallet_id
    LIMIT :limit
    """
)


async def wallet_batch(
    connection: AsyncConnection, after_id: uuid.UUID, credit_types: list[str], batch: int
) -> list[WalletTotals]:
    params = {"after_id": after_id, "credit_types": credit_types, "batch": batch}
    rows = (await connection.execute(_WALLET_BATCH, params)).all()
    return [WalletTotals(*row) for row in rows]


async def orphan_operations(connection: AsyncConnection, limit: int) -> list[tuple[uuid.UUID, int]]:
    rows = (await connection.execute(_ORPHANS, {"limit": limit})).all()
    return [(row.wallet_id, row.operations) for row in rows]


async def wallet_count(connection: AsyncConnection) -> int:
    """How many wallets there are now: the total a progress bar counts towards."""
    return int((await connection.execute(text("SELECT count(*) FROM wallets"))).scalar_one())


@dataclass(frozen=True, slots=True)
class VerifyRunRow:
    started_at: datetime
    finished_at: datetime
    wallets: int
    operations: int
    problems: int
    first_problems: list[str]


_RECORD_RUN = text(
    """
    INSERT INTO verify_runs (started_at, finished_at, wallets, operations, problems,
                             first_problems)
    VALUES (:started_at, :finished_at, :wallets, :operations, :problems,
            CAST(:first_problems AS jsonb))
    """
)

_LAST_RUN = text(
    """
    SELECT started_at, finished_at, wallets, operations, problems, first_problems::text
    FROM verify_runs ORDER BY id DESC LIMIT 1
    """
)


async def record_run(connection: AsyncConnection, run: VerifyRunRow) -> None:
    params = {**dataclasses.asdict(run), "first_problems": json.dumps(run.first_problems)}
    await connection.execute(_RECORD_RUN, params)


async def last_run(connection: AsyncConnection) -> VerifyRunRow | None:
    row = (await connection.execute(_LAST_RUN)).first()
    if row is None:
        return None
    started_at, finished_at, wallets, operations, problems, first_problems = row
    return VerifyRunRow(
        started_at, finished_at, wallets, operations, problems, json.loads(first_problems)
    )
