"""The SQL that fills the ledger before a run: each scenario's wallets and the --scale ledger.

Every balance written here equals the sum of the operations written with it, so the audit
checks the service's work and not the benchmark's shortcuts.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta

import asyncpg

from wallet_api.ledger.history import DEFAULT_PAGE_SIZE, encode_cursor
from wallet_api.progress import Progress
from wallet_api.storage import primary

CURRENCY = "USD"
SCALE_GROUP = 0xF
# One in ten operations of the --scale ledger belongs to one deep wallet, the history probe's.
DEEP_WALLET_SHARE = 10
OPERATIONS_PER_STATEMENT = 500_000


def wallet_id(group: int, number: int) -> uuid.UUID:
    """The id of wallet `number` (from 1) of a group: readable, and computable in SQL and Lua."""
    return uuid.UUID(f"{group:08x}-0000-4000-8000-{number:012x}")


@dataclass(frozen=True, slots=True)
class WalletSet:
    """`count` wallets of one group, each funded with `balance_minor` by one DEPOSIT."""

    group: int
    count: int
    balance_minor: int = 0

    def id(self, number: int = 1) -> uuid.UUID:
        return wallet_id(self.group, number)


@dataclass(frozen=True, slots=True)
class ScaleLedger:
    wallets: int
    operations: int
    deep_wallet: uuid.UUID
    deep_operations: int
    seconds: float


# Session-local helpers, so the wallet id scheme and the amount of operation n of the --scale
# ledger are written once and used by every statement below.
_HELPERS = (
    """
    CREATE FUNCTION pg_temp.bench_wallet_id(wallet_group int, n bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CAST(lpad(to_hex(wallet_group), 8, '0') || '-0000-4000-8000-'
                    || lpad(to_hex(n), 12, '0') AS uuid)
    $$
    """,
    # Operations 1..deep go to wallet 1; the rest go round wallets 2..wallets in turn.
    """
    CREATE FUNCTION pg_temp.scale_wallet(n bigint, deep bigint, wallets bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN n <= deep THEN 1 ELSE 2 + (n - deep - 1) % (wallets - 1) END
    $$
    """,
    # Every third operation of a wallet is a withdrawal of at most 1000, after two deposits of at
    # least 1000 each: no balance goes below zero at any point of the history.
    """
    CREATE FUNCTION pg_temp.scale_amount(n bigint, deep bigint, wallets bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN (CASE WHEN n <= deep THEN n - 1
                               ELSE (n - deep - 1) / (wallets - 1) END) % 3 = 2
                    THEN -(1 + n % 1000)
                    ELSE 1000 + n % 9000 END
    $$
    """,
)

_CREATE_WALLETS = """
    WITH created AS (
        INSERT INTO wallets (id, currency, balance_minor)
        SELECT pg_temp.bench_wallet_id($1, n), $4, $3 FROM generate_series(1, $2::bigint) AS n
        RETURNING id, balance_minor
    )
    INSERT INTO operations (wallet_id, operation_type, amount_minor, balance_after)
    SELECT id, 'DEPOSIT', balance_minor, balance_minor FROM created WHERE balance_minor > 0
"""

# Each wallet's balance is the sum of its own operations: wallet 1 has operations 1..deep,
# wallet w > 1 has deep + w - 1, then every (wallets - 1)th operation after it.
_SCALE_WALLETS = """
    INSERT INTO wallets (id, currency, balance_minor)
    SELECT pg_temp.bench_wallet_id($1, w), $5, COALESCE((
        SELECT sum(pg_temp.scale_amount(n, $3, $2))
        FROM generate_series(CASE WHEN w = 1 THEN 1 ELSE $3 + w - 1 END,
                             CASE WHEN w = 1 THEN $3 ELSE $4 END,
                             CASE WHEN w = 1 THEN 1 ELSE $2 - 1 END) AS n
    ), 0)
    FROM generate_series(1, $2::bigint) AS w
"""

# Operations n = $4..$5, each with its wallet's balance right after it: the balance the
# earlier statements left on the wallet (pg_temp.carried) plus this statement's running sum.
_SCALE_OPERATIONS = """
    WITH chunk AS (
        SELECT n, pg_temp.scale_wallet(n, $3, $2) AS w, pg_temp.scale_amount(n, $3, $2) AS amount
        FROM generate_series($4::bigint, $5::bigint) AS n
    ), running AS (
        SELECT chunk.n, chunk.w, chunk.amount,
               COALESCE(c.balance, 0)
                   + sum(chunk.amount) OVER (PARTITION BY chunk.w ORDER BY chunk.n) AS after
        FROM chunk LEFT JOIN pg_temp.carried c ON c.wallet = chunk.w
    ), written AS (
        INSERT INTO operations (wallet_id, operation_type, amount_minor, balance_after)
        SELECT pg_temp.bench_wallet_id($1, w),
               CASE WHEN amount < 0 THEN 'WITHDRAW' ELSE 'DEPOSIT' END, abs(amount), after
        FROM running ORDER BY n
    )
    INSERT INTO pg_temp.carried (wallet, balance)
    SELECT DISTINCT ON (w) w, after FROM running ORDER BY w, n DESC
    ON CONFLICT (wallet) DO UPDATE SET balance = EXCLUDED.balance
"""

# pgbench moves a balance without recording operations; one closing DEPOSIT books the difference.
_BOOK_UNRECORDED = """
    INSERT INTO operations (wallet_id, operation_type, amount_minor, balance_after)
    SELECT w.id, 'DEPOSIT', w.balance_minor - t.booked, w.balance_minor
    FROM wallets w, LATERAL (
        SELECT COALESCE(sum(CASE operation_type WHEN 'DEPOSIT' THEN amount_minor
                                                ELSE -amount_minor END), 0) AS booked
        FROM operations WHERE wallet_id = w.id
    ) AS t
    WHERE w.id = $1 AND w.balance_minor > t.booked
"""

_SAMPLE_IDS = """
    SELECT id FROM operations WHERE wallet_id = $1 ORDER BY random() LIMIT $2
"""

_SPAN = """
    SELECT min(created_at), max(created_at) FROM operations WHERE wallet_id = $1
"""

_PAGE_START = """
    SELECT id FROM operations WHERE wallet_id = $1 ORDER BY id OFFSET $2 LIMIT 1
"""


async def connect(dsn: str) -> asyncpg.Connection:
    """A connection with the fill's helper functions defined for its session."""
    connection = await primary.connect(dsn)
    for helper in _HELPERS:
        await connection.execute(helper)
    return connection


async def create_wallets(connection: asyncpg.Connection, wallets: WalletSet) -> None:
    await connection.execute(
        _CREATE_WALLETS, wallets.group, wallets.count, wallets.balance_minor, CURRENCY
    )


async def fill_scale_ledger(
    connection: asyncpg.Connection,
    wallets: int,
    operations: int,
    progress: Progress | None = None,
) -> ScaleLedger:
    """`wallets` wallets and `operations` operations, balances consistent with them; the
    operations written so far go to `progress`."""
    if wallets < 2 or operations < DEEP_WALLET_SHARE:
        raise ValueError("the scale ledger needs at least 2 wallets and 10 operations")
    started = time.monotonic()
    deep = operations // DEEP_WALLET_SHARE
    progress = progress or Progress("filling the scale ledger", operations, "operations")
    await connection.execute(_SCALE_WALLETS, SCALE_GROUP, wallets, deep, operations, CURRENCY)
    await connection.execute(
        "CREATE TEMPORARY TABLE carried (wallet bigint PRIMARY KEY, balance bigint NOT NULL)"
    )
    for first in range(1, operations + 1, OPERATIONS_PER_STATEMENT):
        last = min(operations, first + OPERATIONS_PER_STATEMENT - 1)
        await connection.execute(_SCALE_OPERATIONS, SCALE_GROUP, wallets, deep, first, last)
        progress.advance(last)
    progress.finish()
    # Visibility map and statistics as a long-lived ledger has them, not a freshly loaded one.
    await connection.execute("VACUUM (ANALYZE) wallets, operations")
    # The fill's gigabytes of WAL are flushed now, not by a checkpoint during the first scenarios.
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await connection.execute("CHECKPOINT")
    seconds = time.monotonic() - started
    return ScaleLedger(wallets, operations, wallet_id(SCALE_GROUP, 1), deep, seconds)


async def book_unrecorded_balance(connection: asyncpg.Connection, wallet: uuid.UUID) -> None:
    await connection.execute(_BOOK_UNRECORDED, wallet)


async def oldest_page_cursor(connection: asyncpg.Connection, wallet: uuid.UUID) -> str | None:
    """The cursor of the wallet's last history page: its oldest operations, the deepest page."""
    start = await connection.fetchval(_PAGE_START, wallet, DEFAULT_PAGE_SIZE)
    return None if start is None else encode_cursor(start)


async def random_cursors(
    connection: asyncpg.Connection, wallet: uuid.UUID, count: int
) -> list[str]:
    """History cursors at `count` random points of the wallet's history."""
    rows = await connection.fetch(_SAMPLE_IDS, wallet, count)
    return [encode_cursor(row["id"]) for row in rows]


async def random_instants(
    connection: asyncpg.Connection, wallet: uuid.UUID, count: int
) -> list[str]:
    """`count` instants spread over the wallet's history, as RFC 3339 (UTC, `Z`)."""
    first, last = await connection.fetchrow(_SPAN, wallet)
    span = (last - first).total_seconds()
    step = span / max(count - 1, 1)
    instants = [first + timedelta(seconds=step * n) for n in range(count)]
    return [instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for instant in instants]
